"""Learning rate never reached its peak (an advisory of our own): at the end of the run the logged learning rate
was still climbing, below 80% of the configured one: warmup took the whole run. Its fixes are warmup_too_long's."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis.curves import finite
from console.diagnosis.rules.warmup_too_long import fixes  # the same table: warmup as a share of the run
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.diagnosis.context import Context

PROBLEM = "lr_never_peaked"
TITLE = "Learning rate never reached its peak"
KIND = "advisory"


def detect(ctx: Context) -> Finding | None:
    lr = finite(ctx.history.learning_rate.steps, ctx.history.learning_rate.values)[1]
    peak = ctx.config.get("learning_rate")
    if not (ctx.done and len(lr) >= 2 and peak and max(lr) < 0.8 * peak):
        return None
    i = lr.index(max(lr))
    if i != len(lr) - 1:  # it peaked and came down: not a warmup longer than the run
        return None
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"the learning rate reached only {max(lr):.3g} of its {peak:g} peak before the run "
                   "ended: warmup took the whole run.",
                   fixes(ctx.config, ctx.history, total_steps=ctx.total_steps))
