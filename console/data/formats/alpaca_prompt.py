"""Alpaca rows in the Stanford Alpaca prompt, as axolotl's `type: alpaca` trains them ("Below is an instruction that
describes a task..." then '### Instruction:' / '### Input:' / '### Response:'), never through the model's chat
template: a run imported from axolotl is trained on the prompt axolotl would have built (its AlpacaPrompter,
src/axolotl/prompters.py, instruct style), and the chat lays a question out the same way.

Chosen by name only (dataset_format: alpaca_prompt): its columns are the instruction format's, which auto-detection
keeps choosing.
"""
from __future__ import annotations

from console.data.formats.base import SingleTurn, text_of

WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
              "Write a response that appropriately completes the request.\n\n"
              "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
WITHOUT_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
                 "request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")


class AlpacaPrompt(SingleTurn):
    def parts(self, row: dict) -> tuple[str, str, str]:
        instruction, extra = text_of(row.get("instruction")), text_of(row.get("input"))
        answer = text_of(row.get("output") if row.get("output") is not None else row.get("response"))
        prompt = (WITH_INPUT.format(instruction=instruction, input=extra) if extra
                  else WITHOUT_INPUT.format(instruction=instruction))
        return prompt, prompt, answer

    def render(self, row, *, chat_template, train_on_prompt, text_column=None):
        # The prompt is the whole text the model sees (axolotl's alpaca type applies no chat template), so the
        # template switch is ignored; a 'system' column is not read (axolotl's alpaca_w_system type reads one).
        _, prompt, answer = self.parts(row)
        return [{"prompt": prompt, "completion": answer}]

    @property
    def templated(self) -> bool:
        return False

    def example(self, text: str) -> dict:
        return {"instruction": text, "output": ""}


ALPACA_PROMPT = AlpacaPrompt(
    name="alpaca_prompt", help="alpaca rows in the Stanford Alpaca prompt ('Below is an instruction...'), no chat "
                               "template (axolotl's alpaca)",
    needs=(("instruction",), ("output", "response")), optional=("input",),
    layout="in the Stanford Alpaca prompt (Below is an instruction... ### Response:)",
    known_as={"axolotl": "alpaca"}, auto_detect=False,
)
