"""Training loss not decreasing (the guide's problem 1): a rising or erratic loss, or a start that made the model
worse than before training. The fixes follow the cause: a learning rate too high, too low, or unclear."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.context import worse_words
from console.diagnosis.curves import Curve, finite, median, num, pct
from console.diagnosis.shape import lr_range
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "not_decreasing"
TITLE = "Training loss not decreasing"
KIND = "problem"


def damaged_start(ctx: Context) -> Finding | None:
    """The first steps made the eval worse than before training (ctx.worse), and it still is: the learning rate
    looks too high. (Came back: oscillating's.)"""
    nums = ctx.worse
    if not nums or not nums["still"]:
        return None
    return Finding(PROBLEM, Severity.ERROR, nums["first_step"],
                   f"{worse_words(nums)}, and is still {num(nums['now'])}: the first steps made the model worse, the "
                   "learning rate looks too high.", fixes(ctx.config, ctx.history, cause="high"),
                   dict(nums, cause="high"))


def shape(ctx: Context) -> Finding | None:
    """The shape verdict (ctx.shape) is a rising or erratic train loss: an error when rising."""
    said = ctx.shape_says(PROBLEM)
    if said is None:
        return None
    why, nums = said
    train = ctx.train
    cause, words = _lr_cause(ctx.history, train, ctx.config, why, nums)
    step = _min_step_before_rise(train) if why == "rising" else train.steps[0]
    verdict = (f"the learning rate looks too {cause}" if cause in ("high", "low") else
               "the cause is unclear")
    text = f"{words}: {verdict}.{ctx.alone}"
    return Finding(PROBLEM, Severity.ERROR if why == "rising" else Severity.WARNING, step, text,
                   fixes(ctx.config, ctx.history, cause=cause), dict(nums, cause=cause))


def fixes(config: RunConfig, history: History | None = None, cause: str | None = None, **_) -> list:
    if cause == "high":
        if fx.times_outside(config) >= fx.FAR_OUTSIDE:
            table = [fx.lr_into_range(config, "the loss rises"),
                     fx.lr_scale(config, 0.25, "or a quarter of it (the guide's 4x cut)"),
                     fx.effective_batch_up(config, "a bigger batch for less noisy gradients")]
        elif fx.far_above(config):  # the guide's bigger step first, then back into the method's range
            table = [fx.lr_scale(config, 0.25, "learning rate far too high: a quarter of it (the guide's 4x cut)"),
                     fx.lr_preset(config, "or back to this method's default learning rate"),
                     fx.lr_scale(config, 0.5, "or half of it"),
                     fx.effective_batch_up(config, "a bigger batch for less noisy gradients")]
        else:
            table = [fx.lr_scale(config, 0.5, "learning rate too high: halve it"),
                     fx.lr_scale(config, 0.25, "or a quarter of it if halving is not enough"),
                     fx.effective_batch_up(config, "a bigger batch for less noisy gradients")]
    elif cause == "low":
        table = [fx.lr_into_range(config, "the loss does not fall"),
                 fx.lr_preset(config, "the learning rate is far below this method's range: back to its default")
                 if fx.far_below(config) else None,
                 fx.lr_scale(config, 1.5, "learning rate too low: raise it 1.5x"),
                 fx.lr_scale(config, 2.5, "or 2.5x"),
                 fx.effective_batch_up(config, "a bigger batch for steadier gradients"),
                 fx.train_longer(config, "the model may need more training: double it")]
    else:
        table = [fx.effective_batch_up(config, "a bigger batch for steadier gradients"),
                 fx.lr_scale(config, 1.5, "a modest learning-rate raise to try (it is not below the method's range)"),
                 fx.train_longer(config, "the model may need more training: double it")]
    return fx.finish(config, table)


def _min_step_before_rise(train: Curve) -> float:
    steps, levels = train.bins(32)
    i = min(range(len(levels)), key=levels.__getitem__) if levels else 0
    return steps[i] if levels else train.steps[0]


def _lr_cause(history: History, train: Curve, config: RunConfig, why: str, numbers: dict) -> tuple[str, str]:
    """('high' | 'low' | 'unclear', the reason in words) for a train loss that does not decrease.

    'high' needs a sign of it (a rising or wandering loss, a growing gradient norm); 'low' needs the learning rate at
    or below the bottom of the method's range; anything else is 'unclear' (the data or the model may be the cause)."""
    reasons_high = []
    if why == "rising":
        reasons_high.append(f"train loss rose {num(train.start)} -> {num(train.end)} "
                            f"(+{100 * -numbers['d_train']:.0f}%)")
    if why == "erratic":
        reasons_high.append(f"train loss wanders {100 * numbers.get('wobble', 0):.0f}% between neighbouring "
                            f"windows with no trend")
    gn = finite(history.grad_norm.steps, history.grad_norm.values)[1]
    if len(gn) >= 4:
        q = len(gn) // 4
        early, late = median(gn[:q]), median(gn[-q:])
        if early > 0 and late > 3 * early:
            reasons_high.append(f"gradient norm grew {num(early)} -> {num(late)}")
    lr, lo, _hi = lr_range(config)
    if reasons_high and not (lr is not None and lo is not None and lr < lo):  # below the range it is not too high
        return "high", "; ".join(reasons_high)
    words = (f"train loss {num(train.start)} -> {num(train.end)} ({pct(-numbers['d_train'])})"
             + (", smooth" if not reasons_high else ""))
    if lr is not None and lo is not None and lr <= lo:
        where = "at the bottom of" if lr == lo else "below"
        return "low", words + f"; learning_rate {lr:g} is {where} the {config.method} range ({lo:g})"
    return "unclear", words
