"""The checkpoint folders of a run and what is in them: one parser of `checkpoint-N`, one list of weight-file names
(read by resume, chat, export and inspect), and whether a checkpoint is whole enough to resume from."""
from __future__ import annotations

import json
import re
from pathlib import Path

from console.common.files import read_json_object

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


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (None: it looks whole). Reads headers and sizes only: the
    trainer_state.json parses, a weights file is there and not empty (a safetensors header that parses), the
    optimizer and scheduler files are not empty."""
    state = read_json_object(folder / "trainer_state.json")
    if state is None:
        return "trainer_state.json is missing, cut or not a JSON object"
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
