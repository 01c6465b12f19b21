"""Chat rows: a 'messages' list of role/content turns (OpenAI's layout); every assistant answer is trained."""
from __future__ import annotations

from console.data.formats.base import ROLE_CONTENT, Conversation

CHAT = Conversation(
    name="chat", help="messages: role/content turns",
    needs=(("messages",),), turns=ROLE_CONTENT,
    known_as={"axolotl": "chat_template", "LLaMA-Factory": "openai"},
)
