"""Every family's chat template, on tiny local models built around real templates (tests/support/families.py):
the end of turn the labels teach ends generation, a role the template cannot render and a template that moves the
system text are refused before launch (the dry run too) and by the trainer, and pre-rendered text gets one BOS."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from console.cli.main import main  # noqa: E402
from console.common.errors import DataError  # noqa: E402
from tests.support.families import family_model, family_tokenizer  # noqa: E402

SYSTEM_CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"},
                            {"role": "assistant", "content": "Hello there."},
                            {"role": "user", "content": "How are you?"},
                            {"role": "assistant", "content": "Answer plainly."}]}
PLAIN_CHAT = {"messages": SYSTEM_CHAT["messages"][1:]}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return lambda family: family_model(root / family, family)


def write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows * 8))
    return str(path)


def dry_run(capsys, model, data, *extra):
    code = main(["train", "--model", str(model), "--dataset", data, "--dry-run", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.err.strip()


@pytest.mark.parametrize("family,words", [
    ("gemma-2", "cannot render a 'system' turn, which the data holds (it says: System role not supported)"),
    ("mistral-v0.1", "cannot render a 'system' turn, which the data holds (it says: Conversation roles must "
                     "alternate"),
    ("mistral-v0.3", "moves the system text into the last user turn"),
])
def test_a_system_turn_the_template_cannot_train_is_refused_by_the_dry_run(tmp_path, capsys, models, family,
                                                                             words):
    model = models(family)
    code, err = dry_run(capsys, model, write(tmp_path, "chat.jsonl", [SYSTEM_CHAT]))
    assert code != 0 and words in err, err
    assert len(err.splitlines()) == 1
    # without the system turn, the same model and template pass
    code, err = dry_run(capsys, model, write(tmp_path, "plain.jsonl", [PLAIN_CHAT]))
    assert code == 0, err


def test_a_template_that_moves_the_system_text_is_refused_unless_every_token_is_trained(tmp_path, capsys, models):
    data = write(tmp_path, "chat.jsonl", [SYSTEM_CHAT])
    code, err = dry_run(capsys, models("mistral-v0.3"), data)
    assert code != 0 and "train_on_prompt=true" in err
    code, err = dry_run(capsys, models("mistral-v0.3"), data, "--set", "train_on_prompt=true")
    assert code == 0, err


def test_an_instruction_files_system_column_is_checked_too(tmp_path, capsys, models):
    rows = [{"instruction": "Hello?", "output": "Hi.", "system": "Be brief."}]
    code, err = dry_run(capsys, models("gemma-2"), write(tmp_path, "alpaca.jsonl", rows))
    assert code != 0 and "'system' turn" in err


@pytest.mark.parametrize("family", ["gemma-2", "mistral-v0.1", "mistral-v0.3"])
def test_the_trainer_refuses_what_the_template_cannot_train_with_its_own_tokenizer(tmp_path, family):
    from console.data.prepare import prepare

    data = write(tmp_path, "chat.jsonl", [SYSTEM_CHAT])
    with pytest.raises(DataError) as err:
        prepare({"dataset": data}, family_tokenizer(family), need_eval=False)
    assert "system" in str(err.value) and "\n" not in str(err.value)
    train, _, _ = prepare({"dataset": write(tmp_path, "plain.jsonl", [PLAIN_CHAT])}, family_tokenizer(family),
                          need_eval=False)
    assert len(train) == 8  # each conversation one example


def _trainer(tmp_path, model_dir, tok, data, **values):
    from transformers import AutoModelForCausalLM

    from console.config.run_config import build_config
    from console.data.prepare import prepare
    from console.trainer.kinds.sft import ConsoleSFTTrainer, sft_config

    train, _, info = prepare({"dataset": data, **values}, tok, need_eval=False)
    args = build_config("lora", sets={"dataset": data, "max_length": "256"}).training_arguments()
    args.update(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", eval_strategy="no",
                load_best_model_at_end=False, fp16=False)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return ConsoleSFTTrainer(model=model, args=sft_config(args), train_dataset=train, processing_class=tok), info


def test_pre_rendered_text_gets_one_bos(tmp_path, models):
    tok = family_tokenizer("mistral-v0.1")
    rendered = tok.apply_chat_template(PLAIN_CHAT["messages"], tokenize=False)
    assert rendered.startswith("<s>")
    trainer, _ = _trainer(tmp_path, models("mistral-v0.1"), tok, write(tmp_path, "text.jsonl", [{"text": rendered}]))
    ids = trainer.train_dataset[0]["input_ids"]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id


@pytest.mark.parametrize("family,end", [("qwen2.5-base", "<|im_end|>"), ("gemma-2", "<end_of_turn>")])
def test_the_labels_teach_the_templates_end_of_turn_and_generation_stops_at_it(tmp_path, models, family, end):
    from console.trainer.end_token import teach_end_token, turn_end_id

    tok = family_tokenizer(family)
    trainer, _ = _trainer(tmp_path, models(family), tok, write(tmp_path, "chat.jsonl", [PLAIN_CHAT]))
    example = trainer.train_dataset[0]
    labelled = [t for t, label in zip(example["input_ids"], example["labels"]) if label != -100]
    end_id = tok.convert_tokens_to_ids(end)
    assert turn_end_id(tok) == end_id and end_id in labelled and tok.eos_token_id not in labelled
    base_eos = tok.eos_token_id
    said = teach_end_token(trainer.model, tok)
    assert said and end in said
    assert tok.eos_token == end
    ids = trainer.model.generation_config.eos_token_id
    assert set(ids) == {base_eos, end_id}
    from console.trainer.generate import end_token_ids

    assert end_id in end_token_ids(trainer.model, tok)


def test_a_model_whose_template_ends_with_its_eos_is_left_alone(models):
    from transformers import AutoModelForCausalLM

    from console.trainer.end_token import teach_end_token

    tok = family_tokenizer("mistral-v0.1")
    model = AutoModelForCausalLM.from_pretrained(models("mistral-v0.1"))
    assert teach_end_token(model, tok) is None and tok.eos_token == "</s>"
