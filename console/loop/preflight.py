"""The one check both front ends run before a launch: the model, the data, the trackers and the scale."""
from __future__ import annotations

from console.data.preflight import check_model_path, preflight_datasets
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
    return model, preflight_datasets(values)  # every dataset, each in its own format, columns and split
