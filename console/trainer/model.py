"""Loading the model and wrapping it for the method (trainer process only: imports torch, transformers, peft)."""
from __future__ import annotations

import os
from pathlib import Path

from console.common.errors import DataError, UserError, first_line
from console.config.fields import lora_extras


def model_source(values: dict) -> str:
    if values.get("model"):
        return str(values["model"])
    from console.data.demo_model import ensure_demo_model

    return str(ensure_demo_model())


def _target_modules(values: dict):
    """peft's target_modules: 'all-linear', or a list of module names (a comma string split; a lone name in a list,
    since peft reads a bare string as a regular expression over the whole module path)."""
    if values.get("lora_target_regex"):  # peft matches a string against each module's full name
        return str(values["lora_target_regex"])
    targets = values.get("lora_target_modules") or "all-linear"
    if targets in ("all", ["all"]):  # LLaMA-Factory's word, from a config saved before translate() said it
        return "all-linear"
    if isinstance(targets, str) and targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return targets


def peft_config(method: str, values: dict, total_steps: int | None = None):
    """The PEFT config of the method, or None for full fine-tuning."""
    import peft

    targets = _target_modules(values)
    if method in ("lora", "qlora"):
        try:
            return peft.LoraConfig(r=int(values["lora_r"]), lora_alpha=float(values["lora_alpha"]),
                                   lora_dropout=float(values["lora_dropout"]), target_modules=targets,
                                   task_type="CAUSAL_LM", **lora_extras(values))
        except (ValueError, TypeError) as err:  # peft's own checks of combinations (DoRA with lora_bias, ...)
            raise UserError(f"LoRA settings refused by peft: {first_line(err)}") from None
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


def hub_revision(source: str, values: dict) -> dict:
    """{'revision': ...} for a Hub model when the run names one; {} for a local folder (the run's own checkpoint, the
    demo model), which has no revisions (the pre-launch check refuses revision with a local `model`)."""
    revision = values.get("revision")
    if not revision or Path(source).expanduser().exists():
        return {}
    return {"revision": str(revision)}


def load_tokenizer(source: str, values: dict):
    """The tokenizer of `source` (a model folder or Hub name, at the run's revision) with a padding token (its end
    token when it has none) and the run's chat_template when it gives one; DataError in one line for a local path
    that is not there or a tokenizer that cannot load."""
    from transformers import AutoTokenizer

    from console.machine.load_checks import chat_template_text

    local = Path(source).expanduser()
    if not local.exists() and (source.startswith((".", "/", "~"))):
        raise DataError(f"model {source} not found: give a local folder or a Hub name (org/model)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=bool(values.get("trust_remote_code")),
                                                  **hub_revision(source, values))
    except OSError as err:
        raise DataError(f"cannot load the tokenizer of {source}: {str(err).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if values.get("chat_template"):
        # set here, where every user of the run's tokenizer gets it: data formatting, samples, chat, and the
        # tokenizer saved beside the model (which export copies)
        tokenizer.chat_template = chat_template_text(values["chat_template"])
    return tokenizer


def loads_in_4bit(method: str, values: dict) -> bool:
    return bool(values.get("load_in_4bit")) or method == "qlora"


def loads_in_8bit(method: str, values: dict) -> bool:
    return bool(values.get("load_in_8bit")) and not loads_in_4bit(method, values)


def _bitsandbytes(what: str):
    """transformers' BitsAndBytesConfig, after checking bitsandbytes loads; UserError in one line when not."""
    try:
        import bitsandbytes  # noqa: F401  (fail here with a clear message rather than deep in from_pretrained)
        from transformers import BitsAndBytesConfig
    except Exception as err:  # ImportError, or a CUDA library bitsandbytes cannot find
        raise UserError(f"{what} needs bitsandbytes, which cannot load here ({str(err).splitlines()[0]}): "
                        f"install it (pip install bitsandbytes) or use --method lora") from None
    return BitsAndBytesConfig


def load_kwargs(method: str, values: dict, local_rank: int = 0) -> dict:
    """from_pretrained's keyword arguments for the method's base model: 4-bit nf4 (QLoRA, load_in_4bit) with its
    compute dtype and device, 8-bit (load_in_8bit), the run's dtype, else half precision for a frozen base on a GPU;
    the run's attn_implementation and Hub revision; UserError when bitsandbytes is needed and cannot load. Shared
    by the trainer and the chat process (which lays the adapter on the same base)."""
    import torch

    cuda = torch.cuda.is_available() and not values.get("use_cpu")
    kwargs: dict = {"trust_remote_code": bool(values.get("trust_remote_code"))}
    kwargs.update(hub_revision(str(values.get("model") or ""), values) if values.get("model") else {})
    if values.get("attn_implementation"):
        kwargs["attn_implementation"] = str(values["attn_implementation"])
    precision = "bf16" if values.get("bf16") else "fp16" if values.get("fp16") else "fp32"
    dtype = values.get("dtype") or "auto"  # resolve() already turned what cannot train here into float32
    if loads_in_4bit(method, values):
        config_cls = _bitsandbytes("QLoRA")
        compute = values.get("bnb_4bit_compute_dtype") or "float32"
        if compute == "auto":
            compute = "bfloat16" if precision == "bf16" else "float16" if precision == "fp16" else "float32"
        kwargs["quantization_config"] = config_cls(
            load_in_4bit=True, bnb_4bit_quant_type=values.get("bnb_4bit_quant_type", "nf4"),
            bnb_4bit_use_double_quant=bool(values.get("bnb_4bit_use_double_quant", True)),
            bnb_4bit_compute_dtype=_dtype(compute))
        # the layers left unquantised (norms, embeddings, the head): the run's dtype, else the compute dtype
        kwargs["dtype"] = _dtype(compute if dtype == "auto" else dtype)
        kwargs["device_map"] = {"": local_rank if cuda else "cpu"}
    elif loads_in_8bit(method, values):
        # LLM.int8: the int8 matmuls take float16 inputs; the unquantised layers default to it on a GPU, float32 on
        # a CPU (bitsandbytes 0.50 trains a LoRA on an 8-bit base on the CPU too: measured here)
        kwargs["quantization_config"] = _bitsandbytes("load_in_8bit")(load_in_8bit=True)
        kwargs["dtype"] = _dtype(dtype if dtype != "auto" else "float16" if cuda else "float32")
        kwargs["device_map"] = {"": local_rank if cuda else "cpu"}
    elif dtype != "auto":
        kwargs["dtype"] = _dtype(dtype)
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


def _linear_names(model) -> list[str]:
    """The distinct last names of the model's linear layers (what lora_target_modules can name)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear)
             or type(module).__name__ in ("Conv1D", "Linear4bit", "Linear8bitLt")}
    return sorted(names)


def wrap_adapter(model, config, values: dict):
    """peft.get_peft_model, with peft's refusals in one line: lora_target_modules naming no module of this model
    (with the names it has), a combination peft does not take."""
    import peft

    def no_module(missing) -> UserError:
        names = _linear_names(model)
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        return UserError(f"lora_target_modules {missing!r} names no module of this model: its linear layers are "
                         f"{shown}; name some of these or use all-linear")

    targets = getattr(config, "target_modules", None)
    if isinstance(targets, (set, list)):
        # peft refuses only a list that matches nothing; a typo beside a right name would silently adapt less.
        # Its own rule for a listed name: the module's name is it, or ends with '.' + it.
        modules = [name for name, _ in model.named_modules()]
        missing = sorted(t for t in targets if not any(m == t or m.endswith("." + t) for m in modules))
        if missing:
            raise no_module(missing)
    try:
        return peft.get_peft_model(model, config)
    except ValueError as err:
        text = first_line(err)
        if "not found in the base model" in text or "No modules were targeted" in text:
            raise no_module(values.get("lora_target_modules")) from None
        raise UserError(f"the adapter settings are refused by peft: {text}") from None


def load_model(method: str, values: dict, total_steps: int | None = None, local_rank: int = 0):
    """(model ready for the Trainer, tokenizer, description)."""
    source = model_source(values)
    tokenizer = load_tokenizer(source, values)
    model = from_pretrained(source, load_kwargs(method, values, local_rank))
    model.config.use_cache = False
    if loads_in_4bit(method, values) or loads_in_8bit(method, values):
        import peft

        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(values.get("activation_checkpointing")))
        keep_4bit_weights_trainable(model)
    config = peft_config(method, values, total_steps)
    start = values.get("adapter_name_or_path")
    if start:  # a trained adapter to go on from (DPO after a LoRA SFT run): trained further, or merged for full
        model = start_from_adapter(model, str(start), trainable=config is not None, values=values)
    elif config is not None:
        if values.get("activation_checkpointing"):
            model.enable_input_require_grads()
        model = wrap_adapter(model, config, values)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    desc = (f"{os.path.basename(source.rstrip('/')) or source}: {total / 1e6:.2f}M parameters, "
            f"{trainable / 1e6:.3f}M trainable ({100 * trainable / max(total, 1):.2f}%)"
            + (f", starting from the adapter {start}" + (" (merged)" if config is None else "") if start else ""))
    return model, tokenizer, desc


def start_from_adapter(model, adapter: str, trainable: bool, values: dict):
    """The base `model` with a trained PEFT adapter: trainable (an adapter method goes on training it; a preference
    trainer then takes its starting copy as the reference, i.e. the fine-tuned model), or merged into the weights
    (full fine-tuning). DataError in one line when it does not load on this base."""
    import peft

    if trainable and values.get("activation_checkpointing"):
        model.enable_input_require_grads()
    try:
        loaded = peft.PeftModel.from_pretrained(model, adapter, is_trainable=trainable,
                                                **hub_revision(adapter, values))
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise DataError(f"adapter_name_or_path {adapter} does not load on this model: {first_line(err)}; it must be "
                        f"an adapter trained on the model the run names") from None
    return loaded if trainable else loaded.merge_and_unload()


def loraplus_options(method: str, values: dict) -> dict | None:
    """create_loraplus_optimizer's LoRA+ arguments from the run's values (ConsoleSFTTrainer's `loraplus`), or None
    when the run does not train LoRA with LoRA+."""
    if method not in ("lora", "qlora") or not values.get("loraplus_lr_ratio"):
        return None
    options = {"loraplus_lr_ratio": float(values["loraplus_lr_ratio"])}
    if values.get("loraplus_lr_embedding"):
        options["loraplus_lr_embedding"] = float(values["loraplus_lr_embedding"])
    return options
