"""What several subcommands share: the common arguments and following a run to its end."""
from __future__ import annotations

import argparse
import os
import sys

from console.runs.progress import run_progress
from console.runs.rundir import RunDir

DEFAULT_RUNS = os.environ.get("TRAINING_CONSOLE_RUNS", "runs")
MACHINE_ARGS = ("nodes", "node_rank", "master_addr", "master_port")


def add_runs_dir(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Only the top level holds the default: a subcommand's own --runs-dir must not hide one given before it.
    p.add_argument("--runs-dir", default=DEFAULT_RUNS if top else argparse.SUPPRESS,
                   help="the runs folder (default: ./runs)")


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", help="full, lora, qlora or adapter (default: lora, or the config file's)")
    p.add_argument("--config", help="a YAML file of arguments, laid over the method's preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one argument (any TRL SFTConfig / TrainingArguments field or console setting); "
                        "repeatable")
    p.add_argument("--model", help="Hub name or local folder (default: the built-in demo model)")
    p.add_argument("--dataset", action="append", help="local file/folder or Hub dataset name (default: the demo "
                   "dataset); repeat it to mix several datasets in one run")


def add_machine_args(p: argparse.ArgumentParser) -> None:
    """Several machines: each runs the same command with its own --node-rank (torchrun's --nnodes, --node-rank,
    --master-addr, --master-port; accelerate's --num_machines, ... with an accelerate_config)."""
    p.add_argument("--nodes", type=int, help="machines training this run together (default 1)")
    p.add_argument("--node-rank", type=int, help="this machine's number, 0 (the main one) to nodes-1")
    p.add_argument("--master-addr", metavar="HOST", help="the main machine's address, reachable from every machine")
    p.add_argument("--master-port", type=int, metavar="PORT", help="a free port on the main machine (default 29500)")


def machine_sets(args) -> dict:
    """--nodes/--node-rank/--master-addr/--master-port given on the command line, as field: text."""
    return {name: str(getattr(args, name)) for name in MACHINE_ARGS if getattr(args, name, None) is not None}


def follow_to_end(run: RunDir) -> int:
    from console.loop.watch import stdout_writer, watch

    try:
        status = watch(run, stdout_writer)
    except KeyboardInterrupt:
        print(f"\ndetached: {run.id} keeps training. Follow: training-console watch {run.id}  "
              f"Stop: training-console stop {run.id}")
        return 130
    return summary(run, status)


def summary(run: RunDir, status: dict) -> int:
    p = run_progress(run, status)
    phase = status.get("phase")
    best = f", best eval loss {p.best_eval:.4f} at step {int(p.best_eval_step)}" if p.best_eval is not None else ""
    last = f", last train loss {p.train_loss:.4f}" if p.train_loss is not None else ""
    print(f"run {run.id} {phase} at step {int(p.step)}{last}{best}")
    if phase == "failed":
        print(f"error: {status.get('message', 'unknown error')} (details: {run.log_path})", file=sys.stderr)
    return 0 if phase == "done" else 1


LONG_READ_BYTES = 32 << 20  # a log read longer than this (a few seconds) is said first, on stderr


def say_long_read(run_id: str, unread: int) -> None:
    """A command about to read a long log it has no summary or history of (a run of an older trainer): said on
    stderr, so that seconds of silence are not taken for a hang, and stdout stays the command's output."""
    if unread > LONG_READ_BYTES:
        print(f"reading {run_id}'s log ({unread / 2**20:.0f} MB not read before; once: the next reads are quick)",
              file=sys.stderr, flush=True)
