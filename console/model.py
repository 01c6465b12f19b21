"""Loading the model and wrapping it for the method (trainer process only: imports torch, transformers, peft)."""
from __future__ import annotations

import os
from pathlib import Path

from console.errors import DataError, UserError


def model_source(values: dict) -> str:
    if values.get("model"):
        return str(values["model"])
    from console.demo_model import ensure_demo_model

    return str(ensure_demo_model())


def _target_modules(values: dict):
    targets = values.get("lora_target_modules") or "all-linear"
    if isinstance(targets, str) and targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return targets


def peft_config(method: str, values: dict, total_steps: int | None = None):
    """The PEFT config of the method, or None for full fine-tuning."""
    import peft

    targets = _target_modules(values)
    if method in ("lora", "qlora"):
        return peft.LoraConfig(r=int(values["lora_r"]), lora_alpha=float(values["lora_alpha"]),
                               lora_dropout=float(values["lora_dropout"]), target_modules=targets,
                               task_type="CAUSAL_LM")
    if method != "adapter":
        return None
    kind = values.get("adapter_type", "loha")
    r = int(values.get("lora_r") or 8)
    if kind == "loha":
        return peft.LoHaConfig(r=r, alpha=float(values.get("lora_alpha") or r),
                               module_dropout=float(values.get("lora_dropout") or 0.0), target_modules=targets,
                               task_type="CAUSAL_LM")
    if kind == "lokr":
        return peft.LoKrConfig(r=r, alpha=float(values.get("lora_alpha") or r),
                               module_dropout=float(values.get("lora_dropout") or 0.0), target_modules=targets,
                               task_type="CAUSAL_LM")
    if kind == "ia3":
        # IA3 scales the input of feed-forward layers and the output of the others; mark the MLP projections.
        if targets == "all-linear":  # peft's own per-architecture choice (Llama: k, v and down_proj)
            return peft.IA3Config(task_type="CAUSAL_LM")
        return peft.IA3Config(target_modules=targets, feedforward_modules=[t for t in targets if "down" in t],
                              task_type="CAUSAL_LM")
    if kind == "adalora":
        return peft.AdaLoraConfig(init_r=r, target_r=max(1, r // 2), lora_alpha=float(values.get("lora_alpha") or r),
                                  total_step=max(int(total_steps or 1000), 20), tinit=0, tfinal=0,
                                  target_modules=targets, task_type="CAUSAL_LM")
    raise UserError(f"unknown adapter_type {kind!r}: choose loha, lokr, ia3 or adalora")


def keep_4bit_weights_trainable(model) -> int:
    """Turn off bitsandbytes' CPU inference repacking on every 4-bit layer; returns how many layers it touched.

    On a CPU with AVX512-BF16, a Linear4bit run in eval mode without gradients (every evaluation) repacks its
    weight in place into a CPU inference layout and never packs it back; the training steps after the first
    evaluation then got gradients about six times too small and the loss stopped falling (SmolLM2-135M QLoRA:
    grad norm 2.1 -> 0.32 with an evaluation before training, eval loss 4.29 -> 4.20 in 30 steps against LoRA's
    4.05 -> 2.91). Evaluations cost a little more without the repacking; training is right."""
    touched = 0
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            touched += 1
    return touched


def _dtype(name: str):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def load_tokenizer(source: str, values: dict):
    """The tokenizer of `source` (a model folder or Hub name) with a padding token (its end token when it has
    none); DataError in one line for a local path that is not there or a tokenizer that cannot load."""
    from transformers import AutoTokenizer

    local = Path(source).expanduser()
    if not local.exists() and (source.startswith((".", "/", "~"))):
        raise DataError(f"model {source} not found: give a local folder or a Hub name (org/model)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=bool(values.get("trust_remote_code")))
    except OSError as err:
        raise DataError(f"cannot load the tokenizer of {source}: {str(err).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def loads_in_4bit(method: str, values: dict) -> bool:
    return bool(values.get("load_in_4bit")) or method == "qlora"


def load_kwargs(method: str, values: dict, local_rank: int = 0) -> dict:
    """from_pretrained's keyword arguments for the method's base model: 4-bit nf4 (QLoRA, load_in_4bit) with its
    compute dtype and device, or half precision for a frozen base on a GPU; UserError when bitsandbytes is
    needed and cannot load. Shared by the trainer and the chat process (which lays the adapter on the same base)."""
    import torch

    cuda = torch.cuda.is_available() and not values.get("use_cpu")
    kwargs: dict = {"trust_remote_code": bool(values.get("trust_remote_code"))}
    precision = "bf16" if values.get("bf16") else "fp16" if values.get("fp16") else "fp32"
    if loads_in_4bit(method, values):
        try:
            from transformers import BitsAndBytesConfig
            import bitsandbytes  # noqa: F401  (fail here with a clear message rather than deep in from_pretrained)
        except Exception as err:  # ImportError, or a CUDA library bitsandbytes cannot find
            raise UserError(f"QLoRA needs bitsandbytes, which cannot load here ({str(err).splitlines()[0]}): "
                            f"install it (pip install bitsandbytes) or use --method lora") from None
        compute = values.get("bnb_4bit_compute_dtype") or "float32"
        if compute == "auto":
            compute = "bfloat16" if precision == "bf16" else "float16" if precision == "fp16" else "float32"
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=values.get("bnb_4bit_quant_type", "nf4"),
            bnb_4bit_use_double_quant=bool(values.get("bnb_4bit_use_double_quant", True)),
            bnb_4bit_compute_dtype=_dtype(compute))
        kwargs["dtype"] = _dtype(compute)
        kwargs["device_map"] = {"": local_rank if cuda else "cpu"}
    elif method != "full" and cuda and precision != "fp32":
        # A frozen base can live in half precision; the adapters train in fp32 under autocast.
        kwargs["dtype"] = torch.bfloat16 if precision == "bf16" else torch.float16
    return kwargs


def from_pretrained(source: str, kwargs: dict):
    """AutoModelForCausalLM.from_pretrained(source, **kwargs); DataError in one line when it cannot load."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as err:
        raise DataError(f"cannot load the model {source}: {str(err).splitlines()[0]}") from None


def load_model(method: str, values: dict, total_steps: int | None = None, local_rank: int = 0):
    """(model ready for the Trainer, tokenizer, description)."""
    source = model_source(values)
    tokenizer = load_tokenizer(source, values)
    model = from_pretrained(source, load_kwargs(method, values, local_rank))
    model.config.use_cache = False
    if loads_in_4bit(method, values):
        import peft

        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(values.get("activation_checkpointing")))
        keep_4bit_weights_trainable(model)
    config = peft_config(method, values, total_steps)
    if config is not None:
        import peft

        if values.get("activation_checkpointing"):
            model.enable_input_require_grads()
        model = peft.get_peft_model(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    desc = (f"{os.path.basename(source.rstrip('/')) or source}: {total / 1e6:.2f}M parameters, "
            f"{trainable / 1e6:.3f}M trainable ({100 * trainable / max(total, 1):.2f}%)")
    return model, tokenizer, desc
