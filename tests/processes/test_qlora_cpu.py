"""QLoRA on a CPU: an evaluation must not change what the next training step computes.

bitsandbytes repacks a 4-bit layer's weight in place for CPU inference the first time it runs in eval mode without
gradients (on CPUs with AVX512-BF16), and never packs it back; the training steps after an evaluation then got
gradients about six times too small. console.trainer.model.keep_4bit_weights_trainable turns that off.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")

from console.config.run_config import build_config, resolve  # noqa: E402
from console.machine.hardware import CPU_ONLY  # noqa: E402
from console.trainer.model import load_model  # noqa: E402


def _grads(model, ids):
    model.train()
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])


def _evaluate(model, ids):
    model.eval()
    with torch.no_grad():
        model(input_ids=ids, labels=ids)


def test_an_evaluation_leaves_the_next_gradients_unchanged():
    config = resolve(build_config("qlora", sets={"lora_dropout": "0"}), CPU_ONLY)
    model, _, _ = load_model("qlora", config.values, 4)
    torch.manual_seed(0)
    ids = torch.randint(3, 500, (2, 24))
    before = _grads(model, ids)
    _evaluate(model, ids)
    after = _grads(model, ids)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-6), (before.norm(), after.norm())


def test_bitsandbytes_repacking_is_what_it_guards_against():
    """Where bitsandbytes would repack (AVX512-BF16 CPUs), re-enabling it shows the fault the guard prevents."""
    config = resolve(build_config("qlora", sets={"lora_dropout": "0"}), CPU_ONLY)
    model, _, _ = load_model("qlora", config.values, 4)
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)
    from bitsandbytes.nn import Linear4bit

    probe = Linear4bit(64, 64, compute_dtype=torch.float32)
    if not getattr(probe, "support_avx512bf16_for_cpu", False):
        pytest.skip("this CPU has no AVX512-BF16: bitsandbytes never repacks here")
    for m in layers:
        m.support_avx512bf16_for_cpu = True
    ids = torch.randint(3, 500, (2, 24))
    before = _grads(model, ids)
    _evaluate(model, ids)
    after = _grads(model, ids)
    assert not torch.allclose(before, after, rtol=1e-2), "bitsandbytes no longer repacks: the guard may go"
