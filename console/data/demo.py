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

Light (the UI process imports it for the paths and the model's shape): building the model is
console.data.demo_model's, which imports torch, transformers and tokenizers inside its functions.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
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


def demo_datasets() -> dict[str, Path]:
    """The demo's preference sets by the names `--dataset` takes (made from the demo dataset by
    bench/make_demo_data.py): demo-pairs (prompt/chosen/rejected, DPO) and demo-kto (prompt/completion/label)."""
    folder = Path(__file__).resolve().parent / "demo_data"
    return {"demo-pairs": folder / "demo_pairs.jsonl", "demo-kto": folder / "demo_kto.jsonl"}


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
