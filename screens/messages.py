"""Messages the App's trainer worker posts: small dataclasses, named in the past tense.

The worker only reads the run folder and posts these; the App's handlers (main thread) own all state.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from textual.message import Message

from console.runs.metrics import History


@dataclass
class RunLaunched(Message):
    """A run folder was created and its trainer started (or a running run was attached to)."""

    run_id: str
    path: str
    attached: bool = False
    # attaching: what the run folder already says (its phase, its history so far), so that the first frame shows a
    # run at step 80 as it is, not "starting the trainer..." over an empty chart until the next messages. The
    # history is built by the worker and handed over: the screen's thread never reads it.
    status: dict | None = None
    history: History | None = None
    reading: tuple | None = None  # as MetricsArrived.reading: the history above is not yet the whole run's


@dataclass
class LaunchFailed(Message):
    """The run could not be started (bad data path, unwritable runs folder...): one clear line."""

    message: str


@dataclass
class SamplesArrived(Message):
    """New sample answers of a run (samples.jsonl lines, parsed into console.runs.samples.Sample)."""

    run_id: str
    samples: list = field(default_factory=list)


@dataclass
class MetricsArrived(Message):
    """New complete metrics.jsonl records of a run, batched by the worker."""

    run_id: str
    records: list = field(default_factory=list)
    # set by the app once the records are in the run's history: the worker reading a long log waits for it before
    # its next read, so that batches never pile up in the queue (a 1M-event log was read faster than drawn)
    consumed: threading.Event | None = None
    # (bytes read, bytes in the log) while a long log is still being read (follow.Follower.reading), else None
    reading: tuple | None = None


@dataclass
class PhaseChanged(Message):
    """status.json says something new (phase, message, precision...)."""

    run_id: str
    status: dict = field(default_factory=dict)


@dataclass
class GpuSampled(Message):
    """GPU memory in use (MiB) on each visible GPU, sampled every few seconds while a run trains."""

    run_id: str
    used_mib: list = field(default_factory=list)
    total_mib: list = field(default_factory=list)


@dataclass
class RunFinished(Message):
    """The run reached a final phase (done, stopped, failed): its status and the end of train.log."""

    run_id: str
    status: dict = field(default_factory=dict)
    log_tail: list = field(default_factory=list)
    store_at: int | None = None  # store the history read at this offset of metrics.jsonl (follow.RunEnded)


@dataclass
class MemoryEstimated(Message):
    """The memory estimate of a config (console.config.memory.estimate_text), for the inputs summed up in `key`."""

    key: tuple
    text: str
    model_problem: str | None = None  # why the model cannot load here (an uncached Hub model with no network)


@dataclass
class DataChecked(Message):
    """The light check of the draft's datasets (screens/workers/data_preview.check_text), for the inputs in `key`:
    what they are and their first example, or the problem in one line."""

    key: tuple
    text: str
    problem: str | None


@dataclass
class RunsListed(Message):
    """The runs folder's run ids, oldest first (screens/workers/run_rows.py): their rows follow, newest first."""

    ids: list = field(default_factory=list)
    generation: int = 0  # the listing it answers: a batch of an older, cancelled one is dropped


@dataclass
class RunRowsRead(Message):
    """Rows of the runs screen (console.runs.progress.run_summary), newest first; `done` on the last batch."""

    rows: list = field(default_factory=list)
    done: bool = False
    generation: int = 0
