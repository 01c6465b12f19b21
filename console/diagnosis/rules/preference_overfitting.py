"""Overfitting the preferences: the training pairs are ranked right almost always and their margins climb fast,
while the held-out pairs' accuracy or margin falls from its best: the model memorises which answer of each
training pair wins (TRL's DPO guide; Azar et al. 2023, IPO, arXiv:2310.12036, on DPO's overfitting to
deterministic preferences). Fixes: stop at the best evaluation (early stopping with the best checkpoint), a lower
learning rate, fewer epochs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import num
from console.diagnosis.preference import after_warmup, beta_of, ends, enough, held_out
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "preference_overfitting"
TITLE = "Overfitting the preference pairs"
KIND = "problem"
TRAIN_ACCURACY = 0.95
EVAL_DROP = 0.1  # the held-out accuracy fell this much from a best above 0.6,
MARGIN_DROP_NATS = 0.5  # or the held-out margin this much (and a fifth) from a best above this


def detect(ctx: Context) -> Finding | None:
    """The held-out pairs must have improved first (a best accuracy above 0.6 or margin above half a nat) and
    fallen back by a real amount: a held-out set that never improved is not being overfitted to, and a margin
    falling from 0.01 to 0.002 is noise."""
    history, beta = ctx.history, beta_of(ctx)
    _, train_acc = after_warmup(ctx, history.reward_accuracy)
    _, margins = after_warmup(ctx, history.reward_margin)
    ev_steps, ev_acc = held_out(history.eval_reward_accuracy)
    m_steps, margins_ev = held_out(history.eval_reward_margin)
    if not enough(ctx, train_acc) or len(margins_ev) < 3:
        return None
    _, acc_late = ends(train_acc)
    m_first, m_last = ends(margins)
    if acc_late < TRAIN_ACCURACY or m_last <= m_first:
        return None
    best_i = max(range(len(ev_acc)), key=lambda i: ev_acc[i]) if ev_acc else None
    best_m = max(range(len(margins_ev)), key=lambda i: margins_ev[i])
    acc_fell = (best_i is not None and best_i < len(ev_acc) - 1 and ev_acc[best_i] > 0.6
                and ev_acc[best_i] - ev_acc[-1] >= EVAL_DROP)
    best_margin, last_margin = margins_ev[best_m] / beta, margins_ev[-1] / beta
    margin_fell = (best_m < len(margins_ev) - 1 and best_margin > MARGIN_DROP_NATS
                   and best_margin - last_margin >= max(MARGIN_DROP_NATS, 0.2 * best_margin))
    if not (acc_fell or margin_fell):
        return None
    if acc_fell:
        best_step = ev_steps[best_i]
        held = f"the held-out accuracy fell from {ev_acc[best_i]:.0%} at step {best_step:g} to {ev_acc[-1]:.0%}"
    else:
        best_step = m_steps[best_m]
        held = (f"the held-out margin fell from {num(margins_ev[best_m])} at step {best_step:g} to "
                f"{num(margins_ev[-1])}")
    text = (f"the training pairs are ranked right {acc_late:.0%} of the time and their margin climbed from "
            f"{num(m_first)} to {num(m_last)}, while {held}: the model is learning the training pairs by heart")
    return Finding(PROBLEM, Severity.WARNING, best_step, text, fixes(ctx.config, ctx.history, best_step=best_step),
                   numbers={"train_accuracy": acc_late, "best_step": best_step})


def fixes(config: RunConfig, history: History | None = None, best_step=None, best_epoch=None, **_) -> list:
    return fx.finish(config, [
        fx.early_stopping(config, "stop a few evaluations after the held-out pairs stop improving, keeping the best "
                                  "checkpoint"),
        fx.lr_scale(config, 0.5, "a lower learning rate memorises the training pairs more slowly"),
        fx.train_less(config, "fewer steps: the held-out pairs were ranked best earlier", best_epoch=best_epoch,
                      best_step=best_step)])
