"""bitsandbytes left out of the processes of runs that never call it, kept for every run that might."""
import json
import subprocess
import sys

import pytest

from console.trainer.lean_imports import needs_bitsandbytes


@pytest.mark.parametrize("method, values, needed", [
    ("lora", {}, False),
    ("full", {"optim": "adamw_torch_fused"}, False),
    ("adapter", {"optim": "adafactor"}, False),
    ("qlora", {}, True),
    ("lora", {"load_in_8bit": True}, True),
    ("lora", {"optim": "paged_adamw_8bit"}, True),
    ("full", {"optim": "adamw_bnb_8bit"}, True),
    ("full", {"optim": "lion_32bit"}, True),  # bitsandbytes' 32-bit Lion: not in the torch list
    ("lora", {"optim": "ademamix"}, True),
])
def test_the_method_and_optimiser_decide(method, values, needed):
    assert needs_bitsandbytes(method, values) is needed


def test_a_base_saved_quantised_or_not_seen_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    plain, quantised = tmp_path / "plain", tmp_path / "bnb-4bit"
    plain.mkdir()
    quantised.mkdir()
    (plain / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (quantised / "config.json").write_text(json.dumps({"model_type": "llama", "quantization_config": {
        "quant_method": "bitsandbytes", "load_in_4bit": True}}))
    assert not needs_bitsandbytes("lora", {"model": str(plain)})
    assert needs_bitsandbytes("lora", {"model": str(quantised)})
    # a Hub name whose config.json is not in the cache could be a "-bnb-4bit" upload
    assert needs_bitsandbytes("lora", {"model": "unsloth/not-downloaded"})
    # an unreadable config: the loader will say what is wrong, with bitsandbytes at hand
    (plain / "config.json").write_text("{not json")
    assert needs_bitsandbytes("lora", {"model": str(plain)})


def _imports_after_gate(method: str) -> dict:
    """What a fresh process sees after the gate and the libraries a trainer loads."""
    code = (
        "import json, sys\n"
        "from console.trainer.lean_imports import leave_out_bitsandbytes\n"
        f"left_out = leave_out_bitsandbytes({method!r}, {{}})\n"
        "import peft, transformers\n"
        "from transformers import Trainer\n"
        "from transformers.utils import is_bitsandbytes_available\n"
        "print(json.dumps({'left_out': left_out, 'loaded': sys.modules.get('bitsandbytes') is not None,\n"
        "                  'available': is_bitsandbytes_available()}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peft_and_transformers_load_without_it_and_a_qlora_process_still_has_it():
    pytest.importorskip("bitsandbytes")
    lora = _imports_after_gate("lora")
    assert lora == {"left_out": True, "loaded": False, "available": False}
    qlora = _imports_after_gate("qlora")
    assert qlora["left_out"] is False and qlora["available"] is True
