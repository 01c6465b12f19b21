"""Sample answers repeat themselves: over half of the latest sample answers are degenerate loops (see
console.runs.samples.repeats), a sign of an over-trained or collapsed model. No loss curve shows it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.vocabulary import Finding, Severity
from console.runs.samples import repeats

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import AnswersContext
    from console.runs.metrics import History

PROBLEM = "answers_repeat"
TITLE = "Sample answers repeat themselves"
KIND = "answers"


def detect(ctx: AnswersContext) -> Finding | None:
    latest = ctx.latest
    looping = [s for s in latest if repeats(s.answer)]
    if not 2 * len(looping) > len(latest):
        return None
    example = looping[0].answer.split()[:12]
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"at step {latest[0].step}, {len(looping)} of {len(latest)} sample answers repeat "
                   f"themselves (\"{' '.join(example)} ...\").", [] if ctx.config is None else fixes(ctx.config))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        fx.lr_scale(config, 0.5, "a lower learning rate: loops are a sign of an over-trained or collapsed model"),
        fx.train_less(config, "fewer steps: the answers looped after the model over-fitted")])
