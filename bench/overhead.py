"""What the console costs training: the same demo run, bare vs headless vs with the TUI attached.

    python bench/overhead.py [--reps 3] [--steps 300]

Each mode trains the demo model with the same seed, steps and arguments; modes alternate (bare, headless, tui,
bare, ...) so that the machine's noise falls on all of them alike. Training speed is the Trainer's own
train_runtime (steps / seconds of the training loop), so start-up costs are not counted; the ratios to bare are
printed at the end. Targets on a 2-core machine: headless >= 0.99x bare, TUI attached >= 0.97x bare.
"""
from __future__ import annotations

import argparse
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETS = ["learning_rate=1e-3", "logging_steps=10", "eval_steps=100", "save_steps=100", "max_seq_length=128",
        "per_device_train_batch_size=4", "gradient_accumulation_steps=1", "seed=7"]

BARE = r'''
import json, sys, time
from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments
from console.config import build_config, parse_set, resolve
from console.data import prepare
from console.model import load_model

config = resolve(build_config("lora", sets=parse_set(json.loads(sys.argv[1]))))
model, tokenizer, _ = load_model("lora", config.values)
train, evaluation, _ = prepare(config.values, tokenizer, True, seed=config.values["seed"])
ta = config.training_arguments()
ta.update(output_dir=sys.argv[2], disable_tqdm=True)
trainer = Trainer(model=model, args=TrainingArguments(**ta), train_dataset=train, eval_dataset=evaluation,
                  data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False), processing_class=tokenizer)
out = trainer.train()
print(json.dumps({"train_runtime": out.metrics["train_runtime"], "steps": trainer.state.global_step}))
'''


def _env() -> dict:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))
    return env


def run_bare(sets: list[str], workdir: Path) -> float:
    out = subprocess.run([sys.executable, "-c", BARE, json.dumps(sets), str(workdir / "bare-out")],
                         capture_output=True, text=True, env=_env(), check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["steps"] / result["train_runtime"]


def _final_rate(runs_dir: Path) -> float:
    from console.metrics import load_history
    from console.rundir import list_run_dirs

    run = list_run_dirs(runs_dir)[-1]
    history = load_history(run.metrics_path)
    if history.final is None:
        raise RuntimeError(f"run {run.id} did not finish: {run.status()}")
    return history.final["step"] / history.final["train_runtime"]


def run_headless(sets: list[str], workdir: Path) -> float:
    runs = workdir / "runs-headless"
    argv = [sys.executable, "-m", "console", "train", "--runs-dir", str(runs)]
    for s in sets:
        argv += ["--set", s]
    subprocess.run(argv, capture_output=True, text=True, env=_env(), check=True)
    return _final_rate(runs)


def run_tui(sets: list[str], workdir: Path, cols: int = 120, rows: int = 40) -> tuple[float, dict]:
    """Start the run detached, attach the real TUI in a pty and keep reading its output until the run ends."""
    from console.launcher import wait
    from console.rundir import list_run_dirs

    runs = workdir / "runs-tui"
    argv = [sys.executable, "-m", "console", "train", "--detach", "--runs-dir", str(runs)]
    for s in sets:
        argv += ["--set", s]
    subprocess.run(argv, capture_output=True, text=True, env=_env(), check=True)
    run = list_run_dirs(runs)[-1]
    stats = attach_in_pty(runs, run, cols, rows, until=lambda: wait(run, timeout=0)["phase"] in (
        "done", "failed", "stopped"))
    return _final_rate(runs), stats


def attach_in_pty(runs: Path, run, cols: int, rows: int, until, settle: float = 0.0) -> dict:
    """Run `training-console attach RUN` in a pseudo-terminal; returns bytes written and CPU seconds used."""
    import fcntl
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: the console, drawing into the pty
        os.environ.update(_env(), TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        os.execv(sys.executable, [sys.executable, "-m", "console", "--runs-dir", str(runs), "attach", run.id])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    total = 0
    started = time.monotonic()
    first_byte = None
    done_at = None
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                if first_byte is None:
                    first_byte = time.monotonic() - started
                total += len(chunk)
            if done_at is None and until():
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at >= settle:
                break
    finally:
        cpu = _cpu_seconds(pid)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    elapsed = time.monotonic() - started
    return {"bytes": total, "seconds": elapsed, "cpu_seconds": cpu, "first_byte": first_byte}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--modes", default="bare,headless,tui")
    args = parser.parse_args()
    sets = SETS + [f"max_steps={args.steps}"]
    modes = args.modes.split(",")
    rates: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("TRAINING_CONSOLE_CACHE", str(Path(tmp) / "cache"))
        for rep in range(args.reps):
            for mode in modes:
                workdir = Path(tmp) / f"{mode}-{rep}"
                workdir.mkdir()
                if mode == "bare":
                    rate = run_bare(sets, workdir)
                elif mode == "headless":
                    rate = run_headless(sets, workdir)
                else:
                    rate, stats = run_tui(sets, workdir)
                rates[mode].append(rate)
                print(f"rep {rep + 1} {mode:<9} {rate:7.2f} steps/s", flush=True)
    print(f"\n{args.steps} steps of the demo (LoRA), {args.reps} alternating runs per mode; median steps/s:")
    base = statistics.median(rates["bare"]) if "bare" in rates else None
    for mode in modes:
        med = statistics.median(rates[mode])
        ratio = f"{med / base:.3f}x bare" if base else ""
        print(f"  {mode:<9} {med:7.2f}  {ratio}   (runs: {', '.join(f'{r:.2f}' for r in rates[mode])})")


if __name__ == "__main__":
    main()
