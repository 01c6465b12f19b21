"""Do the fixes repair runs? Each scenario shows one of the guide's problems on the demo model.

    python bench/repair.py [--only NAME[,NAME]] [--runs-dir DIR]

For each scenario: train it, check the console flags the intended problem (and nothing absurd), apply the top fix
of that finding exactly as the console's one-key action does (console.rerun.plan_rerun), train the next run, and
if the problem is still there apply the next run's top fix once more. Prints: flagged, gone after one fix, gone
after two, best eval loss before and after. Targets: every scenario flagged; >= 80 % repaired by one fix, all by
two.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Small and fast: the demo model at sequence length 128, evaluated often enough for the curves to speak.
BASE = {"max_length": 128, "logging_steps": 5, "eval_steps": 25, "save_steps": 25,
        "per_device_eval_batch_size": 32, "val_size": 0.1}


@dataclass
class Scenario:
    name: str
    problem: str  # the finding it must raise
    method: str
    changes: dict
    also_ok: tuple = ()  # other findings that are fair for this curve (not absurd)
    notes: str = ""


SCENARIOS = [
    # The demo model is tiny and randomly initialised: Adam, clipping and RMSNorm keep full fine-tuning stable up to
    # a learning rate of about 1.5, so "far too high" means 2.0 here.
    Scenario("lr-far-too-high", "diverged", "full", {"learning_rate": 2.0, "max_steps": 250},
             also_ok=("oscillating", "not_decreasing")),
    Scenario("diverging-constant-lr", "diverged", "full",
             {"learning_rate": 3.0, "max_steps": 250, "lr_scheduler_type": "constant", "warmup_steps": 0},
             also_ok=("oscillating", "not_decreasing")),
    Scenario("lr-far-too-low", "stuck", "lora", {"learning_rate": 1e-6, "max_steps": 250},
             also_ok=("not_decreasing", "slow")),
    Scenario("lr-too-low-full", "stuck", "full", {"learning_rate": 2e-7, "max_steps": 250},
             also_ok=("not_decreasing", "slow")),
    # LoRA at its default learning rate, stopped by max_steps a third of the way into the first epoch
    Scenario("too-short-schedule", "slow", "lora", {"max_steps": 40, "eval_steps": 8, "logging_steps": 2}),
    Scenario("overfitting-tiny-data", "overfitting", "full",
             {"learning_rate": 5e-3, "max_samples": 32, "num_train_epochs": 100, "max_steps": 200,
              "warmup_steps": 0}),
]


@dataclass
class Outcome:
    scenario: Scenario
    flagged: bool = False
    other: list = field(default_factory=list)
    fixed_after: int | None = None  # 1 or 2, None when still there after two fixes
    best_before: float | None = None
    best_after: float | None = None
    fixes: list = field(default_factory=list)
    seconds: float = 0.0


def train(runs_dir: Path, config) -> tuple:
    """Launch, wait, and return (run, findings)."""
    from console.launcher import wait
    from console.rerun import run_findings, start

    run = start(runs_dir, config, command=["bench/repair.py"])
    status = wait(run, timeout=900)
    if status.get("phase") not in ("done", "failed", "stopped"):
        raise RuntimeError(f"{run.id}: {status}")
    return run, run_findings(run)


def best_eval(run) -> float | None:
    from console.metrics import load_history
    from console.progress import progress

    return progress(load_history(run.metrics_path)).best_eval


def problems(findings) -> list[str]:
    """The guide's problems still raised as warnings or errors (information is not a problem left)."""
    six = {"not_decreasing", "overfitting", "stuck", "slow", "oscillating", "diverged"}
    return [f.problem for f in findings if f.problem in six and f.severity in ("warning", "error")]


def run_scenario(s: Scenario, runs_dir: Path) -> Outcome:
    from console.config import build_config, resolve
    from console.follow import describe_fix
    from console.rerun import plan_rerun

    t0 = time.monotonic()
    out = Outcome(s)
    config = resolve(build_config(s.method, sets={**BASE, **s.changes}))
    run, findings = train(runs_dir, config)
    found = problems(findings)
    out.flagged = s.problem in found
    out.other = [p for p in found if p != s.problem and p not in s.also_ok]
    out.best_before = best_eval(run)
    target = s.problem if out.flagged else (found[0] if found else None)
    for attempt in (1, 2):
        if target is None:
            break
        parent_config = _config_of(run)
        plan = plan_rerun(run, target, findings=findings)
        out.fixes.append(describe_fix(plan.fix, parent_config))
        run, findings = train(runs_dir, plan.config)
        out.best_after = best_eval(run)
        remaining = problems(findings)
        if s.problem not in remaining:
            out.fixed_after = attempt
            break
        target = s.problem
    out.seconds = time.monotonic() - t0
    return out


def _config_of(run):
    from console.config import load_run_config

    return load_run_config(run.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--runs-dir", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    tmp = tempfile.TemporaryDirectory()
    runs_dir = Path(args.runs_dir or tmp.name) / "runs"
    os.environ.setdefault("TRAINING_CONSOLE_CACHE", str(Path(tmp.name) / "cache"))
    outcomes = []
    for s in chosen:
        o = run_scenario(s, runs_dir)
        outcomes.append(o)
        fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"{s.name:<26} problem {s.problem:<15} flagged {'yes' if o.flagged else 'NO ':<3} "
              f"fixed after {o.fixed_after or 'NOT':<3} best eval {fmt(o.best_before)} -> {fmt(o.best_after)} "
              f"({o.seconds:.0f}s)" + (f"  other: {','.join(o.other)}" if o.other else ""), flush=True)
        for i, fix in enumerate(o.fixes, 1):
            print(f"    fix {i}: {fix}")
    n = len(outcomes)
    flagged = sum(o.flagged for o in outcomes)
    one = sum(o.fixed_after == 1 for o in outcomes)
    two = sum(o.fixed_after in (1, 2) for o in outcomes)
    print(f"\nflagged {flagged}/{n}; repaired by one fix {one}/{n} ({100 * one / n:.0f} %), by two {two}/{n}; "
          f"absurd findings: {sum(bool(o.other) for o in outcomes)}; total {sum(o.seconds for o in outcomes):.0f}s")


if __name__ == "__main__":
    main()
