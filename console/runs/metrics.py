"""Metrics history: what a run logged, rebuilt from metrics.jsonl or a trainer_state.json.

A History is plain data (lists of floats), cheap to extend line by line and cheap to read for the diagnosis and
the charts. It never imports torch or transformers.
"""
from __future__ import annotations

import json
import math
import os
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate, islice
from operator import le
from pathlib import Path

from console.common.bounded_read import MAX_JSON_DEPTH, NotARegularFile, loads_json, open_regular, read_prefix

# A Series holds at most this many points (issue 29: the console opening a 1M-event run held ~380 B an event, 500 MB).
# 20k points is more than any chart draws (they decimate to their width) and more than the diagnosis reads in
# detail (it cuts a long train curve into 320 bins: console/diagnosis/context.py); a run logs fewer points than this
# up to 20k steps at logging_steps=1, and those are kept exactly as logged.
CAP = 20_000
HEAD = 64  # the first points, always kept as logged (the base model's eval, the first steps, the warm-up)
TAIL = 64  # at least the newest points, kept as logged (the last value, the recent rate, the latest evals)
FIRST_STRIDE = 4  # logged points a bucket holds when a series first fills: two kept of four halves it
BATCH = 512  # logged points closed into buckets at once (one call and one list shift for many buckets)


def _kept(values: list, lo: int, hi: int) -> list[int]:
    """The indices in values[lo:hi] a bucket keeps: its lowest and highest finite value and its first non-finite one,
    in order (the first of equal ones)."""
    low = high = bad = None
    for i in range(lo, hi):
        v = values[i]
        if not math.isfinite(v):
            if bad is None:
                bad = i
        else:
            if low is None or v < values[low]:
                low = i
            if high is None or v > values[high]:
                high = i
    return sorted({i for i in (low, high, bad) if i is not None})


def _buckets(values: list, bounds: list[int]) -> tuple[list[int], list[int]]:
    """(the indices kept, how many of each bucket) for the buckets values[bounds[k]:bounds[k + 1]]. A stretch of
    finite values (the common case) is done by min, max and index at C speed: a loop per bucket in Python cost about
    1 s of CPU per 100k log events over a dozen series."""
    lo, hi = bounds[0], bounds[-1]
    if all(map(math.isfinite, values[lo:hi])):
        parts = [values[a:b] for a, b in zip(bounds, bounds[1:])]
        lows = map(list.index, parts, map(min, parts))
        highs = map(list.index, parts, map(max, parts))
        pairs = [(a + low,) if low == high else (a + low, a + high) if low < high else (a + high, a + low)
                 for a, low, high in zip(bounds, lows, highs)]
    else:
        pairs = [_kept(values, a, b) for a, b in zip(bounds, bounds[1:])]
    return [i for pair in pairs for i in pair], [len(pair) for pair in pairs]


def _nonfinite(values: list, lo: int, hi: int) -> int:
    part = values[lo:hi]
    return 0 if all(map(math.isfinite, part)) else sum(1 for v in part if not math.isfinite(v))


def _floats(items) -> list[float]:
    """A stored list of numbers as floats (NaN and inf included); ValueError for anything else."""
    if not isinstance(items, list) or not all(type(v) in (float, int) for v in items):
        raise ValueError("not a list of numbers")
    return [float(v) for v in items]


def _count(value) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


@dataclass
class Series:
    """One curve: parallel lists of steps and values, steps non-decreasing, at most CAP points.

    A long series is decimated as it is read, so that a run of a million log events costs what a run of 20k does.
    The points are then: the first HEAD as logged, buckets of `stride` logged points each, and the newest (TAIL to
    TAIL + BATCH, or a stride when larger) as logged. A bucket keeps real logged points, never an average: its
    lowest and its highest finite value and its first NaN/inf, at their own steps. So the best eval, the worst spike
    and the first non-finite value of the whole run are always there, as the trainer wrote them (the divergence, NaN
    and oscillation rules see what they would see in the full log, and the evidence they print names a step and a
    value that were logged); a mean would average a spike away and invent values no step had. When the series
    reaches CAP, neighbouring buckets merge pairwise (the stride doubles), which keeps the same points a bucket of
    twice the size would keep. Plain lists rather than array('d'): the diagnosis and the charts do list arithmetic
    on them (slices joined with +), and at CAP points the lists cost about 1.3 MB a series.
    """

    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    stride: int = 1  # logged points per bucket; 1 while the series never reached CAP (every point as logged)
    _head: int = 0  # points kept as logged at the start (HEAD once decimated)
    _end: int = 0  # the points before this index are the head and the closed buckets; after it, as logged
    _sizes: list[int] = field(default_factory=list, repr=False)  # points kept of each closed bucket
    _counts: list[int] = field(default_factory=list, repr=False)  # logged points in each closed bucket
    _bad: list[int] = field(default_factory=list, repr=False)  # non-finite logged points in each closed bucket
    # the length at which points are next decimated: CAP, then every BATCH points or so (CAP read when made: tests
    # make it small)
    _next: int = field(default_factory=lambda: CAP, repr=False)

    def add(self, step: float, value: float) -> None:
        steps = self.steps
        # A log that joins several resumed runs goes back in steps: the later run replaces what it repeats.
        if steps and step < steps[-1]:
            self._cut(bisect_left(steps, step))
        steps.append(step)
        self.values.append(value)
        if len(steps) >= self._next:  # one comparison per point: this runs a dozen times per log event
            if self.stride == 1:
                self._decimate()
            else:
                self._close()

    def extend(self, steps: list, values: list) -> None:
        """add() each point, in order; a batch whose steps never go back is appended at once."""
        if not steps:
            return
        if (self.steps and steps[0] < self.steps[-1]) or not all(map(le, steps, islice(steps, 1, None))):
            for step, value in zip(steps, values):
                self.add(step, value)
            return
        self.steps += steps
        self.values += values
        while len(self.steps) >= self._next:
            if self.stride == 1:
                self._decimate()
            else:
                self._close()

    def __len__(self) -> int:
        return len(self.values)

    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    @property
    def logged(self) -> int:
        """How many points the log held for this series (len() is how many are kept)."""
        if self.stride == 1:
            return len(self.values)
        return self._head + sum(self._counts) + len(self.values) - self._end

    @property
    def nonfinite(self) -> int:
        """How many of the logged points were NaN or inf."""
        raw = [self.values] if self.stride == 1 else [self.values[:self._head], self.values[self._end:]]
        return sum(self._bad) + sum(1 for part in raw for v in part if not math.isfinite(v))

    def as_logged(self) -> list[tuple[list, list]]:
        """The stretches of (steps, values) kept exactly as logged, every point of them: the whole series until it
        is decimated, then its head and its newest points (gaps between logged points are measured on these)."""
        if self.stride == 1:
            return [(self.steps, self.values)]
        return [(self.steps[:self._head], self.values[:self._head]), (self.steps[self._end:], self.values[self._end:])]

    def finite(self) -> Series:
        """The points whose value is a finite number."""
        out = Series()
        for s, v in zip(self.steps, self.values):
            if math.isfinite(v):
                out.steps.append(s)
                out.values.append(v)
        return out

    # -- stored form (console/runs/history_store.py) ---------------------------------------------------------------
    def state(self) -> dict:
        """What it takes to go on adding to this series exactly where it stands (its lists are not copied)."""
        return {"steps": self.steps, "values": self.values, "stride": self.stride, "head": self._head,
                "end": self._end, "sizes": self._sizes, "counts": self._counts, "bad": self._bad}

    @classmethod
    def restore(cls, data) -> Series:
        """The series `state()` described; ValueError for anything no series could have been (a hand edit, a file
        of another version, a hostile one): its reader then reads the log itself."""
        steps, values = _floats(data["steps"]), _floats(data["values"])
        stride, head, end = (_count(data[k]) for k in ("stride", "head", "end"))
        sizes, counts, bad = ([_count(n) for n in data[k]] for k in ("sizes", "counts", "bad"))
        if len(steps) != len(values) or not all(map(math.isfinite, steps)) or not all(map(le, steps, steps[1:])) \
                or (steps and not 0 <= steps[0] <= steps[-1] <= 1e15):
            raise ValueError("steps that are not finite and in order")
        series = cls(steps=steps, values=values, stride=stride, _head=head, _end=end, _sizes=sizes, _counts=counts,
                     _bad=bad)
        if stride == 1:
            if head or end or sizes or counts or bad or len(steps) >= CAP:
                raise ValueError("a series kept as logged with buckets, or past its bound")
            return series
        if stride % FIRST_STRIDE or stride & (stride - 1) or head != HEAD or not head <= end <= len(steps) \
                or not len(sizes) == len(counts) == len(bad) or sum(sizes) != end - head \
                or not all(1 <= n <= 3 for n in sizes) or not all(1 <= c for c in counts) \
                or not all(b <= c for b, c in zip(bad, counts)):
            raise ValueError("buckets that do not add up")
        series._next = end + max(stride, BATCH) + TAIL
        if len(steps) >= series._next:
            raise ValueError("more points than a series keeps")
        return series

    # -- decimation (see the class' docstring) ---------------------------------------------------------------------
    def _decimate(self) -> None:
        """The series reached CAP points for the first time: everything between the head and the newest points
        becomes buckets of FIRST_STRIDE logged points."""
        self.stride, self._head, self._end = FIRST_STRIDE, HEAD, HEAD
        self._close()

    def _close(self) -> None:
        """The oldest of the points kept as logged become buckets of `stride`, all but the newest TAIL or more."""
        steps, values, stride = self.steps, self.values, self.stride
        lo = self._end
        bounds = list(range(lo, len(steps) - TAIL + 1, stride))
        if len(bounds) < 2:
            self._next = self._end + max(stride, BATCH) + TAIL
            return
        hi = bounds[-1]
        kept, sizes = _buckets(values, bounds)
        self._sizes += sizes
        self._counts += [stride] * len(sizes)
        self._bad += [_nonfinite(values, a, b) for a, b in zip(bounds, bounds[1:])]
        steps[lo:hi] = [steps[k] for k in kept]
        values[lo:hi] = [values[k] for k in kept]
        self._end = lo + len(kept)
        while len(steps) >= CAP and len(self._sizes) >= 2:
            self._merge()
        self._next = self._end + max(self.stride, BATCH) + TAIL

    def _merge(self) -> None:
        """Neighbouring buckets merge pairwise: the same points a bucket of both would keep (lowest, highest, first
        non-finite of the points each kept)."""
        steps, values, head = self.steps, self.values, self._head
        sizes, counts, bad = self._sizes, self._counts, self._bad
        bounds = list(accumulate((sum(sizes[b:b + 2]) for b in range(0, len(sizes), 2)), initial=head))
        kept, new_sizes = _buckets(values, bounds)
        self._counts = [sum(counts[b:b + 2]) for b in range(0, len(counts), 2)]
        self._bad = [sum(bad[b:b + 2]) for b in range(0, len(bad), 2)]
        self._sizes = new_sizes
        self.stride *= 2
        end = bounds[-1]
        steps[head:end] = [steps[k] for k in kept]
        values[head:end] = [values[k] for k in kept]
        self._end = head + len(kept)

    def _cut(self, keep: int) -> None:
        """Drop the points from index `keep` on (a resumed run logs again from its checkpoint's step)."""
        del self.steps[keep:]
        del self.values[keep:]
        if self.stride == 1 or keep >= self._end:
            return
        if keep <= self._head:  # back into the head: what is left was all kept as logged
            self.stride, self._head, self._end, self._next = 1, 0, 0, CAP
            self._sizes, self._counts, self._bad = [], [], []
            return
        while self._sizes and self._end > keep:  # buckets cut (a bucket cut in part: what it kept is left as logged)
            self._end -= self._sizes.pop()
            self._counts.pop()
            self._bad.pop()
        self._next = self._end + max(self.stride, BATCH) + TAIL


# metrics.jsonl / log_history key -> History attribute
_SERIES_KEYS = {
    "loss": "train_loss",
    "eval_loss": "eval_loss",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
    "epoch": "epoch",
    "samples_per_second": "samples_per_second",
    "steps_per_second": "steps_per_second",
    "tokens_per_second": "tokens_per_second",
    "mean_token_accuracy": "token_accuracy",
    "eval_mean_token_accuracy": "eval_token_accuracy",
    "entropy": "entropy",
    # preference training (TRL's DPOTrainer and KTOTrainer): the implicit rewards beta * log(p / p_ref) of the
    # chosen and rejected answers, their margin, the share of pairs ranked right, the answers' log-probabilities
    "rewards/chosen": "chosen_reward",
    "rewards/rejected": "rejected_reward",
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "logps/chosen": "chosen_logps",
    "logps/rejected": "rejected_logps",
    "eval_rewards/chosen": "eval_chosen_reward",
    "eval_rewards/rejected": "eval_rejected_reward",
    "eval_rewards/margins": "eval_reward_margin",
    "eval_rewards/accuracies": "eval_reward_accuracy",
    "eval_logps/chosen": "eval_chosen_logps",
    "kl": "kl",
}


def _number(value) -> float | None:
    """A logged value as a float: JSON numbers, and NaN/Infinity written as strings by some writers."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and len(value) < 64:
            return float(value)
    except (ValueError, OverflowError):  # "abc", an integer of 400 digits
        return None
    return None


def _step(value) -> float | None:
    """A logged step: a finite number from 0 to 1e15, else None. A line {"step": NaN} (or Infinity) reached int()
    in every reader and broke `runs`, `show`, `watch` and the console; a value that is no step drops its line."""
    number = _number(value)
    if number is None or not math.isfinite(number) or not 0 <= number <= 1e15:
        return None
    return number


def _step_count(value) -> int | None:
    """A planned number of steps: a whole, positive, believable count, else None."""
    number = _number(value)
    if number is None or not math.isfinite(number) or not 1 <= number <= 1e12:
        return None
    return int(number)


@dataclass
class History:
    """Everything a run logged, as curves over the global step."""

    train_loss: Series = field(default_factory=Series)
    eval_loss: Series = field(default_factory=Series)
    learning_rate: Series = field(default_factory=Series)
    grad_norm: Series = field(default_factory=Series)
    epoch: Series = field(default_factory=Series)
    samples_per_second: Series = field(default_factory=Series)  # training throughput, from the trainer's logs
    steps_per_second: Series = field(default_factory=Series)
    tokens_per_second: Series = field(default_factory=Series)  # from TRL's num_tokens (console/trainer/train.py)
    token_accuracy: Series = field(default_factory=Series)  # TRL's mean_token_accuracy on the training batches
    eval_token_accuracy: Series = field(default_factory=Series)
    entropy: Series = field(default_factory=Series)  # TRL's mean entropy of the model's next-token guesses (nats)
    wall_time: Series = field(default_factory=Series)  # seconds since the run started, by step
    chosen_reward: Series = field(default_factory=Series)  # preference training (see _SERIES_KEYS)
    rejected_reward: Series = field(default_factory=Series)
    reward_margin: Series = field(default_factory=Series)
    reward_accuracy: Series = field(default_factory=Series)
    chosen_logps: Series = field(default_factory=Series)
    rejected_logps: Series = field(default_factory=Series)
    eval_chosen_reward: Series = field(default_factory=Series)
    eval_rejected_reward: Series = field(default_factory=Series)
    eval_reward_margin: Series = field(default_factory=Series)
    eval_reward_accuracy: Series = field(default_factory=Series)
    eval_chosen_logps: Series = field(default_factory=Series)
    kl: Series = field(default_factory=Series)  # KTO's estimate of the policy's distance from the reference
    max_steps: int | None = None  # the planned number of optimiser steps, when known
    events: int = 0  # records seen
    final: dict | None = None  # the closing summary (train_runtime, train_loss, ...), when training ended

    def add(self, record: dict) -> None:
        """Take one log record (a metrics.jsonl line or a log_history entry)."""
        self.extend([record])

    def extend(self, records: Iterable[dict]) -> History:
        """Take log records in order. The points of each series are gathered first and handed over once a batch
        (Series.extend): a call per point and series was a third of reading a long log."""
        points: dict[str, tuple[list, list]] = {}
        for record in records:
            if not isinstance(record, dict):  # a line of valid JSON that is not an object is not a record
                continue
            self.events += 1
            raw = record.get("step")
            step = float(raw) if type(raw) is int and 0 <= raw <= 1e15 else _step(raw)  # the common case first
            if step is None:
                continue
            final = "train_runtime" in record
            if final:  # the Trainer's closing summary, not a training point
                self.final = dict(record)
            if record.get("max_steps"):
                self.max_steps = _step_count(record["max_steps"]) or self.max_steps
            for key, raw in record.items():  # the record's dozen keys, not the 24 known ones
                attr = _SERIES_KEYS.get(key)
                if attr is None or (final and key == "loss"):
                    continue
                value = raw if type(raw) is float else _number(raw)
                if value is not None:
                    into = points.get(attr) or points.setdefault(attr, ([], []))
                    into[0].append(step)
                    into[1].append(value)
            wall = record.get("time")
            wall = wall if type(wall) is float else _number(wall)
            if wall is not None and math.isfinite(wall):
                into = points.get("wall_time") or points.setdefault("wall_time", ([], []))
                into[0].append(step)
                into[1].append(wall)
        series = self.__dict__
        for attr, (steps, values) in points.items():
            series[attr].extend(steps, values)
        return self

    @property
    def preference(self) -> bool:
        """A preference run's log (DPO, KTO): it holds rewards of chosen and rejected answers."""
        return bool(self.chosen_reward.steps or self.eval_chosen_reward.steps)

    @property
    def last_step(self) -> float:
        """The last step the log speaks of: its closing summary's when training ended (a run stopped at step 106
        logged its last loss at 100, and said 100 where the status and the checkpoint said 106)."""
        last = max((s.steps[-1] for s in (self.train_loss, self.eval_loss, self.learning_rate) if s.steps), default=0)
        end = _step(self.final.get("step")) if self.final else None
        return max(last, end) if end is not None else last

    def state(self) -> dict:
        """Everything this history holds, as JSON-ready data (console/runs/history_store.py stores it)."""
        return {"series": {name: s.state() for name, s in self._series().items() if s.steps},
                "max_steps": self.max_steps, "events": self.events, "final": self.final}

    @classmethod
    def restore(cls, data) -> History:
        """The history `state()` described; ValueError for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("series"), dict):
            raise ValueError("not a stored history")
        history = cls(max_steps=None if data.get("max_steps") is None else _step_count(data["max_steps"]),
                      events=_count(data.get("events")))
        final = data.get("final")
        if final is not None and not isinstance(final, dict):
            raise ValueError("a closing summary that is not an object")
        history.final = final
        known = history._series()
        for name, state in data["series"].items():
            if name not in known:
                raise ValueError(f"no series {name!r}")
            setattr(history, name, Series.restore(state))
        return history

    def _series(self) -> dict[str, Series]:
        return {name: value for name, value in self.__dict__.items() if isinstance(value, Series)}

    @classmethod
    def from_records(cls, records: Iterable[dict]) -> History:
        return cls().extend(records)

    @classmethod
    def from_state(cls, state) -> History:
        """The History of a trainer_state.json's parsed content (its log_history and max_steps)."""
        if not isinstance(state, dict):
            raise ValueError("not a trainer_state.json: its top level is not a JSON object")
        log = state.get("log_history")
        history = cls.from_records(r for r in (log if isinstance(log, list) else []) if isinstance(r, dict))
        if isinstance(state, dict) and _step_count(state.get("max_steps")):
            history.max_steps = _step_count(state["max_steps"])
        return history


class MetricsTail:
    """Reads a growing metrics.jsonl incrementally.

    Only complete lines are returned: a last line the writer has not finished yet stays in the buffer until its
    newline arrives. A line that is not valid JSON is skipped and counted (never fatal for a watcher).
    """

    READ_CAP = 64 << 20  # bytes read per call: a huge file is read over several calls, in bounded memory
    LINE_CAP = 1 << 20  # a "line" longer than this is no log record (a 1 GB single line was read whole): skipped

    def __init__(self, path: str | os.PathLike, read_cap: int | None = None):
        self.path = Path(path)
        self.read_cap = read_cap or self.READ_CAP
        self.offset = 0
        self._partial = b""
        self._skipping = False  # inside an over-long line: drop bytes up to its newline
        self.bad_lines = 0
        self.more = False  # the last call stopped at READ_CAP: there is more to read now

    @property
    def pending(self) -> bytes:
        """The start of a line read but not yet returned (its newline has not arrived)."""
        return self._partial

    def read_new(self) -> list[dict]:
        try:
            with open_regular(self.path) as f:  # never a FIFO or a device (reading one would hang or never end)
                size = os.fstat(f.fileno()).st_size
                if size < self.offset:  # truncated or replaced: read it again from the start
                    self.offset, self._partial, self._skipping = 0, b"", False
                f.seek(self.offset)
                chunk = f.read(self.read_cap)
        except (FileNotFoundError, NotARegularFile):
            return []
        self.offset += len(chunk)
        self.more = len(chunk) == self.read_cap
        if self._skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                return []
            chunk, self._skipping = chunk[cut + 1:], False
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when the chunk ended on a newline
        if len(self._partial) > self.LINE_CAP:
            self._partial, self._skipping = b"", True
            self.bad_lines += 1
        records = []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                # a 100k-deep array raised RecursionError: loads_json makes it a bad line. A line of fewer brackets
                # than its bound cannot nest past it: json.loads alone (loads_json's walk was a fifth of the read)
                record = (json.loads(line) if line.count(b"{") + line.count(b"[") <= MAX_JSON_DEPTH
                          else loads_json(line))
            except (ValueError, UnicodeDecodeError):
                self.bad_lines += 1
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


FINGERPRINT = 64  # bytes before a covered offset, kept to tell an appended log from a replaced one


def fingerprint(path, offset: int) -> str:
    """The last FINGERPRINT bytes of a log's first `offset` bytes, hex: what a stored summary or history keeps to
    tell the log it covers, appended to since, from one cut or replaced."""
    if offset == 0:
        return ""
    # swapped for a FIFO since it was checked: refused, never waited on
    return read_prefix(path, min(offset, FINGERPRINT), offset=max(0, offset - FINGERPRINT)).hex()


LOAD_READ_BYTES = 4 << 20  # read by load_history per call: a 64 MiB read became ~200 MB of records at once


def load_history(path: str | os.PathLike) -> History:
    """The whole history of a metrics.jsonl file, read a few MiB at a time (the records of one read are dropped
    once taken into the history: a 100k-event log peaked at 211 MB read 64 MiB at once, 55 MB this way)."""
    tail, history = MetricsTail(path, read_cap=LOAD_READ_BYTES), History()
    history.extend(tail.read_new())
    while tail.more:
        history.extend(tail.read_new())
    return history
