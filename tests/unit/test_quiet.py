"""The library-noise filters drop only what they name: a really missing weight still reaches the log."""
from __future__ import annotations

import logging

from console.trainer import quiet


def _emitted(logger_name: str, message: str) -> bool:
    logger = logging.getLogger(logger_name)
    record = logger.makeRecord(logger_name, logging.WARNING, __file__, 1, message, (), None)
    return logger.filter(record)


def test_missing_keys_are_dropped_only_when_tied(monkeypatch):
    monkeypatch.setattr(quiet.TIED, "tied", set())
    quiet.quiet_known_noise()
    tied_msg = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."
    assert _emitted("transformers.trainer", tied_msg)  # nothing known to be tied yet: said
    monkeypatch.setattr(quiet.TIED, "tied", {"lm_head.weight"})
    assert not _emitted("transformers.trainer", tied_msg)
    peft = "There were missing keys in the checkpoint model loaded: ['base_model.model.lm_head.weight']."
    assert not _emitted("transformers.trainer", peft)
    real = "There were missing keys in the checkpoint model loaded: ['lm_head.weight', 'model.norm.weight']."
    assert _emitted("transformers.trainer", real)  # a weight really missing is still said
    assert _emitted("transformers.trainer", "Some other warning")
    assert not _emitted("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward from "
                                                         "kernels-community: No module named 'kernels'.")
    assert _emitted("bitsandbytes.backends.cpu.ops", "something else about 4-bit")


def test_tied_weights_are_read_from_the_model(monkeypatch):
    from transformers import AutoModelForCausalLM

    from console.data.demo_model import ensure_demo_model

    monkeypatch.setattr(quiet.TIED, "tied", set())
    model = AutoModelForCausalLM.from_pretrained(ensure_demo_model())  # the demo model ties its embeddings
    quiet.note_tied_weights(model)
    assert "lm_head.weight" in quiet.TIED.tied
    model.config.tie_word_embeddings = False
    untied = AutoModelForCausalLM.from_config(model.config)
    monkeypatch.setattr(quiet.TIED, "tied", set())
    quiet.note_tied_weights(untied)
    assert quiet.TIED.tied == set()
