"""Prompt/completion rows: TRL's own single-turn layout, loss on the completion."""
from __future__ import annotations

from console.data.formats.base import SingleTurn, text_of


class PromptCompletion(SingleTurn):
    def parts(self, row: dict) -> tuple[str, str, str]:
        prompt = text_of(row.get("prompt"))
        return prompt, prompt, text_of(row.get("completion"))

    def example(self, text: str) -> dict:
        return {"prompt": text, "completion": ""}


PROMPT_COMPLETION = PromptCompletion(
    name="prompt_completion", help="prompt, completion",
    needs=(("prompt",), ("completion",)), optional=("system",),
)
