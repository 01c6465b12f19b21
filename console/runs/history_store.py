"""A run's History stored beside metrics.jsonl (`.history.json`), so that opening a long run costs what it shows.

Rebuilding a History from metrics.jsonl costs about 17 µs a log event (the JSON of each line, then the series): a
run of a million events took 17 CPU s to read and the console 27 s to open it. A History is bounded (at most
metrics.CAP points a series, decimated as it is read), so its stored form is bounded too (a few MB at most): the
trainer stores it as it writes the log (`HistoryKeeper`, from console/runs/summary.py's LiveSummary) and a reader
takes it up and reads only the lines appended after it (`run_history`, console.runs.follow's attach). The stored
state is the series' whole state, buckets included, so the History a reader goes on from is exactly the one it
would have built from the whole log (tests/unit/test_history_store.py).

The file is two lines, as .summary.json: a head (version, the bytes of metrics.jsonl it covers, the bytes just
before that point) and the history. A file that is missing, cut, of another version, edited by hand or describing
another log (cut or replaced since) is not used: its reader reads metrics.jsonl from the start, as it did before.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from console.common.bounded_read import loads_json
from console.common.files import atomic_write, read_head
from console.runs.metrics import LOAD_READ_BYTES, History, MetricsTail, fingerprint

NAME = ".history.json"
VERSION = 1
# the bound on the file read: at CAP points, the two dozen series of a preference run with every metric logged hold
# about 1M numbers (~20 MB of JSON)
MAX_BYTES = 48 << 20
# The trainer stores its history again once the log grew this much since: a reader then reads at most this much of
# metrics.jsonl (~12k log events, about 0.2 s) after the stored history.
GROWTH_BYTES = 4 << 20
# ...and never more often than this many times the last store took: a store of a history at its bound took 0.16
# CPU s here (bench/scale.py's trainer part), so the trainer spends at most 1 % of its time on it.
COST_FACTOR = 100
BATCH = 256  # log records the trainer takes into its history at once
HEAD_BYTES = 4096  # the head line's bound: a version, an offset and 128 hex digits


def store(folder, history: History, offset: int, mark: str) -> None:
    """Write `history` as what the first `offset` bytes of the folder's metrics.jsonl hold (`mark`: the
    fingerprint of the bytes before that point), atomically; a folder this user cannot write is left as it is."""
    head = json.dumps({"version": VERSION, "offset": offset, "fingerprint": mark}, separators=(",", ":"))
    body = json.dumps(history.state(), separators=(",", ":"), allow_nan=True)
    try:
        atomic_write(Path(folder) / NAME, head + "\n" + body + "\n")
    except OSError:
        return


def load(folder) -> tuple[History, int] | None:
    """(the stored history, the bytes of metrics.jsonl it covers) when the stored file still describes the start of
    the log as it is now; None otherwise."""
    folder = Path(folder)
    raw = read_head(folder / NAME, MAX_BYTES)  # never a FIFO or a folder in its place
    if raw is None or len(raw) > MAX_BYTES:
        return None
    first, _, second = raw.partition(b"\n")
    offset = _covered(folder, first)
    if offset is None:
        return None
    try:
        return History.restore(loads_json(second)), offset
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None


def _covered(folder: Path, head_line: bytes) -> int | None:
    """The offset a stored history's head line gives, when it is of this version and its fingerprint is that of
    the log as it is now (not cut or replaced since); None otherwise. What load() and stored_offset() both check."""
    try:
        head = loads_json(head_line)
        if not isinstance(head, dict) or head.get("version") != VERSION:
            return None
        offset, mark = head.get("offset"), head.get("fingerprint")
        if type(offset) is not int or offset < 0 or not isinstance(mark, str):
            return None
        metrics = folder / "metrics.jsonl"
        if os.path.getsize(metrics) < offset or fingerprint(metrics, offset) != mark:
            return None  # cut or replaced since: read from the start
        return offset
    except (OSError, ValueError):
        return None


def run_history(folder, write: bool = True) -> History:
    """A run folder's whole history: the stored one and the lines after it (all of metrics.jsonl without one),
    read a few MiB at a time. `write`: when GROWTH_BYTES or more of the log had to be read (a run of an older
    trainer, or one killed before its last store), store what was read, so that the next reader need not."""
    folder = Path(folder)
    history, stored, covered = _read(folder)
    if write and covered - stored >= GROWTH_BYTES:
        store_at(folder, history, covered)
    return history


def store_at(folder, history: History, covered: int) -> None:
    """store() for a reader: `history` is what the log's first `covered` bytes hold (a log cut since is left)."""
    try:
        mark = fingerprint(Path(folder) / "metrics.jsonl", covered)
    except OSError:
        return
    store(folder, history, covered, mark)


def stored_offset(folder) -> int:
    """The bytes of metrics.jsonl the stored history covers, from its head line alone (0: none, or not of this
    log)."""
    folder = Path(folder)
    raw = read_head(folder / NAME, HEAD_BYTES)
    return (_covered(folder, raw.partition(b"\n")[0]) if raw else None) or 0


def unread(folder) -> int:
    """The bytes of metrics.jsonl a reader of the whole history would parse (after the stored history)."""
    try:
        return os.path.getsize(Path(folder) / "metrics.jsonl") - stored_offset(folder)
    except OSError:
        return 0


def _read(folder: Path) -> tuple[History, int, int]:
    """(the whole history, the bytes of the log the stored one covered (0 without one), the bytes now covered)."""
    tail = MetricsTail(folder / "metrics.jsonl", read_cap=LOAD_READ_BYTES)
    stored = load(folder)
    history = History()
    if stored is not None:
        history, tail.offset = stored
    history.extend(tail.read_new())
    while tail.more:
        history.extend(tail.read_new())
    return history, stored[1] if stored is not None else 0, tail.offset - len(tail.pending)


class HistoryKeeper:
    """The trainer's side: the History of the log it appends to, kept line by line, stored when the log has grown
    by GROWTH_BYTES since the last store (at most once per COST_FACTOR times a store's cost) and at the end."""

    def __init__(self, folder, clock: Callable[[], float] = time.monotonic):
        self.folder = Path(folder)
        self.clock = clock
        # a resumed run's log so far: the stored history and the rest (a log of an older trainer: all of it)
        self.history, self.stored_at, _ = _read(self.folder)
        self.due = 0.0
        self.pending: list = []  # records not yet taken into the history (at most BATCH)

    def add(self, record) -> None:
        # taken into the history a batch at a time (History.extend gathers each series' points once a batch: a
        # record at a time cost the trainer 15 µs a log line, a batch of 256 about a third of that)
        self.pending.append(record)
        if len(self.pending) >= BATCH:
            self._take()

    def _take(self) -> None:
        self.history.extend(self.pending)
        self.pending = []

    def store(self, offset: int, mark: str, final: bool = False) -> None:
        """The log now holds `offset` bytes, `mark` the fingerprint of its end: store the history if it is due."""
        if offset == self.stored_at or not (final or (offset - self.stored_at >= GROWTH_BYTES
                                                      and self.clock() >= self.due)):
            return
        started = time.perf_counter()
        self._take()
        store(self.folder, self.history, offset, mark)
        self.stored_at = offset
        self.due = self.clock() + COST_FACTOR * (time.perf_counter() - started)
