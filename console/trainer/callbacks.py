"""The trainer's callbacks (trainer process only: imports transformers): what the training loop tells the run folder.

Module-level classes that hold their own state, like transformers' own callbacks: which process writes comes from
the Trainer's state (`is_world_process_zero`) and the number of processes from its arguments, never from flags read
at import.
"""
from __future__ import annotations

import json
import math
import time

from transformers import TrainerCallback

from console.common.safe_write import open_append
from console.runs.progress import summary_row
from console.runs.report import Reporter, StopRequest
from console.runs.rundir import RunDir
from console.runs.summary import LiveSummary

DIST_POLL_STEPS = 5  # under several processes, stop/save requests are agreed on every this many steps
REQUEST_POLL_S = 0.2  # a stop or save-now request is seen within this long; two stat() calls per poll


def _timed(hook):
    """Adds the hook's own time to self.own_seconds: the console's cost inside the training loop, reported."""
    def timed(self, *args, **kw):
        t0 = time.perf_counter()
        try:
            return hook(self, *args, **kw)
        finally:
            self.own_seconds += time.perf_counter() - t0
    timed.__name__ = hook.__name__
    return timed


class ConsoleCallback(TrainerCallback):
    """Appends every log event to metrics.jsonl and keeps the run's metrics summary (.summary.json) up to date with
    it, keeps status.json's phase, obeys stop and save requests, stops a run whose loss became NaN or exploded."""

    def __init__(self, report: Reporter, stop: StopRequest, effective_batch: int, started: float,
                 sampler: SampleCallback | None = None, cuda: bool = False):
        self.report = report
        self.run: RunDir = report.run
        self.stop = stop
        self.effective_batch = effective_batch
        self.started = started
        self.sampler = sampler
        self.cuda = cuda
        self.file = None  # metrics.jsonl, opened at train begin by the main process
        # what `runs` and `show` read instead of metrics.jsonl, kept as the log is written (console/runs/summary.py)
        self.summary: LiveSummary | None = None
        self.last_log = None  # (step, time, tokens seen) of the previous training log, for throughput
        self.first_loss = None
        self.best_loss = None
        self.exploded_at = None  # time.monotonic() when the loss exploded (cleared if it came back down)
        self.phase = ""
        self.next_poll = 0.0  # stop/save requests are looked for a few times a second, not at every step
        self.own_seconds = 0.0
        self.last_call = 0.0  # time.monotonic() of the previous step or eval batch, for the heartbeat
        self.next_touch = 0.0
        self.slowest = 0.0  # the longest gap between two steps (or eval batches) so far, in seconds

    def _beat(self, first: bool = False):
        """Touch the heartbeat file (at most once a second) and record the slowest gap between two steps: what
        tells a hung trainer from a slow one (RunDir.not_responding). Its own time is counted in own_seconds with
        the hook that called it."""
        now = time.monotonic()
        gap = 0.0 if first else now - self.last_call
        self.last_call = now
        if first or gap > max(1.0, 1.25 * self.slowest):
            self.slowest = max(self.slowest, gap)
            self.report.heartbeat(self.slowest)
            self.next_touch = now + 1.0
        elif now >= self.next_touch:
            self.report.heartbeat(None)
            self.next_touch = now + 1.0

    def _phase(self, phase: str):
        if phase != self.phase:
            self.phase = phase
            self.report.status(phase)

    @_timed
    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero and self.report.main and self.file is None:
            self.file = open_append(self.run.metrics_path)  # never through a link (a NotOwnFile fails the run)
            try:
                self.summary = LiveSummary(self.run.path, summary_row)  # a resumed run's: read on from its own
            except OSError as err:  # readers summarise the log themselves, as for a run of an older trainer
                self.report.say(f"[console] metrics summary not kept: {err}")
        self._phase("training")
        self._beat(first=True)
        self._write({"step": state.global_step, "max_steps": state.max_steps, "event": "train_begin",
                     "effective_batch": self.effective_batch, "epoch": state.epoch or 0.0})

    @_timed
    def on_log(self, args, state, control, logs=None, **kw):
        logs = dict(logs or {})
        record = {"step": state.global_step, "time": round(time.time() - self.started, 3), **logs}
        if self.cuda:
            import torch

            record["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        if "loss" in logs and "train_runtime" not in logs:
            self._throughput(record, state.global_step, logs.get("num_tokens"))
            self._watch_loss(logs["loss"], state.global_step)
        if "train_runtime" in logs:
            record["console_seconds"] = round(self.own_seconds, 4)  # this callback's time in the loop
            if self.sampler is not None:  # the sample answers' time, reported apart: what they cost the run
                record["samples_seconds"] = round(self.sampler.seconds, 4)
        self._write(record)
        if self.phase != "training":
            self._phase("training")

    def _throughput(self, record: dict, step: int, tokens) -> None:
        """Steps, samples and tokens per second since the previous training log, into `record`."""
        now = time.time()
        # TRL's num_tokens: tokens seen so far, all processes together
        tokens = tokens if isinstance(tokens, (int, float)) else None
        if self.last_log and step > self.last_log[0]:
            dt = now - self.last_log[1]
            steps = step - self.last_log[0]
            record["steps_per_second"] = round(steps / dt, 4)
            record["samples_per_second"] = round(steps * self.effective_batch / dt, 3)
            if tokens is not None and self.last_log[2] is not None:
                record["tokens_per_second"] = round((tokens - self.last_log[2]) / dt, 1)
        self.last_log = (step, now, tokens)

    # An exploded loss stops the run only once it has stayed up this long: the console's warning (diverged, at
    # once) and `r` (the fix, now) come first, as the README's loop says. The demo "LR far too high" marked itself
    # failed 13.8 s after its trainer started, before the warning could be read. A NaN/inf loss stops at once.
    EXPLOSION_GRACE_S = 30.0

    def _watch_loss(self, loss, step: int, now: float | None = None) -> None:
        """Stop a run whose loss became NaN/inf, or exploded and stayed so for EXPLOSION_GRACE_S: no run comes back
        from there cheaply."""
        if not isinstance(loss, (int, float)):
            return
        now = time.monotonic() if now is None else now
        if not math.isfinite(loss):
            self.stop.ask(f"loss became {loss} at step {step}")
        elif self.first_loss is None:
            self.first_loss = self.best_loss = loss
        elif loss > 10 * self.best_loss + 10:
            if self.exploded_at is None:
                self.exploded_at = now
                self.report.say(f"[console] loss exploded to {loss:.4g} at step {step}: the run stops itself in "
                                f"{self.EXPLOSION_GRACE_S:.0f} s unless it comes back down")
            elif now - self.exploded_at >= self.EXPLOSION_GRACE_S:
                self.stop.ask(f"loss exploded to {loss:.4g} at step {step} (it started at {self.first_loss:.4g}, "
                              f"best {self.best_loss:.4g}) and stayed up for {now - self.exploded_at:.0f} s")
        else:
            self.exploded_at = None  # back down: the clock starts again at the next explosion
            self.best_loss = min(self.best_loss, loss)

    @_timed
    def on_prediction_step(self, args, state, control, **kw):
        self._phase("evaluating")
        self._beat()

    @_timed
    def on_evaluate(self, args, state, control, **kw):
        self._phase("training")

    @_timed
    def on_step_end(self, args, state, control, **kw):
        self._beat()
        if args.world_size > 1:
            # Every rank must stop or save at the same step, or the others hang in a collective: a request (file
            # or SIGTERM, which reach the ranks at different steps) counts only once all ranks agree.
            if state.global_step % DIST_POLL_STEPS:
                return
            self._apply(control, *_agree(self._requests(), args.device))
        else:
            now = time.monotonic()
            if now >= self.next_poll:
                self.next_poll = now + REQUEST_POLL_S
                self._apply(control, *self._requests())
        if self.stop.requested:
            control.should_training_stop = True
            # A checkpoint of where it stopped, to resume from; not of weights that diverged.
            control.should_save = self.stop.asked
        if control.should_save and self.report.main:
            # the Trainer saves next, with plain open(): a link planted in checkpoints/ since the start is refused
            # (NotOwnFile fails the run naming it; the checkpoints already saved stay for a resume)
            self.run.check_written_folders()

    @_timed
    def on_save(self, args, state, control, **kw):
        if self.summary is not None:
            self.summary.store()

    @_timed
    def on_train_end(self, args, state, control, **kw):
        if self.summary is not None:
            self.summary.store(final=True)
        if self.report.main:  # the final model is saved next (trainer.save_model): the same check
            self.run.check_written_folders()

    def _requests(self) -> tuple[bool, bool]:
        """(stop, save) as asked through the run folder or by SIGTERM."""
        save = self.run.save_request.exists()
        if save:
            try:
                self.run.save_request.unlink()
            except OSError:
                pass
        return self.stop.requested or self.run.stop_request.exists(), save

    def _apply(self, control, stop: bool, save: bool):
        if save:
            control.should_save = True
        if stop:
            self.stop.ask()

    def _write(self, record: dict):
        if self.file is not None:
            line = json.dumps(record, allow_nan=True) + "\n"
            self.file.write(line)
            self.file.flush()
            if self.summary is not None:  # stored at once after an evaluation and the closing record
                self.summary.add(line, store="train_runtime" in record or any(k.startswith("eval_") for k in record))


class SampleCallback(TrainerCallback):
    """Generates answers to `prompts` (from console.runs.samples) at every `every`-th evaluation, and before the first
    step when no evaluation runs there (`on_start`), and appends them to samples.jsonl. Main process only: the
    others go on to their next step and wait for it there."""

    def __init__(self, report: Reporter, prompts: list, every: int, max_new_tokens: int, on_start: bool):
        self.report = report
        self.prompts = prompts
        self.every = every
        self.max_new_tokens = max_new_tokens
        self.on_start = on_start
        self.evaluations = 0
        self.seconds = 0.0
        self.done_steps: set[int] = set()

    def _sample(self, state, model, tokenizer):
        if (not state.is_world_process_zero or model is None or tokenizer is None
                or state.global_step in self.done_steps):
            return
        from console.trainer.generate import generate

        self.done_steps.add(state.global_step)
        t0 = time.perf_counter()
        lines = []
        for prompt, shown, reference in self.prompts:
            answer = generate(model, tokenizer, prompt, max_new_tokens=self.max_new_tokens)
            lines.append(json.dumps({"step": state.global_step, "prompt": shown, "answer": answer.text,
                                     "ended": answer.ended, "tokens": answer.tokens,
                                     "seconds": round(answer.seconds, 3), "reference": reference}))
        try:
            with open_append(self.report.run.samples_path) as f:  # never through a link: said in train.log
                f.write("\n".join(lines) + "\n")
        except OSError as err:
            self.report.say(f"[console] samples not written: {err}")
        self.seconds += time.perf_counter() - t0

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
        if self.on_start and state.global_step == 0:
            self._sample(state, model, processing_class)

    def on_evaluate(self, args, state, control, model=None, processing_class=None, **kw):
        if self.evaluations % self.every == 0:
            self._sample(state, model, processing_class)
        self.evaluations += 1


def _agree(flags: tuple[bool, ...], device) -> tuple[bool, ...]:
    """The flags OR-ed over all ranks (a rank that saw a request tells the others)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flags
    tensor = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in tensor.tolist())
