"""Building the built-in demo model (console.data.demo describes it): torch, transformers and tokenizers are
imported inside the functions, in the processes that train or chat only."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from console.data.demo import (
    _MARKER,
    _TEMPLATE_TEXT,
    BOS,
    CHAT_TEMPLATE,
    CONFIG,
    DEMO_MODEL_NAME,
    EOS,
    PAD,
    ROLE_TOKENS,
    SEED,
    VOCAB_SIZE,
    chmod_as_umask,
    demo_dataset_path,
    demo_model_dir,
    fingerprint,
    is_built,
    move_into_place,
)


def ensure_demo_model(cache_dir: str | Path | None = None) -> Path:
    """Return the demo model's folder, building it on first use (about a second; no download).

    ``cache_dir`` is the cache root (default: ``default_cache_root()``); the model goes in
    ``<cache_dir>/demo-model-v1``. The build goes into a temporary folder beside it, then one ``rename`` puts it
    in place, so processes racing to build it never see or leave a half-written model: the loser throws its copy
    away and uses the winner's.
    """
    target = demo_model_dir(cache_dir)
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEMO_MODEL_NAME}.build-", dir=target.parent))
    try:
        _build(tmp)
        chmod_as_umask(tmp)
        (tmp / _MARKER).write_text(json.dumps({"name": DEMO_MODEL_NAME, "fingerprint": fingerprint(), "seed": SEED,
                                               "vocab_size": VOCAB_SIZE, **CONFIG}, indent=1) + "\n")
        move_into_place(tmp, target, is_built)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _corpus() -> list[str]:
    """The texts the tokenizer learns from: every field of every demo example, and the prompt templates."""
    texts = list(_TEMPLATE_TEXT)
    with open(demo_dataset_path(), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                ex = json.loads(line)
                texts.extend(str(v) for v in ex.values() if v)
    return texts


def build_tokenizer():
    """A byte-level BPE tokenizer trained on the demo data, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=[PAD, BOS, EOS, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS), model_max_length=CONFIG["max_position_embeddings"],
        padding_side="right", clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer):
    """The tiny LlamaForCausalLM, random init with the fixed seed, float32."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **CONFIG)
    fork_devices: list = []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def _build(out: Path) -> None:
    from transformers.utils import logging as hf_logging

    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()          # no "Writing model shards" bar in the run's log
    try:
        model.save_pretrained(out)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(out)
    # Load as this class whatever model_type says (transformers' Llama tokenizer class would rebuild the
    # pipeline as sentencepiece-style).
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":   # python -m console.data.demo [CACHE_DIR]: build (or find) it and say where
    import sys

    print(ensure_demo_model(sys.argv[1] if len(sys.argv) > 1 else None))
