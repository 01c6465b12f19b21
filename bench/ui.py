"""The UI process: start-up to first frame, CPU and bytes while watching a live run, chart redraw, memory.

    python bench/ui.py [--watch-seconds 30] [--reps 5]

1. First frame: `training-console` in a pseudo-terminal (120x40), time until the method screen's text appears,
   against a minimal Textual app measured the same way in the same run (the floor). Target <= 0.5 s and within
   0.2 s of the floor.
2. Watching a live run at 120x40 (the demo training in the background, the console attached): CPU of the UI
   process as a share of one core (target <= 3 %) and bytes written to the terminal per second (target <= 8 KB/s).
3. Chart redraw at 1k, 10k, 100k and 1M points (target <= 20 ms at 100k).
4. Peak memory of a UI process holding a 1M-point history and drawing it.
"""
from __future__ import annotations

import argparse
import json
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

MINIMAL_APP = r'''
from textual.app import App
from textual.widgets import Static
class Minimal(App):
    def compose(self):
        yield Static("Hello floor")
Minimal().run()
'''


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", TOKENIZERS_PARALLELISM="false", **extra)


def time_to_text(argv: list[str], marker: bytes, cols: int = 120, rows: int = 40, timeout: float = 20,
                 env: dict | None = None) -> float:
    """Seconds from spawning argv in a pty until `marker` appears in what it writes."""
    from ptyrun import end, read_some, spawn

    started = time.monotonic()
    pid, fd = spawn(argv, env or _env(), cols, rows)
    seen = b""
    found = None
    try:
        while time.monotonic() - started < timeout:
            chunk = read_some(fd, 0.05)
            if chunk == b"":
                break
            seen += chunk or b""
            if marker in seen:
                found = time.monotonic() - started
                break
    finally:
        end(pid, fd)
    if found is None:
        raise RuntimeError(f"{marker!r} never appeared; got {seen[-400:]!r}")
    return found


def first_frame(reps: int, runs_dir: Path) -> None:
    console_times, floor_times = [], []
    for _ in range(reps):
        floor_times.append(time_to_text([sys.executable, "-c", MINIMAL_APP], b"Hello floor"))
        console_times.append(time_to_text([sys.executable, "-m", "console", "--runs-dir", str(runs_dir)],
                                          b"QLoRA"))
    c, f = statistics.median(console_times), statistics.median(floor_times)
    print(f"1. first frame: console {c:.3f} s, minimal Textual app {f:.3f} s, difference {c - f:+.3f} s "
          f"(medians of {reps}; targets <= 0.5 s and <= +0.2 s)")


STARTUP_S = 3.0


def watching(seconds: float, runs_dir: Path) -> None:
    from overhead import attach_in_pty
    from ptyrun import cpu_seconds

    from console.runs.launcher import request_stop, wait
    from console.runs.rundir import list_run_dirs

    argv = [sys.executable, "-m", "console", "train", "--detach", "--runs-dir", str(runs_dir),
            "--set", "max_steps=100000", "--set", "logging_steps=10", "--set", "eval_steps=200",
            "--set", "save_steps=200", "--set", "max_length=128", "--set", "learning_rate=1e-3"]
    subprocess.run(argv, env=_env(), capture_output=True, check=True)
    run = list_run_dirs(runs_dir)[-1]
    deadline = time.monotonic() + 120
    while run.status().get("phase") != "training" and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    steady: list[tuple[float, float]] = []  # (cpu, time) once the start-up (imports, first paint) is over

    def tick(pid: int) -> None:
        if time.monotonic() - start >= STARTUP_S:
            steady.append((cpu_seconds(pid), time.monotonic()))

    try:
        start = time.monotonic()
        stats = attach_in_pty(runs_dir, run, 120, 40, until=lambda: time.monotonic() - start >= seconds, tick=tick)
    finally:
        request_stop(run)
        wait(run, timeout=60)  # the trainer is done writing before its folder is removed
    cpu_share = stats["cpu_seconds"] / stats["seconds"]
    steady_share = (steady[-1][0] - steady[0][0]) / (steady[-1][1] - steady[0][1])
    print(f"2. watching a live run for {stats['seconds']:.0f} s at 120x40: UI CPU {100 * cpu_share:.1f} % of a core "
          f"with start-up, {100 * steady_share:.1f} % after the first {STARTUP_S:.0f} s; "
          f"{stats['bytes'] / stats['seconds'] / 1024:.2f} KB/s to the terminal "
          f"({stats['bytes']} bytes; targets <= 3 % and <= 8 KB/s)")


CHART = r'''
import json, math, random, sys, time, resource
sys.path.insert(0, sys.argv[2])
from textual.app import App
from screens.widgets.metric_chart import Curve, MetricChart

n = int(sys.argv[1])
random.seed(0)
steps = list(range(n))
train = [3.0 * math.exp(-i / (n / 3)) + 0.1 * random.random() for i in steps]
evals = steps[:: max(1, n // 200)]
ev = [train[i] + 0.2 for i in evals]

class Bench(App):
    def compose(self):
        yield MetricChart("loss", id="chart")

async def main():
    app = Bench()
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.query_one(MetricChart)
        chart.set_curves([Curve("train", steps, train), Curve("eval", evals, ev, markers=True)])
        await pilot.pause()
        times = []
        for i in range(5):
            # a new point arrives each time (the curves grow), so the decimation and the plot are really redone
            steps.append(n + i)
            train.append(train[-1])
            t = time.perf_counter()
            chart.set_curves([Curve("train", steps, train), Curve("eval", evals, ev, markers=True)])
            chart.render()
            times.append(time.perf_counter() - t)
            await pilot.pause()
        times.sort()
        print(json.dumps({"n": n, "ms": 1000 * times[len(times) // 2],  # set_curves (decimation) + render (plot)
                          "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

import asyncio
asyncio.run(main())
'''

HISTORY_MEMORY = r'''
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from console.runs.metrics import History
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
h = History()
for i in range(1_000_000):
    h.add({"step": i, "loss": 2.0 + (i % 7) * 0.01, "learning_rate": 1e-4, "grad_norm": 1.0, "epoch": i / 1000})
print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "base_mb": base / 1024}))
'''


def charts() -> None:
    for n in (1_000, 10_000, 100_000, 1_000_000):
        out = subprocess.run([sys.executable, "-c", CHART, str(n), str(ROOT)], capture_output=True, text=True,
                             env=_env(), check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"3. chart redraw at {n:>9,} points: {r['ms']:7.2f} ms (median of 5; process peak RSS "
              f"{r['maxrss_mb']:.0f} MB)")


def memory() -> None:
    out = subprocess.run([sys.executable, "-c", HISTORY_MEMORY, str(ROOT)], capture_output=True, text=True,
                         env=_env(), check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"4. a 1M-step history (loss, lr, grad norm, epoch each step): peak RSS {r['maxrss_mb']:.0f} MB "
          f"(interpreter alone {r['base_mb']:.0f} MB); with the chart drawn: see the 1M line above")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--watch-seconds", type=float, default=30)
    parser.add_argument("--only", default="frame,watch,chart,memory")
    args = parser.parse_args()
    parts = args.only.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("TRAINING_CONSOLE_CACHE", str(Path(tmp) / "cache"))
        runs_dir = Path(tmp) / "runs"
        if "frame" in parts:
            first_frame(args.reps, Path(tmp) / "empty-runs")
        if "watch" in parts:
            watching(args.watch_seconds, runs_dir)
        if "chart" in parts:
            charts()
        if "memory" in parts:
            memory()


if __name__ == "__main__":
    main()
