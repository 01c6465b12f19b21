"""Non-finite gradient norms (an advisory of our own): NaN/inf gradient norms while the loss stays finite, skipped
fp16 overflow steps; harmless unless they become frequent, so no fix."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from console.diagnosis.curves import all_finite
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "nonfinite_grad_norm"
TITLE = "Non-finite gradient norms (harmless so far)"
KIND = "advisory"


def detect(ctx: Context) -> Finding | None:
    gn = ctx.history.grad_norm  # counted as logged: a long series keeps its first NaN but not every one of them
    bad = [] if all_finite(gn.values) else [s for s, v in zip(gn.steps, gn.values) if not math.isfinite(v)]
    if not (bad and ctx.train.n and all_finite(ctx.history.train_loss.values)):
        return None
    return Finding(PROBLEM, Severity.INFO, bad[0],
                   f"{gn.nonfinite} of {gn.logged} logged gradient norms are NaN/inf while the loss stays "
                   "finite: skipped fp16 overflow steps, harmless unless it becomes frequent.", fixes(ctx.config))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return []
