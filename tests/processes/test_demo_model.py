"""The built-in demo: the tiny model builds offline in seconds, is reused, and trains with every adapter."""
from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from console.data import demo, demo_model  # noqa: E402
from console.data.demo import demo_dataset_path, demo_model_dir, is_built  # noqa: E402
from console.data.demo_model import ensure_demo_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build for the module, timed (imports done before the clock starts)."""
    import tokenizers  # noqa: F401
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: F401

    root = tmp_path_factory.mktemp("cache")
    t = time.perf_counter()
    path = ensure_demo_model(root)
    return path, time.perf_counter() - t


def test_builds_offline_in_seconds(built, monkeypatch):
    path, secs = built
    assert secs < 10, f"building the demo model took {secs:.1f}s"
    assert path == demo_model_dir(path.parent) and path.name == demo.DEMO_MODEL_NAME
    assert is_built(path)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (path / name).is_file(), name
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "a temporary build was left behind"


def test_reused_without_rebuilding(built, monkeypatch):
    path, _ = built
    mtime = (path / "model.safetensors").stat().st_mtime_ns

    def no_build(out):
        raise AssertionError("rebuilt a model that was already in the cache")

    monkeypatch.setattr(demo_model, "_build", no_build)
    t = time.perf_counter()
    assert ensure_demo_model(path.parent) == path
    assert time.perf_counter() - t < 0.5
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime


def test_default_cache_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_CONSOLE_CACHE", str(tmp_path / "c"))
    assert demo_model_dir() == tmp_path / "c" / demo.DEMO_MODEL_NAME
    monkeypatch.delenv("TRAINING_CONSOLE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert demo_model_dir() == tmp_path / "x" / "training-console" / demo.DEMO_MODEL_NAME


def test_racing_builds_and_a_broken_folder(tmp_path):
    # a folder without the marker (an interrupted copy) is replaced
    broken = demo_model_dir(tmp_path)
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{")
    results, errors = [], []

    def build():
        try:
            results.append(ensure_demo_model(tmp_path))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert results == [broken, broken] and is_built(broken)
    assert json.loads((broken / "config.json").read_text())["model_type"] == "llama"
    assert sorted(p.name for p in tmp_path.iterdir()) == [demo.DEMO_MODEL_NAME]


def test_model_loads_with_auto_classes(built):
    from transformers import AutoModelForCausalLM

    path, _ = built
    model = AutoModelForCausalLM.from_pretrained(path)
    cfg = model.config
    assert cfg.model_type == "llama" and cfg.hidden_size == 64 and cfg.num_hidden_layers == 2
    n = sum(p.numel() for p in model.parameters())
    assert 80_000 < n < 200_000, n
    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= names
    # random init with a fixed seed: two builds give the same weights
    again = demo_model.build_model(demo_model.build_tokenizer())
    assert torch.equal(again.model.embed_tokens.weight, model.model.embed_tokens.weight)


def test_tokenizer_round_trips(built):
    from transformers import AutoTokenizer

    path, _ = built
    tok = AutoTokenizer.from_pretrained(path)
    for text in ["What is the capital of France?\nThe capital of France is Paris.",
                 "  spaces,\ttabs and ünïcödé 日本語 ✓ {\"json\": [1, 2]}", "### Response:\n17 + 25 = 42"]:
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id}) == 3
    assert len(tok("The capital of France is Paris.")["input_ids"]) < 16      # BPE merges, not bytes
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
                                   tokenize=False)
    assert chat == "<s><|user|>\nhi</s>\n<|assistant|>\nyo</s>\n"  # bos from the template, as Llama's
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=True, return_dict=True)["input_ids"]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>\n")
    # rendered text already holds its bos: encoding it again must not add a second one
    assert tok(chat, add_special_tokens=False)["input_ids"].count(tok.bos_token_id) == 1


def test_dataset_is_shipped_and_parses():
    path = demo_dataset_path()
    assert path.is_file() and path.parent.name == "demo_data"
    assert path.stat().st_size < 400_000
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 1000
    assert all(set(r) == {"instruction", "input", "output"} and r["instruction"] and r["output"] for r in rows)
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows)      # no duplicate: val is held out


def test_dataset_matches_its_generator():
    spec = importlib.util.spec_from_file_location("make_demo_data", REPO / "bench" / "make_demo_data.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.render(gen.generate()) == demo_dataset_path().read_text(encoding="utf-8")


# ---------------------------------------------------------------- a few training steps with each method


def _batch(tok):
    rows = [json.loads(line) for line in demo_dataset_path().read_text(encoding="utf-8").splitlines()[:4]]
    texts = [f"### Instruction:\n{r['instruction']}\n{r['input']}\n\n### Response:\n{r['output']}{tok.eos_token}"
             for r in rows]
    enc = tok(texts, padding=True, return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return dict(enc, labels=labels)


def _train_steps(model, batch, steps=8, lr=1e-2) -> list[float]:
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, "nothing to train"
    opt = torch.optim.AdamW(params, lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def _peft_config(kind: str):
    import peft

    common = dict(target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                  task_type="CAUSAL_LM")
    if kind == "lora":
        return peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, **common)
    if kind == "loha":
        return peft.LoHaConfig(r=16, alpha=32, module_dropout=0.05, **common)
    if kind == "lokr":
        return peft.LoKrConfig(r=16, alpha=32, module_dropout=0.05, **common)
    return peft.IA3Config(task_type="CAUSAL_LM")


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["full", "lora", "loha", "lokr", "ia3"])
def test_a_few_steps_reduce_the_loss(built, kind):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, _ = built
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path)
    if kind != "full":
        import peft

        model = peft.get_peft_model(model, _peft_config(kind))
        assert 0 < sum(p.numel() for p in model.parameters() if p.requires_grad) < 100_000
    losses = _train_steps(model, _batch(tok), lr=1e-1 if kind == "ia3" else 1e-2)
    assert all(map(lambda x: x == x, losses)), losses
    assert losses[-1] < losses[0] - 0.3, losses


@pytest.mark.e2e
def test_qlora_4bit_on_the_cpu(built):
    pytest.importorskip("bitsandbytes")
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    path, _ = built
    tok = AutoTokenizer.from_pretrained(path)
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.float32)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=bnb, dtype=torch.float32)
    import bitsandbytes as bnb_lib

    quantised = [n for n, m in model.named_modules() if isinstance(m, bnb_lib.nn.Linear4bit)]
    assert len(quantised) == 2 * 7, quantised           # every projection of both layers; lm_head (tied) is not
    model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = peft.get_peft_model(model, _peft_config("lora"))
    losses = _train_steps(model, _batch(tok))
    assert all(map(lambda x: x == x, losses)), losses
    assert losses[-1] < losses[0] - 0.3, losses


def test_module_is_import_light():
    """The UI may import console.data.demo for the dataset path: it must not pull torch in by itself."""
    import subprocess
    import sys

    code = ("import sys, console.data.demo as d; d.demo_dataset_path(); "
            "print([m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_manual_gives_the_demo_models_real_parameter_count():
    """docs/datasets.md (the manual, where the README's paragraph on the demo moved) states the real count."""
    import re
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    from console.data.demo_model import ensure_demo_model

    count = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(ensure_demo_model()).parameters())
    readme = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text(encoding="utf-8")
    said = re.search(r"tiny Llama-style model \([^)]*?([\d,]+) parameters", readme)
    assert said and int(said.group(1).replace(",", "")) == count, (said and said.group(0), count)
