"""The answers are empty: most of the latest sample answers end at once with no text, while the dataset's own answers
(or the base model's) have some. The model learned to stop before saying anything: answers left empty in the data
(a column mapped to the wrong name, an output column that is blank), or a learning rate that made the end token
the easiest thing to learn. No loss curve shows it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import AnswersContext
    from console.runs.metrics import History

PROBLEM = "answers_empty"
TITLE = "Sample answers are empty"
KIND = "answers"


def detect(ctx: AnswersContext) -> Finding | None:
    latest, first = ctx.latest, ctx.first
    # ended at once: the end token first (a run of blank lines is another habit, not an answer left empty)
    empty = [s for s in latest if not s.answer.strip() and s.ended and (s.tokens or 0) <= 1]
    with_text = [s for s in latest if s.reference.strip()] or [s for s in first if s.answer.strip()]
    if not (2 * len(empty) > len(latest) and with_text):
        return None
    said = ("the dataset's own answers have text" if any(s.reference.strip() for s in latest)
            else "the base model's answers had text")
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"at step {latest[0].step}, {len(empty)} of {len(latest)} sample answers are empty (the model "
                   f"ends at once) while {said}: check the answers the model is trained on with `training-console "
                   f"data` (blank outputs, a column mapped to the wrong name teach it to stop).",
                   [] if ctx.config is None else fixes(ctx.config))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        fx.lr_scale(config, 0.5, "the end token was the easiest thing to learn: a gentler learning rate keeps "
                                 "what the base model says while the answers are learned"),
        fx.train_less(config, "fewer steps: the model learned to stop before it learned the answers")])
