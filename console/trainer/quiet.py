"""Library messages that say nothing about the run, kept out of train.log.

A failed run shows the end of its log under its fixes; a line there that every run prints (bitsandbytes looking
for an optional CPU kernel package on import, a deprecation inside peft/trl) or a warning that is wrong for this
model (the tied lm_head "missing" from a best checkpoint, which saves it once as the input embeddings) pushes the
lines that matter out. Filters on the libraries' own loggers and warnings, not a scrub of the log text: what they
say about anything else still reaches the log.
"""
from __future__ import annotations

import logging
import warnings


class _TiedKeysFilter(logging.Filter):
    """Drops the Trainer's 'missing keys' warning when every missing key is a weight tied to another one."""

    def __init__(self):
        super().__init__()
        self.tied: set[str] = set()  # parameter names (as in the model's state dict) tied to another parameter

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("There were missing keys in the checkpoint model loaded:") or not self.tied:
            return True
        start, end = message.find("["), message.rfind("]")
        keys = [k.strip().strip("'\"") for k in message[start + 1:end].split(",") if k.strip()]
        return not keys or not all(any(k.endswith(t) for t in self.tied) for k in keys)


class _KernelsFilter(logging.Filter):
    """bitsandbytes' look-up of its optional kernel package ('kernels-community/...'): said by bitsandbytes when the
    package is missing, and by `kernels` itself (0.19: "Skipping publisher trust check ... offline mode") when it is
    there and the Hub is offline, as in the tests."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kernels-community" not in record.getMessage()


class _OnceFilter(logging.Filter):
    """Lets a message starting with `prefix` through once: bitsandbytes says its 8-bit matmuls cast their inputs to
    float16 at every call (8,000 lines in a 4-step demo run with load_in_8bit)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix, self.seen = prefix, False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(self.prefix):
            return True
        seen, self.seen = self.seen, True
        return not seen


TIED = _TiedKeysFilter()


def quiet_known_noise() -> None:
    """Install the filters (before the libraries are imported: bitsandbytes speaks on import)."""
    for name in ("bitsandbytes.backends.cpu.ops", "bitsandbytes.backends.mps.ops", "kernels._internals.hf_hub"):
        logging.getLogger(name).addFilter(_KernelsFilter())
    logging.getLogger("transformers.trainer").addFilter(TIED)
    logging.getLogger("bitsandbytes.autograd._functions").addFilter(_OnceFilter("MatMul8bitLt: inputs will be cast"))
    warnings.filterwarnings("ignore", message=r".*`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def note_tied_weights(model) -> None:
    """Remember which of the model's weights are tied (the output embeddings to the input ones)."""
    try:
        out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return
    if out is None or inp is None or getattr(out, "weight", None) is not getattr(inp, "weight", object()):
        return
    TIED.tied = {name.removeprefix("base_model.model.") for name, p in model.named_parameters(remove_duplicate=False)
                 if p is out.weight} | {"lm_head.weight"}


def quiet_libraries() -> None:
    """Library chatter kept out of what the user reads: the known noise filtered, transformers' warnings and
    progress bars off (they go to stderr in any case), and `datasets`' word on using its cache offline."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_known_noise()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001  a missing or changed helper only makes it noisier
        pass
    try:
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    except Exception:  # noqa: BLE001  as above
        pass
