"""Diverged: NaN/inf in the loss, a sustained explosion that has not recovered, or a crash on a non-finite loss."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import all_finite, num
from console.diagnosis.vocabulary import Finding, Severity, _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context, CrashContext
    from console.runs.metrics import History

PROBLEM = "diverged"
TITLE = "Training diverged"
KIND = "problem"
CRASH_KINDS = ("nan", "diverged", "nonfinite")  # status.json's kind for a run stopped on a non-finite loss


def nonfinite_loss(ctx: Context) -> Finding | None:
    """NaN or inf in the train or eval loss: the run has diverged (or a fp16 overflow poisoned the loss)."""
    history = ctx.history
    first = None
    for name, series in (("train", history.train_loss), ("eval", history.eval_loss)):
        if all_finite(series.values):
            continue
        for s, v in zip(series.steps, series.values):
            if not math.isfinite(v):
                if first is None or s < first[0]:
                    first = (s, name, v)
                break
    if first is None:
        return None
    step, name, value = first
    last = history.train_loss.values[-1] if history.train_loss.values else None
    still = last is not None and not math.isfinite(last)
    before = [v for s, v in zip(history.train_loss.steps, history.train_loss.values) if s < step and math.isfinite(v)]
    was = f" (it was {num(before[-1])} just before)" if before else ""
    text = (f"{name} loss became {value} at step {_fmt_step(step)}{was}"
            + ("; it is still not a number" if still else "; later values are finite again, but the weights may be "
               "damaged") + ": the learning rate is too high for this run or a fp16 overflow occurred.")
    return Finding(PROBLEM, Severity.ERROR, step, text, fixes(ctx.config, ctx.history),
                   numbers={"nonfinite_step": step, "loss": name})


def explosion(ctx: Context) -> Finding | None:
    """A loss explosion (ctx.explosion) still high at the end: the last tenth or the last bin 1.5x its best before.
    (One that came back down is oscillating's.)"""
    found = ctx.explosion_that(recovered=False)
    if found is None:
        return None
    step, nums = found
    ref, peak, tail = nums["from"], nums["peak"], nums["now"]
    text = (f"train loss exploded from {num(ref)} to {num(peak)} ({peak / ref:.0f}x) at step "
            f"{_fmt_step(step)} and is still {num(tail)} ({tail / ref:.1f}x its best before): the learning rate is "
            f"too high.")
    return Finding(PROBLEM, Severity.ERROR, step, text, fixes(ctx.config, ctx.history), nums)


def crash(ctx: CrashContext) -> Finding | None:
    """A run the trainer stopped on a non-finite loss."""
    if ctx.kind not in CRASH_KINDS:
        return None
    message = ctx.message
    return Finding(PROBLEM, Severity.ERROR, None, (message.rstrip(".") + ": the run was stopped.") if message
                   else "the run stopped on a non-finite loss.", fixes(ctx.config))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        fx.lr_into_range(config, "the loss blew up"),
        fx.lr_scale(config, 0.25, "the loss blew up: a quarter of the learning rate (the guide's 4x cut)"),
        fx.lr_preset(config, "or back to this method's default learning rate"),
        fx.clip_harder(config, "stronger gradient clipping stops single bad steps"),
        fx.lr_scale(config, 0.5, "or half the learning rate")])
