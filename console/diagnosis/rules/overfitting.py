"""Overfitting (the guide's problem 2): the eval loss rises from its best while the train loss keeps falling, or
never really improves while the train loss falls a lot. Said as information when early stopping caught it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import NOISE_FLOOR, Curve, epoch_at, median, num, pct, rel, train_level_at
from console.diagnosis.vocabulary import Finding, Severity, _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "overfitting"
TITLE = "Overfitting"
KIND = "problem"


def eval_rises(ctx: Context) -> Finding | None:
    """The eval loss rose from its best while the train loss fell (see _overfitting); only while the train loss
    itself is falling (its rule declares it): else it is instability, not memorising."""
    of = _overfitting(ctx.train, ctx.eval_)
    if not of:
        return None
    history, config = ctx.history, ctx.config
    _best_i, gl, nums = of
    rise = nums["eval_now"] - nums["best"]
    fall = nums["train_at_best"] - nums["train_now"]
    text = (f"eval loss rose {num(rise)} (+{100 * gl:.0f}%) from its best ({num(nums['best'])} at step "
            f"{_fmt_step(nums['best_step'])}) while train loss fell {num(fall)} "
            f"({num(nums['train_at_best'])} -> {num(nums['train_now'])}).")
    epoch = epoch_at(history, nums["best_step"])
    severity, text = _caught_by_early_stopping(history, config, text)
    return Finding(PROBLEM, severity, nums["best_step"], text,
                   fixes(config, history, best_epoch=epoch, best_step=nums["best_step"]),
                   dict(nums, gl=gl, best_epoch=epoch))


def eval_not_improving(ctx: Context) -> Finding | None:
    """The other form: the eval never really improves while the train loss falls a lot (see _eval_not_improving)."""
    nums = _eval_not_improving(ctx.train, ctx.eval_)
    if not nums:
        return None
    history, config = ctx.history, ctx.config
    epoch = epoch_at(history, nums["best_step"])
    text = (f"eval loss not improving while train loss falls: eval {num(nums['eval_first'])} at step "
            f"{_fmt_step(nums['first_step'])}, at best {num(nums['best'])} ({pct(-nums['gain'])}), now "
            f"{num(nums['eval_now'])} over {ctx.eval_.n} evals, while train loss fell "
            f"{num(nums['train_at_first'])} -> {num(nums['train_now'])} ({pct(-nums['train_fall'])}).")
    severity, text = _caught_by_early_stopping(history, config, text)
    return Finding(PROBLEM, severity, nums["first_step"], text,
                   fixes(config, history, best_epoch=epoch, best_step=nums["best_step"]),
                   dict(nums, best_epoch=epoch))


def fixes(config: RunConfig, history: History | None = None, best_epoch: float | None = None,
          best_step: float | None = None, **_) -> list:
    # Early stopping with the best checkpoint kept comes first: on the real repair bench (LoRA on 16 examples)
    # it kept the best eval where 10x weight decay did not stop the overfitting at all (eval 3.02 at step 8, 5.03
    # at step 72 with the decay) and fewer steps compressed the cosine schedule (best eval 3.09); on the demo
    # the decay did nothing either (1.626 -> 1.630). The guide lists regularisation first. See docs/diagnosis.md.
    return fx.finish(config, [
        fx.early_stopping(config, "stop when the eval loss turns and keep the best checkpoint"),
        fx.weight_decay_up(config, "stronger regularisation (10x weight decay)"),
        fx.train_less(config, "train less: to a little past where eval loss was best", best_epoch, best_step),
        fx.dropout_up(config, "more adapter dropout"),
        fx.eval_more_often(config, "evaluate more often to catch the turn earlier", fx.steps_per_epoch(history),
                           fx.eval_interval(history))])


def _caught_by_early_stopping(history: History, config: RunConfig, text: str) -> tuple[Severity, str]:
    """An overfitting run that early stopping ended is handled: said as information, not as a warning."""
    if config is None or history.final is None:
        return Severity.WARNING, text
    if config.get("early_stopping_patience") and config.get("load_best_model_at_end"):
        total = history.max_steps or config.get("max_steps")
        if total and total > 0 and history.last_step < total:
            return Severity.INFO, text + (f" Early stopping ended the run at step {_fmt_step(history.last_step)} and "
                                          "the best checkpoint is kept.")
        return Severity.INFO, text + " The best checkpoint is kept (load_best_model_at_end)."
    return Severity.WARNING, text


def _overfitting(train: Curve, eval_: Curve) -> tuple[int, float, dict] | None:
    """Prechelt's generalisation loss with hysteresis, scanned over the eval points in order.

    Raised when the last two evals (at least two after the best) both sit above the best eval by a margin
    (5-10%, scaled to the eval's own step-to-step noise) while the train loss has kept falling; cleared only by a new
    best eval. Returns (index of the best eval, GL, numbers) for the state at the last point.
    """
    ev = eval_.values
    if len(ev) < 3 or train.n < 2 or not eval_.positive:
        return None
    diffs = [abs(ev[i] - ev[i - 1]) / abs(ev[i - 1]) for i in range(1, len(ev)) if ev[i - 1]]
    margin = min(0.10, max(0.05, 1.5 * median(diffs))) if diffs else 0.05
    best_i, raised = 0, False
    for i in range(1, len(ev)):
        if ev[i] < ev[best_i]:
            best_i, raised = i, False  # a new best clears it (the run generalises again)
            continue
        if raised or i - best_i < 2:
            continue
        recent = min(ev[i - 1], ev[i])
        if rel(recent, ev[best_i]) >= margin and recent - ev[best_i] >= NOISE_FLOOR:
            tr_best = train_level_at(train, eval_.steps[best_i])
            tr_now = train_level_at(train, eval_.steps[i])
            if tr_now < tr_best and rel(tr_now, tr_best) <= -0.02:
                raised = True
    if not raised:
        return None
    tr_best = train_level_at(train, eval_.steps[best_i])
    return best_i, rel(ev[-1], ev[best_i]), {"best": ev[best_i], "best_step": eval_.steps[best_i],
                                              "eval_now": ev[-1], "train_at_best": tr_best,
                                              "train_now": train.end, "margin": margin}


def _eval_not_improving(train: Curve, eval_: Curve) -> dict | None:
    """Overfitting of the other shape: from the first eval on, the eval loss never gets 5% below its first value while
    the train loss falls 20% or more over the same span (the model learns the training set and nothing that
    carries over). Needs 4 evals; the train fall is measured from the first eval, so a run that learned before its
    first eval and then levelled off on both curves is converged, not overfitting."""
    ev = eval_.values
    if eval_.n < 4 or not eval_.positive or not train.positive or train.n < 2:
        return None
    best_i = min(range(len(ev)), key=ev.__getitem__)
    gain = -rel(ev[best_i], ev[0])
    t0 = train_level_at(train, eval_.steps[0])
    fall = -rel(train.end, t0)
    if gain >= 0.05 or fall < 0.20 or t0 - train.end < NOISE_FLOOR or ev[0] < NOISE_FLOOR:
        return None
    return {"eval_first": ev[0], "first_step": eval_.steps[0], "best": ev[best_i], "best_step": eval_.steps[best_i],
            "gain": gain, "eval_now": ev[-1], "train_at_first": t0, "train_now": train.end, "train_fall": fall}
