"""The one check both front ends run before a launch: the model, the data, the trackers and the scale."""
from __future__ import annotations

from console.common.errors import DataError
from console.config.run_config import wanted_objective
from console.data.formats import check_objective, first_problem, get_format, objective_of
from console.data.preflight import check_model_path, dataset_roles, local_format, preflight_datasets, sample_rows
from console.data.sources import entries_of
from console.data.templates import check_roles, model_template
from console.machine.load_checks import chat_template_text, check_model_loading
from console.machine.scale import check_scale
from console.machine.trackers import check_trackers


def check_inputs(values: dict) -> tuple[str, str]:
    """(model, data) descriptions after checking both before launch; the one check both front ends run (the run's
    trackers and scale too)."""
    check_trackers(values.get("report_to"))  # report_to's packages installed (console/machine/trackers.py)
    check_scale(values)  # accelerate_config and the machines (console/machine/scale.py)
    model = check_model_path(values.get("model"))
    # attn_implementation, revision, chat_template, load_in_8bit (console/machine/load_checks.py)
    check_model_loading(values)
    return model, check_data(values)


def check_data(values: dict) -> str:
    """The data's part of the pre-launch check (every dataset in its format, columns and split; what the chat
    template makes of its roles): a line describing the datasets. The arguments screen runs it as the dataset is
    typed."""
    data = preflight_datasets(values)
    check_template_roles(values)
    check_data_objective(values)
    return data


def check_data_objective(values: dict) -> None:
    """Each dataset's format against the run's objective, and a preference file's first rows (an empty answer, a
    pair of two equal answers, a label that is not true or false): DataError in one line."""
    local = []
    for entry in entries_of(values):
        fmt = local_format(entry.path, entry.format or "auto", entry.text_column, entry.columns)
        if fmt is not None:  # a Hub dataset's columns are checked by the trainer when it has read them
            local.append((entry, fmt))
    if len({objective_of(fmt) for _, fmt in local}) > 1:
        said = ", ".join(f"{entry.label}: {objective_of(fmt)}" for entry, fmt in local)
        raise DataError(f"these datasets train different objectives ({said}); one run trains one: train them in "
                        f"separate runs (DPO after SFT: training-console train --from RUN)")
    objective = wanted_objective(values)
    for entry, fmt in local:
        check_objective(objective, fmt)
        first_problem(get_format(fmt), sample_rows(entry.path, entry.columns), f"dataset {entry.label}")


def check_template_roles(values: dict) -> None:
    """The chat template the run will use renders every role its data holds, and keeps the system text where an
    answer-only mask needs it (console/data/templates.py): a local model's template, or the run's chat_template;
    a Hub model's is checked by the trainer once its tokenizer is loaded."""
    if values.get("use_chat_template") is False:
        return
    found = model_template(values.get("model"))
    if values.get("chat_template"):
        bos, eos = (found[1], found[2]) if found else ("", "")
        found = (chat_template_text(values["chat_template"]), bos, eos)
    if not found:
        return
    template, bos, eos = found
    entries = entries_of(values)
    for entry in entries:
        roles = dataset_roles(entry.path, entry.format or "auto", entry.text_column, entry.columns)
        try:
            check_roles(template, roles, bos=bos, eos=eos, train_on_prompt=bool(values.get("train_on_prompt")))
        except DataError as err:
            raise DataError(f"dataset {entry.label}: {err}" if len(entries) > 1 else str(err)) from None
