"""A run's metrics in a few numbers per metric, kept up to date incrementally: what a row of `runs`, the runs screen
and `show` print, at a cost that follows what they show rather than the length of metrics.jsonl.

A MetricsSummary holds, for every metric name a run logged (generic: a trainer kind that logs new names, such as
rewards/chosen, needs nothing here), its last few points and, for evaluation metrics, the points that were the best
so far; `history()` turns them into a small History that `progress()` reads as it reads a whole one. It is stored
beside metrics.jsonl (`.summary.json`) with the number of bytes of the log it covers and the bytes just before that
point: a later reader reads only what was appended since (a log cut or replaced is read again from its start). A
run folder it cannot write to (another user's runs) is summarised in memory each time. One known difference: a log
that goes back in steps (a resumed run) keeps the last TAIL points after the cut, so the median rates of progress()
may come from fewer points than the whole history's until TAIL new points are logged.

The trainer keeps it itself (`LiveSummary`, from console/trainer/callbacks.py): each line it appends is added in
memory and the file is written every few seconds and at each evaluation, save and the end, so a reader after the
run reads no line of metrics.jsonl, and one during it only the lines since the last write. It keeps the run's whole
(bounded) History beside it as well, stored more rarely (console/runs/history_store.py): what the console opens a
run from.

The file is two lines: a head (version, offset, fingerprint and the row) and the points. `runs` reads the head
alone: 3000 runs' whole summaries, parsed and depth-checked, were most of its time.
"""
from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from stat import S_ISREG

from console.common.bounded_read import loads_json, read_prefix
from console.common.files import atomic_write, read_head
from console.runs.history_store import HistoryKeeper
from console.runs.metrics import (
    _SERIES_KEYS,
    FINGERPRINT,
    History,
    MetricsTail,
    _number,
    _step,
    _step_count,
    fingerprint,
)

TAIL = 5  # the last points kept of each metric: progress() takes the median of the last five rates
MAX_METRICS = 256  # names kept per run: a hostile log with a new key on every line stays small
READ_BYTES = 1 << 20  # metrics.jsonl read this much at a time: memory stays small on a log of gigabytes
VERSION = 4  # 2: with the row; 3: each point with its place in the log; 4: a head line, then the points
READ_VERSIONS = (3, 4)  # a version 3 summary (one JSON object) is read, and stored again as version 4
CACHE_NAME = ".summary.json"
HEAD_START = 4096  # read first: a head line is a few hundred bytes
HEAD_BYTES = 64 << 10  # the head line's bound (a row is a few hundred bytes: its note at most 1000 characters)
HEAD_KEYS = ("version", "offset", "fingerprint", "row")  # what `runs` needs, on the first line
STORE_EVERY_S = 5.0  # the trainer writes its summary at most this often between evaluations, saves and the end


@dataclass
class MetricStat:
    """One metric: its last TAIL points and (for an eval_* metric) the run of points that were the lowest so far."""

    tail: list = field(default_factory=list)  # [step, value, n] (n: the point's place in the log), oldest first
    best: list | None = None  # [step, value, n] prefix minima (finite values), oldest first; None: not tracked
    count: int = 0  # points added: the next point's n

    def add(self, step: float, value: float) -> None:
        # A log that joins several resumed runs goes back in steps: the later run replaces what it repeats, as
        # metrics.Series does.
        if self.tail and step < self.tail[-1][0]:
            self.tail = [p for p in self.tail if p[0] < step]
            if self.best is not None:
                self.best = [p for p in self.best if p[0] < step]
        point = [step, value, self.count]
        self.count += 1
        self.tail.append(point)
        del self.tail[:-TAIL]
        if self.best is not None and value == value and abs(value) != float("inf"):
            if not self.best or value < self.best[-1][1]:
                self.best.append(point)


@dataclass
class MetricsSummary:
    offset: int = 0  # bytes of metrics.jsonl this summary covers (whole lines)
    fingerprint: str = ""  # the FINGERPRINT bytes before offset, hex
    events: int = 0
    bad_lines: int = 0
    max_steps: int | None = None
    final: dict | None = None
    last_step: dict = field(default_factory=dict)  # metric name -> the step of its last point
    metrics: dict = field(default_factory=dict)  # metric name -> MetricStat
    # progress() of history() (no status), kept with the summary: a row of `runs` or of the runs screen is read
    # from it without building a History (3000 runs listed in a fraction of the time)
    row: dict | None = None
    outdated: bool = field(default=False, compare=False)  # read from an older version: stored again as this one

    def add(self, record: dict) -> None:
        """One log record, read as History.add reads it."""
        self.events += 1
        step = _step(record.get("step"))  # a finite step or the line is dropped, as History.add drops it
        if step is None:
            return
        if "train_runtime" in record:
            self.final = {k: v for k, v in record.items() if isinstance(v, (int, float, str, bool)) or v is None}
        if record.get("max_steps"):
            self.max_steps = _step_count(record["max_steps"]) or self.max_steps
        for key, raw in record.items():
            if key in ("step", "max_steps") or (key == "loss" and "train_runtime" in record):
                continue
            value = _number(raw)
            if value is None or (key == "time" and not math.isfinite(value)):  # as History.add: a NaN time
                continue  # reached int() in the elapsed time
            stat = self.metrics.get(key)
            if stat is None:
                if len(self.metrics) >= MAX_METRICS:
                    continue
                stat = self.metrics[key] = MetricStat(best=[] if key.startswith("eval_") else None)
            stat.add(step, value)
            self.last_step[key] = step

    def history(self) -> History:
        """A History of the points this summary keeps: the last few of each curve and the best of each eval
        curve. progress() gives the same numbers on it as on the whole history."""
        history = History(max_steps=self.max_steps, events=self.events,
                          final=dict(self.final) if self.final is not None else None)
        for key, attr in list(_SERIES_KEYS.items()) + [("time", "wall_time")]:
            stat = self.metrics.get(key)
            if stat is None:
                continue
            # the best points older than the tail, then the tail (which holds the best after it), by their place in
            # the log (steps repeat: several points at one step)
            start = stat.tail[0][2] if stat.tail else float("inf")
            points = [p for p in stat.best or [] if p[2] < start] + stat.tail
            series = getattr(history, attr)
            for step, value, _ in points:
                series.add(step, value)
        return history

    # -- stored form ---------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"version": VERSION, "offset": self.offset, "fingerprint": self.fingerprint, "events": self.events,
                "bad_lines": self.bad_lines, "max_steps": self.max_steps, "final": self.final,
                "last_step": self.last_step, "row": self.row,
                "metrics": {k: {"tail": s.tail, "best": s.best, "count": s.count} for k, s in self.metrics.items()}}

    def to_text(self) -> str:
        """The stored form: the head on its first line (what `stored_row` reads), the points on the second."""
        data = self.to_json()
        head = {k: data.pop(k) for k in HEAD_KEYS}
        return json.dumps(head, separators=(",", ":")) + "\n" + json.dumps(data, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data) -> MetricsSummary | None:
        """The summary a .summary.json holds; None for anything else (another version, a hand edit, a cut file)."""
        try:
            if not isinstance(data, dict) or data.get("version") not in READ_VERSIONS:
                return None
            out = cls(offset=int(data["offset"]), fingerprint=str(data["fingerprint"]), events=int(data["events"]),
                      bad_lines=int(data["bad_lines"]), max_steps=_step_count(data.get("max_steps")),
                      final=data["final"] if isinstance(data.get("final"), dict) else None)
            for key, step in dict(data["last_step"]).items():
                out.last_step[str(key)] = _stored_step(step)
            for key, stat in dict(data["metrics"]).items():
                tail = [[_stored_step(s), float(v), int(n)] for s, v, n in stat["tail"]][-TAIL:]
                best = None if stat.get("best") is None else [[_stored_step(s), float(v), int(n)]
                                                              for s, v, n in stat["best"]]
                out.metrics[str(key)] = MetricStat(tail=tail, best=best, count=int(stat["count"]))
            if out.offset < 0 or len(out.metrics) > MAX_METRICS:
                return None
            out.row = _row(data.get("row"))
            out.outdated = data["version"] != VERSION
            return out
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            return None


def _stored_step(value) -> float:
    """A step of a stored summary: finite, else ValueError (the summary is read again from the log)."""
    step = _step(value)
    if step is None:
        raise ValueError(f"not a step: {value!r}")
    return step


def _row(data) -> dict | None:
    """A stored row: a JSON object of numbers, flags, short texts and None; else None (it is computed again). A row
    holds `finished` (a flag) and `note` (a text): refusing them had every reader compute and write every run's
    summary again (3000 runs: 7 of `runs`' 17 s in writing .summary.json files)."""
    if not isinstance(data, dict):
        return None
    if not all(v is None or isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 1000)
               for v in data.values()):
        return None
    return data


@functools.lru_cache(maxsize=8)
def _row_keys(row_of) -> frozenset:
    """The names a row made by `row_of` has (a stored row with others was made by another version)."""
    return frozenset(row_of(History()))


def _stored(folder) -> dict | None:
    """A .summary.json as one dict: the head line and the points line merged (a version 3 file is one object);
    None for anything else."""
    raw = read_head(folder / CACHE_NAME, 4 << 20)
    if raw is None or len(raw) > 4 << 20:
        return None
    try:
        parts = [loads_json(part) for part in raw.decode("utf-8").split("\n") if part.strip()]
    except ValueError:  # UnicodeDecodeError included
        return None
    if len(parts) == 1 and isinstance(parts[0], dict):
        return parts[0]
    if len(parts) == 2 and all(isinstance(p, dict) for p in parts):
        return {**parts[1], **parts[0]}
    return None


def _stored_head(folder) -> dict | None:
    """The head line of a .summary.json (version 4 on): read alone, the points after it are not."""
    try:
        path = folder / CACHE_NAME
        data = read_prefix(path, HEAD_START)  # never a FIFO, even one swapped in since a check
        if b"\n" not in data and len(data) == HEAD_START:
            data = read_prefix(path, HEAD_BYTES)  # a long note in the row
        line, newline, _ = data.partition(b"\n")
        if not newline:
            return None  # a version 3 summary (one object, no newline), cut, or a head past its bound
        head = loads_json(line)
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) else None


def _load_cached(folder, metrics_path) -> MetricsSummary | None:
    """The stored summary, when it still describes the start of the log as it is now."""
    summary = MetricsSummary.from_json(_stored(folder))
    if summary is None:
        return None
    try:
        if os.path.getsize(metrics_path) < summary.offset or fingerprint(metrics_path, summary.offset) \
                != summary.fingerprint:
            return None  # cut or replaced: read again from the start
    except OSError:
        return None
    return summary


def stored_row(folder, row_of: Callable[[History], dict]) -> dict | None:
    """The row stored with a run's summary when it still describes the whole metrics.jsonl, else None. Reads no more
    than it needs: the stored tails and bests are not made into objects (they cost `runs` half its time at 3000
    runs, for a row that was there already)."""
    from pathlib import Path

    folder = Path(folder)
    metrics_path = folder / "metrics.jsonl"
    data = _stored_head(folder)
    if not data or data.get("version") != VERSION:
        return None
    row = _row(data.get("row"))
    offset = data.get("offset")
    if row is None or set(row) != _row_keys(row_of) or not isinstance(offset, int) or isinstance(offset, bool):
        return None
    try:
        found = os.stat(metrics_path)  # one stat: a regular file of the size the row covers
        if not S_ISREG(found.st_mode) or found.st_size != offset \
                or fingerprint(metrics_path, offset) != data.get("fingerprint"):
            return None
    except OSError:
        return None
    return row


def unsummarised(folder) -> int:
    """The bytes of metrics.jsonl a reader would read to summarise the run (after its stored summary, from the
    head line alone): what a CLI command says before a long first read."""
    from pathlib import Path

    folder = Path(folder)
    try:
        size = os.path.getsize(folder / "metrics.jsonl")
    except OSError:
        return 0
    head = _stored_head(folder)
    offset = head.get("offset") if head else None
    covered = offset if type(offset) is int and 0 <= offset <= size and head.get("version") in READ_VERSIONS \
        and fingerprint(folder / "metrics.jsonl", offset) == head.get("fingerprint") else 0
    return size - covered


def summarise(folder, write: bool = True, row_of: Callable[[History], dict] | None = None) -> MetricsSummary:
    """The summary of a run folder's metrics.jsonl, reading only what was appended since the stored one (which is
    brought up to date when `write` and the folder can be written). `row_of`: what a row shows of a history
    (console.runs.progress.summary_row), kept with the summary and made again when its names changed."""
    from pathlib import Path

    folder = Path(folder)
    metrics_path = folder / "metrics.jsonl"
    try:
        if metrics_path.exists() and not metrics_path.is_file():  # a FIFO or a folder: never read
            return MetricsSummary()
        size = os.path.getsize(metrics_path)
    except OSError:
        return MetricsSummary()
    summary = _load_cached(folder, metrics_path) or MetricsSummary()
    stale_row = row_of is not None and (summary.row is None or set(summary.row) != _row_keys(row_of)) \
        or summary.outdated  # a version 3 file: stored again as this version (its points are read as they are)
    if size == summary.offset and not stale_row:
        return summary
    tail = MetricsTail(metrics_path, read_cap=READ_BYTES)
    tail.offset = summary.offset
    while True:
        for record in tail.read_new():
            summary.add(record)
        if not tail.more:
            break
    summary.bad_lines += tail.bad_lines
    # only whole lines are covered: a last line still being written is read next time
    covered = tail.offset - len(tail.pending)
    # a stored row of another shape (Progress gained a field since it was written) is computed again and stored
    if covered != summary.offset or stale_row:
        summary.offset = covered
        if row_of is not None:
            summary.row = row_of(summary.history())
        try:
            summary.fingerprint = fingerprint(metrics_path, covered)
        except OSError:
            return summary
        if write:
            store(folder, summary)
    return summary


def store(folder, summary: MetricsSummary) -> None:
    """Write `summary` as the folder's .summary.json (atomically: a reader sees the old one or the new one); a
    folder this user cannot write is left as it is (summarised in memory, the next reader reads it again)."""
    try:
        atomic_write(folder / CACHE_NAME, summary.to_text())
    except OSError:
        return
    summary.outdated = False


class LiveSummary:
    """The summary of the metrics.jsonl this process appends to (the trainer's callback): each line it writes is
    added in memory as a reader would read it, and .summary.json is stored every STORE_EVERY_S at most and when
    asked (evaluations, saves, the end). A line costs one JSON parse and a few list operations; a store, one small
    file written atomically. Any surprise in the log (a line cut short before this process started, another writer)
    and it stops keeping the summary: readers then read the log on from the last stored summary, as before."""

    def __init__(self, folder, row_of: Callable[[History], dict], clock: Callable[[], float] = time.monotonic):
        from pathlib import Path

        self.clock = clock
        self.folder = Path(folder)
        self.metrics_path = self.folder / "metrics.jsonl"
        self.row_of = row_of
        self.summary = summarise(self.folder, row_of=row_of)  # what the log held before: a resumed run's
        # a last line cut short (a trainer killed while writing it) would run into this process' first line
        self.live = os.path.getsize(self.metrics_path) == self.summary.offset
        # the whole History too, stored now and then, that the console opens a long run from (history_store.py)
        self.keeper = HistoryKeeper(self.folder, clock) if self.live else None
        self.last_bytes = bytes.fromhex(self.summary.fingerprint)
        self.due = clock() + STORE_EVERY_S
        self.pending = False  # lines added since the last store

    def add(self, line: str, store: bool = False) -> None:
        """`line` (with its newline) was just appended to metrics.jsonl and flushed; `store`: write the summary now
        (an evaluation or the end), else only when the last store is STORE_EVERY_S old."""
        if not self.live:
            return
        data = line.encode("utf-8")
        record = loads_json(data)  # as MetricsTail parses it, so the summary is the one a reader builds
        if isinstance(record, dict):
            self.summary.add(record)
            if self.keeper is not None:
                self.keeper.add(record)
        self.summary.offset += len(data)
        self.last_bytes = (self.last_bytes + data)[-FINGERPRINT:]
        self.pending = True
        if store or self.clock() >= self.due:
            self.store()

    def store(self, final: bool = False) -> None:
        """Write the summary if lines were added since the last store (and the log is still as this process left
        it), and the history when it is due or `final` (the end of training); a failed write is left to the next
        store."""
        if not self.live:
            return
        summary = self.summary
        if self.pending:
            try:
                st = os.stat(self.metrics_path)
            except OSError:
                st = None
            if st is None or not S_ISREG(st.st_mode) or st.st_size != summary.offset:
                self.live = False  # another writer, or the log replaced: not ours to describe any more
                return
            summary.fingerprint = self.last_bytes.hex()
            summary.row = self.row_of(summary.history())
            store(self.folder, summary)
            self.pending = False
            self.due = self.clock() + STORE_EVERY_S
        if self.keeper is not None:
            self.keeper.store(summary.offset, summary.fingerprint, final)
