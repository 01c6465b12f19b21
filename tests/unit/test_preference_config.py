"""Preference training's settings and data: the objective follows the data unless set, its preset is laid over the
method's without touching what the user typed, each trainer gets only its own arguments, bad preference rows and a
dataset that cannot train the objective are one line before launch, and the memory estimate counts the reference."""
from __future__ import annotations

import json

import pytest

from console.common.errors import ConfigError, DataError
from console.config.memory import estimate
from console.config.run_config import RunConfig, build_config
from console.data.formats import check_objective, detect_format, to_records
from console.loop.preflight import check_inputs


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


PAIRS = [{"prompt": f"Question {i}?", "chosen": f"Good {i}.", "rejected": f"Bad {i}."} for i in range(12)]


def test_pairs_train_dpo_with_its_preset_and_the_users_own_rate_stays(tmp_path):
    data = _write(tmp_path / "pairs.jsonl", PAIRS)
    config = build_config("lora", None, {}, None, data)
    assert config.objective == "dpo" and config.values["learning_rate"] == 5e-6 and config.values["beta"] == 0.1
    assert any("objective sft -> dpo" in n for n in config.notices)
    typed = build_config("lora", None, {"learning_rate": "3e-5"}, None, data)
    assert typed.objective == "dpo" and typed.values["learning_rate"] == 3e-5
    back = config.with_changes({"objective": "sft"})
    assert back.values["learning_rate"] == 2e-4 and "beta" not in back.values
    assert config.preset.sources and "arXiv:2305.18290" in config.preset.sources[0]


def test_each_trainer_gets_only_its_own_arguments_and_loss_type_is_checked_per_objective(tmp_path):
    dpo = RunConfig.from_preset("lora").with_changes({"objective": "dpo", "packing": True})
    args = dpo.training_arguments()
    assert "beta" in args and "packing" not in args and "completion_only_loss" not in args
    sft = RunConfig.from_preset("lora").with_changes({"packing": True})
    assert "packing" in sft.training_arguments() and "beta" not in sft.training_arguments()
    with pytest.raises(ConfigError, match="not a dpo loss"):
        dpo.with_changes({"loss_type": "nll"})
    assert dpo.with_changes({"loss_type": "sigmoid,sft"}).values["loss_type"] == "sigmoid,sft"
    kto = RunConfig.from_preset("lora").with_changes({"objective": "kto"})
    with pytest.raises(ConfigError, match="not a kto loss"):
        kto.with_changes({"loss_type": "sigmoid"})


@pytest.mark.parametrize("row,words", [
    ({"prompt": "Q?", "chosen": "", "rejected": "no"}, "chosen answer is empty"),
    ({"prompt": "Q?", "chosen": "yes", "rejected": " "}, "rejected answer is empty"),
    ({"prompt": "Q?", "chosen": "same", "rejected": "same"}, "the same text"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "prompt is empty"),
])
def test_bad_pairs_are_one_line_before_launch(tmp_path, row, words):
    data = _write(tmp_path / "pairs.jsonl", PAIRS[:5] + [row] + PAIRS[5:])
    with pytest.raises(DataError) as err:
        check_inputs({"dataset": data, "objective": "auto"})
    assert words in str(err.value) and "row 6" in str(err.value) and "\n" not in str(err.value)


def test_kto_labels_must_be_true_or_false(tmp_path):
    rows = [{"prompt": f"Q{i}?", "completion": f"A{i}.", "label": i % 2 == 0} for i in range(6)]
    good = _write(tmp_path / "kto.jsonl", rows)
    check_inputs({"dataset": good})
    bad = _write(tmp_path / "bad.jsonl", rows + [{"prompt": "Q?", "completion": "A.", "label": "maybe"}])
    with pytest.raises(DataError, match="label 'maybe' is not true or false"):
        check_inputs({"dataset": bad})


def test_a_missing_rejected_column_is_named():
    with pytest.raises(DataError, match="no 'rejected' column: the preference format needs"):
        detect_format(["prompt", "chosen"])


def test_the_objective_and_the_data_must_agree(tmp_path):
    with pytest.raises(DataError, match="objective dpo needs prompt, chosen and rejected"):
        check_objective("dpo", "instruction")
    with pytest.raises(DataError, match="objective sft cannot imitate"):
        check_objective("sft", "preference")
    check_objective("kto", "preference")  # TRL splits each pair into a good and a bad answer
    data = _write(tmp_path / "pairs.jsonl", PAIRS)
    with pytest.raises(DataError, match="objective sft cannot imitate"):
        check_inputs({"dataset": data, "objective": "sft"})


def test_implicit_prompt_conversations_split_at_their_shared_start():
    chosen = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello!"}]
    rejected = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Go away."}]
    [record] = to_records({"chosen": chosen, "rejected": rejected}, "preference", chat_template=True,
                          train_on_prompt=False)
    assert record == {"prompt": chosen[:1], "chosen": chosen[1:], "rejected": rejected[1:]}
    [plain] = to_records({"chosen": chosen, "rejected": rejected}, "preference", chat_template=False,
                         train_on_prompt=False)
    assert plain["prompt"].endswith("assistant:") and plain["chosen"] == " Hello!"


def test_the_memory_estimate_counts_the_reference_and_both_answers():
    full = RunConfig.from_preset("full")
    dpo = full.with_changes({"objective": "dpo"})
    before, after = estimate(full), estimate(dpo)
    assert after.parts["reference"] == before.parts["weights"]
    assert after.parts["activations"] == 2 * before.parts["activations"]
    lora = estimate(RunConfig.from_preset("lora").with_changes({"objective": "dpo"}))
    assert lora.parts["reference"] == lora.parts["adapter"]


def test_the_data_preview_shows_each_pair_as_the_prompt_and_its_two_answers(tmp_path):
    from console.config.run_config import resolve
    from console.data.preview_text import as_text
    from console.trainer.preview import preview

    data = _write(tmp_path / "pairs.jsonl", PAIRS)
    config = resolve(build_config("lora", None, {}, None, data))
    result = preview(config, examples=1)
    chosen, rejected = result["examples"]
    assert (chosen["answer"], rejected["answer"]) == ("chosen", "rejected")
    assert [seg["loss"] for seg in chosen["segments"]] == [False, True]
    question = chosen["segments"][0]["text"]
    assert "Question" in question and question == rejected["segments"][0]["text"]  # one prompt, two answers
    assert "Good" in chosen["segments"][1]["text"] and "Bad" in rejected["segments"][1]["text"]
    assert result["splits"]["train"]["examples"] == 10 and result["splits"]["eval"]["examples"] == 2
    text = as_text(result)
    assert "(chosen answer)" in text and "(rejected answer)" in text


def test_the_analysis_says_the_objective_and_why_in_its_own_column(tmp_path):
    from console.config.analysis import analyse

    data = _write(tmp_path / "pairs.jsonl", PAIRS)
    first = analyse(build_config("lora", None, {}, None, data))[0]
    # every analysis line has three columns for a verdict mark first: the screen shows the text after them
    assert first == "   objective dpo: DPO on preference pairs (auto: from the dataset's columns)"
    assert analyse(build_config("lora", None, {"objective": "kto"}, None, data))[0].endswith("(set)")
