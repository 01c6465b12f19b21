"""Keep bitsandbytes out of the processes of a run that never calls it.

peft and transformers import bitsandbytes whenever it is installed, whatever the run does. That import loads torch's
inductor and cost about 0.9 s of a trainer's 5 to 6 s start on these machines (`python bench/trainer_start.py`
measures both side by side), and a CPU machine hears its notice about optional kernels. A run that neither quantises
its base (QLoRA, load_in_8bit) nor uses one of bitsandbytes' optimisers never calls it, so its processes mark it
absent before the libraries load: None in sys.modules is Python's documented way to make an import fail, and the
libraries' availability checks (importlib.util.find_spec) then answer "not installed" and skip it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from console.common.bounded_read import read_json

# The optimisers transformers builds from torch alone (transformers.training_args.OptimizerNames). Any other name
# (adamw_bnb_8bit, paged_adamw_8bit, lion_32bit, ademamix, rmsprop_bnb, ...) may need bitsandbytes: it stays importable.
TORCH_OPTIMIZERS = frozenset({"adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop"})


def needs_bitsandbytes(method: str, values: dict) -> bool:
    """Whether a run with this method and these arguments may call bitsandbytes: it quantises its base, names an
    optimiser of bitsandbytes', or loads a base saved quantised (a "-bnb-4bit" checkpoint) or one not seen yet."""
    optim = str(values.get("optim") or "adamw_torch").lower()
    return (method == "qlora" or bool(values.get("load_in_8bit")) or bool(values.get("load_in_4bit"))
            or optim not in TORCH_OPTIMIZERS or _base_may_be_quantised(values.get("model"), values.get("revision")))


def _base_may_be_quantised(model: str | None, revision: str | None) -> bool:
    """True unless the base's config.json is here (a local folder, or the Hub cache) and has no quantization_config.
    A Hub model not downloaded yet might be saved quantised: bitsandbytes stays importable for it."""
    if not model:
        return False  # the built-in demo model
    folder = Path(model).expanduser()
    config: str | None = str(folder / "config.json") if folder.is_dir() else None
    if config is None:
        from huggingface_hub import try_to_load_from_cache

        try:
            found = try_to_load_from_cache(model, "config.json", revision=revision or None)
        except Exception:  # noqa: BLE001  not a valid repo name: the trainer says so in one line later
            return True
        config = found if isinstance(found, str) else None
    if config is None:
        return True
    try:
        # bounded, never a FIFO (a model's config.json is a few KiB)
        return "quantization_config" in read_json(Path(config), 16 << 20)
    except (OSError, ValueError, TypeError):
        return True  # unreadable here: the loader will say what is wrong, with bitsandbytes at hand


def leave_out_bitsandbytes(method: str, values: dict) -> bool:
    """Mark bitsandbytes absent for this process when the run never calls it; True when it did. Call before
    torch, transformers or peft are imported (after, the libraries have already loaded it: nothing is changed)."""
    if needs_bitsandbytes(method, values) or "bitsandbytes" in sys.modules:
        return False
    sys.modules["bitsandbytes"] = None  # type: ignore[assignment]
    return True
