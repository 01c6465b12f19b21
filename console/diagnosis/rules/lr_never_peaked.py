"""Learning rate never reached its peak (an advisory of our own): at the end of the run the logged learning rate
was still climbing, below 80% of the configured one: warmup took the whole run. Its fixes are warmup_too_long's."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.common.numbers import fmt
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
    total = ctx.total_steps
    # Only a run that reached its planned end: one stopped at step 3 of 60 never got to its peak by the user's hand,
    # not its schedule's (a new user saw this warning, with no fix, on a run they had stopped).
    if not (ctx.done and total and ctx.history.last_step >= total and peak and len(lr) >= 3
            and max(lr) < 0.8 * peak):
        return None
    # Climbing at every logged point: a rate that came down anywhere peaked (or decays). Three points at least: a run
    # logging its rate at steps 1 and 10 only (warmup of one step, then cosine) read as "still climbing" from two.
    if any(later < earlier for earlier, later in zip(lr, lr[1:])):
        return None
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"the learning rate reached only {fmt(max(lr))} of its {fmt(peak)} peak before the run "
                   "ended: warmup took the whole run.",
                   fixes(ctx.config, ctx.history, total_steps=ctx.total_steps))
