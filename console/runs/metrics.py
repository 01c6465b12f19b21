"""Metrics history: what a run logged, rebuilt from metrics.jsonl or a trainer_state.json.

A History is plain data (lists of floats), cheap to extend line by line and cheap to read for the diagnosis and
the charts. It never imports torch or transformers.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from console.common.bounded_read import NotARegularFile, loads_json, open_regular


@dataclass
class Series:
    """One curve: parallel lists of steps and values, steps non-decreasing."""

    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, step: float, value: float) -> None:
        # A log that joins several resumed runs goes back in steps: the later run replaces what it repeats.
        if self.steps and step < self.steps[-1]:
            keep = 0
            while keep < len(self.steps) and self.steps[keep] < step:
                keep += 1
            del self.steps[keep:]
            del self.values[keep:]
        self.steps.append(step)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.values)

    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def finite(self) -> Series:
        """The points whose value is a finite number."""
        out = Series()
        for s, v in zip(self.steps, self.values):
            if math.isfinite(v):
                out.steps.append(s)
                out.values.append(v)
        return out


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
        self.events += 1
        step = _step(record.get("step"))
        if step is None:
            return
        if "train_runtime" in record:  # the Trainer's closing summary, not a training point
            self.final = dict(record)
        if record.get("max_steps"):
            self.max_steps = _step_count(record["max_steps"]) or self.max_steps
        for key, attr in _SERIES_KEYS.items():
            if key not in record or (key == "loss" and "train_runtime" in record):
                continue
            value = _number(record[key])
            if value is not None:
                getattr(self, attr).add(step, value)
        wall = _number(record.get("time"))
        if wall is not None and math.isfinite(wall):
            self.wall_time.add(step, wall)

    def extend(self, records: Iterable[dict]) -> History:
        for record in records:
            if isinstance(record, dict):  # a line of valid JSON that is not an object is not a record
                self.add(record)
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
                record = loads_json(line)  # a 100k-deep array raised RecursionError: now a bad line
            except (ValueError, UnicodeDecodeError):
                self.bad_lines += 1
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


LOAD_READ_BYTES = 4 << 20  # read by load_history per call: a 64 MiB read became ~200 MB of records at once


def load_history(path: str | os.PathLike) -> History:
    """The whole history of a metrics.jsonl file, read a few MiB at a time (the records of one read are dropped
    once taken into the history: a 100k-event log peaked at 211 MB read 64 MiB at once, 55 MB this way)."""
    tail, history = MetricsTail(path, read_cap=LOAD_READ_BYTES), History()
    history.extend(tail.read_new())
    while tail.more:
        history.extend(tail.read_new())
    return history
