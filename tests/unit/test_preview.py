"""`training-console data`: the examples as the model sees them. The marked spans are checked against the labels a
real ConsoleSFTTrainer (built with the model, as the trainer process builds it) gives the same examples, for every
format, through the chat template and without it."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from console.cli.main import main  # noqa: E402
from console.config.run_config import build_config, resolve  # noqa: E402

QUESTION, ANSWER = "What is two plus two?", "Four, said plainly."
ROWS = {
    "text": {"text": f"{QUESTION} {ANSWER}"},
    "prompt_completion": {"prompt": QUESTION, "completion": ANSWER},
    "instruction": {"instruction": QUESTION, "input": "", "output": ANSWER},
    "chat": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION},
                          {"role": "assistant", "content": ANSWER}, {"role": "user", "content": "And three?"},
                          {"role": "assistant", "content": "Five."}]},
    "sharegpt": {"conversations": [{"from": "human", "value": QUESTION}, {"from": "gpt", "value": ANSWER}]},
}


def write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def trainer_labels(tmp_path, config):
    """(input_ids, labels) of each training example as the trainer process builds them: the model loaded, the
    kind's prepare and a real ConsoleSFTTrainer."""
    from transformers import AutoModelForCausalLM

    from console.trainer.kinds import kind_of
    from console.trainer.model import load_tokenizer, model_source

    values = config.values
    tokenizer = load_tokenizer(model_source(values), values)
    kind = kind_of(config)
    train, _, _ = kind.prepare(values, tokenizer, False, seed=int(values.get("seed") or 42))
    ta = config.training_arguments()
    ta.update(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True, eval_strategy="no",
              load_best_model_at_end=False, fp16=False)
    model = AutoModelForCausalLM.from_pretrained(model_source(values))
    from console.trainer.kinds.sft import ConsoleSFTTrainer

    trainer = ConsoleSFTTrainer(model=model, args=kind.arguments(ta), train_dataset=train, processing_class=tokenizer)
    return tokenizer, [(r["input_ids"], r["labels"]) for r in trainer.train_dataset]


@pytest.mark.parametrize("template", [True, False])
@pytest.mark.parametrize("fmt", list(ROWS))
def test_the_marked_spans_are_the_labels_the_trainer_uses(tmp_path, fmt, template):
    from console.trainer.preview import preview

    data = write(tmp_path, "data.jsonl", [ROWS[fmt]] * 3)
    config = resolve(build_config(sets={"dataset": data, "eval_strategy": "no", "max_length": "512",
                                        "use_chat_template": str(template).lower()}))
    result = preview(config, examples=10)
    tokenizer, real = trainer_labels(tmp_path, config)
    # a chat without a template gives one example per answer; with one, a conversation is one example
    assert len(result["examples"]) == len(real) == (6 if fmt == "chat" and not template else 3)
    for shown, (ids, labels) in zip(result["examples"], real):
        in_loss = "".join(s["text"] for s in shown["segments"] if s["loss"])
        assert in_loss == "".join(tokenizer.decode([t]) for t, label in zip(ids, labels) if label != -100) or \
            in_loss == tokenizer.decode([t for t, label in zip(ids, labels) if label != -100])
        assert "".join(s["text"] for s in shown["segments"]) == tokenizer.decode(ids)
        assert shown["loss_tokens"] == sum(1 for label in labels if label != -100) > 0
    figures = result["splits"]["train"]
    assert figures["examples"] == len(real) and figures["loss_tokens"] == sum(
        sum(1 for label in labels if label != -100) for _, labels in real)


def test_the_command_prints_marked_examples_and_figures_per_split(tmp_path, capsys):
    chats = write(tmp_path, "chats.jsonl", [ROWS["chat"]] * 20)
    instructions = write(tmp_path, "instructions.jsonl", [ROWS["instruction"]] * 30)
    assert main(["data", "--dataset", instructions, "--dataset", chats, "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 datasets mixed" in out
    assert "train: 45 rows -> 45 examples" in out and "eval: 5 examples" in out  # val_size 0.1 of each
    assert f"[[{ANSWER}" in out and "--- train example 2" in out
    assert main(["data", "--dataset", chats, "--json", "-n", "1", "--set", "eval_strategy=no"]) == 0
    result = json.loads(capsys.readouterr().out)
    segments = result["examples"][0]["segments"]
    # a conversation is one example: both answers carry the loss, the questions and system text do not
    assert [s["text"].split("<")[0] for s in segments if s["loss"]] == [ANSWER, "Five."]
    assert not any(QUESTION in s["text"] for s in segments if s["loss"])
    assert result["splits"]["train"]["examples"] == 20


def test_a_bad_dataset_is_one_line(tmp_path, capsys):
    code = main(["data", "--dataset", str(tmp_path / "missing.jsonl")])
    out = capsys.readouterr()
    assert code != 0 and "not found" in out.err and "Traceback" not in out.err
