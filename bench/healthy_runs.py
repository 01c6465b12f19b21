"""Healthy runs must be quiet: python bench/healthy_runs.py record DIR | check DIR

`record` trains healthy runs of several lengths for real on CPU, through the console's own `train` command: on the
demo model smoke tests of a few steps (LoRA, QLoRA, an adapter, full), runs of 30-100 steps and one of several
hundred; on the real model (SmolLM2-135M-Instruct and the docstring data, bench/real_model.py) a smoke test and a
16-step LoRA run with an eval at step 0 and every 4 steps (kept short: on the shared 2-core machine a step of
the real model took up to two minutes). Each run's folder (config.yaml, metrics,
sample answers, status) stays under DIR, so the replay can be repeated after a change to the rules without
training again. `--only NAME` records one of them.

`check` replays every prefix of each recorded run (each logged point, as a live view sees them arrive, with the
sample answers written by then and the status 'running' until the last point) through the one assembly of
findings (console.loop.findings.findings_of) and prints, per run, the findings that appeared at any moment. A
healthy run must have none: the figure is the number of runs with a finding at some moment (target 0).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.loop.findings import findings_of, title_of  # noqa: E402
from console.runs.metrics import History  # noqa: E402
from console.runs.rundir import RunDir  # noqa: E402
from console.runs.samples import load_samples  # noqa: E402

# name -> (model: 'demo' | 'real', method, --set arguments). Healthy by construction: the method's preset learning
# rate, the presets' schedule, only the length and the eval interval changed.
DEMO_RUNS: dict[str, tuple[str, str, list[str]]] = {
    "demo-lora-smoke-4": ("demo", "lora", ["max_steps=4"]),
    "demo-qlora-smoke-4": ("demo", "qlora", ["max_steps=4"]),
    "demo-adapter-smoke-4": ("demo", "adapter", ["max_steps=4"]),
    "demo-full-smoke-6": ("demo", "full", ["max_steps=6", "eval_steps=3"]),
    "demo-lora-35": ("demo", "lora", ["max_steps=35", "eval_steps=5", "logging_steps=1"]),
    "demo-full-60": ("demo", "full", ["max_steps=60", "eval_steps=10", "logging_steps=2"]),
    "demo-lora-100": ("demo", "lora", ["max_steps=100", "eval_steps=10", "logging_steps=2"]),
    "demo-lora-300": ("demo", "lora", ["max_steps=300", "eval_steps=25", "logging_steps=5"]),
}
# The demo scenarios as they run: preference training as the demos run it (their learning rate, above DPO's and KTO's ranges for a real
# model, is what the tiny untrained demo model needs to learn its training pairs in 60 steps). Not healthy by
# construction (the random demo model learns its training pairs, never the held-out ones), so checked for steadiness
# only: a finding that went away must not come back (a new user saw the preference warning come and go).
STEADY_RUNS: dict[str, tuple[str, str, list[str]]] = {
    "demo-dpo-60": ("demo", "lora", ["dataset=demo-pairs", "learning_rate=1e-3", "max_steps=60", "eval_steps=10",
                                     "logging_steps=2"]),
    "demo-kto-60": ("demo", "lora", ["dataset=demo-kto", "learning_rate=1e-3", "max_steps=60", "eval_steps=10",
                                     "logging_steps=2"]),
    # the three problem demos (presets/scenarios.yaml): their warnings must stay once shown
    "demo-lr-too-high": ("demo", "full", ["learning_rate=2.0", "max_steps=300", "eval_steps=25", "save_steps=25",
                                          "logging_steps=5"]),
    "demo-overfitting": ("demo", "full", ["learning_rate=5e-3", "max_samples=32", "num_train_epochs=100",
                                          "max_steps=200", "warmup_steps=0", "eval_steps=25", "save_steps=25",
                                          "logging_steps=5"]),
    "demo-lr-too-low": ("demo", "lora", ["learning_rate=1e-6", "max_steps=300", "eval_steps=25", "save_steps=25",
                                         "logging_steps=5"]),
}
REAL_RUNS: dict[str, tuple[str, str, list[str]]] = {
    "real-lora-smoke-4": ("real", "lora", ["max_steps=4", "logging_steps=1", "eval_steps=4", "max_length=192",
                                           "per_device_train_batch_size=4", "gradient_accumulation_steps=1"]),
    "real-lora-16": ("real", "lora", ["max_steps=16", "logging_steps=1", "eval_steps=4", "eval_on_start=true",
                                      "max_length=192", "per_device_train_batch_size=4",
                                      "gradient_accumulation_steps=1"]),
}
RUNS = {**DEMO_RUNS, **REAL_RUNS}
ALL_RUNS = {**RUNS, **STEADY_RUNS}


def record(out: Path, only: list[str] | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    model = data = None
    for name, (kind, method, sets) in ALL_RUNS.items():
        if only and name not in only:
            continue
        runs_dir = out / name
        if runs_dir.exists():
            shutil.rmtree(runs_dir)
        cmd = [sys.executable, "-m", "console", "--runs-dir", str(runs_dir), "train", "--method", method]
        if kind == "real":
            if model is None:
                from bench import real_model

                model = real_model.ensure_real_model()
                data = real_model.build_dataset(out / "_real-data", n_train=96, n_eval=8)["chat"]
            cmd += ["--model", str(model), "--dataset", str(data)]
        for s in sets:
            cmd += ["--set", s]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        print(f"{name}: exit {proc.returncode} in {time.monotonic() - t0:.0f} s", flush=True)
        if proc.returncode:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
    return 0


def _run_of(runs_dir: Path) -> RunDir | None:
    found = [p for p in runs_dir.iterdir() if (p / "config.yaml").is_file()] if runs_dir.is_dir() else []
    return RunDir(found[0]) if found else None


def replay(run: RunDir) -> tuple[int, dict[str, list], dict[str, int]]:
    """(moments checked, {finding title: [steps at which it showed]}, {title: times it was unsteady}) over every
    prefix of the run's log. Unsteady: shown again after it went, or shown at one moment alone before the last."""
    config = run.config()
    records = [json.loads(line) for line in run.metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    samples = load_samples(run.samples_path)
    final_status = run.status()
    shown: dict[str, list] = {}
    at: dict[str, list[int]] = {}  # title -> the moments (indices) it showed at
    for cut in range(1, len(records) + 1):
        history = History.from_records(records[:cut])
        last = cut == len(records)
        status = final_status if last else {"phase": "running"}
        seen = [s for s in samples if s.step <= history.last_step]
        for f in findings_of(history, config, status, seen):
            title = f"{f.severity.mark} {title_of(f)}"
            shown.setdefault(title, []).append(history.last_step)
            at.setdefault(title, []).append(cut)
    unsteady = {t: sum(1 for a, b in zip(m, m[1:]) if b > a + 1)
                + sum(1 for i, a in enumerate(m) if a < len(records) and (i == 0 or m[i - 1] < a - 1)
                      and (i + 1 == len(m) or m[i + 1] > a + 1)) for t, m in at.items()}
    return len(records), shown, {t: n for t, n in unsteady.items() if n}


def _recorded(out: Path, names):
    """(name, run) of each recorded run of `names`; a line for each one not recorded."""
    for name in names:
        run = _run_of(out / name)
        if run is None:
            print(f"{name:24s} not recorded")
        else:
            yield name, run


def check(out: Path) -> int:
    loud = 0
    for name, run in _recorded(out, RUNS):
        moments, shown, _ = replay(run)
        steps = int(History.from_records(
            [json.loads(x) for x in run.metrics_path.read_text().splitlines() if x.strip()]).last_step)
        state = "quiet" if not shown else "FINDINGS"
        print(f"{name:24s} {steps:4d} steps, {moments:4d} moments checked: {state}")
        for title, at in shown.items():
            print(f"    {title}  (at {len(at)} moments, first at step {at[0]:g})")
        loud += bool(shown)
    print(f"healthy runs with a finding at some moment: {loud}")
    unsteady = 0
    for name, run in _recorded(out, STEADY_RUNS):
        moments, shown, back = replay(run)
        print(f"{name:24s} {moments:4d} moments checked: " + ("steady" if not back else "UNSTEADY"))
        for title, steps in shown.items():
            came = f", came back or blipped {back[title]}x" if title in back else ""
            print(f"    {title}  (from step {steps[0]:g} to {steps[-1]:g}, at {len(steps)} moments{came})")
        unsteady += bool(back)
    print(f"demo scenarios with a finding that came back after it went, or showed at one moment only: {unsteady}")
    return 1 if loud or unsteady else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("dir", type=Path)
    parser.add_argument("--only", action="append")
    args = parser.parse_args(argv)
    return record(args.dir, args.only) if args.action == "record" else check(args.dir)


if __name__ == "__main__":
    raise SystemExit(main())
