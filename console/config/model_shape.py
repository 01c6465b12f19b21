"""A model's shape from its config.json, never its weights: layers, widths, vocabulary, tied embeddings, MoE
experts, the linear modules an adapter can target. Read from a local folder, or from the Hub's config.json alone
(huggingface_hub, only then); the memory estimate and the pre-launch checks of target modules read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.common.bounded_read import read_json
from console.common.errors import UserError
from console.common.offline import hub_offline, hub_reachable

DTYPE_BYTES = {"float32": 4, "float": 4, "fp32": 4, "float16": 2, "half": 2, "fp16": 2, "bfloat16": 2, "bf16": 2,
               "float64": 8}


def count_text(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


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
        return (f"{self.name}: {count_text(self.total_params)} parameters ({self.layers} layers, hidden {self.hidden}, "
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
        data = read_json(path, 16 << 20)  # a model's config.json is a few KiB; never a FIFO, never past 16 MiB
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a model config (a JSON object)")
    return data


def _hub_config(name: str) -> Path:
    """config.json of a Hub model: from the local Hub cache when it is there, else downloaded alone (failing at
    once when the Hub cannot be reached)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UserError(f"cannot read {name}'s config: huggingface_hub is not installed") from None
    offline = hub_offline()
    try:
        return Path(hf_hub_download(name, "config.json", local_files_only=True))
    except Exception:  # noqa: BLE001  not cached (or a bad name): the Hub decides below
        pass
    if offline or not hub_reachable():
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


