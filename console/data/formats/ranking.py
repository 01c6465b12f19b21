"""Alpaca-style preference rows, as LLaMA-Factory's ranking datasets hold them: an instruction, an optional input,
a chosen and a rejected answer. Trains DPO unless the objective setting says otherwise."""
from __future__ import annotations

from console.data.formats.base import text_of
from console.data.formats.preference_base import Paired


class AlpacaPairs(Paired):
    def parts(self, row):
        instruction, extra = text_of(row.get("instruction")), text_of(row.get("input")).strip()
        return super().parts({**row, "prompt": instruction + (f"\n\n{extra}" if extra else "")})

    def example(self, text):
        return {"instruction": text, "chosen": "", "rejected": ""}


RANKING = AlpacaPairs(
    name="alpaca_preference", help="instruction, input, chosen, rejected (alpaca-style DPO pairs)",
    needs=(("instruction",), ("chosen",), ("rejected",)), optional=("input", "system"),
)
