"""ShareGPT rows: a 'conversations' list of from/value turns (human/gpt, the names LLaMA-Factory's and FastChat's
files use: base.SHAREGPT_ROLES); every assistant answer is trained."""
from __future__ import annotations

from console.data.formats.base import FROM_VALUE, Conversation

SHAREGPT = Conversation(
    name="sharegpt", help="conversations: from/value turns",
    needs=(("conversations",),), turns=FROM_VALUE,
    known_as={"axolotl": "sharegpt", "LLaMA-Factory": "sharegpt"},
)
