"""The checkpoint folders of a run and what is in them: one parser of `checkpoint-N`, one list of weight-file names
(read by resume, chat, export and inspect), and whether a checkpoint is whole enough to resume from."""
from __future__ import annotations

import json
import re
import zipfile
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


def final_model_label(status: dict, best_loaded: bool) -> str:
    """What a run's model/ holds, in words: 'the final model (model/, step 60)', or, when the trainer loaded the best
    checkpoint at the end (load_best_model_at_end), 'the final model (model/: the best checkpoint, checkpoint-20, of
    60 steps)': export and chat said 'step 60' of weights from step 20 while the training screen named the best."""
    step = status.get("step")
    best = status.get("best_checkpoint")
    steps = f"{step} steps" if isinstance(step, int) and not isinstance(step, bool) else None
    if best_loaded and isinstance(best, str) and best and status.get("phase") == "done" \
            and checkpoint_step(Path(best).name) != step:  # the best is the last: its step says it
        return f"the final model (model/: the best checkpoint, {Path(best).name}" + (f", of {steps})" if steps
                                                                                        else ")")
    return "the final model (model/" + (f", step {step})" if step is not None else ")")


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


def weights_problem(folder: Path) -> str | None:
    """Why a model folder's weights cannot be loaded (None: they look whole): a weights file is there, not empty, and
    a safetensors file's header parses and its tensors fit in the file. Reads headers and sizes only."""
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
                    if not 0 < header_len <= min(size - 8, 100 << 20):
                        return f"{path.name} is cut (its header says {header_len} bytes, the file has {size})"
                    header = json.loads(f.read(header_len))
                ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
                        and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2]
                if ends and 8 + header_len + max(ends) > size:
                    return f"{path.name} is cut ({size} bytes, its tensors need {8 + header_len + max(ends)})"
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
            return f"{path.name} is unreadable ({type(err).__name__})"
    return None


# The files of a checkpoint that hold the state to resume training from, written by torch.save: zip archives whose
# every member carries a CRC-32 (torch.load itself never checks them, and loads a flipped byte as a wrong number).
def _state_files(folder: Path) -> list[Path]:
    names = ("optimizer.pt", "scheduler.pt", "scaler.pt", "training_args.bin")
    found = [folder / name for name in names if (folder / name).is_file()]
    try:
        found += sorted(p for p in folder.glob("rng_state*.pth") if p.is_file())
    except OSError:
        pass
    return found


# The most bytes of a state file checked member by member against its checksums at a resume (a 7B model's Adam
# state is over 50 GB: reading it twice would double the resume's wait); a bigger one is checked whole-archive only.
VERIFY_BYTES = 8 << 30


def state_file_problem(path: Path, verify: bool = False) -> str | None:
    """Why a torch.save file of a checkpoint cannot be loaded (None: it can). Always: it is not empty and its zip
    directory, at the file's end, is there (a cut file loses it). With `verify`: every member's CRC-32 is checked
    (the trainer's check at a resume; files over VERIFY_BYTES are not read whole)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return f"{path.name} is empty"
        with zipfile.ZipFile(path) as archive:
            if verify and size <= VERIFY_BYTES:
                bad = archive.testzip()
                if bad is not None:
                    return f"{path.name} is corrupt (its part {bad.rsplit('/', 1)[-1]} fails its checksum)"
    except zipfile.BadZipFile:
        return f"{path.name} is cut or corrupt (not a whole torch archive)"
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as err:
        return f"{path.name} is unreadable ({type(err).__name__})"
    return None


def checkpoint_problem(folder: Path, verify: bool = False) -> str | None:
    """Why a checkpoint folder cannot be resumed from (None: it looks whole): the trainer_state.json parses, the
    weights look whole (weights_problem), and every state file (optimizer, scheduler, scaler, RNG, training
    arguments) is a whole torch archive; with `verify` (the trainer, at a resume) their checksums too."""
    state = trainer_state_problem(folder)
    if state is not None:
        return state
    weights = weights_problem(folder)
    if weights is not None:
        return weights
    for path in _state_files(folder):
        problem = state_file_problem(path, verify)
        if problem is not None:
            return problem
    return None


def checkpoint_to_resume(folder: Path, verify: bool = False) -> tuple[Path | None, list[str]]:
    """The newest whole checkpoint in a run's checkpoints `folder`, and a line for each newer one skipped (which,
    and the file that is bad): resuming from a cut trainer_state.json, an empty weights file or a truncated
    optimizer failed the same way on every retry without naming the file."""
    skipped = []
    for _, child in checkpoint_dirs(folder):
        why = checkpoint_problem(child, verify)
        if why is None:
            return child, skipped
        skipped.append(f"{child.name} skipped: {why}")
    return None, skipped
