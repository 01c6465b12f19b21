"""Whether the Hugging Face Hub is offline for this process: HF_HUB_OFFLINE as huggingface_hub reads it, but read
when asked (huggingface_hub reads it once, at its import; a test or a caller that sets it later would not be seen)."""
from __future__ import annotations

import os


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
