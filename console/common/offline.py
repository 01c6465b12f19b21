"""Whether the Hugging Face Hub is offline for this process: HF_HUB_OFFLINE as huggingface_hub reads it, but read
when asked (huggingface_hub reads it once, at its import; a test or a caller that sets it later would not be seen)."""
from __future__ import annotations

import os


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub's host answers at all. huggingface_hub retries a failed connection five times with backoff
    (24 s on a machine with no network) before it says so; one short connection attempt says it at once."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http"
                                                                                       else 80)), timeout=timeout):
            return True
    except OSError:
        return False
