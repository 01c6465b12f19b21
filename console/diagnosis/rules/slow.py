"""Loss decreasing too slowly (the guide's problem 4): still falling by a measurable amount, but only a little
(judged on the eval loss when there are 4 evals). Information while the run goes on, a warning once it ended."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.curves import num, pct
from console.diagnosis.vocabulary import Finding, Severity, _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "slow"
TITLE = "Loss decreasing too slowly"
KIND = "problem"


def shape(ctx: Context) -> Finding | None:
    """The shape verdict (ctx.shape) is a loss still falling, slowly."""
    said = ctx.shape_says(PROBLEM)
    if said is None:
        return None
    nums, train, eval_ = said[1], ctx.train, ctx.eval_
    trained = f"train loss {num(train.start)} -> {num(train.end)} ({pct(-nums['d_train'])})"
    if nums.get("on_eval"):  # judged on the eval: it leads, the train loss (batch by batch) after it in brackets
        # (it read 'train loss 1.87 -> 2.16 (+15.6%) and eval loss ...: still falling', as if the rise were a fall)
        text = (f"eval loss {num(eval_.start)} -> {num(eval_.end)} ({pct(-nums['d_eval'])}) over "
                f"{_fmt_step(ctx.history.last_step)} steps: still falling, but only a little ({trained}).")
    else:
        parts = [trained]
        if nums["d_eval"] is not None:
            parts.append(f"eval loss {num(eval_.start)} -> {num(eval_.end)} ({pct(-nums['d_eval'])})")
        text = (" and ".join(parts) + f" over {_fmt_step(ctx.history.last_step)} steps: still falling, but only "
                "a little.")
    return Finding(PROBLEM, Severity.INFO if not ctx.done else Severity.WARNING, train.steps[0], text,
                   fixes(ctx.config, ctx.history), nums)


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    far_below = fx.far_below(config)
    short = None if far_below else fx.schedule_too_short(config, history, fx.steps_per_epoch(history))
    return fx.finish(config, [
        fx.lr_into_range(config, "the loss falls too slowly"),
        short,
        fx.lr_preset(config, "the learning rate is far below this method's range: back to its default")
        if far_below else None,
        fx.lr_scale(config, 1.5, "raise the learning rate 1.5x"),
        fx.effective_batch_up(config, "a bigger batch: steadier steps that take a higher learning rate"),
        fx.warmup_shorter(config, "shorter warmup: full learning rate sooner")])
