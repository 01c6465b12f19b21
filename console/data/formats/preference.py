"""Preference pairs: a prompt with a chosen and a rejected answer (TRL's preference form), as strings or message
lists; or the implicit-prompt form, where chosen and rejected are whole conversations sharing their start. Trains
DPO unless the objective setting says otherwise."""
from __future__ import annotations

from console.data.formats.preference_base import Paired

PREFERENCE = Paired(
    name="preference", help="prompt, chosen, rejected (DPO pairs; prompt optional when the answers are whole "
                            "conversations)",
    needs=(("chosen",), ("rejected",)), optional=("prompt", "system"),
)
