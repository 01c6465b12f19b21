"""The trainer process: python -m console.train RUN_DIR [--resume]

Reads the run's config.yaml, trains with TRL's SFTTrainer (console/sft.py), and reports only through the run folder:
status.json (phase, pid, error), metrics.jsonl (one line per log event), checkpoints/. Its stdout and stderr go to
train.log. Under torchrun only the main process (rank 0) writes status and metrics.
"""
from __future__ import annotations

import errno
import json
import math
import os
import signal
import sys
import time
import traceback

from console.rundir import RunDir, atomic_write, checkpoint_problem, process_start

IS_MAIN = int(os.environ.get("RANK", "0")) == 0
WORLD_SIZE = int(os.environ.get("WORLD_SIZE", "1"))
DIST_POLL_STEPS = 5


class _Stop:
    requested = False
    reason = ""


def _on_sigterm(signum, frame):  # graceful stop: the callback ends the step loop and saves a checkpoint
    _Stop.requested = True
    _Stop.reason = "stop requested"


_T0 = time.time()
REQUEST_POLL_S = 0.2  # a stop or save-now request is seen within this long; two stat() calls per poll


def _status(run: RunDir, phase: str, **fields):
    if IS_MAIN:
        pid = _launcher_pid()  # and its start time with it: the pair is what identifies the trainer (rundir.pid_alive)
        run.write_status(phase, pid=pid, pid_start=process_start(pid), **fields)
        _say(f"[console] {time.time() - _T0:6.1f}s {phase}")


# Bytes the trainer holds on the run's file system from its start and lets go of only to write its final status:
# on a full disk that write failed, and a run that ended on "No space left on device" read as "killed, or the
# machine restarted" (its cause lost with the log's last lines).
RESERVE_BYTES = 256 * 1024


def _reserve_path(run: RunDir):
    return run.path / ".status-reserve"


def _reserve_space(run: RunDir) -> None:
    if IS_MAIN:
        try:
            with open(_reserve_path(run), "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)  # real bytes: a sparse file would reserve nothing
        except OSError:
            pass  # no room even for this: the run fails at its first write, and says so while it still can


def _release_space(run: RunDir) -> None:
    try:
        _reserve_path(run).unlink()
    except OSError:
        pass


def _final_status(run: RunDir, phase: str, **fields) -> None:
    """The run's last status, written first, before any log line: if the disk is full, the reserved bytes are let
    go of and the write tried again. Never raises (there is nothing left to tell of a failure here)."""
    for attempt in (1, 2):
        try:
            _status(run, phase, **fields)
            break
        except OSError:
            _release_space(run)
    _release_space(run)


def _launcher_pid() -> int:
    # Under torchrun the process to signal is torchrun (our parent's session leader), not this worker.
    try:
        return os.getpgid(0) if os.getpgid(0) != os.getpid() and "LOCAL_RANK" in os.environ else os.getpid()
    except OSError:
        return os.getpid()


def _say(line: str) -> None:
    if IS_MAIN:  # one voice in train.log, whatever the number of processes
        try:
            print(line, flush=True)
        except OSError:
            pass  # train.log on a full disk: the status says what happened, the log loses a line


class DivergedError(RuntimeError):
    pass


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


def make_callback(run: RunDir, effective_batch: int, started: float, sampler=None):
    from transformers import TrainerCallback

    class ConsoleCallback(TrainerCallback):
        """Appends every log event to metrics.jsonl, keeps status.json's phase, obeys stop and save requests."""

        def __init__(self):
            self.file = open(run.metrics_path, "a", encoding="utf-8") if IS_MAIN else None
            self.last_log = None  # (step, time, tokens seen) of the previous training log, for throughput
            self.first_loss = None
            self.best_loss = None
            self.phase = ""
            self.cuda = _cuda()
            self.next_poll = 0.0  # stop/save requests are looked for a few times a second, not at every step
            self.own_seconds = 0.0
            self.last_call = 0.0  # time.monotonic() of the previous step or eval batch, for the heartbeat
            self.next_touch = 0.0
            self.slowest = 0.0  # the longest gap between two steps (or eval batches) so far, in seconds

        def _beat(self, first: bool = False):
            """Touch the heartbeat file (at most once a second) and record the slowest gap between two steps:
            what tells a hung trainer from a slow one (RunDir.not_responding). Its own time is counted in
            own_seconds with the hook that called it."""
            if not IS_MAIN:
                return
            now = time.monotonic()
            gap = 0.0 if first else now - self.last_call
            self.last_call = now
            try:
                if first or gap > max(1.0, 1.25 * self.slowest):
                    self.slowest = max(self.slowest, gap)
                    atomic_write(run.heartbeat, f"{self.slowest:.1f}")
                    self.next_touch = now + 1.0
                elif now >= self.next_touch:
                    os.utime(run.heartbeat)
                    self.next_touch = now + 1.0
            except OSError:
                pass  # a full disk or a removed file must not stop training; the run only looks quieter

        def _phase(self, phase: str):
            if phase != self.phase:
                self.phase = phase
                _status(run, phase)

        @_timed
        def on_train_begin(self, args, state, control, **kw):
            self._phase("training")
            self._beat(first=True)
            self._write({"step": state.global_step, "max_steps": state.max_steps, "event": "train_begin",
                         "effective_batch": effective_batch, "epoch": state.epoch or 0.0})

        @_timed
        def on_log(self, args, state, control, logs=None, **kw):
            logs = dict(logs or {})
            record = {"step": state.global_step, "time": round(time.time() - started, 3), **logs}
            if self.cuda:
                import torch

                record["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            if "loss" in logs and "train_runtime" not in logs:
                now = time.time()
                tokens = logs.get("num_tokens")  # TRL's count of tokens seen so far, all processes together
                if self.last_log and state.global_step > self.last_log[0]:
                    dt = now - self.last_log[1]
                    steps = state.global_step - self.last_log[0]
                    record["steps_per_second"] = round(steps / dt, 4)
                    record["samples_per_second"] = round(steps * effective_batch / dt, 3)
                    if isinstance(tokens, (int, float)) and self.last_log[2] is not None:
                        record["tokens_per_second"] = round((tokens - self.last_log[2]) / dt, 1)
                self.last_log = (state.global_step, now, tokens if isinstance(tokens, (int, float)) else None)
                loss = logs["loss"]
                if isinstance(loss, (int, float)):
                    if not math.isfinite(loss):
                        _Stop.requested, _Stop.reason = True, f"loss became {loss} at step {state.global_step}"
                    elif self.first_loss is None:
                        self.first_loss = self.best_loss = loss
                    elif loss > 10 * self.best_loss + 10:  # an explosion: no run comes back from there cheaply
                        _Stop.requested = True
                        _Stop.reason = (f"loss exploded to {loss:.4g} at step {state.global_step} "
                                        f"(it started at {self.first_loss:.4g}, best {self.best_loss:.4g})")
                    else:
                        self.best_loss = min(self.best_loss, loss)
            if "train_runtime" in logs:
                record["console_seconds"] = round(self.own_seconds, 4)  # this callback's time in the loop
                if sampler is not None:  # the sample answers' time, reported apart: what they cost the run
                    record["samples_seconds"] = round(sampler.seconds, 4)
            self._write(record)
            if self.phase != "training":
                self._phase("training")

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
            if WORLD_SIZE > 1:
                # Every rank must stop or save at the same step, or the others hang in a collective: a request
                # (file or SIGTERM, which reach the ranks at different steps) counts only once all ranks agree.
                if state.global_step % DIST_POLL_STEPS:
                    return
                self._apply(control, *_agree(self._requests(), args.device))
            else:
                now = time.monotonic()
                if now >= self.next_poll:
                    self.next_poll = now + REQUEST_POLL_S
                    self._apply(control, *self._requests())
            if _Stop.requested:
                control.should_training_stop = True
                # A checkpoint of where it stopped, to resume from; not of weights that diverged.
                control.should_save = _Stop.reason == "stop requested"

        def _requests(self) -> tuple[bool, bool]:
            """(stop, save) as asked through the run folder or by SIGTERM."""
            save = run.save_request.exists()
            if save:
                try:
                    run.save_request.unlink()
                except OSError:
                    pass
            return _Stop.requested or run.stop_request.exists(), save

        def _apply(self, control, stop: bool, save: bool):
            if save:
                control.should_save = True
            if stop and not _Stop.requested:
                _Stop.requested, _Stop.reason = True, "stop requested"

        def _write(self, record: dict):
            if self.file is not None:
                self.file.write(json.dumps(record, allow_nan=True) + "\n")
                self.file.flush()

    return ConsoleCallback()


def make_sampler(run: RunDir, prompts: list, every: int, max_new_tokens: int, on_start: bool):
    """A callback that generates answers to `prompts` (from console.samples) at every `every`-th evaluation and
    before the first step when no evaluation runs there (`on_start`), and appends them to samples.jsonl. Main
    process only: the others go on to their next step and wait for it there."""
    from transformers import TrainerCallback

    from console.generate import generate

    class SampleCallback(TrainerCallback):
        def __init__(self):
            self.evaluations = 0
            self.seconds = 0.0
            self.done_steps: set[int] = set()

        def _sample(self, state, model, tokenizer):
            if not IS_MAIN or model is None or tokenizer is None or state.global_step in self.done_steps:
                return
            self.done_steps.add(state.global_step)
            t0 = time.perf_counter()
            lines = []
            for prompt, shown, reference in prompts:
                answer = generate(model, tokenizer, prompt, max_new_tokens=max_new_tokens)
                lines.append(json.dumps({"step": state.global_step, "prompt": shown, "answer": answer.text,
                                         "ended": answer.ended, "tokens": answer.tokens,
                                         "seconds": round(answer.seconds, 3), "reference": reference}))
            try:
                with open(run.path / "samples.jsonl", "a", encoding="utf-8") as f:
                    f.write("\n".join(lines) + "\n")
            except OSError as err:
                _say(f"[console] samples not written: {err}")
            self.seconds += time.perf_counter() - t0

        def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
            if on_start and state.global_step == 0:
                self._sample(state, model, processing_class)

        def on_evaluate(self, args, state, control, model=None, processing_class=None, **kw):
            if self.evaluations % every == 0:
                self._sample(state, model, processing_class)
            self.evaluations += 1

    return SampleCallback()


def _sample_prompts(values: dict, eval_ds, data) -> list:
    """The prompts the samples answer: the user's sample_prompts, else the first held-out eval rows."""
    from console.samples import DEFAULT_PROMPTS, prompts_from_records, user_prompts

    if values.get("sample_prompts"):
        return user_prompts(values["sample_prompts"], chat=data.chat_template and data.fmt != "text")
    if eval_ds is None:
        return []
    return prompts_from_records([eval_ds[i] for i in range(min(DEFAULT_PROMPTS, len(eval_ds)))])


def _agree(flags: tuple[bool, ...], device) -> tuple[bool, ...]:
    """The flags OR-ed over all ranks (a rank that saw a request tells the others)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flags
    tensor = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in tensor.tolist())


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def classify(err: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for a failed run."""
    from console.errors import UserError

    name = type(err).__name__
    text = str(err)
    if isinstance(err, UserError):
        return "input", _one_line(err)
    if (isinstance(err, OSError) and err.errno == errno.ENOSPC) or any(
            sign in text for sign in ("No space left on device", "StorageFull", "os error 28")):
        # safetensors and torch wrap the OSError in their own types: their text is what says it
        return "disk_full", ("the disk is full (No space left on device): free space on the run folder's file "
                             "system (`df -h RUN_FOLDER`), lower save_total_limit, then resume the run")
    if name == "OutOfMemoryError" or "CUDA out of memory" in text or "out of memory" in text.lower():
        return "oom", ("out of memory: " + _one_line(err))[:300]
    if isinstance(err, DivergedError):
        return "diverged", _one_line(err)
    return "error", f"{name}: {_one_line(err)}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in argv
    argv = [a for a in argv if a != "--resume"]
    if not argv:
        print("usage: python -m console.train RUN_DIR [--resume]", file=sys.stderr)
        return 2
    run = RunDir(argv[0])
    started = time.time()
    if resume:  # the clock goes on from where the log left it (it started again at 0:00 and jumped back)
        from console.metrics import load_history

        before = load_history(run.metrics_path).wall_time.last()
        if before is not None and 0 < before < 10 * 365 * 86400:
            started -= before
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal going away must not stop training
    if run.stop_request.exists():  # asked while this process started (the launcher cleared any older request)
        _Stop.requested, _Stop.reason = True, "stop requested"
    _reserve_space(run)
    try:
        _status(run, "loading libraries", started=started)
        return _train(run, resume, started)
    except BaseException as err:  # noqa: BLE001  every failure ends as a status, the traceback in train.log
        kind, message = classify(err)
        _final_status(run, "failed", kind=kind, message=message, error=message)  # first: the disk may be full
        if kind not in ("input", "diverged"):  # the user's own mistakes get one line, not a traceback
            try:
                traceback.print_exc()
            except OSError:
                pass
        _say(f"[console] failed ({kind}): {message}")
        return 1


def _train(run: RunDir, resume: bool, started: float) -> int:
    from console.quiet import note_tied_weights, quiet_known_noise

    quiet_known_noise()  # before bitsandbytes is imported (it speaks on import)
    import torch  # noqa: F401
    from transformers import EarlyStoppingCallback
    from transformers.utils import logging as hf_logging

    from console.errors import DataError
    from console.sft import ConsoleSFTTrainer, sft_config

    from console.config import load_run_config
    from console.data import prepare
    from console.model import load_model

    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()  # one line per stage in train.log, not a bar per map()
    config = load_run_config(run.path)
    values = config.values
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    _say(f"[console] run {run.id}: method {config.method}, notices: {'; '.join(config.notices) or 'none'}")

    checkpoint, skipped = run.checkpoint_to_resume() if resume else (None, [])
    for line in skipped:
        _say(f"[console] {line}")
    if checkpoint is not None and _finish_from_checkpoint(run, checkpoint, values, started):
        return 0

    _status(run, "loading model")
    planned_steps = values.get("max_steps") if (values.get("max_steps") or -1) > 0 else None
    model, tokenizer, model_desc = load_model(config.method, values, planned_steps, local_rank)
    note_tied_weights(model)
    _say(f"[console] model: {model_desc}")

    _status(run, "preparing data")
    eval_on = values.get("eval_strategy", "no") != "no"
    train_ds, eval_ds, data = prepare(values, tokenizer, eval_on, seed=int(values.get("seed") or 42))
    data_desc = data.describe()
    _say(f"[console] data: {data_desc}")

    ta = config.training_arguments()
    if eval_ds is None and eval_on:
        ta.update(eval_strategy="no", load_best_model_at_end=False, eval_on_start=False)
        if ta.get("save_strategy") not in ("no", None):
            ta["save_strategy"] = "steps"
    # NaN losses must reach the metrics (the Trainer would otherwise average them away).
    ta.update(output_dir=str(run.checkpoints), disable_tqdm=True, logging_nan_inf_filter=False)
    args = sft_config(ta)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    device = str(args.device)
    _status(run, "preparing data", precision=precision, device=device, model=model_desc, data=data_desc)
    _say(f"[console] device {device}, precision {precision}")

    sampler = None
    every = int(values.get("sample_every") or 0)
    if every > 0 and eval_ds is not None and args.eval_strategy != "no":  # off when nothing is evaluated
        if values.get("accelerate_config"):  # FSDP / DeepSpeed shard the weights: one process cannot generate
            _say("[console] sample answers off: the model is sharded across processes (accelerate_config)")
        else:
            prompts = _sample_prompts(values, eval_ds, data)
            if prompts:
                sampler = make_sampler(run, prompts, every, int(values.get("sample_max_new_tokens") or 64),
                                       on_start=not args.eval_on_start)
    callbacks = [make_callback(run, config.effective_batch, started, sampler)]
    if sampler is not None:
        callbacks.append(sampler)
    if values.get("early_stopping_patience") and eval_ds is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=int(values["early_stopping_patience"])))
    trainer = ConsoleSFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                                processing_class=tokenizer, callbacks=callbacks)
    if len(trainer.train_dataset) == 0:  # every example lost its answer to the cut
        raise DataError(f"no training example keeps an answer token within max_length {values.get('max_length')}: "
                        f"raise max_length (the longest example has "
                        f"{trainer.cut_reports['train'].longest if 'train' in trainer.cut_reports else '?'} tokens)")
    cut = {name: report.as_dict() for name, report in trainer.cut_reports.items()}
    cut_text = "; ".join(r.text() for r in trainer.cut_reports.values() if r.text())
    for report in trainer.cut_reports.values():
        _say(f"[console] {report.split}: {report.examples} examples, {report.tokens} tokens, "
             f"{report.label_tokens} with loss, longest {report.longest} (max_length {report.max_length})")
    if cut_text:
        _say(f"[console] warning: {cut_text}")
    # What max_length cut, per split: said in train output, `watch` and the training screen (console/sft.py).
    _status(run, "preparing data", cut=cut, cut_text=cut_text)
    checkpoint = str(checkpoint) if checkpoint else None
    if _Stop.requested or run.stop_request.exists():  # stopped while it loaded: nothing trained, nothing to save
        _final_status(run, "stopped", message="stopped before the first step (nothing trained)", step=0)
        _say("[console] stopped before the first step")
        return 0
    if checkpoint:
        _say(f"[console] resuming from {checkpoint}")
    trainer.train(resume_from_checkpoint=checkpoint)

    if _Stop.requested and _Stop.reason != "stop requested":
        raise DivergedError(_Stop.reason)
    _status(run, "saving")
    final_dir = run.path / "model"
    if IS_MAIN:
        trainer.save_model(str(final_dir))
    best = trainer.state.best_model_checkpoint
    if _Stop.requested:
        _final_status(run, "stopped", message=f"stopped at step {trainer.state.global_step}; checkpoint saved",
                      step=trainer.state.global_step, best_checkpoint=best, final_model=str(final_dir))
        _say(f"[console] stopped at step {trainer.state.global_step}")
        return 0
    _final_status(run, "done", step=trainer.state.global_step, best_checkpoint=best, final_model=str(final_dir),
                  seconds=round(time.time() - started, 1))
    _say(f"[console] done: step {trainer.state.global_step}")
    return 0


# What a checkpoint holds beyond what save_model() writes: the state to resume training from.
_RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "trainer_state.json", "scaler.pt")


def _finish_from_checkpoint(run: RunDir, checkpoint, values: dict, started: float) -> bool:
    """A run killed after its last step (while it saved the final model) has nothing left to train: the Trainer,
    resumed at max_steps, trained one step past it. Its final model is written from the checkpoint instead (the
    best one when load_best_model_at_end asks for it), and the run is done. False when there is training left."""
    import shutil

    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        step, max_steps = int(state["global_step"]), int(state.get("max_steps") or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False  # checkpoint_to_resume checked it parses; a missing field means: let the Trainer decide
    if max_steps <= 0 or step < max_steps:
        return False
    _status(run, "saving")
    source = checkpoint
    best = state.get("best_model_checkpoint")
    if values.get("load_best_model_at_end") and isinstance(best, str):
        candidate = run.checkpoints / os.path.basename(best)  # by name: the folder may have moved since
        if candidate.is_dir() and checkpoint_problem(candidate) is None:
            source = candidate
    final_dir = run.path / "model"
    if IS_MAIN:
        final_dir.mkdir(exist_ok=True)
        for item in source.iterdir():
            if item.is_file() and item.name not in _RESUME_ONLY and not item.name.startswith("rng_state"):
                shutil.copy2(item, final_dir / item.name)
    _say(f"[console] step {step} of {max_steps} was reached before the trainer ended: the final model is "
         f"{source.name}, nothing more to train")
    _final_status(run, "done", step=step, best_checkpoint=best if isinstance(best, str) else None,
                  final_model=str(final_dir), seconds=round(time.time() - started, 1))
    _say(f"[console] done: step {step}")
    return True


if __name__ == "__main__":
    raise SystemExit(main())
