"""Preference not learned: after the warm-up the pairs are still ranked at chance (accuracies near 0.5) and the
margin stays flat. The update is too small to separate the answers: a higher learning rate (DPO with an adapter
typically needs 5e-6 to 5e-5) or a larger beta (rewards are beta times the log-ratio) (TRL's DPO guide)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import num
from console.diagnosis.rules.preference_common import after_warmup, beta_up, ends, enough
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "preference_not_learning"
TITLE = "The preference is not being learned"
KIND = "problem"
CHANCE = (0.4, 0.6)  # accuracies in here are chance
FLAT_MARGIN = 0.05  # the margin moved less than this over the run after warm-up


def detect(ctx: Context) -> Finding | None:
    history = ctx.history
    accuracy = history.eval_reward_accuracy if len(history.eval_reward_accuracy) >= 3 else history.reward_accuracy
    margin = history.eval_reward_margin if len(history.eval_reward_margin) >= 3 else history.reward_margin
    steps, accuracies = after_warmup(ctx, history.reward_accuracy)
    _, margins = after_warmup(ctx, margin)
    if not enough(ctx, accuracies) or len(margins) < 3 or not (ctx.done or (ctx.progress or 0) >= 0.4):
        return None
    _, acc_late = ends([v for v in accuracy.values if v == v])
    m_first, m_last = ends(margins)
    if not (CHANCE[0] <= acc_late <= CHANCE[1] and abs(m_last - m_first) < FLAT_MARGIN and abs(m_last) < FLAT_MARGIN):
        return None
    which = "eval" if accuracy is history.eval_reward_accuracy else "train"
    text = (f"{which} accuracy of the pairs is {acc_late:.0%} (chance is 50 %) and the margin moved from "
            f"{num(m_first)} to {num(m_last)} since the warm-up: the model is not separating the chosen answers "
            f"from the rejected ones")
    return Finding(PROBLEM, Severity.WARNING, steps[0], text, fixes(ctx.config, ctx.history),
                   numbers={"accuracy": acc_late, "margin_from": m_first, "margin_to": m_last})


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        fx.lr_into_range(config, "the learning rate is below the range for preference training"),
        fx.lr_scale(config, 2.0, "a higher learning rate: the updates are too small to separate the answers"),
        beta_up(config, "a larger beta scales the rewards, so each pair pulls harder")])
