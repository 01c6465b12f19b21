"""axolotl's config (`axolotl train config.yml`), with its `datasets:` list, mapped to ours.

The shared machinery (the report's three groups, the keys both tools share) is console/config/foreign/mapping.py;
its dataset types are found in the format registry (console/data/formats: each entry's known_as names axolotl's type
for it).
"""
from __future__ import annotations

from console.config.foreign.mapping import Imported, Mapper, Tool, choice, conversations, listing, show
from console.config.foreign.preference import axolotl_dataset_type, axolotl_rl
from console.data.formats import Conversation, PlainText, keyed_as, known_as

AXOLOTL = "axolotl"

# Keys only axolotl uses (none is a setting of ours).
SIGNS = frozenset({"base_model", "datasets", "micro_batch_size", "num_epochs", "adapter", "lora_target_linear",
                   "val_set_size", "train_on_inputs", "lr_scheduler", "optimizer", "flash_attention",
                   "sdp_attention", "wandb_project", "dataset_prepared_path", "sample_packing", "lora_model_dir",
                   "base_model_config", "special_tokens", "rl", "eval_batch_size", "revision_of_model", "strict",
                   "pad_to_sequence_len"})
DEFINING = frozenset({"base_model", "micro_batch_size", "adapter"})

# Their key -> our setting, value unchanged.
RENAMES = {"base_model": "model", "micro_batch_size": "per_device_train_batch_size",
           "eval_batch_size": "per_device_eval_batch_size", "num_epochs": "num_train_epochs",
           "sequence_len": "max_length", "train_on_inputs": "train_on_prompt", "val_set_size": "val_size",
           "revision_of_model": "revision", "peft_use_dora": "use_dora", "peft_use_rslora": "use_rslora",
           "loraplus_lr_ratio": "loraplus_lr_ratio", "sample_packing": "packing",
           "dataset_processes": "dataset_num_proc", "chat_template_jinja": "chat_template"}


def rules(m: Mapper) -> None:
    d = m.data
    axolotl_rl(m)  # rl: dpo | ipo | kto, and their settings (console/config/foreign/preference.py)
    adapter = str(m.get("adapter", "")).strip().lower()
    four, eight = d.get("load_in_4bit") is True, d.get("load_in_8bit") is True
    if adapter in ("", "none", "null", "false"):
        m.put("adapter", d.get("adapter", "(none)"), "method", "full", "no adapter: full fine-tuning")
        if four or eight:
            m.refuse("load_in_4bit" if four else "load_in_8bit",
                     "load_in_4bit/8bit without an adapter: a quantised model's weights cannot be fully fine-tuned; "
                     "set adapter: lora or qlora")
    elif adapter in ("lora", "qlora"):
        m.put("adapter", d["adapter"], "method", "qlora" if adapter == "qlora" or four else "lora")
    else:
        m.refuse("adapter", f"adapter: {show(d['adapter'])}: not supported: use lora, qlora or none (full)")
    for key in ("load_in_4bit", "load_in_8bit"):
        if key in d and key not in m.done:
            if d[key] is True or d[key] is False:
                m.put(key, d[key], key, d[key])
    if m.out.method == "full":
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_target_linear",
                    "lora_modules_to_save", "peft_use_dora", "peft_use_rslora", "loraplus_lr_ratio"):
            if key in d and d[key] not in (None, "", False, []):
                m.drop(key, "LoRA setting, and this run is full fine-tuning (no adapter)")
    if d.get("lora_model_dir"):
        m.refuse("lora_model_dir", "lora_model_dir: training on top of an existing adapter is not supported: merge "
                                   "it into the model first (axolotl merge-lora) and give the merged folder as "
                                   "base_model")
    if m.out.method != "full":
        if d.get("lora_target_linear") is True:  # axolotl adds every linear layer to the named ones
            m.put("lora_target_linear", True, "lora_target_modules", "all-linear")
            m.done.add("lora_target_modules")
        elif "lora_target_linear" in d:
            m.done.add("lora_target_linear")
        if d.get("lora_target_modules") and "lora_target_modules" not in m.done:
            m.targets("lora_target_modules", d["lora_target_modules"])
        if d.get("lora_modules_to_save"):
            m.targets_to_save("lora_modules_to_save", d["lora_modules_to_save"])
    if "bf16" in d and str(d["bf16"]).lower() == "auto":
        m.put("bf16", "auto", "bf16", True, "'auto': on, and turned off with a notice on a machine without bf16")
    for key, dtype in (("bfloat16", "bfloat16"), ("float16", "float16")):
        if d.get(key) is True:
            m.put(key, True, "dtype", dtype)
    if "flash_attention" in d:
        m.attention("flash_attention", d["flash_attention"], "flash_attention_2" if d["flash_attention"] is True
                    else None)
    if "sdp_attention" in d:
        m.attention("sdp_attention", d["sdp_attention"], "sdpa" if d["sdp_attention"] is True else None)
    if "lr_scheduler" in d:
        choice(m, "lr_scheduler", d["lr_scheduler"], "lr_scheduler_type")
    if "optimizer" in d:
        choice(m, "optimizer", d["optimizer"], "optim")
    if "chat_template" in d:
        template = d["chat_template"]
        if isinstance(template, str) and ("{{" in template or "{%" in template):
            m.put("chat_template", "(Jinja template)", "chat_template", template)
        elif template in (None, "", "tokenizer_default"):
            m.drop("chat_template", "the model's own chat template is used")
        else:
            m.drop("chat_template", f"axolotl's named template {show(template)} is not applied: the model's own "
                                    f"chat template is used (use_chat_template); give a Jinja template as "
                                    f"chat_template to use another")
    _methods(m)
    _evaluation_and_saving(m)
    _unsaid(m)
    _dataset(m)


# axolotl's keys for methods and trainers the console does not have (schemas/config.py, integrations/): refused,
# since dropping one trains another method (a reward model as a language model, ReLoRA as plain LoRA, ...).
_NO_COUNTERPART = {
    "reward_model": "reward-model training", "process_reward_model": "process reward-model training",
    "relora": "ReLoRA", "relora_steps": "ReLoRA", "lisa_n_layers": "LISA (layer-wise sampled full fine-tuning)",
    "loftq_config": "LoftQ initialisation", "qat": "quantisation-aware training", "ebft": "EBFT",
    "use_eaft": "the EAFT loss", "diffusion": "diffusion language-model training", "llmcompressor": "LLM Compressor's "
    "sparse fine-tuning", "unfrozen_parameters": "training chosen parameters of the full model",
    "gptq": "a GPTQ-quantised base model", "model_quantization_config": "a quantised base model (FP4/FP8)",
    "quantize_moe_experts": "quantised MoE experts", "fp8": "FP8 training", "dpo_use_weighting": "weighted DPO",
    "curriculum_sampling": "curriculum sampling (data in file order)", "use_onebitllms": "1-bit (BitNet) training",
}
# Plugins (integrations/) that change kernels, memory or logging, not what is trained.
_KERNEL_PLUGINS = {"axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin": "Cut Cross-Entropy computes the "
                   "same loss with less memory", "axolotl.integrations.kernels.KernelsPlugin": "kernels",
                   "axolotl.integrations.swanlab.SwanLabPlugin": "SwanLab logging",
                   "axolotl.integrations.expert_parallel.ExpertParallelPlugin": "expert parallelism"}
_LIGER = "axolotl.integrations.liger.LigerPlugin"
_LIGER_KEYS = ("liger_rope", "liger_rms_norm", "liger_glu_activation", "liger_layer_norm",
               "liger_fused_linear_cross_entropy", "liger_cross_entropy", "liger_rms_norm_gated")
# Keys that change speed or memory only: dropped with why (the same training).
_SPEED_ONLY = {
    "lora_mlp_kernel": "axolotl's fused LoRA kernels", "lora_qkv_kernel": "axolotl's fused LoRA kernels",
    "lora_o_kernel": "axolotl's fused LoRA kernels", "use_kernels": "hub kernels", "use_scattermoe": "MoE kernels",
    "use_sonicmoe": "MoE kernels", "cut_cross_entropy": "Cut Cross-Entropy (the same loss, less memory)",
    "activation_offloading": "activation offloading (the same training, more GPU memory here)",
    "torch_compile": "torch.compile", "tiled_mlp": "tiled MLP (memory)", "flash_attn_cross_entropy": "a fused loss",
    "flash_attn_rms_norm": "a fused norm", "flash_attn_fuse_mlp": "a fused MLP", "fused_attn_kernel": "a fused "
    "attention kernel", "experts_implementation": "the MoE kernel", "low_cpu_mem_usage": "loading memory",
    "loss_watchdog_threshold": "axolotl's loss watchdog", "loss_watchdog_patience": "axolotl's loss watchdog",
    "skip_prepare_dataset": "axolotl's data preparation", "remove_unused_columns": "axolotl's data preparation",
    "eot_tokens": "the chat template's own end of turn is trained", "torchdistx_path": "loading memory",
    "use_dsv4_kernels": "DeepSeek-V4 kernels", "use_glm_dsa_kernels": "GLM kernels",
    "expert_parallel_size": "expert parallelism", "context_parallel_size": "context parallelism",
    "tensor_parallel_size": "tensor parallelism", "dp_shard_size": "data-parallel sharding",
    "dp_replicate_size": "data-parallel replication",
}


def _methods(m: Mapper) -> None:
    """Methods carried (Liger kernels, lora_target_parameters, layers_to_transform) or refused, plugins sorted."""
    d = m.data
    for key, what in _NO_COUNTERPART.items():
        if d.get(key) not in (None, "", False, [], {}):
            m.refuse(key, f"{key}: {what} has no counterpart in the console, and without it the run is another "
                          f"method: train this file with axolotl, or remove the key and import again")
    if isinstance(d.get("peft"), dict) and d["peft"].get("loftq_config"):
        m.refuse("peft", "peft.loftq_config: LoftQ initialisation has no counterpart in the console, and without it "
                         "the run is another method: train this file with axolotl, or remove the key and import again")
    for key in [k for k in d if k.startswith(("relora_", "lisa_", "eaft_", "ebft_", "qat_", "gptq_"))]:
        m.done.add(key)  # the settings of a refused method
    plugins = d.get("plugins") if isinstance(d.get("plugins"), list) else []
    for plugin in plugins:
        if plugin == _LIGER or plugin in _KERNEL_PLUGINS:
            continue
        m.refuse("plugins", f"plugins: {show(plugin)} has no counterpart in the console: remove it if it does not "
                            f"change what is trained, and import again")
    if "plugins" in d:
        m.done.add("plugins")
    liger = [k for k in _LIGER_KEYS if d.get(k) is True]
    if _LIGER in plugins or liger:
        m.put(liger[0] if liger else "plugins", True if liger else _LIGER, "use_liger_kernel", True,
              "TRL's Liger kernels (the same training, less memory)")
    m.done.update(k for k in _LIGER_KEYS if k in d)
    for key, what in _SPEED_ONLY.items():
        if d.get(key) not in (None, "", False, [], {}):
            m.drop(key, f"{what}: speed or memory only, the same training")
        elif key in d:
            m.done.add(key)
    if d.get("gradient_checkpointing") in ("offload", "offload_disk"):
        m.put("gradient_checkpointing", d["gradient_checkpointing"], "activation_checkpointing", True,
              "checkpointing without the offload: the same training, more GPU memory")
    if d.get("lora_target_parameters") and m.out.method != "full":
        m.put("lora_target_parameters", d["lora_target_parameters"], "target_parameters",
              d["lora_target_parameters"] if isinstance(d["lora_target_parameters"], list)
              else [d["lora_target_parameters"]])
    if d.get("peft_layers_to_transform") and m.out.method != "full":
        m.put("peft_layers_to_transform", d["peft_layers_to_transform"], "layers_to_transform",
              d["peft_layers_to_transform"])
    if "eval_sample_packing" in d:
        m.put("eval_sample_packing", d["eval_sample_packing"], "eval_packing", d["eval_sample_packing"])


# Where each value below comes from, in axolotl-ai-cloud/axolotl: its config schema (src/axolotl/utils/schemas/
# config.py, training.py, peft.py) and the builder that turns a config into TrainingArguments
# (src/axolotl/core/builders/base.py, causal.py; src/axolotl/utils/config/__init__.py for the per-epoch counts).
_CONFIG = "schemas/config.py"
_TRAINING = "schemas/training.py"
_PEFT = "schemas/peft.py"
_BUILDER = "core/builders/base.py"

# What axolotl trains with when the file leaves a key out: (their key, our setting, value, source).
_UNSAID = (
    ("num_epochs", "num_train_epochs", 1.0, _TRAINING),
    ("micro_batch_size", "per_device_train_batch_size", 1, _TRAINING),
    ("gradient_accumulation_steps", "gradient_accumulation_steps", 1, _TRAINING),
    ("lr_scheduler", "lr_scheduler_type", "cosine", _TRAINING), ("weight_decay", "weight_decay", 0.0, _TRAINING),
    ("optimizer", "optim", "adamw_torch_fused", _TRAINING),
    ("max_grad_norm", "max_grad_norm", 1.0, f"None, {_TRAINING}: transformers' 1.0"),
    ("sequence_len", "max_length", 512, _CONFIG), ("train_on_inputs", "train_on_prompt", False, _TRAINING),
    ("sample_packing", "packing", False, _CONFIG),
    ("gradient_checkpointing", "activation_checkpointing", False, _CONFIG),
    ("load_best_model_at_end", "load_best_model_at_end", False, _CONFIG),
)


def _unsaid(m: Mapper) -> None:
    """The values axolotl trains with that the file leaves out (the report says each, against the console's)."""
    for theirs, ours, value, source in _UNSAID:
        if not m.says(theirs):
            m.default(theirs, ours, value, source)
    if m.out.method != "full" and not m.says("lora_dropout"):
        m.default("lora_dropout", "lora_dropout", 0.0, _PEFT)
    if not m.says("warmup_steps", "warmup_ratio"):
        # axolotl: min(3 % of the steps, 100); a ratio of 0.03 is the same up to 3,333 steps
        m.default("warmup_steps", "warmup_steps", 0.03, f"3 % of the steps up to 100, {_BUILDER}")
    if not m.says("bf16"):  # 'auto': on where the GPU has it (the console turns it off with a notice elsewhere)
        m.default("bf16", "bf16", True, f"'auto', {_CONFIG}")
    if not m.says("fp16"):
        m.default("fp16", "fp16", False, _CONFIG)
    strategy = str(m.get("excess_length_strategy", "drop")).lower()
    # axolotl leaves out the rows longer than sequence_len (utils/data/utils.py); 'raise' stops on one instead, so a
    # run that trains under it has none to leave out
    m.done.add("excess_length_strategy")
    how = "left out" if strategy in ("drop", "raise") else "cut"
    label = "excess_length_strategy" if m.says("excess_length_strategy") else "(default) excess_length_strategy"
    if strategy in ("drop", "raise", "truncate"):
        m.put(label, strategy, "drop_long_examples", how == "left out",
              f"rows longer than sequence_len are {how}" + ("" if m.says("excess_length_strategy")
                                                            else f": axolotl's default ({_CONFIG})"))
    else:
        m.drop("excess_length_strategy", f"{show(strategy)} is not one of axolotl's drop, truncate or raise")


def _evaluation_and_saving(m: Mapper) -> None:
    """axolotl's evaluation and checkpoints (core/builders/base.py, utils/config/__init__.py): no evaluation without
    a held-out share; evals_per_epoch / saves_per_epoch become a share of the run's steps (1 / (count x epochs)),
    as axolotl computes them; a checkpoint every epoch otherwise, the last 4 kept."""
    d = m.data
    held_out = m.get("val_set_size", 0.0)
    if not m.says("val_set_size"):
        m.default("val_set_size", "val_size", 0.0, _CONFIG)
    epochs = m.get("num_epochs", 1.0)
    evaluates = isinstance(held_out, (int, float)) and held_out > 0
    if not evaluates:
        for key in ("evals_per_epoch", "eval_steps", "eval_strategy"):
            if key in d:
                m.drop(key, "val_set_size is 0: axolotl does not evaluate")
        m.default("val_set_size: 0", "eval_strategy", "no", _BUILDER)
    elif m.says("eval_steps"):
        m.put("eval_steps", d["eval_steps"], "eval_steps", d["eval_steps"])
        m.put("(eval_steps) eval_strategy", "steps", "eval_strategy", "steps", "axolotl evaluates every eval_steps")
        if m.says("evals_per_epoch"):
            m.drop("evals_per_epoch", "eval_steps is set: axolotl uses it")
    elif m.says("evals_per_epoch"):
        per_epoch = d["evals_per_epoch"]
        if _count(per_epoch) and _count(epochs):
            share = 1.0 / (per_epoch * epochs)
            if share < 1:
                m.put("evals_per_epoch", per_epoch, "eval_steps", share,
                      "1 / (evals_per_epoch x num_epochs): a share of the run's steps")
                m.put("(evals_per_epoch) eval_strategy", "steps", "eval_strategy", "steps",
                      "axolotl evaluates every eval_steps")
            else:
                m.drop("evals_per_epoch", "one evaluation or less in the run: axolotl skips evaluation")
                m.default("evals_per_epoch", "eval_strategy", "no", "utils/config/__init__.py")
        else:
            m.drop("evals_per_epoch", f"{show(per_epoch)} is not a count of evaluations")
    elif not m.says("eval_strategy"):
        m.default("eval_strategy", "eval_strategy", "no", _BUILDER)
    if m.says("save_steps"):
        m.put("save_steps", d["save_steps"], "save_steps", d["save_steps"])
        m.default("(save_steps) save_strategy", "save_strategy", "steps", _BUILDER)
        if m.says("saves_per_epoch"):
            m.drop("saves_per_epoch", "save_steps is set: axolotl uses it")
    elif m.says("saves_per_epoch") and _count(d["saves_per_epoch"]) and _count(epochs) \
            and 1.0 / (d["saves_per_epoch"] * epochs) < 1:
        m.put("saves_per_epoch", d["saves_per_epoch"], "save_steps", 1.0 / (d["saves_per_epoch"] * epochs),
              "1 / (saves_per_epoch x num_epochs): a share of the run's steps")
        m.default("(saves_per_epoch) save_strategy", "save_strategy", "steps", _BUILDER)
    elif not m.says("save_strategy"):
        if m.says("saves_per_epoch"):
            m.drop("saves_per_epoch", "one save or less in the run: axolotl saves at the end of each epoch")
        m.default("save_strategy", "save_strategy", "epoch", _BUILDER)
    if not m.says("save_total_limit"):
        m.default("save_total_limit", "save_total_limit", 4, _BUILDER)


def _count(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _dataset(m: Mapper) -> None:
    d = m.data
    value = d.get("datasets")
    if m.dataset_given:
        if value is not None:
            m.drop("datasets", "replaced by the dataset given on the command line")
        return
    if d.get("pretraining_dataset"):
        m.refuse("pretraining_dataset", "pretraining_dataset: streaming pretraining is not supported: give the "
                                        "text as a dataset with type: completion")
    if not isinstance(value, list) or not value:
        m.refuse("datasets", "datasets: missing or not a list of {path, type}: add one, or give the data file with "
                             "--dataset FILE")
        return
    if len(value) > 1:  # several datasets, mixed: each entry mapped on its own
        paths = ", ".join(str(x.get("path")) if isinstance(x, dict) else str(x) for x in value)
        m.several("datasets", paths, dataset_entries(m))
        return
    m.done.add("datasets")
    _entry(m, 0, value[0])


def dataset_entries(m: Mapper) -> list[Imported]:
    """Each entry of the file's `datasets:` list mapped on its own (dataset, dataset_format, dataset_split,
    dataset_config, columns, text_column, with its report), for a run that trains on several datasets: the hook
    that the several-datasets setting (issue 26) reads. A refused entry holds its refusal."""
    value = m.data.get("datasets")
    out = []
    for i, entry in enumerate(value if isinstance(value, list) else []):
        one = Mapper(m.tool, m.data, m.base_dir, False)
        _entry(one, i, entry)
        out.append(one.out)
    return out


def _entry(m: Mapper, i: int, entry) -> None:
    """One entry of `datasets:` -> our data settings (their keys said as datasets[i].key)."""
    at = f"datasets[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].strip():
        m.refuse("datasets", f"{at}: needs a path (a file, folder or Hub dataset); add it")
        return
    entry = {str(k): v for k, v in entry.items()}
    kind = entry.get("type")
    kind = _TYPE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    fmt = known_as(AXOLOTL).get(kind) if isinstance(kind, str) else None
    if axolotl_dataset_type(m, kind, i):
        m.put(f"datasets[{i}].path", entry["path"], "dataset", m.local_or_hub(entry["path"]))
        for key in entry:
            if key not in ("path", "type"):
                m.drop(f"datasets[{i}].{key}", "no counterpart in the console's preference data settings")
        return
    if fmt is None:
        why = ("input_output marks trained segments itself, which has no counterpart here: use "
               "prompt/completion rows" if kind == "input_output" else
               f"the console reads {listing(known_as(AXOLOTL))}")
        m.refuse("datasets", f"{at}.type: {show(entry.get('type'))}: not supported: {why}")
        return
    thinking = [k for k in _THINKING if entry.get(k) not in (None, "", False)]
    if thinking:
        m.refuse("datasets", f"{at}.{thinking[0]}: reasoning traces are not read: the console's chat formats keep "
                             f"each turn's role and content only; put the reasoning into the content (e.g. between "
                             f"<think> tags) and import again")
        return
    data_files = entry.get("data_files")
    if isinstance(data_files, list) and len(data_files) == 1:
        data_files = data_files[0]
    if isinstance(data_files, str) and data_files.strip():
        m.put(f"{at}.data_files", entry["data_files"], "dataset", m.local_or_hub(data_files))
    elif data_files:
        m.refuse("datasets", f"{at}.data_files: several files: merge them into one and give it with --dataset FILE")
        return
    else:
        m.put(f"{at}.path", entry["path"], "dataset", m.local_or_hub(entry["path"]))
    m.put(f"{at}.type", entry.get("type"), "dataset_format", fmt.name,
          "axolotl's Alpaca prompt, not the chat template" if fmt.name == "alpaca_prompt" else "")
    used = {"path", "type", "data_files", "ds_type"} | set(_THINKING)
    if entry.get("split") and entry["split"] != "train":
        # a slice (train[:10%]) is kept as written: the datasets library reads the slice syntax itself
        m.put(f"{at}.split", entry["split"], "dataset_split", str(entry["split"]))
    used.add("split")
    if entry.get("name"):
        m.put(f"{at}.name", entry["name"], "dataset_config", str(entry["name"]))
    used.add("name")
    if kind == "chat_template" and isinstance(fmt, Conversation):
        # the options of axolotl's chat_template type: the turns' column and keys
        messages = entry.get("field_messages", "messages")
        if messages != fmt.column:
            m.put(f"{at}.field_messages", messages, "columns", f"{fmt.column}:{messages}")
        used.add("field_messages")
        mapping = entry.get("message_property_mappings") or {}
        role = entry.get("message_field_role", mapping.get("role", "role") if isinstance(mapping, dict) else "role")
        content = entry.get("message_field_content",
                            mapping.get("content", "content") if isinstance(mapping, dict) else "content")
        keyed = keyed_as(role, content) if isinstance(role, str) and isinstance(content, str) else None
        if keyed is None:
            m.refuse("datasets", f"{at}: turns keyed {show(role)}/{show(content)}: the console reads "
                                 f"{conversations(lambda f: f'{f.turns.speaker}/{f.turns.content}')}; rename the keys")
            return
        if keyed is not fmt:
            m.put(f"{at}.message_property_mappings", mapping or f"{role}/{content}", "dataset_format",
                  keyed.name, f"{role}/{content} turns are the {keyed.name} format's")
            if messages != keyed.column:
                m.put(f"{at}.field_messages", messages, "columns", f"{keyed.column}:{messages}")
        used |= {"message_property_mappings", "message_field_role", "message_field_content"}
    if isinstance(fmt, PlainText) and entry.get("field") and entry["field"] != fmt.column:
        m.put(f"{at}.field", entry["field"], "text_column", str(entry["field"]))
    used.add("field")
    for key in entry:
        if key not in used:
            m.drop(f"{at}.{key}", "no counterpart in the console's data settings")


# axolotl's other names for the types above; its reasoning-trace options (schemas/datasets.py)
_TYPE_ALIASES = {"chat_template.default": "chat_template"}
_THINKING = ("field_thinking", "template_thinking_key", "split_thinking")


def _datasets_listed(data: dict) -> int:
    """A `datasets:` list is axolotl's shape (LLaMA-Factory names its data in `dataset`)."""
    return 2 if isinstance(data.get("datasets"), list) else 0


TOOL = Tool(name=AXOLOTL, signs=SIGNS, defining=DEFINING, renames=RENAMES, rules=rules, bonus=_datasets_listed)
