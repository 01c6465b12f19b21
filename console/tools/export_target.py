"""The folder an export writes into, and what an export may remove there: only what an export wrote.

An export is built in a hidden partial folder beside its target and moved into place at the end. Two records make
every later removal a removal of the console's own files, checked at the moment it happens:
- the manifest (`MANIFEST`, in the target): the names the last export put there. `--force` replaces and removes
  only those; a file of the user's own (a `config.json`, a `model.safetensors`, notes) is never deleted, and one
  the new export would overwrite stops the export in one line.
- the partial mark (`PARTIAL_MARK`, in the partial folder, written before anything else): whose partial it is (pid
  and the process' start time). The next export to the same target removes a partial whose process has ended (a
  killed `export --merge` left a model-sized hidden folder for good); a folder without the mark is not ours.

Light (no torch): the console's process reads the manifest too.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from console.common.errors import UserError
from console.common.files import atomic_write, read_json_object
from console.runs.liveness import process_start

MANIFEST = ".training-console-export.json"
PARTIAL_MARK = ".training-console-partial.json"
# Files whose presence decides how a folder loads (an adapter_config.json beside a merged model makes it load as
# an adapter): such a file of the user's own, left beside an export, is named in a note.
MODEL_FILES = re.compile(r"^(adapter_config\.json|adapter_model.*\.(safetensors|bin)|model.*\.safetensors"
                         r"|model\.safetensors\.index\.json|pytorch_model.*\.bin|pytorch_model\.bin\.index\.json"
                         r"|config\.json|generation_config\.json)$")


def _plain_name(name) -> bool:
    """A name the manifest may hold: one entry of the target folder (a file, or a folder written 'name/'), never a
    path that leaves it."""
    if not isinstance(name, str) or not name or len(name) > 255:
        return False
    bare = name[:-1] if name.endswith("/") else name
    return bool(bare) and "/" not in bare and "\0" not in bare and bare not in (".", "..")


def exported_names(dest: Path) -> set[str]:
    """The names the last export wrote into `dest` (its manifest; 'name/' for a folder); empty when no export
    wrote there, or the manifest is unreadable, a link, or not ours."""
    path = Path(dest) / MANIFEST
    if path.is_symlink():
        return set()
    data = read_json_object(path)
    files = data.get("files") if data else None
    if not isinstance(files, list) or data.get("tool") != "training-console export":
        return set()
    return {name for name in files if _plain_name(name)}


def _entry_names(folder: Path) -> list[str]:
    return sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in folder.iterdir()
                  if p.name not in (MANIFEST, PARTIAL_MARK))


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def partial_folder(dest: Path) -> Path:
    """A new partial folder for an export to `dest`, marked as this process' before anything is written in it."""
    partial = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)  # this pid's own: an earlier process with the same pid is gone
    partial.mkdir()
    pid = os.getpid()
    atomic_write(partial / PARTIAL_MARK, json.dumps({"pid": pid, "pid_start": process_start(pid),
                                                     "dest": str(dest), "time": time.time()}) + "\n")
    return partial


def _partial_alive(mark: dict) -> bool:
    pid, start = mark.get("pid"), mark.get("pid_start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    now = process_start(pid)
    return now is not None and (not isinstance(start, int) or now == start)


def remove_stale_partials(dest: Path) -> list[str]:
    """Remove the partial folders an export to `dest` left when it was killed (marked as an export's, its process
    gone); the names removed. A partial of an export still running, or a folder without the mark, is left."""
    removed = []
    try:
        candidates = list(dest.parent.glob(f".{glob_escape(dest.name)}.partial-*"))
    except OSError:
        return []
    for folder in candidates:
        if folder.is_symlink() or not folder.is_dir() or not folder.name[len(dest.name) + 10:].isdigit():
            continue
        mark_path = folder / PARTIAL_MARK
        mark = None if mark_path.is_symlink() else read_json_object(mark_path)
        if mark is None or mark.get("dest") != str(dest) or _partial_alive(mark):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not _present(folder):
            removed.append(folder.name)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def move_into_place(partial: Path, dest: Path) -> list[str]:
    """The finished export at `dest`, with its manifest; lines to tell the user. One rename when `dest` is not
    there. Into an existing folder (`--force`): the files the last export wrote and the new one does not have are
    removed, the new ones moved in; a file of the user's own is never removed, and one the new export would
    replace stops it here (UserError), before anything in `dest` changed."""
    (partial / PARTIAL_MARK).unlink(missing_ok=True)
    new = _entry_names(partial)
    manifest = json.dumps({"tool": "training-console export", "files": new, "time": time.time()}, indent=1) + "\n"
    if not _present(dest):
        atomic_write(partial / MANIFEST, manifest)
        os.rename(partial, dest)
        return []
    ours = exported_names(dest)
    theirs = [name for name in new if _present(dest / name.rstrip("/")) and name not in ours
              and name.rstrip("/") + ("" if name.endswith("/") else "/") not in ours]
    if theirs:
        shown = ", ".join(theirs[:8]) + (f" and {len(theirs) - 8} more" if len(theirs) > 8 else "")
        raise UserError(f"{dest} holds {shown}, which no export wrote there (--force replaces only the files an "
                        f"earlier export wrote, listed in its {MANIFEST}): move them away, or export elsewhere "
                        f"with --to")
    lines = []
    removed = []
    for name in sorted(ours - set(new)):
        old = dest / name.rstrip("/")
        if old.is_symlink() or old.is_file():
            old.unlink()
        elif old.is_dir():
            shutil.rmtree(old)
        else:
            continue
        removed.append(name)
    for name in new:
        target = dest / name.rstrip("/")
        if name.endswith("/") and target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)  # a folder the last export wrote (checked above): replaced whole
        os.replace(partial / name.rstrip("/"), target)
    atomic_write(dest / MANIFEST, manifest)
    partial.rmdir()
    if removed:
        lines.append(f"removed from {dest} the files of an earlier export: {', '.join(removed)}")
    foreign = sorted(p.name for p in dest.iterdir() if MODEL_FILES.match(p.name) and p.name not in new)
    if foreign:
        lines.append(f"{dest} also holds {', '.join(foreign)}, which no export wrote: left as they are (a folder "
                     f"with both a model and an adapter may load as either)")
    return lines
