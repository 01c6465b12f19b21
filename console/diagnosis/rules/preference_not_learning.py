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
TRAIN_KEPT = 0.6  # ... and still above this once they were (see learned)
MIN_EARLIER = 4  # logs after warm-up before an earlier tail can count as learned


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
    if abs(m_last) / beta >= FLAT_NATS or (m_last - m_first) / beta >= FLAT_NATS:
        return None
    if learned(train_acc, acc_late):
        if which != "held-out":
            return None
        # the training pairs learned, the held-out ones at chance from the start: not overfitting (the held-out
        # pairs never improved to fall back) and not idle; the demo DPO run ended 'no problems found' with its
        # held-out pairs ranked right 47% of the time and a margin of 0.005 nats
        text = (f"the training pairs are ranked right {acc_late:.0%} of the time, but the held-out margin moved from "
                f"{num(m_first)} to {num(m_last)} ({m_last / beta:.2g} nats): the model learns the pairs it is "
                f"shown, not the preference behind them")
        return Finding(PROBLEM, Severity.WARNING, steps[0], text, generalise_fixes(ctx.config),
                       numbers={"accuracy": acc_late, "margin_from": m_first, "margin_to": m_last, "held_out": True})
    text = (f"the {which} margin moved from {num(m_first)} to {num(m_last)} ({m_last / beta:.2g} nats) and the "
            f"training pairs are ranked right {acc_late:.0%} of the time since the warm-up: the model is not "
            f"separating the chosen answers from the rejected ones")
    return Finding(PROBLEM, Severity.WARNING, steps[0], text, fixes(ctx.config, ctx.history),
                   numbers={"accuracy": acc_late, "margin_from": m_first, "margin_to": m_last})


def learned(train_acc: list[float], acc_late: float) -> bool:
    """The training pairs are being learned: ranked right TRAIN_LEARNED of the time over the last third, or, once
    that was reached at an earlier log, still above TRAIN_KEPT (hysteresis: one log's accuracy over a batch of 16
    pairs swings by 0.3, and the demo DPO run's warning came back at step 56 for one dip after the pairs were
    learned, then went again at 58)."""
    if acc_late >= TRAIN_LEARNED:
        return True
    return acc_late >= TRAIN_KEPT and any(ends(train_acc[:i])[1] >= TRAIN_LEARNED
                                          for i in range(MIN_EARLIER, len(train_acc)))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    lr, (lo, _) = config.get("learning_rate"), config.ranges.get("learning_rate") or (None, None)
    return fx.finish(config, [
        # into the range only from below: a rate above it that learns nothing is not fixed by lowering it
        fx.lr_into_range(config, "the learning rate is below the range for preference training")
        if lr and lo and lr < lo else None,
        fx.lr_scale(config, 2.0, "a higher learning rate: the updates are too small to separate the answers"),
        beta_up(config, "a larger beta scales the rewards, so each pair pulls harder")])


def generalise_fixes(config: RunConfig) -> list:
    """For training pairs learned while the held-out ones stay at chance: back into the range (a rate far above it
    memorises the pairs), a lower rate, a larger beta (the policy kept nearer the reference model)."""
    return fx.finish(config, [
        fx.lr_into_range(config, "the training pairs are learned by heart"),
        fx.lr_scale(config, 0.5, "a lower learning rate: the training pairs are learned, the held-out ones not"),
        beta_up(config, "a larger beta keeps the model nearer the reference, against learning the pairs by heart")])

