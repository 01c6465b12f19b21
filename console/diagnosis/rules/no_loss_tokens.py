"""No token carries the loss: the training loss is exactly 0 at every logged step from the first. Every label was
masked (-100): a chat template whose answer spans were not found, a column mapping that left the answers empty,
prompts that fill max_length. The run updates nothing while its curve looks perfect."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.vocabulary import Finding, Fix, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import Context
    from console.runs.metrics import History

PROBLEM = "no_loss_tokens"
TITLE = "No token carries the loss"
KIND = "advisory"
MIN_POINTS = 2  # one logged 0 could be a rounding of a tiny loss; two from the start are not


def detect(ctx: Context) -> Finding | None:
    train = ctx.train
    if train.n < MIN_POINTS or any(v != 0.0 for v in train.values):
        return None
    return Finding(PROBLEM, Severity.ERROR, train.steps[0],
                   f"the training loss is exactly 0 at all {train.n} logged steps from step "
                   f"{train.steps[0]:g}: no token carries the loss (every label is masked), so nothing is learned. "
                   f"`training-console data` marks the tokens in the loss with [[ ]]: none will be marked.",
                   fixes(ctx.config))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    """Every token in the loss (something is learned while the data is put right), then the plain layout (no
    chat template) whose answers are found by their text."""
    return fx.finish(config, [
        Fix({"train_on_prompt": True}, "loss on every token: the answers' masks left none", "train_on_prompt"),
        Fix({"use_chat_template": False}, "the answers laid out without the chat template, found by their text",
            "chat_template_off") if config.get("use_chat_template", True) is not False else None])
