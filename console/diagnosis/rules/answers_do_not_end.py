"""Sample answers do not end: most of the latest sample answers run to the token limit without the end token, while
most of the base model's ended, or (no base that ended: a random demo model) while the dataset's own answers are far
shorter than the limit. No loss curve shows it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import AnswersContext
    from console.runs.metrics import History

PROBLEM = "answers_do_not_end"
TITLE = "Sample answers do not end"
KIND = "answers"


def detect(ctx: AnswersContext) -> Finding | None:
    first, latest, limit = ctx.first, ctx.latest, ctx.limit
    open_ended = [s for s in latest if not s.ended]
    base_ended = [s for s in first if s.ended] if first and first[0].step == 0 else []
    short_refs = [s for s in latest if s.reference and len(s.reference.split()) < limit / 3]
    if not (2 * len(open_ended) > len(latest)
            and (2 * len(base_ended) > len(first) or 2 * len(short_refs) > len(latest))):
        return None
    then = (f"the base model's ended in {len(base_ended)} of {len(first)}" if base_ended else
            f"the dataset's own answers are {max(len(s.reference.split()) for s in short_refs)} words or fewer")
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"at step {latest[0].step}, {len(open_ended)} of {len(latest)} sample answers ran to the "
                   f"{limit}-token limit without the end token; {then}. The end token is not being "
                   f"learned: examples cut by max_length lose it, and a chat template must close the "
                   f"answer with it.",
                   [] if ctx.config is None else fixes(ctx.config, cut=ctx.status.get("cut")))


def fixes(config: RunConfig, history: History | None = None, cut: dict | None = None, **_) -> list:
    """The end token back in the labels (max_length up to the longest example, or the chat template on: see
    fixes.keep_end_token; `cut` is the trainer's report per split), then more steps."""
    return fx.finish(config, [
        fx.keep_end_token(config, cut),
        fx.train_longer(config, "more steps on answers that end: the end token is learned late")])
