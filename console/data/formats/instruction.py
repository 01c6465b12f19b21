"""Alpaca (instruction) rows: an instruction, an optional input, the output; without a chat template the prompt is
alpaca's '### Instruction: ... ### Response:' layout."""
from __future__ import annotations

from console.data.formats.base import SingleTurn, text_of

ALPACA_PROMPT = "### Instruction:\n{instruction}\n\n"
ALPACA_INPUT = "### Input:\n{input}\n\n"
ALPACA_RESPONSE = "### Response:\n"


class Alpaca(SingleTurn):
    def parts(self, row: dict) -> tuple[str, str, str]:
        instruction, extra = text_of(row.get("instruction")), text_of(row.get("input")).strip()
        answer = text_of(row.get("output") if row.get("output") is not None else row.get("response"))
        user = instruction + (f"\n\n{extra}" if extra else "")
        plain_prompt = (ALPACA_PROMPT.format(instruction=instruction)
                        + (ALPACA_INPUT.format(input=extra) if extra else "") + ALPACA_RESPONSE)
        return user, plain_prompt, answer

    def example(self, text: str) -> dict:
        return {"instruction": text, "output": ""}


INSTRUCTION = Alpaca(
    name="instruction", help="alpaca: instruction, input, output",
    needs=(("instruction",), ("output", "response")), optional=("input", "system"),
    layout="in the alpaca layout (### Instruction: ... ### Response:)",
    known_as={"LLaMA-Factory": "alpaca"},  # axolotl's alpaca is its own prompt: alpaca_prompt.py
)
