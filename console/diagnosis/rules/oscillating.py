"""Oscillating (the guide's problem 5): the loss goes up and down well above noise: training is unstable.

Five detectors, each an order of evidence: a loss explosion that recovered, a damaged start that came back, a train
excursion or an eval spike, an eval that stays above its best while the train loss does not improve, and an erratic
eval beside a rising train loss.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.context import worse_words
from console.diagnosis.curves import MIN_TRAIN, NOISE_FLOOR, Curve, median, num, rel, superiority, train_level_at
from console.diagnosis.vocabulary import Finding, Severity, _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "oscillating"
TITLE = "Loss oscillating (unstable training)"
KIND = "problem"


def recovered_explosion(ctx: Context) -> Finding | None:
    """A loss explosion (ctx.explosion) that came back down below 1.5x its best before. (One that did not is
    diverged's.)"""
    found = ctx.explosion_that(recovered=True)
    if found is None:
        return None
    step, nums = found
    text = (f"train loss blew up from {num(nums['from'])} to {num(nums['peak'])} at step {_fmt_step(step)}, then "
            f"recovered to {num(nums['now'])}: training is unstable.")
    return Finding(PROBLEM, Severity.WARNING, step, text, fixes(ctx.config, ctx.history), nums)


def damaged_start(ctx: Context) -> Finding | None:
    """The first steps made the eval worse than before training (ctx.worse), and it came back as the learning rate
    decayed. (Still worse: not_decreasing's.)"""
    nums = ctx.worse
    if not nums or nums["still"]:
        return None
    return Finding(PROBLEM, Severity.WARNING, nums["first_step"],
                   f"{worse_words(nums)}, then came back to {num(nums['now'])} as the learning rate decayed: the "
                   "early steps damaged the model, training is unstable.", fixes(ctx.config, ctx.history), nums)


def excursion(ctx: Context) -> Finding | None:
    """An excursion of the (coarse) train loss or a spike of an eval point (see _oscillation)."""
    osc = _oscillation(ctx.coarse, ctx.eval_)
    if not osc:
        return None
    step, words, nums = osc
    return Finding(PROBLEM, Severity.WARNING, step, words + ": training is unstable.",
                   fixes(ctx.config, ctx.history), nums)


def eval_worsens(ctx: Context) -> Finding | None:
    """Unstable on the eval set: worse than its best eval for several evals while the train loss does not improve
    (see _eval_worsens)."""
    nums = _eval_worsens(ctx.train, ctx.eval_)
    if not nums:
        return None
    return Finding(PROBLEM, Severity.WARNING, nums["best_step"],
                   f"eval loss has been above its best ({num(nums['best'])} at step "
                   f"{_fmt_step(nums['best_step'])}) for {nums['evals_after']} evals, up to {num(nums['peak'])} "
                   f"(+{100 * rel(nums['peak'], nums['best']):.0f}%) at step {_fmt_step(nums['peak_step'])}, "
                   f"now {num(nums['now'])}, while the train loss did not improve ({num(nums['train_at_best'])}"
                   f" -> {num(nums['train_now'])}): the updates undo what the model learned, training is "
                   "unstable.", fixes(ctx.config, ctx.history), nums)


def erratic_eval(ctx: Context) -> Finding | None:
    """A rising train loss (its rule declares it) with an eval that jumps up and down: unstable as well."""
    eval_ = ctx.eval_
    if not _erratic_eval(eval_):
        return None
    return Finding(PROBLEM, Severity.WARNING, eval_.steps[0],
                   f"eval loss jumps up and down by 10% or more while the train loss rises "
                   f"({_zigzag_text(eval_)}): training is unstable.", fixes(ctx.config, ctx.history), {})


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    above = (config.get("learning_rate") or 0) > (config.ranges.get("learning_rate") or (0, math.inf))[1]
    return fx.finish(config, [
        fx.lr_into_range(config, "training is unstable") if above else None,  # never raise an unstable rate
        fx.lr_scale(config, 0.5, "lower the learning rate (halve it)"),
        fx.accumulation_double(config, "larger effective batch for steadier gradients"),
        fx.clip_harder(config, "stronger gradient clipping")])


def _oscillation(train: Curve, eval_: Curve) -> tuple[float, str, dict] | None:
    """Up-and-down excursions well above noise: the smoothed train loss climbs 50% above its best so far (and by a
    tenth of its start level) then comes back down; or an eval point sits 40% above both its neighbours."""
    if train.n >= MIN_TRAIN and train.positive:
        # bins of 3 points at least once there are 15: one lucky low batch must not become "the best so far"
        size = max(min(3, train.n // 5), train.n // 32)
        count = max(1, train.n // size)
        k = max(1, train.n // count)  # raw points per bin, as bins() cuts them
        steps, levels = train.bins(count)
        need = 2 if size < 3 else 1  # raw points: two in a row
        best = levels[0]
        i = 1
        while i < len(levels):
            lv = levels[i]
            if lv >= 1.5 * best and lv - best >= max(0.1 * abs(train.start), NOISE_FLOOR):
                j, peak = i, lv
                while j < len(levels) and levels[j] >= 1.5 * best:
                    peak = max(peak, levels[j])
                    j += 1
                back = j < len(levels) and min(levels[j:]) <= best + 0.5 * (peak - best)
                a, b = i * k, min(train.n, j * k)
                exc, pre = train.values[a:b], train.values[max(0, a - max(3, b - a)):a]
                # heavy-tailed batch noise moves bin medians too: the raised points must stand apart from those just
                # before them (probability of superiority), as a real excursion's do
                if j - i >= need and back and len(exc) >= 4 and len(pre) >= 4 and superiority(exc, pre) >= 0.85:
                    return steps[i], (f"train loss climbed from {num(best)} to {num(peak)} "
                                      f"(+{100 * rel(peak, best):.0f}%) around step {_fmt_step(steps[i])} and came "
                                      f"back down"), {"from": best, "peak": peak}
                i = j
                continue
            best = min(best, lv)
            i += 1
    ev, es = eval_.values, eval_.steps
    for i in range(1, len(ev) - 1):
        nb = max(ev[i - 1], ev[i + 1])
        if nb > 0 and ev[i] >= 1.4 * nb and ev[i] - nb >= max(0.05 * abs(ev[0]), NOISE_FLOOR):
            return es[i], (f"eval loss jumped to {num(ev[i])} at step {_fmt_step(es[i])} between "
                           f"{num(ev[i - 1])} and {num(ev[i + 1])}"), {"spike": ev[i]}
    return None


def _eval_worsens(train: Curve, eval_: Curve) -> dict | None:
    """Instability seen on the eval set: no new best for 3 evals or more, one of them 10 % or more above the best
    (their median 1 % or more: not a plateau with one wiggle), while the train loss has not improved since that best
    eval. Overfitting is the same eval shape with a falling train loss (its own rules); here the updates undo what
    the model learned, batch noise at too high a learning rate. SmolLM2-135M, LoRA at 3e-3 constant, batch 1, the
    same scenario three times (CPU arithmetic at this rate does not repeat exactly): after the best eval at step 20
    the median rose 5.6 %, 4.7 %, 2.9 % and the peak 19 %, 12 %, 19 %, the train loss wandering 2-5.4 with no trend.
    The threshold that matters is the train loss: on the 121 real curves the rule fires on the same 3 (all labelled
    or found unstable or not decreasing by the other rules, no healthy one) with a median threshold of 0 to 5 % and
    a peak of 10 to 15 %."""
    ev, es = eval_.values, eval_.steps
    if eval_.n < 5 or not eval_.positive or train.n < 4 or not train.positive:
        return None
    b = min(range(len(ev)), key=ev.__getitem__)
    after = ev[b + 1:]
    if len(after) < 3:
        return None
    med, peak = median(after), max(after)
    if rel(med, ev[b]) < 0.01 or rel(peak, ev[b]) < 0.10 or med - ev[b] < NOISE_FLOOR:
        return None
    train_at_best = train_level_at(train, es[b])
    if rel(train.end, train_at_best) <= -0.02:
        return None  # the train loss still falls: that is overfitting's shape
    p = b + 1 + after.index(peak)
    return {"best": ev[b], "best_step": es[b], "median_after": med, "peak": peak, "peak_step": es[p],
            "evals_after": len(after), "now": ev[-1], "train_at_best": train_at_best, "train_now": train.end}


def _erratic_eval(eval_: Curve) -> bool:
    ev = eval_.values
    ups = sum(1 for i in range(1, len(ev)) if ev[i - 1] and rel(ev[i], ev[i - 1]) >= 0.10
              and ev[i] - ev[i - 1] >= NOISE_FLOOR)
    downs = sum(1 for i in range(1, len(ev)) if ev[i - 1] and rel(ev[i], ev[i - 1]) <= -0.09)
    return ups >= 2 and downs >= 1


def _zigzag_text(eval_: Curve) -> str:
    return f"between {num(min(eval_.values))} and {num(max(eval_.values))}"
