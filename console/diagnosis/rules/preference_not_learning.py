"""Preference not learned: after the warm-up the pairs are still ranked at chance (accuracies near 0.5) and the
margin stays flat. The update is too small to separate the answers: a higher learning rate (DPO with an adapter
typically needs 5e-6 to 5e-5) or a larger beta (rewards are beta times the log-ratio) (TRL's DPO guide)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import num
from console.diagnosis.preference import after_warmup, beta_of, beta_up, ends, enough, held_out
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "preference_not_learning"
TITLE = "The preference is not being learned"
KIND = "problem"
FLAT_NATS = 0.25  # the margin stayed within this of 0 (in nats: margin / beta)
TRAIN_LEARNED = 0.75  # training pairs ranked right this often: they are being learned (held-out: overfitting's)


def detect(ctx: Context) -> Finding | None:
    """Judged on the margin in nats (a few dozen held-out pairs make an accuracy too coarse: one pair of 30 is 3
    points) and on the training pairs too: a run that learns its training pairs but not the held-out ones is
    overfitting, not failing to learn."""
    history, beta = ctx.history, beta_of(ctx)
    steps, train_acc = after_warmup(ctx, history.reward_accuracy)
    _, train_margins = after_warmup(ctx, history.reward_margin)
    if not enough(ctx, train_acc) or len(train_margins) < 3 or not (ctx.done or (ctx.progress or 0) >= 0.4):
        return None
    _, held_margins = held_out(history.eval_reward_margin)
    margins, which = (held_margins, "held-out") if len(held_margins) >= 3 else (train_margins, "training")
    m_first, m_last = ends(margins)
    _, acc_late = ends(train_acc)
    if acc_late >= TRAIN_LEARNED or abs(m_last) / beta >= FLAT_NATS or (m_last - m_first) / beta >= FLAT_NATS:
        return None
    text = (f"the {which} margin moved from {num(m_first)} to {num(m_last)} ({m_last / beta:.2g} nats) and the "
            f"training pairs are ranked right {acc_late:.0%} of the time since the warm-up: the model is not "
            f"separating the chosen answers from the rejected ones")
    return Finding(PROBLEM, Severity.WARNING, steps[0], text, fixes(ctx.config, ctx.history),
                   numbers={"accuracy": acc_late, "margin_from": m_first, "margin_to": m_last})


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    lr, (lo, _) = config.get("learning_rate"), config.ranges.get("learning_rate") or (None, None)
    return fx.finish(config, [
        # into the range only from below: a rate above it that learns nothing is not fixed by lowering it
        fx.lr_into_range(config, "the learning rate is below the range for preference training")
        if lr and lo and lr < lo else None,
        fx.lr_scale(config, 2.0, "a higher learning rate: the updates are too small to separate the answers"),
        beta_up(config, "a larger beta scales the rewards, so each pair pulls harder")])
