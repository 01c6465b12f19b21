"""Helpers for the screens tests: fixed fake run folders (no clocks) and waiting on the pilot."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from console.config.run_config import RunConfig, resolve
from console.machine.hardware import CPU_ONLY


def metrics_records(steps: int = 100, eval_every: int = 10, overfit: bool = False, diverge_at: int | None = None,
                    start: float = 3.0) -> list[dict]:
    """A fixed, plausible history: train loss falling, eval loss every `eval_every` steps."""
    records = [{"step": 0, "max_steps": steps, "event": "train_begin", "effective_batch": 16, "epoch": 0.0}]
    for step in range(2, steps + 1, 2):
        loss = start * math.exp(-step / 25) + (0.5 if overfit else 0.8) + 0.02 * math.sin(step)
        if diverge_at is not None and step >= diverge_at:
            loss = start * (1.6 ** ((step - diverge_at) / 2 + 1))
        records.append({"step": step, "time": round(step * 0.5, 3), "loss": round(loss, 4),
                        "grad_norm": round(1.0 + 0.1 * math.cos(step), 4),
                        "learning_rate": round(2e-4 * (1 - step / steps), 8), "epoch": round(step / 100, 4),
                        "steps_per_second": 2.0, "samples_per_second": 32.0})
        if step % eval_every == 0:
            ev = (2.5 * math.exp(-step / 15) + 1.0 + 0.015 * max(0, step - 30) if overfit
                  else start * math.exp(-step / 30) + 0.9)
            records.append({"step": step, "time": round(step * 0.5 + 0.2, 3), "eval_loss": round(ev, 4),
                            "epoch": round(step / 100, 4)})
    return records


def fake_run(runs_dir: Path, run_id: str, *, created: float, phase: str = "done", method: str = "lora",
             changes: dict | None = None, parent: str | None = None, fixes: list | None = None,
             records: list | None = None, message: str | None = None, kind: str | None = None,
             log: str = "") -> Path:
    """A run folder exactly as the engine writes one, with fixed content."""
    path = Path(runs_dir) / run_id
    path.mkdir(parents=True)
    config = RunConfig.from_preset(method).with_changes(changes or {})
    config = resolve(config, CPU_ONLY)
    config.parent, config.fixes, config.run_id = parent, list(fixes or []), run_id
    config.save(path / "config.yaml")
    (path / "run.json").write_text(json.dumps({"id": run_id, "parent": parent, "fixes": fixes or [],
                                               "method": method, "created": created, "command": []}))
    status = {"phase": phase, "updated": created + 100, "pid": None}
    if message:
        status["message"] = message
    if kind:
        status["kind"] = kind
    (path / "status.json").write_text(json.dumps(status))
    lines = records if records is not None else metrics_records()
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (path / "train.log").write_text(log or "[console] run started\n[console] done\n")
    return path


def standard_runs(runs_dir: Path) -> dict[str, Path]:
    """Three runs: a LoRA run that overfits, its child with a fix, and a failed (diverged) one."""
    a = fake_run(runs_dir, "20250101-120000-lora-aaaa", created=1_735_732_800.0,
                 changes={"max_steps": 100, "eval_steps": 10, "save_steps": 10}, records=metrics_records(overfit=True))
    b = fake_run(runs_dir, "20250101-121000-lora-bbbb", created=1_735_733_400.0, parent=a.name,
                 changes={"max_steps": 100, "eval_steps": 10, "save_steps": 10, "weight_decay": 0.1},
                 fixes=[{"id": "weight_decay", "changes": {"weight_decay": 0.1}, "why": "regularise",
                         "label": "weight_decay 0.01 -> 0.1"}])
    c = fake_run(runs_dir, "20250101-122000-lora-cccc", created=1_735_734_000.0, phase="failed", kind="diverged",
                 message="loss exploded to 1.2e+03 at step 30 (it started at 3)",
                 changes={"max_steps": 60, "learning_rate": 0.05, "eval_steps": 10, "save_steps": 10},
                 records=metrics_records(steps=60, diverge_at=20)[:25],
                 log="[console] run started\nTraceback (most recent call last):\nDivergedError: loss exploded\n"
                     "[console] failed (diverged): loss exploded to 1.2e+03 at step 30\n")
    return {"overfit": a, "child": b, "failed": c}


async def wait_for(pilot, condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
