"""Train and eval loss both stuck (the guide's problem 3): a smooth flat loss, with or without an eval.

A loss flat from its first step is both the guide's problem 3 (both losses stuck) and problem 1 (training loss not
decreasing, learning rate too low). The user sees one finding, "stuck": it says what the curves do (neither moves)
where "not decreasing" would also cover a rising loss, whose cause is the opposite one. Its fixes take problem 1's as
well (a bigger batch), after the learning-rate and schedule changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.common.numbers import fmt
from console.diagnosis import fixes as fx
from console.diagnosis.curves import Curve, median, num, pct
from console.diagnosis.shape import lr_range
from console.diagnosis.vocabulary import Finding, Severity, _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "stuck"
TITLE = "Train and eval loss both stuck"
TITLE_TRAIN_ONLY = "Training loss stuck"  # without an eval loss to judge
TITLE_EVAL_RISING = "Eval loss rising while the training loss is flat"
EVAL_RISE = 0.05  # the eval loss up this much (4 evals or more) while the train loss is flat
KIND = "problem"


def shape(ctx: Context) -> Finding | None:
    """The shape verdict (ctx.shape) is a flat loss."""
    said = ctx.shape_says(PROBLEM)
    if said is None:
        return None
    nums, train, eval_ = said[1], ctx.train, ctx.eval_
    step = _flat_since(train)
    span = ctx.history.last_step - (train.steps[0] if train.n else 0)
    parts = [_movement("train", train, nums["d_train"], nums["fall_train"], span, nums["tau_train"])]
    if nums["d_eval"] is not None:
        parts.append(_movement("eval", eval_, nums["d_eval"], nums["fall_eval"], None, nums["tau_eval"]))
    cause, words = _stuck_cause(ctx.config)
    title = TITLE if nums["d_eval"] is not None else TITLE_TRAIN_ONLY
    if nums["on_eval"] and nums["d_eval"] < -EVAL_RISE:
        # the eval climbing while the train loss stays flat is no stuck model, and no rate to raise (a new user's
        # curves: eval 2.0 -> 3.0 was 'stuck' with 'learning_rate 2e-4 -> 3e-4' among its fixes)
        cause, title = "eval_rising", TITLE_EVAL_RISING
        words = ("The model gets worse on held-out data while the training loss does not fall: a learning rate too "
                 "high for this data, or held-out data unlike the training data (check both with `training-console "
                 "data`).")
    text = (" and ".join(parts) + (": neither is going down." if nums["d_eval"] is not None else
                                   f"{ctx.alone}.") + " " + words)
    return Finding(PROBLEM, Severity.WARNING, step, text, fixes(ctx.config, ctx.history, cause=cause),
                   dict(nums, cause=cause, title=title))


def fixes(config: RunConfig, history: History | None = None, cause: str | None = None, **_) -> list:
    if cause == "eval_rising":
        table = [fx.lr_scale(config, 0.5, "a lower learning rate: held-out loss climbs while the train loss is flat"),
                 fx.weight_decay_up(config, "stronger regularisation against fitting the training batches' noise"),
                 fx.effective_batch_up(config, "a bigger batch for steadier gradients")]
        return fx.finish(config, table)
    if cause == "unclear":
        table = [fx.scheduler(config, "linear", "a linear schedule keeps the learning rate higher for longer than "
                                                "cosine"),
                 fx.scheduler(config, "constant_with_warmup", "a constant learning rate after warmup, no decay"),
                 fx.lr_scale(config, 1.5, "a modest learning-rate raise to try: it is not below the method's range, "
                                          "so a too-low rate is not the evident cause"),
                 fx.effective_batch_up(config, "a bigger batch for steadier gradients (the guide's 'not decreasing' "
                                               "fix)")]
    else:
        table = [fx.lr_into_range(config, "the loss does not move"),
                 fx.lr_preset(config, "the learning rate is far below this method's range: back to its default")
                 if fx.far_below(config) else None,
                 fx.lr_scale(config, 2.5, "learning rate too low for the model to move: raise it 2.5x"),
                 fx.scheduler(config, "linear", "a linear schedule keeps the learning rate higher for longer than "
                                                "cosine"),
                 fx.scheduler(config, "constant_with_warmup", "a constant learning rate after warmup, no decay"),
                 fx.effective_batch_up(config, "a bigger batch for steadier gradients (the guide's 'not decreasing' "
                                               "fix)")]
    return fx.finish(config, table)


def _flat_since(train: Curve) -> float:
    """The step after which the train level stayed near its end level (for 'stuck since step N'): within 5% of it,
    or within three standard deviations of the bin-to-bin noise when the curve is noisier than that; a single bin
    outside the band does not end the flat stretch (one noisy bin must not move the onset to the end of the run)."""
    steps, levels = train.bins(32)
    noise = median([abs(levels[i] - levels[i - 1]) for i in range(1, len(levels))]) if len(levels) > 2 else 0.0
    band = max(0.05 * abs(train.end), 3.0 * noise / 0.954)  # median |difference| of two bins = 0.954 sd of one

    def near(j: int) -> bool:
        return abs(levels[j] - train.end) <= band

    i = len(levels) - 1
    while i > 0:
        if near(i - 1):
            i -= 1
        elif i >= 2 and near(i - 2):
            i -= 2
        else:
            break
    return steps[i - 1] if i > 0 else train.steps[0]


def _stuck_cause(config: RunConfig) -> tuple[str, str]:
    """('low' | 'unclear', a sentence) for a flat loss: the learning rate is only blamed when it is at or below the
    bottom of the method's range."""
    lr, lo, hi = lr_range(config)
    method = config.method if config is not None else "this method"
    if lr is not None and lo is not None and lr <= lo:
        where = "at the bottom of" if lr == lo else "below"
        return "low", (f"learning_rate {fmt(lr)} is {where} the {method} range ({fmt(lo)}): the learning rate "
                       "looks too low.")
    where = ""
    if lr is not None and lo is not None and hi is not None:
        where = (f" (learning_rate {fmt(lr)} is {'within' if lr <= hi else 'above'} the {method} range, {fmt(lo)} to "
                 f"{fmt(hi)})")
    return "unclear", (f"The cause is unclear{where}: try another schedule, and check the data (quality, size, "
                       "preprocessing) and whether the model is big enough.")


def _movement(name: str, curve: Curve, d: float, half_fall: float | None, span: float | None,
              tau: float = 0.0) -> str:
    """'train loss flat: 2.16 -> 2.13 (-1.4%)' or 'train loss barely moving: 1.25 -> 1.16 (-7.2%) over 1876 steps,
    no fall in the last half': the words follow the size of the change, and of the last half's."""
    size = abs(d)
    head = "flat" if size < 0.02 else "barely moving" if d > 0 else "drifting up"
    text = f"{name} loss {head}: {num(curve.start)} -> {num(curve.end)} ({pct(-d)})"
    if span:
        text += f" over {_fmt_step(span)} steps"
    if size >= 0.02 and half_fall is not None:
        if half_fall < 0.005:
            text += ", no fall in the last half"
        elif tau <= -0.5:  # a steady fall, too small to count
            text += f", only {pct(-half_fall)} in the last half"
        else:
            text += f", no steady fall in the last half ({pct(-half_fall)} between its ends)"
    return text
