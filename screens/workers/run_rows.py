"""The body of the runs screen's worker: list the runs folder and read each run's row, newest first, posting them in
batches, so that the screen draws at once and takes keys while a folder of thousands of runs fills in."""
from __future__ import annotations

import time
from collections.abc import Callable

from console.runs.progress import run_summary
from console.runs.rundir import list_run_dirs
from screens.messages import RunRowsRead, RunsListed

BATCH_S = 0.25  # a batch of rows at most this often: the table is redrawn per batch, not per row


def read_rows(runs_dir, post: Callable, cancelled: Callable[[], bool], generation: int = 0) -> None:
    runs = list_run_dirs(runs_dir)
    post(RunsListed([run.id for run in runs], generation))
    batch, since, first = [], time.monotonic(), True
    for run in reversed(runs):
        if cancelled():
            return
        batch.append(run_summary(run))
        if first or time.monotonic() - since >= BATCH_S:  # the newest run at once, then a batch at a time
            first = False
            post(RunRowsRead(batch, generation=generation))
            batch, since = [], time.monotonic()
    post(RunRowsRead(batch, done=True, generation=generation))
