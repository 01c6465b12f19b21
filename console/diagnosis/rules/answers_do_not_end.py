"""Sample answers do not end: most of the latest sample answers run to the token limit without the end token where
the base model's answers to the same prompts ended (without a step-0 sampling: where the dataset's own answers are
far shorter than the limit). A base model that never ended (a random demo model) had the habit before training: not
this finding. No loss curve shows it."""
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
    """Most latest answers run to the limit where the base model's answer to the same prompt ended (an answer the
    base model did not end either is its own habit, not something training did: a random demo model never ends);
    without a base sampling at step 0, where the dataset's own answers are far shorter than the limit."""
    first, latest, limit = ctx.first, ctx.latest, ctx.limit
    base = {s.prompt: s for s in first} if first and first[0].step == 0 else {}
    if base:
        open_ended = [s for s in latest if not s.ended and s.prompt in base and base[s.prompt].ended]
        habit = [s for s in latest if not s.ended and s.prompt in base and not base[s.prompt].ended]
    else:
        open_ended = [s for s in latest if not s.ended and s.reference and len(s.reference.split()) < limit / 3]
        habit = []
    if not 2 * len(open_ended) > len(latest):
        return None
    base_ended = [s for s in first if s.ended] if base else []
    then = (f"the base model's ended in {len(base_ended)} of {len(first)}" if base else
            f"the dataset's own answers are {max(len(s.reference.split()) for s in open_ended)} words or fewer")
    also = f" ({len(habit)} more did not end at step 0 either: the base model's habit)" if habit else ""
    return Finding(PROBLEM, Severity.WARNING, None,
                   f"at step {latest[0].step}, {len(open_ended)} of {len(latest)} sample answers ran to the "
                   f"{limit}-token limit without the end token; {then}{also}. The end token is not being "
                   f"learned: examples cut by max_length lose it, and a chat template must close the "
                   f"answer with it.",
                   [] if ctx.config is None else fixes(ctx.config, cut=ctx.status.get("cut")))


def fixes(config: RunConfig, history: History | None = None, cut: dict | None = None, **_) -> list:
    """The end token back in the labels (max_length up to the longest example, or the chat template on: see
    fixes.keep_end_token; `cut` is the trainer's report per split), then more steps."""
    return fx.finish(config, [
        fx.keep_end_token(config, cut),
        fx.train_longer(config, "more steps on answers that end: the end token is learned late")])
