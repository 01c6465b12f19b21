"""Likelihood displacement (preference training): the chosen answers lose probability while the margin grows. The
model learns to rank by pushing both answers down, the rejected faster: the preference 'improves' while the
answers it should give become less likely (Razin et al. 2024, arXiv:2410.08847; Pal et al. 2024, Smaug / DPOP,
arXiv:2402.13228). Fixes: a larger beta keeps the model nearer the reference, an SFT term on the chosen answers
keeps their likelihood up (RPO), a lower learning rate slows the drift."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import num
from console.diagnosis.rules.preference_common import after_warmup, beta_up, ends, enough, sft_term
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "likelihood_displacement"
TITLE = "Chosen answers are losing probability"
KIND = "problem"
MIN_DROP_NATS = 2.0  # the chosen answers' summed log-probability falls by more than this (and 5 % of its size)


def detect(ctx: Context) -> Finding | None:
    steps, logps = after_warmup(ctx, ctx.history.chosen_logps)
    _, margins = after_warmup(ctx, ctx.history.reward_margin)
    _, rewards = after_warmup(ctx, ctx.history.chosen_reward)
    if not enough(ctx, logps) or len(margins) < 4 or len(rewards) < 4:
        return None
    first, last = ends(logps)
    m_first, m_last = ends(margins)
    _, reward_last = ends(rewards)
    drop = first - last
    if not (drop > max(MIN_DROP_NATS, 0.05 * abs(first)) and m_last > m_first and m_last > 0 and reward_last < 0):
        return None
    text = (f"the chosen answers' log-probability fell from {num(first)} to {num(last)} ({num(-drop)} nats) and "
            f"their reward is {num(reward_last)}, while the margin grew from {num(m_first)} to {num(m_last)}: the "
            f"model ranks the pairs by making both answers less likely, the chosen ones too (likelihood "
            f"displacement)")
    return Finding(PROBLEM, Severity.WARNING, steps[0], text, fixes(ctx.config, ctx.history),
                   numbers={"chosen_logps_from": first, "chosen_logps_to": last, "margin_from": m_first,
                            "margin_to": m_last, "chosen_reward": reward_last})


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        beta_up(config, "a larger beta keeps the model nearer the reference, so the chosen answers keep their "
                        "likelihood"),
        sft_term(config, "add a supervised loss on the chosen answers (TRL's loss_type sigmoid,sft: RPO)"),
        fx.lr_scale(config, 0.5, "a lower learning rate slows the drift away from the reference")])
