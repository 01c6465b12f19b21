"""Training memory before launch: an estimate from the model's config.json, never its weights.

    weights      every base parameter, in the dtype it is loaded in (4-bit nf4 for QLoRA's linear layers)
    adapter      the adapter's own parameters (LoRA A and B, LoHa/LoKr factors, IA3 vectors), fp32
    gradients    one per trainable parameter, in its dtype
    optimizer    AdamW: two states per trainable parameter, in its dtype (8-bit optimisers: 2 bytes)
    activations  what autograd keeps for the backward pass, per token per layer, counted tensor by tensor
                 (with gradient checkpointing: one tensor per layer, plus one layer recomputed)
    logits       the LM head's output: TRL's SFTTrainer never holds the full batch x sequence x vocabulary
                 logits; its fused head projects tiles of at most 4096 tokens x 32768 vocabulary entries
    cuda_context on a GPU: the CUDA context and kernel workspaces (fixed)
    runtime      on a CPU: the trainer's fixed working memory (tokenizer, Trainer, kernels' scratch buffers)
    allocator    on a CPU: freed activations and logit tiles that glibc's malloc keeps resident (CPU_ALLOCATOR)

The peak is when the backward pass starts: weights, optimiser states, the activations and logits and, when
gradients accumulate over several micro-batches, the gradients of the previous ones. With one micro-batch per step
the gradients appear as the activations are freed, so the peak counts the larger of the two; with gradient
checkpointing a layer is recomputed only after the logits are freed, so the peak counts the larger of those two.

What is counted per token (a Llama-style layer, hidden h, intermediate i, k/v width kv):
  full fine-tuning  7h + 2kv + 4i elements: the layer input and its norm, q after RoPE, k, v, the attention
                    output and its contiguous copy, the residual and its norm, gate, silu(gate), up, and their
                    product
  frozen base       the norms' outputs and the inputs of o_proj/down_proj are kept only for a LoRA on them: with
                    lora_dropout > 0 each adapted module keeps its own dropped-out copy of its input (and a 1-byte
                    mask); with no dropout the input itself is kept, as for full fine-tuning

The model's dtype: transformers loads a checkpoint in the dtype its config.json says (full fine-tuning and LoRA
on a CPU), a frozen base in fp16/bf16 on a GPU, QLoRA's linear layers in nf4 (0.5 byte per parameter plus one
absmax per 64: fp32, or 8-bit with double quantisation) with every other parameter (embeddings, norms, lm_head)
upcast to fp32 by peft's prepare_model_for_kbit_training.

Checked against measured peaks on the CPU by bench/memory.py. This module imports neither torch, transformers nor
peft (the console's UI calls it); huggingface_hub only for a Hub model's config.json.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from console.common.errors import UserError

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
DTYPE_BYTES = {"float32": 4, "float": 4, "fp32": 4, "float16": 2, "half": 2, "fp16": 2, "bfloat16": 2, "bf16": 2,
               "float64": 8}
CUDA_CONTEXT = 600 * MiB  # torch's CUDA context, cuBLAS/cuDNN workspaces: 0.5-0.7 GiB on recent GPUs
CPU_RUNTIME = 16 * MiB    # on a CPU: tokenizer, Trainer, kernels' scratch buffers (measured 16-21 MiB)
# On a CPU the process's resident memory is more than its live tensors: glibc's malloc keeps freed activation
# buffers and logit tiles in its heaps for reuse (a GPU's caching allocator keeps them too, but inside the
# reserved bytes the CUDA figures already follow). Measured on SmolLM2-135M-Instruct by bench/memory.py --real
# --glibc-default: the resident peak exceeded the live tensors by 0.2-0.5x the activations and logits.
CPU_ALLOCATOR = 0.25
NF4_BLOCK = 64  # bitsandbytes' 4-bit block size: one absmax per 64 weights
# MoE model types whose fused experts peft (0.21, on transformers 5) adapts as parameters under all-linear: those
# it converts with its "mixtral" and "qwen2_moe" patterns (peft.utils.transformers_weight_conversion). Qwen2-MoE
# itself is not converted: its experts stay unadapted, its shared expert is adapted. tests/unit/test_memory.py checks
# the counts against peft on the meta device, so a change in peft shows there.
# Config classes whose tie_word_embeddings defaults to true (a config.json may leave it out).
TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text", "falcon", "smollm3", "starcoder2", "cohere", "opt"}
PEFT_CONVERTED_MOE = {"mixtral", "minimax", "minimax_m2", "qwen3_moe", "qwen3_next", "deepseek_v2", "deepseek_v3",
                      "olmoe", "flex_olmo", "glm4_moe", "ernie4_5_moe", "hunyuan_v1_moe", "dots1", "exaone_moe",
                      "cohere2_moe"}
GATED_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
               "gemma3", "gemma3_text", "phi3", "olmo", "olmo2", "cohere", "granite", "stablelm", "deepseek_v2",
               "deepseek_v3", "smollm3", "internlm2", "yi", "baichuan", "starcoder2_gated"}


# -- the model's shape ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelShape:
    name: str
    family: str                 # "llama" (gated MLP, q/k/v/o), "gpt2" (Conv1D c_attn/c_proj/c_fc), "generic"
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool = False          # lm_head shares the input embeddings
    gated_mlp: bool = True      # gate_proj/up_proj/down_proj (SwiGLU) or fc/proj
    dtype: str = "float32"      # the checkpoint's dtype (what transformers loads by default)
    positions: int = 0          # learned position embeddings (GPT-2); 0 for rotary
    attention_bias: bool = False  # q/k/v/o biases (Llama's attention_bias)
    qkv_bias: bool = False        # q/k/v biases only (Qwen2)
    mlp_bias: bool = False
    norm_params: int = 1        # per norm and hidden unit: 1 RMSNorm (weight), 2 LayerNorm (weight and bias)
    experts: int = 1            # mixture of experts: MLPs per layer
    experts_per_token: int = 1
    dropout: float = 0.0        # attention/residual dropout in training (GPT-2: 0.1)
    # How the layer's projections are laid out as modules: "split" (q/k/v/o, gate/up/down), "phi3" (qkv_proj and
    # gate_up_proj fused), "neox" (query_key_value, dense, dense_h_to_4h, dense_4h_to_h: GPT-NeoX, Falcon). A
    # fused module is one LoRA pair over the concatenated outputs, so the split count overstates its adapter.
    layout: str = "split"
    qkv_out: int = 0            # the fused qkv projection's width when it is not q + 2 kv (Falcon's multi-query)
    shared_expert: int = 0      # a shared expert's intermediate size (Qwen2-MoE), as plain linear modules
    # peft on transformers 5's fused experts (3-D parameters, not Linear modules): "params" when peft converts
    # all-linear to its parameter targets (Mixtral and the Qwen2-MoE family's converted types: gate_up_proj at rank
    # 2r per expert, down_proj at r per expert, the router at r); "" when the experts are not adapted at all.
    moe_peft: str = ""

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> list[tuple[str, int, int, bool]]:
        """One layer's projection matrices: (name, in_features, out_features, bias); MoE experts repeated (as
        weights: transformers 5 stores them as 3-D parameters, not modules; adapter_targets says what peft adapts)."""
        return self._attention() + self._mlp(self.intermediate) * self.experts + self._shared()

    def _attention(self) -> list[tuple[str, int, int, bool]]:
        h, q, kv = self.hidden, self.q_dim, self.kv_dim
        if self.family == "gpt2":
            return [("c_attn", h, 3 * h, True), ("attn.c_proj", h, h, True)]
        b = self.attention_bias or self.qkv_bias
        if self.layout == "phi3":
            return [("qkv_proj", h, q + 2 * kv, b), ("o_proj", q, h, self.attention_bias)]
        if self.layout == "neox":
            return [("query_key_value", h, self.qkv_out or q + 2 * kv, b), ("dense", q, h, self.attention_bias)]
        return [("q_proj", h, q, b), ("k_proj", h, kv, b), ("v_proj", h, kv, b),
                ("o_proj", q, h, self.attention_bias)]

    def _mlp(self, i: int, prefix: str = "") -> list[tuple[str, int, int, bool]]:
        h, mb = self.hidden, self.mlp_bias
        if self.family == "gpt2":
            return [("c_fc", h, i, True), ("mlp.c_proj", i, h, True)]
        if self.layout == "phi3":
            return [("gate_up_proj", h, 2 * i, mb), ("down_proj", i, h, mb)]
        if self.layout == "neox":
            return [("dense_h_to_4h", h, i, mb), ("dense_4h_to_h", i, h, mb)]
        if self.gated_mlp:
            return [(prefix + "gate_proj", h, i, mb), (prefix + "up_proj", h, i, mb), (prefix + "down_proj", i, h, mb)]
        return [(prefix + "up_proj", h, i, mb), (prefix + "down_proj", i, h, mb)]

    def _shared(self) -> list[tuple[str, int, int, bool]]:
        if not self.shared_expert:
            return []
        return self._mlp(self.shared_expert, "shared_expert.") + [("shared_expert_gate", self.hidden, 1, False)]

    def adapter_targets(self) -> list[tuple[str, int, int, int]]:
        """What peft's all-linear adapts in one layer: (name, in, out, rank multiple). Linear modules at rank r;
        transformers 5's fused experts only where peft converts them to parameter targets (moe_peft), each expert
        getting its own rank (gate_up_proj 2r: the fused w1 and w3), plus the router."""
        if self.experts == 1:
            return [(n, fin, fout, 1) for n, fin, fout, _ in self.linears()]
        out = [(n, fin, fout, 1) for n, fin, fout, _ in self._attention() + self._shared()]
        if self.moe_peft == "params":
            h, i, e = self.hidden, self.intermediate, self.experts
            out += [("gate", h, e, 1), ("experts.gate_up_proj", h, 2 * i if self.gated_mlp else i,
                                        (2 if self.gated_mlp else 1) * e), ("experts.down_proj", i, h, e)]
        return out

    @property
    def linear_params(self) -> int:
        """Every weight of every decoder layer's linear modules (what QLoRA quantises)."""
        return self.layers * sum(fin * fout for _, fin, fout, _ in self.linears())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden + self.positions * self.hidden

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def other_params(self) -> int:
        """Norms, biases, MoE routers: small, never quantised."""
        per_layer = 2 * self.norm_params * self.hidden + sum(fout for _, _, fout, b in self.linears() if b)
        if self.experts > 1:
            per_layer += self.hidden * self.experts
        return self.layers * per_layer + self.norm_params * self.hidden

    @property
    def total_params(self) -> int:
        return self.linear_params + self.embedding_params + self.lm_head_params + self.other_params

    def describe(self) -> str:
        gqa = f", {self.kv_heads} kv heads" if self.kv_heads != self.heads else ""
        moe = f", {self.experts} experts" if self.experts > 1 else ""
        return (f"{self.name}: {_count(self.total_params)} parameters ({self.layers} layers, hidden {self.hidden}, "
                f"{self.heads} heads{gqa}{moe}, vocab {self.vocab}, {self.dtype})")


def _first(cfg: dict, *keys, default=None):
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    return default


def shape_from_config(cfg: dict, name: str = "model") -> ModelShape:
    """A ModelShape from a config.json's dict (Llama-style, GPT-2 style, or a generic decoder)."""
    if isinstance(cfg.get("text_config"), dict) and "hidden_size" not in cfg:  # multimodal wrappers
        inner = dict(cfg["text_config"])
        inner.setdefault("tie_word_embeddings", cfg.get("tie_word_embeddings"))
        inner.setdefault("torch_dtype", cfg.get("torch_dtype") or cfg.get("dtype"))
        cfg = inner
    model_type = str(cfg.get("model_type") or "").lower()
    dtype = str(_first(cfg, "dtype", "torch_dtype", default="float32")).replace("torch.", "")
    if dtype not in DTYPE_BYTES:
        dtype = "float32"
    hidden = _first(cfg, "hidden_size", "n_embd", "d_model", "dim", "model_dim")
    layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    vocab = _first(cfg, "vocab_size", "padded_vocab_size")
    if not (hidden and layers and vocab):
        missing = [k for k, v in (("hidden_size", hidden), ("num_hidden_layers", layers), ("vocab_size", vocab))
                   if not v]
        raise UserError(f"cannot estimate memory for {name}: its config.json has no {', '.join(missing)}")
    hidden, layers, vocab = int(hidden), int(layers), int(vocab)
    heads = int(_first(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads", default=max(1, hidden // 64)))
    kv_heads = int(_first(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num",
                          default=heads) or heads)
    if cfg.get("multi_query") is True:
        kv_heads = 1
    head_dim = int(_first(cfg, "head_dim", default=0) or hidden // max(heads, 1))
    experts = int(_first(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=1) or 1)
    top_k = int(_first(cfg, "num_experts_per_tok", "moe_top_k", default=1) or 1) if experts > 1 else 1
    act = str(_first(cfg, "hidden_act", "activation_function", "hidden_activation", default="")).lower()
    if model_type == "gpt2" or ("n_embd" in cfg and "n_layer" in cfg):
        return ModelShape(
            name=name, family="gpt2", hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
            head_dim=hidden // max(heads, 1), intermediate=int(cfg.get("n_inner") or 4 * hidden), vocab=vocab,
            tied=bool(cfg.get("tie_word_embeddings", True)), gated_mlp=False, dtype=dtype,
            positions=int(cfg.get("n_positions") or cfg.get("n_ctx") or 1024), norm_params=2,
            dropout=float(max(cfg.get("attn_pdrop") or 0, cfg.get("resid_pdrop") or 0)))
    intermediate = _first(cfg, "moe_intermediate_size" if experts > 1 else "intermediate_size",
                          "intermediate_size", "ffn_dim", "n_inner", "d_ff", "ffn_hidden_size")
    gated = model_type in GATED_TYPES or "silu" in act or "swiglu" in act or "geglu" in act or (
        model_type == "" and "gelu" not in act and intermediate is not None)
    if intermediate is None:
        intermediate = 4 * hidden
    llama_like = "num_key_value_heads" in cfg or model_type in GATED_TYPES
    layernorm = model_type in ("gpt_neox", "opt", "falcon", "phi", "bloom", "gptj", "gpt_bigcode", "starcoder2")
    layout, qkv_out = "split", 0
    if model_type in ("phi3", "phimoe"):
        layout = "phi3"
    elif model_type in ("gpt_neox", "falcon"):
        layout = "neox"
        if model_type == "falcon":
            head_dim = hidden // max(heads, 1)
            if cfg.get("new_decoder_architecture"):
                kv_heads = int(cfg.get("num_kv_heads") or heads)
            elif cfg.get("multi_query", True):  # FalconConfig's default
                kv_heads = 1
            qkv_out = heads * head_dim + 2 * kv_heads * head_dim
            intermediate = cfg.get("ffn_hidden_size") or 4 * hidden
    shared = int(_first(cfg, "shared_expert_intermediate_size", default=0) or 0) if experts > 1 else 0
    return ModelShape(
        name=name, family="llama" if llama_like else "generic", hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, intermediate=int(intermediate), vocab=vocab,
        tied=bool(cfg.get("tie_word_embeddings", model_type in TIED_BY_DEFAULT)), gated_mlp=gated, dtype=dtype,
        positions=int(cfg.get("max_position_embeddings") or 0) if model_type == "opt" else 0,
        attention_bias=bool(cfg.get("attention_bias")), qkv_bias=model_type in ("qwen2", "qwen2_moe"),
        mlp_bias=bool(cfg.get("mlp_bias")) or (model_type == "gpt_neox") or (model_type == "falcon" and bool(
            cfg.get("bias"))), norm_params=2 if layernorm else 1,
        experts=experts, experts_per_token=top_k,
        dropout=float(_first(cfg, "attention_dropout", "hidden_dropout", default=0.0) or 0.0),
        layout=layout, qkv_out=qkv_out, shared_expert=shared,
        moe_peft="params" if experts > 1 and model_type in PEFT_CONVERTED_MOE else "")


def model_shape(model: str | None) -> ModelShape:
    """The shape of a model from its config.json: None = the built-in demo model (no build, no weights)."""
    if not model:
        from console.data.demo import CONFIG, DEMO_MODEL_NAME, VOCAB_SIZE

        return shape_from_config(dict(CONFIG, model_type="llama", vocab_size=VOCAB_SIZE, torch_dtype="float32"),
                                 name=f"built-in {DEMO_MODEL_NAME}")
    path = Path(str(model)).expanduser()
    if path.exists():
        cfg_path = path / "config.json" if path.is_dir() else path
        if not cfg_path.is_file():
            raise UserError(f"model folder {path} has no config.json: cannot estimate its memory")
        return shape_from_config(_read_json(cfg_path), name=path.name or str(path))
    if str(model).startswith((".", "/", "~")):
        raise UserError(f"model {model} not found: give a local folder or a Hub name (org/model)")
    return shape_from_config(_read_json(_hub_config(str(model))), name=str(model))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a model config (a JSON object)")
    return data


def _hub_reachable(timeout: float = 3.0) -> bool:
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


def _hub_config(name: str) -> Path:
    """config.json of a Hub model: from the local Hub cache when it is there, else downloaded alone (failing at
    once when the Hub cannot be reached)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UserError(f"cannot read {name}'s config: huggingface_hub is not installed") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        return Path(hf_hub_download(name, "config.json", local_files_only=True))
    except Exception:  # noqa: BLE001  not cached (or a bad name): the Hub decides below
        pass
    if offline or not _hub_reachable():
        why = "offline and not in the local Hub cache" + (" (HF_HUB_OFFLINE is set)" if offline else "")
        raise UserError(f"cannot read the config of Hub model {name}: {why}")
    try:
        return Path(hf_hub_download(name, "config.json"))
    except Exception as err:  # noqa: BLE001  offline, gated, not found, bad name: one line for the user
        kind = type(err).__name__
        if "Offline" in kind or "Connect" in kind or "LocalEntryNotFound" in kind:
            why = "offline and not in the local Hub cache"
        elif "GatedRepo" in kind:
            why = "a gated model: accept its licence on the Hub and log in (hf auth login)"
        elif "RepositoryNotFound" in kind or "NotFound" in kind:
            why = "no such model on the Hub"
        else:
            why = str(err).strip().splitlines()[0][:160] if str(err).strip() else kind
        raise UserError(f"cannot read the config of Hub model {name}: {why}") from None


# -- the estimate --------------------------------------------------------------------------------------------

@dataclass
class Estimate:
    parts: dict                # name -> bytes (see the module's docstring)
    total: int                 # the peak, bytes
    trainable_params: int
    total_params: int
    shape: ModelShape
    device: str                # "cuda" or "cpu"
    precision: str
    notes: list = field(default_factory=list)
    config: object = None      # the RunConfig it was made for (to try the suggestions)
    hardware: object = None
    live: int = 0              # the peak of live tensors alone (total less the CPU allocator's share)

    def verdict(self, free_bytes: int | float) -> str:
        """'fits (X of Y GiB)' or "won't fit: X needed, Y free: try ..." (suggestions that apply, each estimated)."""
        free = int(free_bytes)
        if self.total <= free:
            tight = ", tight" if self.total > 0.9 * free else ""
            return f"fits{tight} ({gib(self.total)} of {gib(free)} GiB)"
        tries = [f"{text} (~{gib(est.total)} GiB)" for text, est in self.suggestions(free)]
        tail = f": try {' / '.join(tries)}" if tries else ": a smaller model, or a machine with more memory"
        return f"won't fit: {gib(self.total)} GiB needed, {gib(free)} GiB free{tail}"

    def suggestions(self, free: int | None = None) -> list[tuple[str, Estimate]]:
        """Changes that lower the peak for this method: [(text, the estimate with the change)], best first."""
        if self.config is None:
            return []
        v = self.config.values
        out = []

        def attempt(text, changes, method=None):
            try:
                new = self.config.with_changes(dict(changes, **({"method": method} if method else {})))
            except UserError:
                return
            new.resolved = dict(self.config.resolved)
            if method == "qlora" or new.method == "qlora":
                new.values["load_in_4bit"] = True
            est = estimate(new, self.shape, self.hardware)
            if est.total < self.total:
                out.append((text, est))

        batch = int(v.get("per_device_train_batch_size") or 1)
        accum = int(v.get("gradient_accumulation_steps") or 1)
        same_batch = {"per_device_train_batch_size": batch, "gradient_accumulation_steps": accum}
        if self.config.method in ("full", "lora", "adapter"):
            attempt("QLoRA", same_batch, "qlora")
        if self.config.method == "full":
            attempt("LoRA", same_batch, "lora")
        if batch > 1:
            half = max(1, batch // 2)
            attempt(f"a smaller batch (per_device_train_batch_size={half}, gradient_accumulation_steps="
                    f"{accum * batch // half})", {"per_device_train_batch_size": half,
                                                  "gradient_accumulation_steps": accum * batch // half})
        if not v.get("activation_checkpointing"):
            attempt("gradient checkpointing", {"activation_checkpointing": True})
        if free is not None:  # those that fit first, the rest in the order above
            out.sort(key=lambda t: t[1].total > free)
        return out

    def breakdown(self) -> str:
        names = {"weights": "weights", "adapter": "adapter", "gradients": "gradients", "optimizer": "optimizer",
                 "activations": "activations", "logits": "logits", "cuda_context": "CUDA context",
                 "runtime": "runtime", "allocator": "allocator"}
        return " + ".join(f"{names.get(k, k)} {human(b)}" for k, b in self.parts.items() if b > 0)


def gib(n: int | float) -> str:
    return f"{n / GiB:.1f}" if n >= 0.95 * GiB else f"{n / GiB:.2f}"


def human(n: int | float) -> str:
    if n >= GiB:
        return f"{n / GiB:.1f} GiB"
    if n >= MiB:
        return f"{n / MiB:.0f} MiB" if n >= 10 * MiB else f"{n / MiB:.1f} MiB"
    return f"{n / KiB:.0f} KiB"


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _targets(values: dict, shape: ModelShape) -> list[tuple[str, int, int, int]]:
    """The linear modules of one layer an adapter goes on (peft's all-linear: every one but lm_head)."""
    targets = values.get("lora_target_modules") or "all-linear"
    linears = shape.adapter_targets()
    if isinstance(targets, str) and targets.strip() in ("all-linear", "all"):
        return linears
    names = [t.strip() for t in (targets.split(",") if isinstance(targets, str) else targets) if str(t).strip()]
    chosen = [m for m in linears if any(_names(m[0], n) for n in names)]
    return chosen or linears  # names of another architecture: count every linear (an upper bound)


def _names(module: str, name: str) -> bool:
    return module == name or module.endswith("." + name) or module.split(".")[-1] == name


def unknown_targets(values: dict, shape: ModelShape) -> list[str]:
    """The lora_target_modules names that match no linear layer of a model whose layout is known: said before
    launch (the trainer refuses them once the model is loaded; a typo beside a right name adapted fewer layers)."""
    targets = values.get("lora_target_modules") or "all-linear"
    if shape.family == "generic" or (isinstance(targets, str) and targets.strip() in ("all-linear", "all")):
        return []
    names = [t.strip() for t in (targets.split(",") if isinstance(targets, str) else targets) if str(t).strip()]
    every = shape.linears() + shape.adapter_targets() + [("lm_head", 0, 0, 0)]
    return [n for n in names if not any(_names(m[0], n) for m in every)]


def adapter_params(values: dict, method: str, shape: ModelShape) -> int:
    """Trainable parameters of the method's adapter (0 for full fine-tuning)."""
    if method == "full":
        return 0
    kind = "lora" if method in ("lora", "qlora") else str(values.get("adapter_type") or "loha")
    r = int(values.get("lora_r") or 8)
    targets = _targets(values, shape)
    if kind == "ia3":  # one vector per adapted module: k, v (output) and down_proj (input) on Llama
        if (values.get("lora_target_modules") or "all-linear") == "all-linear":
            targets = [m for m in shape.adapter_targets() if m[0] in ("k_proj", "v_proj", "down_proj", "c_attn",
                                                                      "mlp.c_proj")] or targets
        per_layer = sum(fin if "down" in name or name == "mlp.c_proj" else fout for name, fin, fout, _ in targets)
    elif kind == "loha":  # two Hadamard-multiplied low-rank pairs
        per_layer = sum(2 * r * (fin + fout) for _, fin, fout, _ in targets)
    elif kind == "lokr":  # Kronecker factors: a small full w1 and a low-rank w2 (peft's factorisation)
        per_layer = 0
        for _, fin, fout, _ in targets:
            o1, o2 = _factor(fout)
            i1, i2 = _factor(fin)
            per_layer += o1 * i1 + (r * (o2 + i2) if r < max(o2, i2) / 2 else o2 * i2)
    else:  # lora, adalora (A, B and adalora's E)
        per_layer = sum(r * m * (fin + fout) + (r if kind == "adalora" else 0) for _, fin, fout, m in targets)
    return shape.layers * per_layer


def modules_to_save_params(values: dict, shape: ModelShape) -> int:
    """Parameters of the modules_to_save peft trains in full beside the adapter: the LM head and the input
    embeddings by their usual names (a tied head is still copied: the copy is trained on its own); other names
    (a classifier's score) are small or absent from a causal LM, and count 0."""
    names = values.get("modules_to_save") or []
    names = [names] if isinstance(names, str) else [str(n) for n in names]
    head = shape.vocab * shape.hidden
    sizes = {"lm_head": head, "embed_tokens": shape.embedding_params, "wte": shape.embedding_params,
             "embed_in": shape.embedding_params, "embed_out": head}
    return sum(sizes.get(name.split(".")[-1], 0) for name in names)


def _factor(n: int) -> tuple[int, int]:
    """peft's LoKr factorization(n): the two factors closest to a square root (smaller first)."""
    m, k = 1, n
    for cand in range(int(n ** 0.5), 0, -1):
        if n % cand == 0:
            m, k = cand, n // cand
            break
    return m, k


def _optimizer_bytes(values: dict, param_bytes: int) -> float:
    """Bytes of optimiser state per trainable parameter."""
    optim = str(values.get("optim") or "adamw_torch_fused").lower()
    if "8bit" in optim:
        return 2.0
    if "4bit" in optim:
        return 1.0
    if "adafactor" in optim:
        return 0.1 * param_bytes  # factored second moments: rows + columns
    if optim.startswith("sgd"):
        return 0.0
    if "lion" in optim or "rmsprop" in optim:
        return param_bytes
    return 2.0 * param_bytes  # AdamW: exp_avg and exp_avg_sq, in the parameter's dtype


FUSED_TOKENS, FUSED_VOCAB = 4096, 32768  # trl.kernels.chunked_logprob's tile: tokens x vocabulary entries
FUSED_CPU_TILES = 10  # fp32 tile-sized temporaries of its torch fallback alive at once (bench/memory.py)


def estimate(config, shape: ModelShape | None = None, hardware=None) -> Estimate:
    """Peak training memory (bytes) of a run, per process, with its breakdown (see the module's docstring)."""
    values = config.values
    if shape is None:
        shape = model_shape(values.get("model"))
    if not config.resolved:
        from console.config.run_config import resolve

        config = resolve(config, hardware)
    device = config.resolved.get("device", "cpu")
    precision = config.resolved.get("precision", "fp32")
    cuda = device == "cuda"
    method = config.method
    qlora = method == "qlora" or bool(values.get("load_in_4bit"))
    half = cuda and precision in ("fp16", "bf16")
    ckpt = DTYPE_BYTES.get(shape.dtype, 4)
    notes = []

    # -- parameters: base weights, adapter, gradients, optimiser -------------------------------------------
    n_base = shape.total_params
    n_adapter = adapter_params(values, method, shape)
    unknown = unknown_targets(values, shape) if method != "full" else []
    if unknown:
        layers = ", ".join(dict.fromkeys(m[0].split(".")[-1] for m in shape.adapter_targets()))
        notes.append(f"lora_target_modules {', '.join(unknown)}: no such layer in {shape.name} (its linear layers: "
                     f"{layers}); the run would refuse it")
    adapter_bytes = 4  # peft keeps adapters in fp32 (autocast_adapter_dtype)
    if qlora:
        dq = bool(values.get("bnb_4bit_use_double_quant", True))
        per_weight = 0.5 + (1 / NF4_BLOCK + 4 / (NF4_BLOCK * 256) if dq else 4 / NF4_BLOCK)
        rest = n_base - shape.linear_params  # embeddings, lm_head, norms: upcast to fp32 by peft
        weights = shape.linear_params * per_weight + rest * 4
        stream = 4
    elif method != "full" and values.get("load_in_8bit"):
        # LLM.int8: one byte per linear weight plus a float scale per output row; the rest upcast to fp32 by peft's
        # prepare_model_for_kbit_training, as for 4 bits
        rows = shape.layers * sum(fout for _, _, fout, _ in shape.linears())
        weights = shape.linear_params + rows * 4 + (n_base - shape.linear_params) * 4
        stream = 4
    elif method != "full" and half:
        weights, stream = n_base * 2, 2  # a frozen base loaded in fp16/bf16
    else:
        weights, stream = n_base * ckpt, ckpt  # the checkpoint's dtype (transformers' dtype="auto")
    if method == "full":
        trainable, train_bytes = n_base, ckpt
        adapter = 0
    else:
        # modules_to_save (lm_head, embed_tokens): peft trains a full copy of each, kept in the base's dtype
        saved = modules_to_save_params(values, shape)
        trainable, train_bytes = n_adapter + saved, adapter_bytes
        adapter = n_adapter * adapter_bytes + saved * stream
        if saved:
            notes.append(f"modules_to_save: {_count(saved)} more trainable parameters (a full copy of each module)")
    gradients = trainable * train_bytes
    optimizer = trainable * _optimizer_bytes(values, train_bytes)
    processes = int(values.get("processes") or config.resolved.get("processes") or 1)
    if cuda and processes > 1:
        gradients *= 2  # DDP's gradient buckets hold a second copy
        notes.append("DDP: gradient buckets double the gradients")

    # -- activations ------------------------------------------------------------------------------------
    batch = int(values.get("per_device_train_batch_size") or 1)
    seq = int(values.get("max_length") or 512)
    tokens = batch * seq
    act = 2 if half else stream  # matmul outputs: fp16/bf16 under autocast, else the weights' dtype
    checkpointing = bool(values.get("activation_checkpointing"))
    input_grads = method == "full" or checkpointing  # checkpointing makes the embeddings' output require grad
    layer = _layer_activation_bytes(shape, method, values, stream, act, cuda)
    first = _layer_activation_bytes(shape, method, values, stream, act, cuda, input_grads)
    # the final norm: its input (and, training its weight, its normalised fp32 input and its output)
    final_norm = shape.hidden * stream + (shape.hidden * (4 + stream) if method == "full" else 0)
    if checkpointing:  # each layer's input kept, one layer recomputed at a time during the backward pass
        kept = tokens * (shape.layers * shape.hidden * stream + final_norm)
        recomputed = tokens * layer
        activations = kept + recomputed
    else:
        activations = tokens * ((shape.layers - 1) * layer + first + final_norm)
        kept, recomputed = activations, 0
    if qlora:  # a dequantised weight, transient in each 4-bit matmul
        dequantised = max(fin * fout for _, fin, fout, _ in shape.linears()) * act
        activations += dequantised
        kept += dequantised
    # TRL's fused LM head (trl.trainer.utils.add_fused_lm_head) scores the tokens in tiles of at most
    # FUSED_TOKENS x FUSED_VOCAB products and never holds the full logits. With Triton (CUDA) a tile is a work
    # buffer and its gradient in the compute dtype; without it (the CPU) torch computes the tile's exp, log-softmax
    # and gradient as whole fp32 tensors, about ten tiles at once (measured: bench/memory.py). Plus a few fp32 numbers
    # per token (log-probabilities, entropy, top-1).
    tile = min(tokens, FUSED_TOKENS) * min(shape.vocab, FUSED_VOCAB)
    logits = (tile * 2 * (2 if half else 4) if cuda else tile * 4 * FUSED_CPU_TILES) + tokens * 16

    # -- the peak ---------------------------------------------------------------------------------------
    accum = int(values.get("gradient_accumulation_steps") or 1)
    parts = {"weights": int(weights), "adapter": int(adapter), "gradients": int(gradients),
             "optimizer": int(optimizer), "activations": int(activations), "logits": int(logits)}
    parts["cuda_context" if cuda else "runtime"] = CUDA_CONTEXT if cuda else CPU_RUNTIME
    static = weights + adapter + optimizer + parts.get("cuda_context", 0) + parts.get("runtime", 0)
    # held when the backward pass starts; with checkpointing a layer is recomputed only once the logits are freed
    held = kept + max(logits, recomputed)
    if checkpointing and recomputed and logits:
        notes.append("gradient checkpointing: a layer is recomputed after the logits are freed, the peak counts "
                     "the larger")
    if accum > 1:
        total = static + gradients + held
    else:
        total = static + max(held, gradients)
        if gradients and activations:
            notes.append("one micro-batch per step: gradients replace the activations as they are freed, "
                         "the peak counts the larger")
    live = int(total)
    if not cuda:  # what glibc's malloc keeps of the freed activations and logit tiles (see CPU_ALLOCATOR)
        parts["allocator"] = int(CPU_ALLOCATOR * (activations + logits))
        total += parts["allocator"]
    return Estimate(parts=parts, total=int(total), trainable_params=int(trainable),
                    total_params=int(n_base + n_adapter), shape=shape, device=device, precision=precision,
                    notes=notes, config=config, hardware=hardware, live=live)


def _layer_activation_bytes(shape: ModelShape, method: str, values: dict, stream: int, act: int, cuda: bool,
                            input_grads: bool = True) -> float:
    """Bytes autograd keeps per token for one decoder layer (counted from the saved tensors of the backward graph).

    input_grads: whether the layer's input requires a gradient (not so for the first layer of a frozen base
    without gradient checkpointing: nothing in front of it trains).
    """
    h, q, i = shape.hidden, shape.q_dim, shape.intermediate
    # k and v as attention keeps them: repeated to every head when a padding mask is given (GQA)
    kv = q if shape.kv_heads != shape.heads else shape.kv_dim
    topk = shape.experts_per_token
    frozen = method != "full"
    noise = 1 if cuda else act  # dropout keeps a bool mask on CUDA, a float noise tensor on the CPU
    # the layer input and the residual after attention, kept by the norms (x * rsqrt(mean(x^2)))
    base = (2 - (0 if input_grads else 1)) * h * stream
    # attention keeps q (after RoPE), k, v and its output (which is also o_proj's input)
    base += (2 * q + 2 * kv) * act
    if shape.family == "gpt2":
        base += 2 * h * act  # c_attn's q/k/v output keeps 3h where q and k after RoPE would be: +h
        base += 3 * i * act  # tanh-gelu: tanh(...), 0.5 x, 1 + tanh (the fc output counted below)
        if shape.dropout > 0:
            base += 2 * h * (act + noise)  # residual dropouts: output and noise
        base += i * act  # fc output
    elif shape.gated_mlp:
        base += 3 * i * act * topk  # gate, silu(gate), up
    else:
        base += 2 * i * act * topk  # fc output and its activation
    # inputs of the linear modules, kept for their weight gradients or for an adapter on them
    inputs = {"attn_in": (h, stream), "mlp_in": (h, stream), "down_in": (i * topk, act),
              "o_in": (0 if shape.family != "gpt2" else q, act)}  # o_proj's input is attention's output
    module_input = {"q_proj": "attn_in", "k_proj": "attn_in", "v_proj": "attn_in", "c_attn": "attn_in",
                    "qkv_proj": "attn_in", "query_key_value": "attn_in", "o_proj": "o_in", "attn.c_proj": "o_in",
                    "dense": "o_in", "gate_proj": "mlp_in", "up_proj": "mlp_in", "gate_up_proj": "mlp_in",
                    "dense_h_to_4h": "mlp_in", "c_fc": "mlp_in", "down_proj": "down_in", "mlp.c_proj": "down_in",
                    "dense_4h_to_h": "down_in"}
    if not frozen:
        # RMSNorm keeps its fp32 normalised input for the weight's gradient (LayerNorm: mean and rstd only)
        norms = 2 * h * 4 if shape.norm_params == 1 else 0
        return base + norms + sum(n * b for n, b in inputs.values())
    kind = "lora" if method in ("lora", "qlora") else str(values.get("adapter_type") or "loha")
    targets = _targets(values, shape)
    r = int(values.get("lora_r") or 8)
    dropout = float(values.get("lora_dropout") or 0.0) if kind in ("lora", "loha", "lokr", "adalora") else 0.0
    kept = set()
    extra = 0.0
    for name, _fin, fout, _ in targets:
        source = module_input.get(name, "attn_in")
        n, b = inputs[source] if source != "o_in" else (q, act)
        if kind == "ia3":
            extra += fout * act if "down" not in name else 0  # the scaled output is a new tensor
            kept.add(source)
            continue
        if dropout > 0:  # its own dropped-out copy of the input, and the noise (when the input needs a gradient)
            extra += n * b + (n * noise if input_grads or source != "attn_in" else 0)
        else:
            kept.add(source)
        extra += r * act * (3 if kind == "loha" else 1)  # lora_A's output (LoHa: its factors' products)
    return base + extra + sum(inputs[k][0] * inputs[k][1] for k in kept)


# -- the lines shown before launch ---------------------------------------------------------------------------

def available_ram() -> int | None:
    """MemAvailable from /proc/meminfo (bytes), None where there is no /proc."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * KiB
    except (OSError, ValueError, IndexError):
        return None
    return None


def estimate_text(config, hardware=None) -> str:
    """The memory lines of `train --dry-run` and of the arguments screen (never raises for a model it can't read)."""
    from console.machine.hardware import probe

    hw = hardware if hardware is not None else probe()
    try:
        est = estimate(config, hardware=hw)
    except UserError as err:
        return f"memory: no estimate ({err})"
    v = est.config.values
    batch, seq = int(v.get("per_device_train_batch_size") or 1), int(v.get("max_length") or 512)
    gc = ", gradient checkpointing" if v.get("activation_checkpointing") else ""
    lines = [f"memory estimate: {human(est.total)} peak per process ({est.shape.describe()}; "
             f"{_count(est.trainable_params)} trainable; batch {batch} x {seq} tokens{gc}; {est.precision})",
             f"   {est.breakdown()}"]
    lines += [f"   note: {n}" for n in est.notes]
    if hw.cuda and hw.free_mib is not None:
        gpu = hw.gpus[0].name
        lines.append(f"   on {gpu}: {est.verdict(hw.free_mib * MiB)}")
    else:
        free = available_ram()
        processes = int(v.get("processes") or 1)
        if free is None:
            lines.append("   on the CPU: free memory unknown")
        else:
            need = replace(est, total=est.total * processes) if processes > 1 else est
            many = f", {processes} processes" if processes > 1 else ""
            lines.append(f"   on the CPU, against the available RAM{many}: {need.verdict(free)}")
            lines.append("   note: on a CPU the allocator share is what glibc's malloc keeps of freed activations "
                         "(measured on a real 135M model)")
    return "\n".join(lines)
