"""Experiment trackers (`report_to`): is each named integration's package installed, said before launch.

transformers' Trainer raises deep inside the trainer process when a named integration's package is missing (or,
for tensorboard, says nothing until the first log); the check here runs in the console's own process, before a run
folder is made, with importlib.util.find_spec only (no transformers import: the UI never loads it).
"""
from __future__ import annotations

import os

from console.common.errors import ConfigError
from console.machine.load_checks import installed

# integration (transformers' report_to name) -> (import names, any one of which will do; pip name; our extra).
# The import names are those transformers' own is_<x>_available() look for (integrations/integration_utils.py).
TRACKERS: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard", "tensorboard"),
    "wandb": (("wandb",), "wandb", "wandb"),
    "trackio": (("trackio",), "trackio", "trackio"),
    "mlflow": (("mlflow",), "mlflow", None),
    "comet_ml": (("comet_ml",), "comet-ml", None),
    "neptune": (("neptune",), "neptune", None),
    "clearml": (("clearml",), "clearml", None),
    "dagshub": (("dagshub",), "dagshub", None),
    "dvclive": (("dvclive",), "dvclive", None),
    "codecarbon": (("codecarbon",), "codecarbon", None),
    "swanlab": (("swanlab",), "swanlab", None),
    "azure_ml": (("azureml",), "azureml-core", None),
    "flyte": (("flytekit",), "flytekit", None),
    "kubeflow": ((), "", None),  # no package: transformers turns it on from KUBEFLOW_TRAINER_SERVER_URL
}
# Where the trainer's TensorBoard event files go, inside the run folder (transformers 5 has no logging_dir: its
# TensorBoardCallback reads TENSORBOARD_LOGGING_DIR, else writes under output_dir, the checkpoints folder).
TENSORBOARD_DIR = "tensorboard"
WANDB_NOTE = "WANDB_MODE=offline keeps it local (its files in the run folder's wandb/)"


def named(report_to) -> list[str]:
    """The integrations a report_to value names: 'none' and 'all' name none (all: only those installed)."""
    if report_to is None:
        return []
    items = [report_to] if isinstance(report_to, str) else list(report_to)
    out = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if name and name not in ("none", "all") and name not in out:
                out.append(name)
    return out


def _installed(modules: tuple[str, ...]) -> bool:
    return any(installed(module) for module in modules)


def check_trackers(report_to) -> None:
    """ConfigError (one line) for a report_to naming an integration transformers does not know, or one whose
    package is not installed, with the pip line that installs it."""
    for name in named(report_to):
        if name not in TRACKERS:
            from difflib import get_close_matches

            close = get_close_matches(name, list(TRACKERS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"report_to {name} is not an integration transformers knows: use one of "
                              f"{', '.join(TRACKERS)}, 'all' or 'none'.{hint}", "report_to")
        modules, pip_name, extra = TRACKERS[name]
        if not modules or _installed(modules):
            continue
        how = (f"pip install 'training-console[{extra}]' (or pip install {pip_name})" if extra
               else f"pip install {pip_name}")
        note = f"; {WANDB_NOTE}" if name == "wandb" else ""
        raise ConfigError(f"report_to {name} needs the {pip_name} package: {how}{note}", "report_to")


def tracker_notes(report_to, environ=os.environ) -> list[str]:
    """What a chosen tracker does that the user should know before launch (wandb phones home unless offline)."""
    notes = []
    if "wandb" in named(report_to) and environ.get("WANDB_MODE", "").lower() not in ("offline", "disabled"):
        notes.append(f"report_to wandb sends the run's metrics to wandb.ai; {WANDB_NOTE}")
    if "tensorboard" in named(report_to):
        notes.append(f"TensorBoard's event files go to the run folder's {TENSORBOARD_DIR}/ (tensorboard --logdir runs)")
    return notes
