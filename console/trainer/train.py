"""The trainer process: python -m console.trainer.train RUN_DIR [--resume]

Reads the run's config.yaml, trains with its kind of trainer (console/trainer/kinds/: TRL's SFTTrainer today), and
reports only through the run folder:
status.json (phase, pid, error), metrics.jsonl (one line per log event), checkpoints/. Its stdout and stderr go to
train.log. Under torchrun only the main process (rank 0) writes status and metrics.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time
import traceback

from console.config.run_config import RunConfig
from console.data.preflight import check_dataset_path, check_model_path
from console.data.sources import entries_of
from console.runs.checkpoints import checkpoint_problem, checkpoint_to_resume
from console.runs.report import Process, Reporter, StopRequest
from console.runs.rundir import RunDir
from console.trainer.lean_imports import leave_out_bitsandbytes
from console.trainer.watchdog import WatchedReporter, folder_callback, start_watchdog


class DivergedError(RuntimeError):
    pass


def _sample_prompts(values: dict, eval_ds, data) -> list:
    """The prompts the samples answer: the user's sample_prompts, else the first held-out eval rows."""
    from console.runs.samples import DEFAULT_PROMPTS, prompts_from_records, user_prompts

    if values.get("sample_prompts"):
        return user_prompts(values["sample_prompts"], chat=data.templated)
    if eval_ds is None:
        return []
    return prompts_from_records([eval_ds[i] for i in range(min(DEFAULT_PROMPTS, len(eval_ds)))])


def classify(err: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for a failed run."""
    from console.common.errors import UserError, first_line

    name = type(err).__name__
    text = str(err)
    if isinstance(err, UserError):
        return "input", first_line(err)
    if (isinstance(err, OSError) and err.errno == errno.ENOSPC) or any(
            sign in text for sign in ("No space left on device", "StorageFull", "os error 28")):
        # safetensors and torch wrap the OSError in their own types: their text is what says it
        return "disk_full", ("the disk is full (No space left on device): free space on the run folder's file "
                             "system (`df -h RUN_FOLDER`), lower save_total_limit, then resume the run")
    if name == "OutOfMemoryError" or "CUDA out of memory" in text or "out of memory" in text.lower():
        return "oom", ("out of memory: " + first_line(err))[:300]
    if isinstance(err, DivergedError):
        return "diverged", first_line(err)
    return "error", f"{name}: {first_line(err)}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in argv
    argv = [a for a in argv if a != "--resume"]
    if not argv:
        print("usage: python -m console.trainer.train RUN_DIR [--resume]", file=sys.stderr)
        return 2
    run = RunDir(argv[0])
    started = time.time()
    if resume:  # the clock goes on from where the log left it (it started again at 0:00 and jumped back)
        from console.runs.progress import summary_row
        from console.runs.summary import summarise

        # the log's summary, read on from the stored one (the callback's LiveSummary takes it up from there)
        clock = summarise(run.path, row_of=summary_row).metrics.get("time")
        before = clock.tail[-1][1] if clock is not None and clock.tail else None
        if before is not None and 0 < before < 10 * 365 * 86400:
            started -= before
    report = WatchedReporter(run, Process.from_env())
    # the folder's identity from now on (a folder removed or replaced under the trainer stops it), and a heartbeat
    # in the phases before the first step (console/trainer/watchdog.py)
    start_watchdog(report)
    stop = StopRequest()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.ask())  # graceful: the callback ends the step loop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal going away must not stop training
    if run.stop_request.exists():  # asked while this process started (the launcher cleared any older request)
        stop.ask()
    try:
        # before anything is written: a link planted in the folder (the launcher checked, but it can be raced or
        # skipped) fails the run naming it; the writes below refuse links on their own too
        run.check_own_files()
        report.reserve_space()
        report.status("loading libraries", started=started)
        config = run.config()
        # Before the libraries (5 s): a missing local dataset or model folder fails the run at once, and a run that
        # never calls bitsandbytes does not load it (console/trainer/lean_imports.py).
        check_model_path(config.values.get("model"))
        for entry in entries_of(config.values):  # one or several datasets
            check_dataset_path(entry.path)
        leave_out_bitsandbytes(config.method, config.values)
        return _train(report, stop, resume, started, config)
    except BaseException as err:  # noqa: BLE001  every failure ends as a status, the traceback in train.log
        kind, message = classify(err)
        report.final_status("failed", kind=kind, message=message, error=message)  # first: the disk may be full
        if kind not in ("input", "diverged"):  # the user's own mistakes get one line, not a traceback
            try:
                traceback.print_exc()
            except OSError:
                pass
        report.say(f"[console] failed ({kind}): {message}")
        return 1


def _train(report: Reporter, stop: StopRequest, resume: bool, started: float, config: RunConfig) -> int:
    from console.trainer.quiet import note_tied_weights, quiet_known_noise

    quiet_known_noise()  # before bitsandbytes is imported (it speaks on import)
    import torch
    from transformers import EarlyStoppingCallback
    from transformers.utils import logging as hf_logging

    from console.data.formats import check_objective
    from console.trainer.callbacks import ConsoleCallback, SampleCallback
    from console.trainer.kinds import kind_of
    from console.trainer.model import load_model

    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()  # one line per stage in train.log, not a bar per map()
    run = report.run
    values = config.values
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    report.say(f"[console] run {run.id}: method {config.method}, objective {config.objective}, notices: "
               f"{'; '.join(config.notices) or 'none'}")

    # every file of the checkpoint it takes, the optimizer's and scheduler's checksums included (a cut or flipped
    # optimizer.pt failed every resume, or loaded as wrong numbers): a bad one is skipped, named, for the one before
    checkpoint, skipped = checkpoint_to_resume(run.checkpoints, verify=True) if resume else (None, [])
    for line in skipped:
        report.say(f"[console] {line}")
    if resume and checkpoint is None and skipped:  # never a silent start from step 0 over the run's own log
        from console.common.errors import UserError

        raise UserError(f"no intact checkpoint to resume from ({'; '.join(skipped)}): rerun it instead "
                        f"(`training-console rerun {run.id} --fix none`)")
    if checkpoint is not None and _finish_from_checkpoint(report, checkpoint, values, started):
        return 0

    report.status("loading model")
    planned_steps = values.get("max_steps") if (values.get("max_steps") or -1) > 0 else None
    # peft draws an adapter's starting weights when it wraps the model, before the Trainer seeds anything: seeded
    # here, a run's seed gives the same adapter every time (TRL's own trainers seed before get_peft_model too)
    from transformers import set_seed

    set_seed(int(values.get("seed") or 42))
    model, tokenizer, model_desc = load_model(config.method, values, planned_steps, local_rank)
    note_tied_weights(model)
    report.say(f"[console] model: {model_desc}")

    report.status("preparing data")
    eval_on = values.get("eval_strategy", "no") != "no"
    kind = kind_of(config)
    train_ds, eval_ds, data = kind.prepare(values, tokenizer, eval_on, seed=int(values.get("seed") or 42))
    check_objective(config.objective, data.fmt)  # a Hub dataset's columns are first seen here
    data_desc = data.describe()
    report.say(f"[console] data: {data_desc}")

    ta = config.training_arguments()
    if eval_ds is None and eval_on:
        ta.update(eval_strategy="no", load_best_model_at_end=False, eval_on_start=False)
        if ta.get("save_strategy") not in ("no", None):
            ta["save_strategy"] = "steps"
    # NaN losses must reach the metrics (the Trainer would otherwise average them away).
    ta.update(output_dir=str(run.checkpoints), disable_tqdm=True, logging_nan_inf_filter=False)
    args = kind.arguments(ta)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    device = str(args.device)
    # data: the sentence for people; data_format: the registry's name, for programs (the chat's prompt layout)
    report.status("preparing data", precision=precision, device=device, model=model_desc, data=data_desc,
                  data_format=data.fmt)
    report.say(f"[console] device {device}, precision {precision}")

    sampler = None
    every = int(values.get("sample_every") or 0)
    if every > 0 and eval_ds is not None and args.eval_strategy != "no":  # off when nothing is evaluated
        if values.get("accelerate_config"):  # FSDP / DeepSpeed shard the weights: one process cannot generate
            report.say("[console] sample answers off: the model is sharded across processes (accelerate_config)")
        else:
            prompts = _sample_prompts(values, eval_ds, data)
            if prompts:
                sampler = SampleCallback(report, prompts, every, int(values.get("sample_max_new_tokens") or 64),
                                         on_start=not args.eval_on_start)
    callbacks = [ConsoleCallback(report, stop, config.effective_batch, started, sampler,
                                 cuda=torch.cuda.is_available())]
    if isinstance(report, WatchedReporter) and report.guard is not None:
        callbacks.append(folder_callback(report.guard))
    if sampler is not None:
        callbacks.append(sampler)
    if values.get("early_stopping_patience") and eval_ds is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=int(values["early_stopping_patience"])))
    trainer = kind.build(config, report, model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                         tokenizer=tokenizer, callbacks=callbacks)
    # TRL drafts a model card into checkpoints/ at every save, naming a local base "[None]" with a link to
    # huggingface.co/None; the run's card is the console's own, written by export (console/tools/model_card.py)
    trainer.create_model_card = lambda *args, **kwargs: None
    if data.templated:  # after the datasets are tokenised: the template's own end of turn ends generation
        from console.trainer.end_token import teach_end_token

        said = teach_end_token(model, tokenizer)
        if said:
            report.say(f"[console] {said}")
    checkpoint = str(checkpoint) if checkpoint else None
    if stop.requested or run.stop_request.exists():  # stopped while it loaded: nothing trained, nothing to save
        if checkpoint:  # a resume stopped before its first step: the run is where its checkpoint left it
            from console.runs.checkpoints import checkpoint_step

            at = checkpoint_step(os.path.basename(checkpoint)) or 0
            report.final_status("stopped", message=f"stopped before the resume's first step (still at step {at}, "
                                f"its checkpoint kept)", step=at)
            report.say("[console] stopped before the resume's first step")
            return 0
        report.final_status("stopped", message="stopped before the first step (nothing trained)", step=0)
        report.say("[console] stopped before the first step")
        return 0
    if checkpoint:
        report.say(f"[console] resuming from {checkpoint}")
    trainer.train(resume_from_checkpoint=checkpoint)

    if stop.requested and not stop.asked:
        raise DivergedError(stop.reason)
    report.status("saving")
    final_dir = run.path / "model"
    # every process: under FSDP or DeepSpeed ZeRO-3 save_model gathers the shards from all of them (a collective);
    # the Trainer itself writes on the main process only
    trainer.save_model(str(final_dir))
    best = trainer.state.best_model_checkpoint
    # the log's last word before the final status: a reader that sees the status find the end in train.log (a
    # test read the log at 'stopped' and found no 'stopped at step' yet)
    if stop.asked:
        report.say(f"[console] stopped at step {trainer.state.global_step}")
        report.final_status("stopped", message=f"stopped at step {trainer.state.global_step}; checkpoint saved",
                            step=trainer.state.global_step, best_checkpoint=best, final_model=str(final_dir))
        return 0
    report.say(f"[console] done: step {trainer.state.global_step}")
    report.final_status("done", step=trainer.state.global_step, best_checkpoint=best, final_model=str(final_dir),
                        seconds=round(time.time() - started, 1))
    return 0


# What a checkpoint holds beyond what save_model() writes: the state to resume training from.
_RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "trainer_state.json", "scaler.pt")


def _finish_from_checkpoint(report: Reporter, checkpoint, values: dict, started: float) -> bool:
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
    report.status("saving")
    source = checkpoint
    best = state.get("best_model_checkpoint")
    if values.get("load_best_model_at_end") and isinstance(best, str):
        candidate = report.run.checkpoints / os.path.basename(best)  # by name: the folder may have moved since
        if candidate.is_dir() and checkpoint_problem(candidate) is None:
            source = candidate
    final_dir = report.run.path / "model"
    if report.main:
        final_dir.mkdir(exist_ok=True)
        for item in source.iterdir():
            if item.is_file() and item.name not in _RESUME_ONLY and not item.name.startswith("rng_state"):
                (final_dir / item.name).unlink(missing_ok=True)  # copy2 writes through a link at its target
                shutil.copy2(item, final_dir / item.name)
    report.say(f"[console] step {step} of {max_steps} was reached before the trainer ended: the final model is "
               f"{source.name}, nothing more to train")
    report.final_status("done", step=step, best_checkpoint=best if isinstance(best, str) else None,
                  final_model=str(final_dir), seconds=round(time.time() - started, 1))
    report.say(f"[console] done: step {step}")
    return True


if __name__ == "__main__":
    raise SystemExit(main())
