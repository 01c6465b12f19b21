"""Unpaired preference rows, KTO's own form: a prompt, one completion and a boolean label saying whether the
completion is desirable. Trains KTO unless the objective setting says otherwise."""
from __future__ import annotations

from console.data.formats.preference_base import Unpaired


class PromptCompletionLabel(Unpaired):
    def example(self, text):
        return {"prompt": text, "completion": "", "label": True}


UNPAIRED = PromptCompletionLabel(
    name="unpaired_preference", help="prompt, completion, label true/false (KTO)",
    needs=(("prompt",), ("completion",), ("label",)), optional=("system",),
)
