"""Warmup longer than the run (an advisory of our own): fixed warmup steps at or past the run's planned steps, so
the learning rate never leaves warmup."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "warmup_too_long"
TITLE = "Warmup longer than the run"
KIND = "advisory"


def detect(ctx: Context) -> Finding | None:
    config = ctx.config
    warm = config.get("warmup_steps") or 0
    total = ctx.total_steps
    if not (warm >= 1 and total and warm >= total):
        return None
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"warmup_steps {warm:g} >= the run's {total} steps: the learning rate never leaves warmup.",
                   fixes(config, ctx.history, total_steps=total))


def fixes(config: RunConfig, history: History | None = None, total_steps: int | None = None, **_) -> list:
    return fx.finish(config, [fx.warmup_ratio(config, "warm up over 10% of the run", total_steps)])
