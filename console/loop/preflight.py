"""The one check both front ends run before a launch: the model, the data, the trackers and the scale."""
from __future__ import annotations

from console.config.run_config import wanted_objective
from console.data.formats import check_objective, first_problem, get_format
from console.data.preflight import check_model_path, local_format, preflight, sample_rows
from console.machine.load_checks import check_model_loading
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
    data = preflight(
        values.get("dataset"), values.get("dataset_format", "auto"), values.get("text_column"), values.get("columns"))
    check_data_objective(values)
    return model, data


def check_data_objective(values: dict) -> None:
    """The dataset's format against the run's objective, and a preference file's first rows (an empty answer, a
    pair of two equal answers, a label that is not true or false): DataError in one line."""
    fmt = local_format(values.get("dataset"), values.get("dataset_format", "auto"), values.get("text_column"),
                       values.get("columns"))
    if fmt is None:
        return  # a Hub dataset: the trainer checks it when it has read the columns
    check_objective(wanted_objective(values), fmt)
    rows = sample_rows(values.get("dataset"), values.get("columns"))
    first_problem(get_format(fmt), rows, f"dataset {values.get('dataset') or 'demo'}")
