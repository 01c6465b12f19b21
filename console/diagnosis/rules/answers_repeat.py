"""Sample answers repeat themselves: over half of the latest sample answers are degenerate loops (see
console.runs.samples.repeats) where the base model's answers to the same prompts did not loop, a sign of an
over-trained or collapsed model. No loss curve shows it."""
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
    """Over half of the latest answers loop where the base model's answer to the same prompt did not (a loop the
    base model already made is its habit, not a sign that training collapsed the model)."""
    latest = ctx.latest
    base = {s.prompt: s for s in ctx.first} if ctx.first and ctx.first[0].step == 0 else {}
    looping = [s for s in latest if repeats(s.answer) and not (s.prompt in base and _degenerate(base[s.prompt].answer))]
    if not 2 * len(looping) > len(latest):
        return None
    example = looping[0].answer.split()[:12]
    then = " (the base model's answers to them did not)" if base else ""
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"at step {latest[0].step}, {len(looping)} of {len(latest)} sample answers repeat "
                   f"themselves{then} (\"{' '.join(example)} ...\").", [] if ctx.config is None else fixes(ctx.config))


def _degenerate(text: str) -> bool:
    """The base model's answer already looped: in words (repeats), or in characters where it has no words to count
    (a random demo model writes 'lelelele555555'): over half of its character 4-grams repeat earlier ones."""
    if repeats(text):
        return True
    grams = [text[i:i + 4] for i in range(len(text) - 3)]
    return len(text) >= 24 and (len(grams) - len(set(grams))) / len(grams) > 0.5


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        fx.lr_scale(config, 0.5, "a lower learning rate: loops are a sign of an over-trained or collapsed model"),
        fx.train_less(config, "fewer steps: the answers looped after the model over-fitted")])
