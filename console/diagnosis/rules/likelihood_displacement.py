"""Likelihood displacement (preference training): the chosen answers lose probability while the margin grows. The
model learns to rank by pushing both answers down, the rejected faster: the preference 'improves' while the
answers it should give become less likely (Razin et al. 2024, arXiv:2410.08847; Pal et al. 2024, Smaug / DPOP,
arXiv:2402.13228). Fixes: a larger beta keeps the model nearer the reference, an SFT term on the chosen answers
keeps their likelihood up (RPO), a lower learning rate slows the drift."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import num
from console.diagnosis.preference import (
    after_warmup,
    beta_of,
    beta_up,
    ends,
    enough,
    held_out,
    sft_term,
)
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "likelihood_displacement"
TITLE = "Chosen answers are losing probability"
KIND = "problem"
MIN_NATS = 1.0  # the chosen answers below the reference, and the margin, each by more than this (log-prob units)


def detect(ctx: Context) -> Finding | None:
    """Judged on the rewards, not on logps/chosen: a reward is beta x log(p / p_ref) of the same answers on the same
    batch, so answers of other lengths from one batch to the next do not swing it (the summed log-probabilities of a
    batch of 4 did, by 60 nats on the demo). The held-out pairs' rewards when there are 3 evaluations after step 0."""
    history, beta = ctx.history, beta_of(ctx)
    eval_steps, eval_chosen = held_out(history.eval_chosen_reward)
    _, eval_margins = held_out(history.eval_reward_margin)
    if len(eval_chosen) >= 3 and len(eval_margins) >= 3:
        steps, chosen, margins, which = eval_steps, eval_chosen, eval_margins, "held-out"
        _, train = after_warmup(ctx, history.chosen_reward)
        if not enough(ctx, train):
            return None
    else:
        steps, chosen = after_warmup(ctx, history.chosen_reward)
        _, margins = after_warmup(ctx, history.reward_margin)
        which = "training"
        if not enough(ctx, chosen) or len(margins) < 4:
            return None
    c_first, c_last = ends(chosen)
    m_first, m_last = ends(margins)
    below, margin = -c_last / beta, m_last / beta  # in nats
    if not (below > MIN_NATS and margin > MIN_NATS and c_last < c_first and m_last > m_first):
        return None
    text = (f"the {which} chosen answers are {below:.3g} nats less likely than under the reference model (reward "
            f"{num(c_first)} -> {num(c_last)}), while the margin grew from {num(m_first)} to {num(m_last)}: the "
            f"model ranks the pairs by making both answers less likely, the chosen ones too (likelihood "
            f"displacement)")
    return Finding(PROBLEM, Severity.WARNING, steps[0], text, fixes(ctx.config, ctx.history),
                   numbers={"chosen_reward_from": c_first, "chosen_reward_to": c_last, "margin_from": m_first,
                            "margin_to": m_last, "nats_below_reference": below})


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        beta_up(config, "a larger beta keeps the model nearer the reference, so the chosen answers keep their "
                        "likelihood"),
        sft_term(config, "add a supervised loss on the chosen answers (TRL's loss_type sigmoid,sft: RPO)"),
        fx.lr_scale(config, 0.5, "a lower learning rate slows the drift away from the reference")])
