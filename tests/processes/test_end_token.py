"""End to end: a base model trained through a chat template (Qwen2.5-base's shape: turns end with <|im_end|>, the
model's eos is <|endoftext|>) is saved to stop at the template's end of turn."""
import json

import pytest

from console.cli.main import main
from console.runs.rundir import list_run_dirs
from tests.support.e2e_util import sets
from tests.support.families import family_model

pytestmark = pytest.mark.e2e

CHAT = {"messages": [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hello there."}]}


def test_the_saved_model_and_tokenizer_end_at_the_templates_end_of_turn(tmp_path):
    model = family_model(tmp_path / "qwen-base", "qwen2.5-base")
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(CHAT) + "\n" for _ in range(40)))
    code = main(["train", "--runs-dir", str(tmp_path / "runs"), "--method", "full", "--model", str(model),
                 "--dataset", str(data), *sets("max_steps=2", "eval_strategy=no", "save_strategy=no",
                                                            "max_length=512")])
    run = list_run_dirs(tmp_path / "runs")[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    from transformers import AutoTokenizer, GenerationConfig

    saved = run.path / "model"
    tokenizer = AutoTokenizer.from_pretrained(saved)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>"
    assert end in GenerationConfig.from_pretrained(saved).eos_token_id
    assert "ends an answer with <|im_end|>" in run.log_path.read_text()
