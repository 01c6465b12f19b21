"""What the loss is computed on, format by format, as TRL's SFTTrainer really builds it.

The tokenizer is the demo's with its pad token set to its end token (as SmolLM2's, Llama-3's and Mistral's are)
and a chat template that emits `bos_token` (the demo's does, like Llama's): the two traps that made fine-tunes
never learn to stop (end token dropped from the labels) and see two BOS tokens.
"""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from console.config.run_config import build_config  # noqa: E402
from console.data.demo_model import ensure_demo_model  # noqa: E402
from console.data.prepare import prepare  # noqa: E402

QUESTION, ANSWER = "What is two plus two?", "Four, said plainly."
ROWS = {
    "text": {"text": f"{QUESTION} {ANSWER}"},
    "prompt_completion": {"prompt": QUESTION, "completion": ANSWER},
    "instruction": {"instruction": QUESTION, "input": "", "output": ANSWER},
    "chat": {"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}]},
    "sharegpt": {"conversations": [{"from": "human", "value": QUESTION}, {"from": "gpt", "value": ANSWER}]},
}


@pytest.fixture(scope="module")
def model_dir():
    return ensure_demo_model()


@pytest.fixture(scope="module")
def model(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir)


def tokenizer_for(model_dir, template: bool = True):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.pad_token = tok.eos_token  # pad == eos, as in many real models
    assert tok.pad_token_id == tok.eos_token_id
    if not template:
        tok.chat_template = None
    else:
        assert "bos_token" in tok.chat_template
    return tok


def prepared(tmp_path, model, tok, rows: list[dict], **values):
    """The training split exactly as SFTTrainer will feed it: (input_ids, labels) per example."""
    from console.trainer.kinds.sft import ConsoleSFTTrainer, sft_config

    tmp_path.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, _, info = prepare({"dataset": str(data), **values}, tok, need_eval=False)
    # The arguments exactly as the console's trainer builds them from a config with these values.
    config = build_config("lora", sets={"dataset": str(data), "max_length": "1024", **{
        k: str(v) for k, v in values.items()}})
    args = config.training_arguments()
    args.update(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", eval_strategy="no",
                load_best_model_at_end=False, fp16=False)
    args = sft_config(args)
    trainer = ConsoleSFTTrainer(model=model, args=args, train_dataset=train, processing_class=tok)
    return trainer, info


def labelled_text(tok, example) -> str:
    return tok.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != -100])


@pytest.mark.parametrize("fmt", ["prompt_completion", "instruction", "chat", "sharegpt"])
def test_loss_on_the_answer_only_and_the_end_token_kept(tmp_path, model_dir, model, fmt):
    tok = tokenizer_for(model_dir)
    trainer, info = prepared(tmp_path, model, tok, [ROWS[fmt]])
    assert info.fmt == fmt and info.chat_template
    example = trainer.train_dataset[0]
    ids, labels = example["input_ids"], example["labels"]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id, "exactly one BOS, first"
    text = labelled_text(tok, example)
    # Every token with a label is the answer's: the answer, its end token, and the template's newline after it.
    assert text.strip() == ANSWER + tok.eos_token, text
    assert QUESTION not in tok.decode(ids[:1] + [t for t, lab in zip(ids, labels) if lab != -100])
    assert tok.eos_token_id in [t for t, lab in zip(ids, labels) if lab != -100], "the end token keeps its label"
    # The prompt is in the input, not in the loss.
    assert QUESTION in tok.decode(ids)


def test_the_collator_keeps_end_tokens_and_masks_only_padding(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir)
    long_row = {"instruction": QUESTION, "input": "", "output": ANSWER + " And more words to be longer."}
    trainer, _ = prepared(tmp_path, model, tok, [ROWS["instruction"], long_row])
    examples = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator([{k: e[k] for k in ("input_ids", "labels")} for e in examples])
    short = min(range(2), key=lambda i: len(examples[i]["input_ids"]))
    n = len(examples[short]["input_ids"])
    labels = batch["labels"][short].tolist()
    assert labels[:n] == examples[short]["labels"], "real tokens keep their labels (end token included)"
    assert all(v == -100 for v in labels[n:]), "padding (the same id as the end token) carries no loss"
    assert batch["input_ids"][short].tolist()[n:] == [tok.pad_token_id] * (len(labels) - n)
    assert tok.eos_token_id in labels[:n]


def test_train_on_prompt_puts_every_token_in_the_loss(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir)
    trainer, info = prepared(tmp_path, model, tok, [ROWS["instruction"]], train_on_prompt=True)
    example = trainer.train_dataset[0]
    assert example["labels"] == example["input_ids"]
    assert "every token" in info.loss_on


def test_multi_turn_chat_trains_every_answer_once_in_one_example(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir)
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "First question?"},
             {"role": "assistant", "content": "First answer."}, {"role": "user", "content": "Second question?"},
             {"role": "assistant", "content": "Second answer."}]
    trainer, info = prepared(tmp_path, model, tok, [{"messages": turns}])
    assert info.rows == 1 and info.examples == 1, "one example per conversation: the history is not repeated"
    assert "each conversation one example" in info.loss_on
    example = trainer.train_dataset[0]
    ids, labels = example["input_ids"], example["labels"]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    spans, current = [], []
    for t, label in zip(ids, labels):
        if label != -100:
            current.append(t)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    assert [tok.decode(s).strip() for s in spans] == ["First answer." + tok.eos_token,
                                                      "Second answer." + tok.eos_token]
    text = tok.decode(ids)
    assert text.count("First question?") == 1 and "Be brief." in text


def test_without_a_chat_template_instruction_rows_use_the_alpaca_layout(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir, template=False)
    trainer, info = prepared(tmp_path, model, tok, [ROWS["instruction"]])
    assert not info.chat_template
    example = trainer.train_dataset[0]
    assert "### Instruction:" in tok.decode(example["input_ids"])
    assert example["input_ids"].count(tok.bos_token_id) == 1
    assert labelled_text(tok, example).strip() == ANSWER + tok.eos_token


def test_plain_text_trains_on_everything_with_one_bos_and_the_end_token(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir)
    trainer, info = prepared(tmp_path, model, tok, [ROWS["text"]])
    example = trainer.train_dataset[0]
    assert example["input_ids"].count(tok.bos_token_id) == 1
    assert example["input_ids"][-1] == tok.eos_token_id and example["labels"][-1] == tok.eos_token_id
    assert info.loss_on.startswith("every token")


def test_column_mapping_and_cut_rows_are_reported(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir)
    rows = [{"question": QUESTION, "answer": ANSWER * (1 + 10 * (i % 2))} for i in range(10)]
    trainer, info = prepared(tmp_path, model, tok, rows, columns="prompt:question,completion:answer", max_length=40)
    assert info.fmt == "prompt_completion"
    report = trainer.cut_reports["train"]
    assert report.examples == 10 and report.cut == 5 and report.longest > 40
    assert "5 of 10 train examples (50 %) are longer than 40 tokens" in report.text()
    assert all(len(trainer.train_dataset[i]["input_ids"]) <= 40 for i in range(len(trainer.train_dataset)))


def test_packing_fills_sequences_up_to_max_length(tmp_path, model_dir, model):
    tok = tokenizer_for(model_dir)
    rows = [ROWS["instruction"]] * 20
    plain, _ = prepared(tmp_path, model, tok, rows, max_length=128)
    packed, _ = prepared(tmp_path / "p", model, tok, rows, max_length=128, packing=True)
    assert len(packed.train_dataset) < len(plain.train_dataset)
    tokens = sum(len(packed.train_dataset[i]["input_ids"]) for i in range(len(packed.train_dataset)))
    assert tokens == sum(len(plain.train_dataset[i]["input_ids"]) for i in range(len(plain.train_dataset)))



def test_a_share_below_one_per_cent_keeps_a_digit():
    """'1 of 200 train examples (0 %) are longer than 128 tokens' (a new user's report): 0.5 %."""
    from console.trainer.kinds.sft import CutReport

    one = CutReport(split="train", examples=200, cut=1, dropped=0, max_length=128, longest=131, tokens=9000,
                    label_tokens=3000)
    assert "1 of 200 train examples (0.5 %) are longer than 128 tokens" in one.text()
