"""Answers grow longer (preference training's verbosity): the sample answers get much longer than the starting
model's. DPO's summed log-probabilities favour longer answers when the chosen ones tend to be longer (Park et al.
2024, Disentangling Length from Quality in DPO, arXiv:2403.19159). Fixes: a length-normalised loss (TRL's
sigmoid_norm, SimPO's average log-probability), or LD-DPO's ld_alpha, which down-weights the longer answer's extra
tokens."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import median
from console.diagnosis.preference import length_normalised
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import AnswersContext
    from console.runs.metrics import History

PROBLEM = "answers_grow_longer"
TITLE = "Answers are growing longer"
KIND = "answers"
GROWTH = 1.5  # the latest answers' median length over the starting model's
MIN_EXTRA_TOKENS = 8


def detect(ctx: AnswersContext) -> Finding | None:
    if ctx.config is None or ctx.config.objective not in ("dpo", "kto"):
        return None
    before = [s.tokens for s in ctx.first if isinstance(s.tokens, int)]
    now = [s.tokens for s in ctx.latest if isinstance(s.tokens, int)]
    if len(before) < 2 or len(now) < 2:
        return None
    was, is_ = median(before), median(now)
    if not (is_ >= GROWTH * max(was, 1) and is_ - was >= MIN_EXTRA_TOKENS):
        return None
    text = (f"at step {ctx.latest[0].step:g} the sample answers' median length is {is_:.0f} tokens, against "
            f"{was:.0f} from the starting model: the preference rewards length (verbosity)")
    return Finding(PROBLEM, Severity.WARNING, ctx.latest[0].step, text, fixes(ctx.config),
                   numbers={"tokens_before": was, "tokens_now": is_})


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        length_normalised(config, "a length-normalised loss: the answers' average log-probability, not their sum"),
        fx.lr_scale(config, 0.5, "a lower learning rate drifts less far toward long answers")])
