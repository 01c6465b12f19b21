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

from dataclasses import dataclass, field, replace

from console.common.errors import UserError
from console.config.model_shape import DTYPE_BYTES, ModelShape, count_text, model_shape

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3

CUDA_CONTEXT = 600 * MiB  # torch's CUDA context, cuBLAS/cuDNN workspaces: 0.5-0.7 GiB on recent GPUs
CPU_RUNTIME = 16 * MiB    # on a CPU: tokenizer, Trainer, kernels' scratch buffers (measured 16-21 MiB)
# On a CPU the process's resident memory is more than its live tensors: glibc's malloc keeps freed activation
# buffers and logit tiles in its heaps for reuse (a GPU's caching allocator keeps them too, but inside the
# reserved bytes the CUDA figures already follow). Measured on SmolLM2-135M-Instruct by bench/memory.py --real
# --glibc-default: the resident peak exceeded the live tensors by 0.2-0.5x the activations and logits.
CPU_ALLOCATOR = 0.25
NF4_BLOCK = 64  # bitsandbytes' 4-bit block size: one absmax per 64 weights
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
                 "runtime": "runtime", "allocator": "allocator", "reference": "reference model"}
        return " + ".join(f"{names.get(k, k)} {human(b)}" for k, b in self.parts.items() if b > 0)


def gib(n: int | float) -> str:
    return f"{n / GiB:.1f}" if n >= 0.95 * GiB else f"{n / GiB:.2f}"


def human(n: int | float) -> str:
    if n >= GiB:
        return f"{n / GiB:.1f} GiB"
    if n >= MiB:
        return f"{n / MiB:.0f} MiB" if n >= 10 * MiB else f"{n / MiB:.1f} MiB"
    return f"{n / KiB:.0f} KiB"


# Where a decoder layer's modules sit in the model's module names (transformers' Llama-style, GPT-2, GPT-NeoX, and the
# text half of multi-modal wrappers), and the blocks inside a layer: what a lora_target_regex is matched against
# before launch, since the layout known from config.json names a layer's modules but not their full path.
_LAYER_PATHS = ("model.layers.{i}.", "model.language_model.layers.{i}.", "language_model.model.layers.{i}.",
                "model.text_model.layers.{i}.", "transformer.h.{i}.", "gpt_neox.layers.{i}.",
                "model.decoder.layers.{i}.")
_BLOCKS = ("", "self_attn.", "attn.", "attention.", "mlp.", "block_sparse_moe.", "mlp.experts.")


def regex_targets(pattern: str, shape: ModelShape) -> list[tuple[str, int, int, int]]:
    """The modules of one layer that a lora_target_regex matches in some layer (peft: re.fullmatch over the full
    name); [] when it matches none of the paths this layout can have."""
    import re

    try:
        regex = re.compile(pattern)
    except re.error:
        return []
    chosen = []
    for module in shape.adapter_targets():
        if any(regex.fullmatch(path.format(i=i) + block + module[0]) for i in range(max(shape.layers, 1))
               for path in _LAYER_PATHS for block in _BLOCKS):
            chosen.append(module)
    return chosen


def _targets(values: dict, shape: ModelShape) -> list[tuple[str, int, int, int]]:
    """The linear modules of one layer an adapter goes on (peft's all-linear: every one but lm_head)."""
    targets = values.get("lora_target_modules") or "all-linear"
    linears = shape.adapter_targets()
    if values.get("lora_target_regex"):  # counted on every layer: an upper bound for a regex naming some layers
        return regex_targets(str(values["lora_target_regex"]), shape) or linears
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
    if values.get("lora_target_regex") and shape.family != "generic":
        pattern = str(values["lora_target_regex"])
        return [] if regex_targets(pattern, shape) else [pattern]
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
        key = "lora_target_regex" if values.get("lora_target_regex") else "lora_target_modules"
        notes.append(f"{key} {', '.join(unknown)}: no such layer in {shape.name} (its linear layers: "
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
            notes.append(f"modules_to_save: {count_text(saved)} more trainable parameters (a full copy of each module)")
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
    # preference training: each row is two sequences (DPO: the chosen and the rejected answer; KTO: the answer and
    # the mismatched one its KL term reads), and a reference model: a frozen copy of the weights for full
    # fine-tuning, TRL's frozen copy of the starting adapter otherwise (console/trainer/kinds/preference.py)
    reference = 0
    if getattr(config, "objective", "sft") in ("dpo", "kto"):
        tokens *= 2
        reference = weights if method == "full" else adapter
        notes.append(f"{config.objective.upper()}: two sequences per row, and the reference model "
                     + ("(a frozen copy of the weights)" if method == "full" else "(a frozen copy of the adapter)"))
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
    if reference:
        parts["reference"] = int(reference)
    parts["cuda_context" if cuda else "runtime"] = CUDA_CONTEXT if cuda else CPU_RUNTIME
    static = weights + adapter + reference + optimizer + parts.get("cuda_context", 0) + parts.get("runtime", 0)
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
             f"{count_text(est.trainable_params)} trainable; batch {batch} x {seq} tokens{gc}; {est.precision})",
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
