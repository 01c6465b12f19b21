"""The built-in demo: a tiny Llama-style model and the small dataset shipped in the package.

Used when a run names no model or no dataset. Nothing is ever downloaded:

- ``demo_dataset_path()``: ``console/demo_data/demo.jsonl``, 2000 examples in the instruction (alpaca) format
  (``instruction`` / ``input`` / ``output``), about 210 KiB, generated deterministically by
  ``bench/make_demo_data.py`` (templated facts, simple arithmetic, word-order and number tasks).
- ``ensure_demo_model(cache_dir=None)``: a folder loadable with ``AutoModelForCausalLM.from_pretrained`` and
  ``AutoTokenizer.from_pretrained``: a ``LlamaForCausalLM`` (hidden 64, intermediate 128, 2 layers, 4 heads,
  tied embeddings, 115,008 parameters, random init with a fixed seed, safetensors) and a byte-level BPE tokenizer
  (vocab 512) trained here with ``tokenizers`` on the demo dataset's text. Built on first use in about a second,
  then reused.

The tokenizer adds ``<s>`` (bos) in front of every encoded text, like Llama's; it does not add ``</s>``: whoever
builds training examples appends ``eos_token`` to the answer (TRL does). Its chat template starts with the bos
token, as Llama's and most real templates do, puts each message as ``<|role|>\\ncontent</s>\\n`` and, with
``add_generation_prompt``, ends with ``<|assistant|>\\n``; ``apply_chat_template(msgs, tokenize=True)`` (what TRL
uses) adds no special token of its own, so a conversation holds exactly one bos.
Padding token: ``<pad>`` (id 0).

Every linear layer's sizes are multiples of 64, the block size of bitsandbytes' 4-bit quantisation, so the model
loads in 4-bit nf4 (QLoRA) on the CPU as on a GPU; LoRA (``q_proj k_proj v_proj o_proj gate_proj up_proj
down_proj``), LoHa, LoKr and IA3 all apply to it.

Imports torch, transformers and tokenizers only inside ``ensure_demo_model`` (the UI process may import this
module for ``demo_dataset_path``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

DEMO_MODEL_NAME = "demo-model-v1"   # bump when the architecture, the tokenizer or the dataset change
SEED = 0

# The architecture. Sizes are multiples of 64 (bitsandbytes' 4-bit block size) and of the head count.
VOCAB_SIZE = 512
CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=512,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    # 0.1 (about 0.8/sqrt(hidden)), not Llama's 0.02: LoRA freezes the tied embedding and the final norm, and
    # with 0.02 the logits of a 64-wide model cannot leave +-1.3, so LoRA plateaus near ln(vocab) (bench/demo_curves.py)
    initializer_range=0.1,
    tie_word_embeddings=True,
    hidden_act="silu",
)
PAD, BOS, EOS = "<pad>", "<s>", "</s>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
# Words the console's prompt formats use, so they are whole tokens too (the tokenizer is byte-level: any text
# encodes, these only encode shorter).
_TEMPLATE_TEXT = [
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.",
    "### Instruction:\n", "### Input:\n", "### Response:\n", "\n\n",
    "<|system|>\n", "<|user|>\n", "<|assistant|>\n",
]
_MARKER = "demo-model.json"


def demo_dataset_path() -> Path:
    """The shipped demo dataset (a JSON-lines file, instruction format)."""
    return Path(__file__).resolve().parent / "demo_data" / "demo.jsonl"


def default_cache_root() -> Path:
    """$TRAINING_CONSOLE_CACHE, else $XDG_CACHE_HOME/training-console, else ~/.cache/training-console."""
    env = os.environ.get("TRAINING_CONSOLE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "training-console"


def demo_model_dir(cache_dir: str | Path | None = None) -> Path:
    """Where the demo model lives (or will): ``<cache root>/demo-model-v1``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    return root / DEMO_MODEL_NAME


def fingerprint() -> str:
    """What a build depends on: the architecture, the seed, the tokenizer's settings and the dataset's bytes."""
    h = hashlib.sha256()
    h.update(json.dumps([DEMO_MODEL_NAME, SEED, VOCAB_SIZE, CONFIG, PAD, BOS, EOS, ROLE_TOKENS, CHAT_TEMPLATE,
                         _TEMPLATE_TEXT], sort_keys=True).encode())
    h.update(demo_dataset_path().read_bytes())
    return h.hexdigest()[:16]


def is_built(path: str | Path) -> bool:
    """A complete build of this version: the marker is written last, before the atomic rename, and holds the
    fingerprint of what it was built from (a cache left by an older checkout is rebuilt)."""
    try:
        marker = json.loads((Path(path) / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("fingerprint") == fingerprint()


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


def move_into_place(tmp: Path, target: Path, built) -> None:
    """rename tmp -> target, atomically. A finished build already there (`built(target)`) wins: someone else's build
    won the race; a broken or outdated folder in the way is moved aside and replaced. Shared with
    bench/real_model.py, which caches the real model the same way."""
    try:
        os.rename(tmp, target)
        return
    except OSError:
        pass
    if built(target):
        return
    aside = target.parent / f".{target.name}.broken-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(target, aside)
    except OSError:
        pass
    else:
        shutil.rmtree(aside, ignore_errors=True)
    try:
        os.rename(tmp, target)
    except OSError:
        pass
    if not built(target):
        raise OSError(f"could not put the build in place at {target}")


def chmod_as_umask(folder: Path) -> None:
    """mkdtemp makes a private folder (0700); the cache should be as readable as anything else made here."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(folder, 0o777 & ~mask)
    for f in folder.iterdir():
        if f.is_file():
            os.chmod(f, 0o666 & ~mask)


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
