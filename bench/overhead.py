"""What the console costs training: the same demo run, bare vs headless vs with the TUI attached.

    python bench/overhead.py [--reps 9] [--steps 300]

Each mode trains the demo model with the same seed, steps and TrainingArguments. A rep runs every mode once, one
after the other, in an order that rotates from rep to rep; each mode's speed is divided by the bare speed of the
same rep (a paired ratio: the machine's slow drifts fall on both sides of it), and the median of those ratios is
one figure; as the noise only ever slows a run down, the best run of each mode is compared too. Training speed
is the Trainer's own train_runtime (steps / seconds of the training loop, evaluations and checkpoints included),
so start-up costs are not counted; 'steady' is the median speed over the 10-step logging intervals.
Because a few percent are hard to see through this machine's noise, the console's cost is also measured
directly: the time its callback spends inside the training loop (it times itself) and the CPU the watching
process (headless follower or TUI) uses while the run trains.
Targets on a 2-core machine: headless >= 0.99x bare, TUI attached >= 0.97x bare.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ptyrun import cpu_seconds, end, read_some, spawn  # noqa: E402

SETS = ["learning_rate=1e-3", "logging_steps=10", "eval_steps=100", "save_steps=100", "max_length=128",
        "per_device_train_batch_size=4", "gradient_accumulation_steps=1", "seed=7"]

BARE = r'''
import json, sys, time
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer
from console.config.run_config import build_config, parse_set, resolve
from console.data.prepare import prepare
from console.trainer.model import load_model

config = resolve(build_config("lora", sets=parse_set(json.loads(sys.argv[1]))))
model, tokenizer, _ = load_model("lora", config.values)
train, evaluation, _ = prepare(config.values, tokenizer, True, seed=config.values["seed"])
ta = config.training_arguments()
# exactly the SFTConfig arguments the console's trainer passes (console/trainer/train.py), so only the console differs
ta.update(output_dir=sys.argv[2], disable_tqdm=True, logging_nan_inf_filter=False)

class Clock(TrainerCallback):  # only reads the clock at each training log (every 10 steps), as the console does
    def __init__(self):
        self.last, self.rates = None, []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs and "train_runtime" not in logs:
            now = time.time()
            if self.last and state.global_step > self.last[0]:
                self.rates.append((state.global_step - self.last[0]) / (now - self.last[1]))
            self.last = (state.global_step, now)


clock = Clock()
trainer = SFTTrainer(model=model, args=SFTConfig(**ta), train_dataset=train, eval_dataset=evaluation,
                     processing_class=tokenizer, callbacks=[clock])
out = trainer.train()
print(json.dumps({"train_runtime": out.metrics["train_runtime"], "steps": trainer.state.global_step,
                  "interval_rates": clock.rates}))
'''


def _env() -> dict:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))
    return env


def run_bare(sets: list[str], workdir: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", BARE, json.dumps(sets), str(workdir / "bare-out")],
                         capture_output=True, text=True, env=_env(), check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"rate": result["steps"] / result["train_runtime"], "steady": statistics.median(result["interval_rates"])}


def _run_figures(runs_dir: Path) -> dict:
    """Speed of the newest run in runs_dir (whole run and steady) and the share of its training loop spent in the
    console's callback (which times itself)."""
    from console.runs.metrics import load_history
    from console.runs.rundir import list_run_dirs

    run = list_run_dirs(runs_dir)[-1]
    history = load_history(run.metrics_path)
    if history.final is None:
        raise RuntimeError(f"run {run.id} did not finish: {run.status()}")
    records = [json.loads(line) for line in run.metrics_path.read_text().splitlines() if line.strip()]
    final = history.final
    return {"rate": final["step"] / final["train_runtime"],
            "steady": statistics.median(r["steps_per_second"] for r in records if "steps_per_second" in r),
            "callback_share": final.get("console_seconds", float("nan")) / final["train_runtime"]}


class WatcherCpu:
    """CPU a watching process (headless follower or TUI) uses while the run trains: start-up and exit left out."""

    def __init__(self, pid: int, runs_dir: Path):
        self.pid, self.runs_dir = pid, runs_dir
        self.first = self.last = None
        self.sampled_at = 0.0

    def sample(self) -> None:
        from console.runs.rundir import list_run_dirs

        if time.monotonic() - self.sampled_at < 0.2:
            return
        self.sampled_at = time.monotonic()
        runs = list_run_dirs(self.runs_dir) if self.runs_dir.is_dir() else []
        phase = (runs[-1].read_status_file() or {}).get("phase") if runs else None
        if phase in ("training", "evaluating"):
            point = (cpu_seconds(self.pid), time.monotonic())
            self.first = self.first or point
            self.last = point

    @property
    def share(self) -> float:
        if not self.first or self.last[1] - self.first[1] < 1:
            return float("nan")
        return (self.last[0] - self.first[0]) / (self.last[1] - self.first[1])


def run_headless(sets: list[str], workdir: Path) -> dict:
    runs = workdir / "runs-headless"
    argv = [sys.executable, "-m", "console", "train", "--runs-dir", str(runs)]
    for s in sets:
        argv += ["--set", s]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    cpu = WatcherCpu(proc.pid, runs)
    while proc.poll() is None:
        cpu.sample()
        time.sleep(0.2)
    if proc.returncode:
        raise RuntimeError(f"headless run failed: {proc.stderr.read().decode()[-2000:]}")
    return {**_run_figures(runs), "watcher_cpu": cpu.share}


def run_tui(sets: list[str], workdir: Path, cols: int = 120, rows: int = 40) -> dict:
    """Start the run detached, attach the real TUI in a pty and keep reading its output until the run ends."""
    from console.runs.launcher import wait
    from console.runs.rundir import list_run_dirs

    runs = workdir / "runs-tui"
    argv = [sys.executable, "-m", "console", "train", "--detach", "--runs-dir", str(runs)]
    for s in sets:
        argv += ["--set", s]
    subprocess.run(argv, capture_output=True, text=True, env=_env(), check=True)
    run = list_run_dirs(runs)[-1]
    cpu: list[WatcherCpu] = []

    def tick(pid: int) -> None:
        cpu[:] = cpu or [WatcherCpu(pid, runs)]
        cpu[0].sample()

    stats = attach_in_pty(runs, run, cols, rows, until=lambda: wait(run, timeout=0)["phase"] in (
        "done", "failed", "stopped"), tick=tick)
    return {**_run_figures(runs), "watcher_cpu": cpu[0].share if cpu else float("nan"), **stats}


def attach_in_pty(runs: Path, run, cols: int, rows: int, until, settle: float = 0.0, tick=None) -> dict:
    """Run `training-console attach RUN` in a pseudo-terminal; returns bytes written and CPU seconds used."""
    pid, fd = spawn([sys.executable, "-m", "console", "--runs-dir", str(runs), "attach", run.id],
                    dict(_env(), TERM="xterm-256color"), cols, rows)
    total = 0
    started = time.monotonic()
    first_byte = None
    done_at = None
    try:
        while True:
            chunk = read_some(fd, 0.2)
            if chunk == b"":
                break
            if chunk:
                if first_byte is None:
                    first_byte = time.monotonic() - started
                total += len(chunk)
            if tick is not None:
                tick(pid)
            if done_at is None and until():
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at >= settle:
                break
    finally:
        cpu = cpu_seconds(pid)
        end(pid, fd)
    elapsed = time.monotonic() - started
    return {"bytes": total, "seconds": elapsed, "cpu_seconds": cpu, "first_byte": first_byte}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--modes", default="bare,headless,tui")
    args = parser.parse_args()
    sets = SETS + [f"max_steps={args.steps}"]
    modes = args.modes.split(",")
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    ratios: dict[tuple[str, str], list[float]] = {}
    print(f"torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("TRAINING_CONSOLE_CACHE", str(Path(tmp) / "cache"))
        for rep in range(args.reps):
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            this_rep = {}
            for mode in order:
                workdir = Path(tmp) / f"{mode}-{rep}"
                workdir.mkdir()
                run = {"bare": run_bare, "headless": run_headless, "tui": run_tui}[mode](sets, workdir)
                this_rep[mode] = run
                runs[mode].append(run)
            for mode in modes:
                for kind in ("rate", "steady"):
                    if "bare" in this_rep:
                        ratios.setdefault((mode, kind), []).append(this_rep[mode][kind] / this_rep["bare"][kind])
            print(f"rep {rep + 1} ({' > '.join(order)}): " + ", ".join(
                f"{m} {this_rep[m]['rate']:6.2f} (steady {this_rep[m]['steady']:6.2f})" for m in modes)
                + " steps/s", flush=True)

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    print(f"\n{args.steps} steps of the demo (LoRA), {args.reps} reps. Speed: steps / train_runtime (whole run) and "
          "the median over the 10-step logging intervals (steady); each the median of the runs, and the median of "
          "the per-rep ratios to bare.")
    for mode in modes:
        text = f"  {mode:<9} {med(mode, 'rate'):6.2f} steps/s, steady {med(mode, 'steady'):6.2f}"
        if mode != "bare" and (mode, "rate") in ratios:
            r, q = ratios[(mode, "rate")], ratios[(mode, "steady")]
            text += (f"   {statistics.median(r):.3f}x bare (per rep {min(r):.2f} .. {max(r):.2f}),"
                     f" steady {statistics.median(q):.3f}x")
        print(text)
    # The machine's noise only ever slows a run down: the fastest of the runs is the least disturbed one.
    print(f"Best of {args.reps} (the least disturbed run of each mode):")
    for mode in modes:
        best, best_steady = max(r["rate"] for r in runs[mode]), max(r["steady"] for r in runs[mode])
        text = f"  {mode:<9} {best:6.2f} steps/s, steady {best_steady:6.2f}"
        if mode != "bare" and "bare" in runs:
            text += (f"   {best / max(r['rate'] for r in runs['bare']):.3f}x bare, steady "
                     f"{best_steady / max(r['steady'] for r in runs['bare']):.3f}x")
        print(text)
    print("What the console itself spends (measured directly, not by difference):")
    for mode in modes:
        if mode == "bare":
            continue
        cpu = med(mode, "watcher_cpu")
        watcher = ("not measured (training too short)" if math.isnan(cpu)
                   else f"{100 * cpu:.2f}% of one core while the run trained")
        print(f"  {mode:<9} callback {100 * med(mode, 'callback_share'):.3f}% of the training loop; watching process "
              f"{watcher}")


if __name__ == "__main__":
    main()
