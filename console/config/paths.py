"""Paths the user gives, made absolute against the user's working folder before a config is saved.

The trainer runs with the run folder as its working folder, on another terminal, maybe days later (resume): a
relative `./data.jsonl` or `models/x` means nothing there. So every path field is resolved when the user gives it,
in the process where the user typed it. A name that looks local (it starts with `.`, `/` or `~`, or its first part
is a folder here) is never left as a Hub name: `models/x` with a `models/` folder here but no `models/x` becomes an
absolute path that the pre-launch check reports as not found, instead of a download of someone else's `models/x`.
"""
from __future__ import annotations

import os
from pathlib import Path

from console.data.demo import demo_datasets
from console.machine.scale import ACCELERATE_PRESETS

# The console's settings that hold a file or folder on this machine; True: a Hub name is allowed too.
PATH_FIELDS = {"model": True, "dataset": True, "adapter_name_or_path": True, "accelerate_config": False}
# Names a path field takes as themselves, never as a file in the working folder (`--set accelerate_config=fsdp` is
# the shipped preset, wherever the user stands).
NAMED_VALUES = {"accelerate_config": ACCELERATE_PRESETS}


def looks_local(value: str, cwd: str | os.PathLike | None = None) -> bool:
    """True when `value` names a file or folder on this machine rather than a Hub repository."""
    if value.startswith(("/", ".", "~")) or os.sep == "\\" and ":" in value[:3]:
        return True
    base = Path(cwd or os.getcwd())
    if (base / value).exists():
        return True
    first = value.split("/", 1)[0]
    return "/" in value and (base / first).is_dir()


def resolve_path(value, cwd: str | os.PathLike | None = None, hub: bool = True, names=()):
    """The absolute form of a local path; Hub names (where `hub` allows them), the field's own `names`, empty
    values and non-strings unchanged."""
    if not isinstance(value, str) or not value.strip():
        return value
    value = value.strip()
    if value in names:
        return value
    if hub and value in demo_datasets():  # demo-pairs, demo-kto: the shipped demo sets, wherever the user stands
        return str(demo_datasets()[value])
    if hub and not looks_local(value, cwd):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    return os.path.normpath(str(path))
