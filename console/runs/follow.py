"""The one follower of a run folder: what is new in it, as small events, for every watcher.

The CLI's `train` and `watch` (console.loop.watch) print them; the console's worker (screens/workers/watcher.py)
posts each as a Textual message. Both read the folder the same way, so what one shows the other shows. Following
only reads, but for one write: a run found ended without a final status (its trainer killed) is recorded as such
(`RunDir.settle`), so that every later reader sees the same.
"""
from __future__ import annotations

import os
from typing import NamedTuple

from console.runs import history_store
from console.runs.metrics import History, MetricsTail
from console.runs.rundir import ACTIVE_PHASES, RunDir
from console.runs.samples import parse

POLL_S = 0.25  # how often a follower looks at the run folder: a line or a point appears within this long
LOG_TAIL_LINES = 12
# metrics.jsonl read at most this much per poll: a finished run of millions of events is read over several polls
# (without waiting between them: `behind`), each batch about 15 MB of records, never the whole log at once
READ_BYTES = 4 << 20


class MetricsRead(NamedTuple):
    records: list  # new complete metrics.jsonl records, in the order the trainer wrote them


class SamplesRead(NamedTuple):
    samples: list  # new sample answers (console.runs.samples.Sample)


class StatusChanged(NamedTuple):
    status: dict  # status.json says something new (phase, message, precision, not responding...)


class RunEnded(NamedTuple):
    status: dict  # the final phase: always the last event, with the end of train.log
    log_tail: list
    # the bytes of metrics.jsonl read in all, when GROWTH_BYTES or more of them are not in the stored history (a run
    # of an older trainer, or one killed before its last store): a reader holding the whole history stores it
    # there (history_store.store_at), so that the next one opens the run from it; else None
    store_at: int | None = None


Event = MetricsRead | SamplesRead | StatusChanged | RunEnded


class Follower:
    """Reads a run folder incrementally: each `poll()` returns the events since the previous one."""

    def __init__(self, run: RunDir):
        self.run = run
        self._metrics = MetricsTail(run.metrics_path, read_cap=READ_BYTES)
        self._samples = MetricsTail(run.samples_path)
        self.status: dict | None = None
        self.ended = False

    def _read(self) -> list[Event]:
        events: list[Event] = []
        records = self._metrics.read_new()
        if records:
            events.append(MetricsRead(records))
        samples = [s for s in (parse(r) for r in self._samples.read_new()) if s is not None]
        if samples:
            events.append(SamplesRead(samples))
        return events

    def attach(self) -> tuple[History, dict]:
        """The run as it is when a watcher attaches: its history so far and its status (said once: the next `poll`
        reports only what changes after it). The history is the one the trainer stored (console/runs/history_store.py)
        and the lines after it, so a finished run of a million log events opens from a few MB; the first READ_BYTES
        of those lines are read here, the rest by the next polls (`behind`), as for a run of an older trainer, which
        stored none."""
        history = History()
        stored = history_store.load(self.run.path)
        if stored is not None:
            history, self._metrics.offset = stored
        history.extend(self._metrics.read_new())
        self.status = self.run.status()
        return history, dict(self.status)

    @property
    def reading(self) -> tuple[int, int] | None:
        """(bytes of metrics.jsonl read, bytes in it) while a long log is still being read (`behind`), else None:
        what a watcher says while the history it shows is not yet the whole run's."""
        if not self._metrics.more:
            return None
        try:
            size = os.path.getsize(self.run.metrics_path)
        except OSError:
            return None
        return self._metrics.offset, max(size, self._metrics.offset)

    @property
    def behind(self) -> bool:
        """The last read stopped at its bound with more of metrics.jsonl there now: poll again without waiting."""
        return self._metrics.more

    def poll(self) -> list[Event]:
        if self.ended:
            return []
        events = self._read()
        if self._metrics.more:
            return events  # a long log is read over several polls, in bounded memory; the end is said after it
        status = self.run.status()
        if status.get("phase") not in ACTIVE_PHASES:
            status = self.run.settle(status)
        if status != self.status:
            self.status = status
            events.append(StatusChanged(dict(status)))
        if status.get("phase") not in ACTIVE_PHASES:
            events += self._read()  # what the trainer wrote between the first read and its exit
            if self._metrics.more:
                return events  # more than a read's bound was written since: read on before the end is said
            covered = self._metrics.offset - len(self._metrics.pending)
            unstored = covered - history_store.stored_offset(self.run.path) >= history_store.GROWTH_BYTES
            events.append(RunEnded(dict(status), self.run.tail_log(LOG_TAIL_LINES), covered if unstored else None))
            self.ended = True
        return events
