"""The trainer's watchdog (console/trainer/watchdog.py): the folder's identity, and the progress it beats for."""
from __future__ import annotations

import os

from console.trainer.watchdog import PROGRESS, FolderGuard, ProcessProgress


def test_the_guard_tells_a_removed_or_replaced_folder_from_the_same_one(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    guard = FolderGuard(folder)
    assert guard.changed() == ""
    (folder / "status.json").write_text("{}")  # writing inside it changes nothing
    assert guard.changed() == ""
    os.rename(folder, tmp_path / "aside")
    assert "was removed" in guard.changed()
    folder.mkdir()
    assert "was replaced by another folder" in guard.changed()


def test_progress_counts_bytes_written_and_not_its_own_reading(tmp_path):
    progress = ProcessProgress()
    before = progress.sample()
    assert before is not None and before["cpu"] >= 0
    for _ in range(200):  # its own reads of /proc are taken off: a quiet process shows (almost) no bytes moved
        progress.sample()
    quiet = progress.sample()["io"] - before["io"]
    with open(tmp_path / "rows.arrow", "wb") as f:
        f.write(b"x" * (1 << 20))
    moved = progress.sample()["io"] - before["io"]
    assert quiet < 64 * 1024 and moved > (1 << 20) - 4096  # (its reading of /proc/self/io counts a sample late)


def test_data_preparation_beats_for_bytes_only_and_the_step_phases_not_at_all():
    """A template stuck on one row burns CPU: CPU time is no sign of progress in data preparation."""
    assert PROGRESS["preparing data"] == ("io",)
    assert "training" not in PROGRESS and "evaluating" not in PROGRESS  # the callbacks beat per step there
    assert {"loading libraries", "loading model", "saving"} <= set(PROGRESS)
