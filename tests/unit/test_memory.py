"""console.config.memory: the training-memory estimate, its formulas, model shapes from config.json, and one real
measured peak on the CPU (bench/memory.py's measurement, in a subprocess)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.common.errors import UserError
from console.config.memory import GiB, MiB, adapter_params, estimate, estimate_text
from console.config.model_shape import model_shape, shape_from_config
from console.config.run_config import build_config, resolve
from console.machine.hardware import CPU_ONLY, GPU, Hardware

ROOT = Path(__file__).resolve().parents[2]
H100 = Hardware((GPU(0, "NVIDIA H100 80GB HBM3", 81559, 80000, 9.0),))
LLAMA_8B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "torch_dtype": "bfloat16",
            "tie_word_embeddings": False, "hidden_act": "silu"}
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab_size": 50257,
        "n_inner": None, "activation_function": "gelu_new"}


def config(method="lora", hardware=CPU_ONLY, **sets):
    sets.setdefault("max_length", 256)  # the figures below were worked out for 256 tokens (the default is 1024)
    return resolve(build_config(method, sets={k: str(v) for k, v in sets.items()}), hardware)


def write_model(tmp_path, cfg, name="m"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    return str(folder)


# -- formulas -------------------------------------------------------------------------------------------------

def test_full_fine_tuning_is_16_bytes_per_fp32_parameter_plus_activations():
    shape = model_shape(None)
    est = estimate(config("full"), shape, CPU_ONLY)
    p = est.parts
    n = shape.total_params
    assert est.trainable_params == est.total_params == n
    assert (p["weights"], p["gradients"], p["optimizer"]) == (4 * n, 4 * n, 8 * n)
    assert p["adapter"] == 0 and p["activations"] > 0 and p["logits"] > 0
    assert est.total == sum(p.values())  # accumulation over micro-batches: everything is held at once


def test_bf16_checkpoint_trains_in_bf16_half_the_bytes():
    shape = shape_from_config(LLAMA_8B, "llama")
    est = estimate(config("full", H100), shape, H100)
    assert est.parts["weights"] == 2 * shape.total_params
    assert est.parts["optimizer"] == 4 * shape.total_params


def test_lora_trains_only_the_adapter_and_its_count_is_r_times_in_plus_out():
    shape = model_shape(None)  # hidden 64, intermediate 128, 2 layers, 7 linear modules per layer
    est = estimate(config("lora", lora_r=16), shape, CPU_ONLY)
    per_layer = 16 * ((64 + 64) * 4 + (64 + 128) * 3)
    assert est.trainable_params == 2 * per_layer
    assert est.parts["adapter"] == est.parts["gradients"] == 4 * est.trainable_params
    assert est.parts["optimizer"] == 8 * est.trainable_params
    only_qv = estimate(config("lora", lora_r=16, lora_target_modules="q_proj,v_proj"), shape, CPU_ONLY)
    assert only_qv.trainable_params == 2 * 2 * 16 * (64 + 64)


def test_qlora_base_is_about_four_times_smaller_than_a_half_precision_lora_base():
    shape = shape_from_config(LLAMA_8B, "llama")
    lora = estimate(config("lora", H100), shape, H100)
    qlora = estimate(config("qlora", H100), shape, H100)
    rest = shape.total_params - shape.linear_params  # embeddings, lm_head, norms: fp32 after peft's upcast
    four_bit = qlora.parts["weights"] - 4 * rest
    assert 3.8 < 2 * shape.linear_params / four_bit < 4.0  # 0.5 byte + double-quantised absmax per 64
    assert lora.parts["weights"] / qlora.parts["weights"] > 2
    no_dq = estimate(config("qlora", H100, bnb_4bit_use_double_quant=False), shape, H100)
    assert no_dq.parts["weights"] > qlora.parts["weights"]


def test_adapters_other_than_lora_have_fewer_parameters_than_the_base():
    shape = shape_from_config(LLAMA_8B, "llama")
    counts = {kind: estimate(config("adapter", H100, adapter_type=kind), shape, H100).trainable_params
              for kind in ("loha", "lokr", "ia3", "adalora")}
    assert all(0 < n < shape.total_params / 50 for n in counts.values())
    assert counts["ia3"] < counts["lokr"] < counts["loha"]


def test_gradient_checkpointing_lowers_activations_and_batch_and_length_raise_them():
    shape = model_shape(None)
    base = estimate(config("full"), shape, CPU_ONLY).parts["activations"]
    assert estimate(config("full", activation_checkpointing=True), shape, CPU_ONLY).parts["activations"] < base
    big = shape_from_config(LLAMA_8B, "llama")  # 32 layers: one layer's activations instead of 32
    without = estimate(config("qlora", H100), big, H100).parts["activations"]
    assert estimate(config("qlora", H100, activation_checkpointing=True), big, H100).parts["activations"] < without / 8
    doubled = estimate(config("full", per_device_train_batch_size=8), shape, CPU_ONLY).parts
    assert doubled["activations"] == pytest.approx(2 * base)
    longer = estimate(config("full", max_length=512), shape, CPU_ONLY).parts["activations"]
    assert longer == pytest.approx(2 * base)
    # the deprecated name (transformers < 5.24, most configs in the wild) is read as the current one
    legacy = estimate(config("qlora", H100, gradient_checkpointing=True), big, H100).parts["activations"]
    assert legacy < without / 8


def test_the_lm_head_is_counted_as_trl_fused_tiles_never_the_full_logits():
    from console.config.memory import FUSED_CPU_TILES

    shape = model_shape(None)
    est = estimate(config("lora", per_device_train_batch_size=4, max_length=256), shape, CPU_ONLY)
    tokens = 4 * 256
    assert est.parts["logits"] == tokens * 512 * 4 * FUSED_CPU_TILES + tokens * 16  # the CPU's torch tiles
    big = shape_from_config(LLAMA_8B, "llama")  # vocabulary 128k, 4 x 1024 tokens: one 4096 x 32768 tile
    gpu = estimate(config("lora", H100, max_length=1024), big, H100).parts["logits"]
    assert gpu == 4096 * 32768 * 2 * 2 + 4096 * 16
    assert gpu < 4096 * 128256 * 12 / 10  # the full logits would be over ten times that


def test_gqa_shrinks_k_and_v():
    mha = shape_from_config(dict(LLAMA_8B, num_key_value_heads=32), "mha")
    gqa = shape_from_config(LLAMA_8B, "gqa")
    assert mha.total_params - gqa.total_params == 32 * 2 * 4096 * (4096 - 1024)
    lora = {s.name: estimate(config("lora", H100, lora_target_modules="k_proj,v_proj"), s, H100)
            for s in (mha, gqa)}
    assert lora["gqa"].trainable_params < lora["mha"].trainable_params


def test_one_micro_batch_per_step_counts_the_larger_of_gradients_and_activations():
    shape = model_shape(None)
    est = estimate(config("full", gradient_accumulation_steps=1), shape, CPU_ONLY)
    p = est.parts
    assert est.total == sum(p.values()) - min(p["gradients"], p["activations"] + p["logits"])


def test_with_gradient_checkpointing_the_recomputed_layer_and_the_logits_are_not_held_at_once():
    shape = model_shape(None)
    est = estimate(config("full", activation_checkpointing=True), shape, CPU_ONLY)
    p = est.parts
    assert sum(p.values()) > est.total >= sum(p.values()) - p["logits"]


def test_gpu_adds_the_cuda_context_and_uses_half_precision_activations():
    shape = shape_from_config(LLAMA_8B, "llama")
    gpu = estimate(config("lora", H100), shape, H100)
    assert gpu.device == "cuda" and gpu.precision == "fp16" and gpu.parts["cuda_context"] > 0
    assert gpu.parts["weights"] == 2 * shape.total_params  # a frozen base in fp16
    cpu = estimate(config("lora"), shape, CPU_ONLY)
    assert "cuda_context" not in cpu.parts and cpu.parts["activations"] > gpu.parts["activations"]


# -- verdicts -------------------------------------------------------------------------------------------------

def test_verdict_fits_and_wont_fit_with_suggestions_that_apply():
    shape = shape_from_config(LLAMA_8B, "llama")
    full = estimate(config("full", H100), shape, H100)
    assert full.verdict(200 * GiB).startswith("fits (")
    text = full.verdict(24 * GiB)
    assert text.startswith("won't fit: ") and "needed" in text and "24.0 GiB free" in text
    assert "QLoRA" in text and "smaller batch" in text and "gradient checkpointing" in text
    qlora = estimate(config("qlora", H100, per_device_train_batch_size=1, activation_checkpointing=True), shape, H100)
    text = qlora.verdict(2 * GiB)
    assert text.startswith("won't fit") and "QLoRA" not in text and "batch" not in text
    assert "gradient checkpointing" not in text and "smaller model" in text
    # the suggestions that would fit come first
    tries = full.suggestions(30 * GiB)
    assert tries and tries[0][1].total <= 30 * GiB


def test_estimate_text_on_the_cpu_and_on_a_gpu(tmp_path):
    text = estimate_text(config("lora"), CPU_ONLY)
    assert "memory estimate:" in text and "on the CPU" in text and "fits" in text and "demo" in text
    big = write_model(tmp_path, LLAMA_8B)
    gpu = estimate_text(config("full", H100, model=big, per_device_train_batch_size=16), H100)
    assert "on NVIDIA H100 80GB HBM3: won't fit" in gpu and "QLoRA" in gpu
    assert "fits (" in estimate_text(config("qlora", H100, model=big), H100)


def test_estimate_text_says_why_there_is_no_estimate(tmp_path):
    cfg = config("lora")
    cfg.values["model"] = str(tmp_path / "nothing-here")
    assert estimate_text(cfg, CPU_ONLY).startswith("memory: no estimate (")


# -- shapes from config.json ------------------------------------------------------------------------------

def _real_param_count(cfg: dict) -> int:
    """transformers' own count, on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    hf = AutoConfig.for_model(**cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cfg", [
    pytest.param(dict(LLAMA_8B, num_hidden_layers=2), id="llama-gqa-untied"),
    pytest.param(dict(GPT2, n_layer=2), id="gpt2-conv1d-tied"),
    pytest.param({"model_type": "qwen2", "hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
                  "tie_word_embeddings": True}, id="qwen2-bias-tied"),
])
def test_parameter_counts_match_transformers(tmp_path, cfg):
    shape = model_shape(write_model(tmp_path, cfg))
    assert shape.total_params == _real_param_count(cfg)


def test_model_shape_of_local_folders(tmp_path):
    llama = model_shape(write_model(tmp_path, LLAMA_8B, "llama"))
    assert (llama.family, llama.kv_heads, llama.heads, llama.gated_mlp, llama.tied, llama.dtype) == (
        "llama", 8, 32, True, False, "bfloat16")
    gpt2 = model_shape(write_model(tmp_path, GPT2, "gpt2"))
    assert (gpt2.family, gpt2.intermediate, gpt2.tied, gpt2.positions) == ("gpt2", 3072, True, 1024)
    assert 124e6 < gpt2.total_params < 125e6  # GPT-2 small: 124.4M
    neox = model_shape(write_model(tmp_path, {"model_type": "gpt_neox", "hidden_size": 512, "num_hidden_layers": 6,
                                              "num_attention_heads": 8, "intermediate_size": 2048,
                                              "vocab_size": 50304, "hidden_act": "gelu"}, "neox"))
    assert neox.family == "generic" and not neox.gated_mlp and neox.norm_params == 2


def test_model_shape_errors_are_one_line_user_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        model_shape(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="no hidden_size"):
        model_shape(write_model(tmp_path, {"model_type": "mystery", "vocab_size": 10}))
    with pytest.raises(UserError, match="not found"):
        model_shape("./no/such/folder")


def test_demo_model_shape_needs_no_build():
    from console.data.demo import CONFIG, VOCAB_SIZE

    shape = model_shape(None)
    assert (shape.hidden, shape.layers, shape.vocab, shape.tied) == (CONFIG["hidden_size"],
                                                                    CONFIG["num_hidden_layers"], VOCAB_SIZE, True)
    assert shape.total_params == _real_param_count(dict(CONFIG, model_type="llama", vocab_size=VOCAB_SIZE))


def test_hub_name_offline_is_a_clear_user_error(tmp_path):
    code = ("from console.config.model_shape import model_shape\n"
            "from console.common.errors import UserError\n"
            "try:\n    model_shape('nobody-here/no-such-model-xyz')\n"
            "except UserError as e:\n    print('USERERROR', e)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    line = out.stdout.strip()
    assert line.startswith("USERERROR cannot read the config of Hub model nobody-here/no-such-model-xyz"), out
    assert "offline" in line and "\n" not in line


def test_the_ui_side_imports_no_torch():
    code = ("import sys\nfrom console.config.run_config import build_config, resolve\nfrom console.machine.hardware import CPU_ONLY\n"
            "from console.config.memory import estimate_text\n"
            "print(estimate_text(resolve(build_config('qlora'), CPU_ONLY), CPU_ONLY))\n"
            "bad = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules]\n"
            "assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert "memory estimate" in out.stdout


# -- a real measured peak ------------------------------------------------------------------------------------

@pytest.mark.e2e  # really trains (about 30 s): out of the quick loop
def test_estimate_is_within_25_percent_of_a_measured_peak_on_the_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "bench" / "memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # one optimiser step of two micro-batches: the peak is the second one's backward (gradients held)
    r = bench.run_one("demo-full", tmp_path, sets=dict(per_device_train_batch_size=8, max_length=384), steps=1)
    ratio = r["estimate_live"] / r["measured"]  # live tensors (the bench's mmap threshold) against the live peak
    assert r["trainable"] == r["trainable_est"]
    assert r["measured"] > 40 * MiB, r  # large against allocator noise
    print(f"measured {r['measured'] / MiB:.1f} MiB, estimated {r['estimate_live'] / MiB:.1f} MiB (live), "
          f"ratio {ratio:.2f}")
    assert 0.75 <= ratio <= 1.25, (ratio, r)


# -- adapter counts against peft itself -------------------------------------------------------------------------

_SMALL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, vocab_size=1000,
              pad_token_id=0, bos_token_id=1, eos_token_id=2)


def _peft_trainable(cfg: dict, r: int) -> int:
    """peft's own count of LoRA parameters under all-linear, on the meta device (what the trainer will train)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg))
    model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("cfg", [
    pytest.param(dict(_SMALL, model_type="llama", num_key_value_heads=2), id="llama"),
    pytest.param(dict(_SMALL, model_type="phi3", num_key_value_heads=2), id="phi3-fused-qkv-gate_up"),
    pytest.param(dict(_SMALL, model_type="gpt_neox"), id="gpt_neox-fused-query_key_value"),
    pytest.param(dict(_SMALL, model_type="falcon", new_decoder_architecture=False, multi_query=True),
                 id="falcon-multi-query"),
    pytest.param(dict(_SMALL, model_type="mixtral", num_key_value_heads=2, num_local_experts=4,
                      num_experts_per_tok=2), id="mixtral-experts-as-parameters"),
    pytest.param(dict(_SMALL, model_type="qwen3_moe", num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                      moe_intermediate_size=128), id="qwen3_moe"),
    pytest.param(dict(_SMALL, model_type="qwen2_moe", num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                      moe_intermediate_size=128, shared_expert_intermediate_size=256), id="qwen2_moe-shared-expert"),
    pytest.param(dict(_SMALL, model_type="gpt2", n_embd=256, n_layer=2, n_head=4), id="gpt2-conv1d"),
])
def test_lora_trainable_count_is_peft_s_own(tmp_path, cfg):
    # fused projections are one LoRA pair each, and transformers 5's fused experts are adapted (or not) as peft
    # decides: the estimate's count must be exactly what the trainer will report as trainable
    shape = model_shape(write_model(tmp_path, cfg))
    assert adapter_params({"lora_r": 8}, "lora", shape) == _peft_trainable(cfg, 8)
    real = _real_param_count(cfg)  # the base within 0.2 % (a norm's bias or a per-head norm may be left out)
    assert abs(shape.total_params - real) <= 0.002 * real, (shape.total_params, real)
