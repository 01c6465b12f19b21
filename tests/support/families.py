"""Tiny models of other families: a byte-level BPE tokenizer trained here on a few sentences, with the family's
special tokens, BOS/EOS/pad and real chat template (tests/support/fixtures/templates/, copied from the public
tokenizer_config.json files / TRL's chat_templates), around a random tiny Llama. Enough to check labels, BOS, end
tokens and what a template does with system turns, with no download (console/data/demo_model.py builds the demo
the same way)."""
from __future__ import annotations

import json
from pathlib import Path

TEMPLATES = Path(__file__).parent / "fixtures" / "templates"

# family: (template file, bos, eos, pad, other special tokens)
FAMILIES = {
    # Qwen2.5 *base*: ChatML turns end with <|im_end|>, but the base's eos is <|endoftext|>; no BOS.
    "qwen2.5-base": ("qwen2_5.jinja", None, "<|endoftext|>", "<|endoftext|>", ["<|im_start|>", "<|im_end|>"]),
    # Qwen3: reasoning (reasoning_content) rendered in <think> blocks, kept only after the last question.
    "qwen3": ("qwen3.jinja", None, "<|im_end|>", "<|endoftext|>",
              ["<|im_start|>", "<|endoftext|>", "<tool_call>", "</tool_call>", "<think>", "</think>"]),
    "gemma-2": ("gemma2.jinja", "<bos>", "<eos>", "<pad>", ["<start_of_turn>", "<end_of_turn>"]),
    "mistral-v0.1": ("mistral_v01.jinja", "<s>", "</s>", None, []),
    "mistral-v0.3": ("mistral_v03.jinja", "<s>", "</s>", None, ["[INST]", "[/INST]"]),
}

CORPUS = ["What is two plus two? Four, said plainly.", "Hello there, how are you today?", "Be brief and answer.",
          "user assistant system model question answer", "The quick brown fox jumps over the lazy dog."] * 4


def family_tokenizer(family: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    template, bos, eos, pad, others = FAMILIES[family]
    specials = list(dict.fromkeys([t for t in (pad, bos, eos) if t] + others))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainer=trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    if bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                                   additional_special_tokens=[t for t in others if t not in (bos, eos, pad)],
                                   padding_side="right",
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = (TEMPLATES / template).read_text(encoding="utf-8")
    return fast


def family_model(folder: Path, family: str) -> Path:
    """A saved tiny model of that family in `folder` (built once)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = family_tokenizer(family)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Writing model shards" bar in the output a test reads
    try:
        model.save_pretrained(folder)
    finally:
        hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(folder)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder
