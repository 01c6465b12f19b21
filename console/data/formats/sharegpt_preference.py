"""ShareGPT-style preference rows (LLaMA-Factory's ranking form of sharegpt): a 'conversations' list of from/value
turns that ends with the user's question, and a chosen and a rejected assistant turn. Trains DPO unless the
objective setting says otherwise."""
from __future__ import annotations

from console.data.formats.preference_base import Paired


class ConversationPairs(Paired):
    def parts(self, row):
        return super().parts({**row, "prompt": row.get("conversations") or []})

    def example(self, text):
        return {"conversations": [{"from": "human", "value": text}], "chosen": {"from": "gpt", "value": ""},
                "rejected": {"from": "gpt", "value": ""}}


SHAREGPT_PREFERENCE = ConversationPairs(
    name="sharegpt_preference", help="conversations, chosen, rejected (ShareGPT-style DPO pairs)",
    needs=(("conversations",), ("chosen",), ("rejected",)), optional=("system",),
)
