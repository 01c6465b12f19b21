"""Deleting a run's folder, checked at the moment it acts: never a run whose trainer runs or is starting.

The runs screen asks first and deletes after the answer: a `resume` started from a shell in between had its folder
deleted under its running trainer. So the check is made again here, when the folder goes, under the trainer lock
(launcher's `.trainer.lock`, held by every trainer for its whole life): while this holds it, no trainer can start
on the folder, and a trainer that holds it is alive whatever status.json says. The folder is first renamed aside
(one step, so a launch that comes after finds no run rather than half of one), then removed.
"""
from __future__ import annotations

import fcntl
import os
import shutil

from console.common.errors import RunError
from console.runs.launcher import LOCK_NAME
from console.runs.rundir import ACTIVE_PHASES, RunDir


def check_deletable(run: RunDir, status: dict | None = None) -> None:
    """RunError in one line when the run's trainer is at work (what the screen says before it asks)."""
    status = run.status() if status is None else status
    if status.get("phase") in ACTIVE_PHASES:
        raise RunError(f"{run.id} is still {status['phase']}: stop it first (`training-console stop {run.id}`, or "
                       f"open it and press s), then delete it")


def delete_run(run: RunDir) -> None:
    """Remove the run's folder, checkpoints and model included. RunError in one line when its trainer runs or
    starts (checked now, under the trainer lock), or when the folder cannot be removed."""
    path = run.path
    if path.is_symlink() or not path.is_dir():
        raise RunError(f"{path} is not a run folder (a link, or gone): nothing deleted")
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise RunError(f"cannot delete {path}: {err.strerror or err} (its {LOCK_NAME})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"{run.id} has a trainer running (a resume or another console started it): stop it "
                           f"first (`training-console stop {run.id}`), then delete it") from None
        check_deletable(run)
        aside = path.parent / f".{path.name}.deleting-{os.getpid()}"
        try:
            os.rename(path, aside)
        except OSError as err:
            raise RunError(f"cannot delete {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    try:
        shutil.rmtree(aside)
    except OSError as err:
        raise RunError(f"cannot delete all of {aside} (renamed from {path.name}): {err.strerror or err}; remove it "
                       f"by hand") from None
