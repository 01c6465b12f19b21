"""Plain text: one 'text' column (or the column the text_column setting names); language modelling, loss on every
token."""
from __future__ import annotations

from console.data.formats.base import PlainText

TEXT = PlainText(
    name="text", help="a text column",
    needs=(("text",),),
    known_as={"axolotl": "completion"},
)
