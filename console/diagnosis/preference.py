"""What the preference findings share (DPO, KTO): the evidence they need, their summaries of TRL's reward curves,
and the fixes that move beta, the loss and the SFT term. Not a rule: the rules are the preference modules of
console/diagnosis/rules/.

TRL logs, per training log and per evaluation: rewards/chosen and rewards/rejected (beta * log p/p_ref of each
answer, averaged), rewards/margins (their difference), rewards/accuracies (the share of pairs whose chosen answer
has the higher reward), logps/chosen and logps/rejected (the answers' summed log-probabilities). Every rule waits
for evidence: MIN_POINTS training logs after the warm-up and MIN_SHARE of the planned steps, so that a healthy run's
first noisy logs never raise a finding (measured on healthy preference runs at every moment: bench/diagnosis.py
--preference).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis.curves import median
from console.diagnosis.fixes import _nice
from console.diagnosis.vocabulary import Fix

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import Series

PREFERENCE = ("dpo", "kto")
MIN_POINTS = 6  # training logs after the warm-up
MIN_SHARE = 0.25  # of the planned steps (when the plan is known)


def after_warmup(ctx: Context, series: Series) -> tuple[list[float], list[float]]:
    """(steps, values) of a series from the end of the learning-rate warm-up on (the peak of the logged rate)."""
    lr = ctx.history.learning_rate
    start = 0.0
    if lr.values:
        peak = max(lr.values)
        start = next(s for s, v in zip(lr.steps, lr.values) if v >= peak * 0.999)
    pairs = [(s, v) for s, v in zip(series.steps, series.values) if s >= start and v == v]
    return [s for s, _ in pairs], [v for _, v in pairs]


def enough(ctx: Context, values: list[float]) -> bool:
    """Evidence enough to judge: MIN_POINTS logs after warm-up, and MIN_SHARE of the planned run (or its end)."""
    if len(values) < MIN_POINTS:
        return False
    return ctx.done or ctx.progress is None or ctx.progress >= MIN_SHARE


def beta_of(ctx: Context) -> float:
    """The run's beta: rewards are beta x log(p / p_ref), so a reward / beta is in nats."""
    beta = ctx.config.get("beta") if ctx.config is not None else None
    return float(beta) if isinstance(beta, (int, float)) and beta > 0 else 0.1


def held_out(series: Series) -> tuple[list[float], list[float]]:
    """An eval series without its step-0 point (the reference itself: every reward 0, every pair a tie)."""
    pairs = [(s, v) for s, v in zip(series.steps, series.values) if s > 0 and v == v]
    return [s for s, _ in pairs], [v for _, v in pairs]


def ends(values: list[float]) -> tuple[float, float]:
    """(early, late): the medians of the first and the last third (at least 2 points each)."""
    k = max(2, len(values) // 3)
    return median(values[:k]), median(values[-k:])


# -- fixes -----------------------------------------------------------------------------------------------------

def beta_up(config: RunConfig, why: str, factor: float = 2.0) -> Fix | None:
    beta = config.get("beta") or 0.1
    hi = (config.ranges.get("beta") or (None, 0.5))[1]
    new = _nice(min(beta * factor, max(hi, beta)))
    return Fix({"beta": new}, why, "beta_up") if new > beta else None


def sft_term(config: RunConfig, why: str) -> Fix | None:
    """DPO's loss plus a supervised loss on the chosen answers (TRL: loss_type [sigmoid, sft], RPO's recipe)."""
    if config.objective != "dpo":
        return None
    loss = str(config.get("loss_type") or "sigmoid")
    if "sft" in [w.strip() for w in loss.split(",")]:
        return None
    return Fix({"loss_type": f"{loss},sft"}, why, "sft_term")


def length_normalised(config: RunConfig, why: str) -> Fix | None:
    """DPO's length-normalised loss (TRL's sigmoid_norm: SimPO's idea of average per-token log-probabilities),
    or LD-DPO's down-weighting of the longer answer's extra tokens for a loss that is not sigmoid."""
    if config.objective != "dpo":
        return None
    loss = str(config.get("loss_type") or "sigmoid")
    if loss == "sigmoid":
        return Fix({"loss_type": "sigmoid_norm"}, why, "length_norm")
    if config.get("ld_alpha") is None:
        return Fix({"ld_alpha": 0.5}, why, "length_norm")
    return None
