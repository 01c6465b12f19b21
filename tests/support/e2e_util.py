"""Helpers for the end-to-end tests that really train the demo model on the CPU."""
from __future__ import annotations

import time

# Small enough for seconds per run, big enough for a falling curve and two evaluations.
FAST = ["max_steps=8", "eval_steps=4", "save_steps=4", "logging_steps=2", "max_length=64",
        "per_device_train_batch_size=4", "gradient_accumulation_steps=1", "max_samples=200",
        "per_device_eval_batch_size=16", "val_size=0.05"]


def sets(*extra: str) -> list[str]:
    out = []
    for item in list(FAST) + list(extra):
        out += ["--set", item]
    return out


def wait_for(predicate, timeout: float = 60, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
