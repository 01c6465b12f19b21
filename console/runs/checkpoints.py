"""The checkpoint folders of a run and what is in them: one parser of `checkpoint-N`, one list of weight-file names
(read by resume, chat, export and inspect), and whether a checkpoint is whole enough to resume from."""
from __future__ import annotations

import json
import re
from pathlib import Path

from console.common.files import MAX_RUN_FILE_BYTES, read_json_object

_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
# every name a model's weights are saved under by save_pretrained (safetensors or torch, whole or sharded), full
# model or adapter: a folder holding one of them, not empty, has a model to load
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "pytorch_model.bin.index.json")


def checkpoint_step(name: str) -> int | None:
    """N of a folder named checkpoint-N (the Trainer's), else None."""
    m = _CHECKPOINT.fullmatch(name)
    return int(m.group(1)) if m else None


def checkpoint_dirs(folder: Path) -> list[tuple[int, Path]]:
    """(N, path) of every checkpoint-N folder in `folder` (not a link: a link could point out of the run), newest
    first; [] when there is none or the folder cannot be read."""
    found = []
    try:
        children = list(Path(folder).iterdir())
    except OSError:
        return []
    for child in children:
        step = checkpoint_step(child.name)
        if step is not None and child.is_dir() and not child.is_symlink():
            found.append((step, child))
    return sorted(found, key=lambda pair: pair[0], reverse=True)


def has_weights(folder: Path) -> bool:
    """The folder holds a weights file that is not empty."""
    try:
        return any((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in WEIGHT_FILES)
    except OSError:
        return False


# trainer_state.json holds every log entry of the run so far (log_history): about 300 bytes an entry with a
# training log's keys at the Trainer's indent, a few times that with a preference trainer's rewards and logps.
# An entry per step for the training log and one for an evaluation is the most a run writes (logging_steps=1,
# eval_steps=1); the bound below leaves room for ten times that size an entry.
STATE_BYTES_PER_ENTRY = 4096
STATE_ENTRIES_PER_STEP = 2


def trainer_state_bound(step: int) -> int:
    """The most bytes a checkpoint-`step`'s trainer_state.json is parsed at, sized from the run (its step): the
    1 MiB cap meant for status.json called every checkpoint of a run with more than about 3,700 log entries
    "missing, cut or not a JSON object", and resume silently took an older one or none."""
    return MAX_RUN_FILE_BYTES + (STATE_ENTRIES_PER_STEP * max(step, 0) + 16) * STATE_BYTES_PER_ENTRY


def _whole_json_object_shape(path: Path) -> bool:
    """Whether a file too big to parse here starts with '{' and ends with '}' (whitespace aside): a trainer_state
    cut by a full disk or a killed save ends short of its closing brace. Reads 4 KiB at each end."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().rstrip()
    except OSError:
        return False
    return head.startswith(b"{") and tail.endswith(b"}")


def trainer_state_problem(folder: Path) -> str | None:
    """Why a checkpoint's trainer_state.json is no state to resume from (None: it is whole). Parsed up to a bound
    sized from the checkpoint's step; beyond it (a run that logged more per entry than any seen) its shape is
    checked instead: a checkpoint is never skipped for its size."""
    path = folder / "trainer_state.json"
    step = checkpoint_step(folder.name) or 0
    try:
        if path.is_file() and path.stat().st_size > trainer_state_bound(step):
            return None if _whole_json_object_shape(path) else "trainer_state.json is cut (no closing brace)"
    except OSError:
        pass
    if read_json_object(path, trainer_state_bound(step)) is None:
        return "trainer_state.json is missing, cut or not a JSON object"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (None: it looks whole). Reads headers and sizes only: the
    trainer_state.json parses, a weights file is there and not empty (a safetensors header that parses), the
    optimizer and scheduler files are not empty."""
    state = trainer_state_problem(folder)
    if state is not None:
        return state
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        return "no weights file (model.safetensors, adapter_model.safetensors...)"
    for path in weights:
        try:
            size = path.stat().st_size
            if size == 0:
                return f"{path.name} is empty"
            if path.suffix == ".safetensors":
                with open(path, "rb") as f:
                    header_len = int.from_bytes(f.read(8), "little")
                    if not 0 < header_len <= size - 8:
                        return f"{path.name} is cut (its header says {header_len} bytes, the file has {size})"
                    header = json.loads(f.read(header_len))
                ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
                        and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2]
                if ends and 8 + header_len + max(ends) > size:
                    return f"{path.name} is cut ({size} bytes, its tensors need {8 + header_len + max(ends)})"
        except (OSError, ValueError, TypeError, KeyError) as err:
            return f"{path.name} is unreadable ({type(err).__name__})"
    for name in ("optimizer.pt", "scheduler.pt"):
        path = folder / name
        if path.is_file() and path.stat().st_size == 0:
            return f"{name} is empty"
    return None
