"""Conversations trained whole (console/data/whole.py): one example per conversation with every answer in the loss
and the history once, on tiny models around real templates; tool definitions, tool calls, tool results and
reasoning traces carried through templates that render them and refused in one line by those that drop them. The
spans are checked against the labels TRL's SFTTrainer really builds."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from console.common.errors import DataError  # noqa: E402
from tests.support.families import family_model, family_tokenizer  # noqa: E402

TWO = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hello there."},
       {"role": "user", "content": "How are you?"}, {"role": "assistant", "content": "Answer plainly."}]
TOOLS = [{"type": "function", "function": {"name": "add", "description": "Add two numbers",
                                           "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}]
TOOL_CHAT = [{"role": "user", "content": "What is two plus two?"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"type": "function", "function": {"name": "add", "arguments": {"a": 2}}}]},
             {"role": "tool", "content": "4"}, {"role": "assistant", "content": "Four, said plainly."}]
REASONING = [{"role": "user", "content": "Hello?"},
             {"role": "assistant", "content": "Hello there.", "reasoning_content": "be kind"},
             {"role": "user", "content": "How are you?"},
             {"role": "assistant", "content": "Answer plainly.", "reasoning_content": "be brief"}]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return lambda family: family_model(root / family, family)


def trained_on(tmp_path, model_dir, tok, rows):
    """The train split as ConsoleSFTTrainer really builds it, and what prepare() said."""
    from transformers import AutoModelForCausalLM

    from console.config.run_config import build_config
    from console.data.prepare import prepare
    from console.trainer.kinds.sft import ConsoleSFTTrainer, sft_config

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, _, info = prepare({"dataset": str(data)}, tok, need_eval=False)
    args = build_config("lora", sets={"dataset": str(data), "max_length": "1024"}).training_arguments()
    args.update(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", eval_strategy="no",
                load_best_model_at_end=False, fp16=False)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = ConsoleSFTTrainer(model=model, args=sft_config(args), train_dataset=train, processing_class=tok)
    return trainer.train_dataset, info


def spans(tok, example) -> list[str]:
    out, current = [], []
    for t, label in zip(example["input_ids"], example["labels"]):
        if label != -100:
            current.append(t)
        elif current:
            out.append(tok.decode(current))
            current = []
    return out + ([tok.decode(current)] if current else [])


@pytest.mark.parametrize("family,end", [("qwen2.5-base", "<|im_end|>\n"), ("gemma-2", "<end_of_turn>\n"),
                                        ("mistral-v0.1", "</s>")])
def test_a_conversation_is_one_example_with_every_answer_and_its_end_in_the_loss(tmp_path, models, family, end):
    tok = family_tokenizer(family)
    train, info = trained_on(tmp_path, models(family), tok, [{"messages": TWO}])
    assert len(train) == 1 and info.examples == 1
    example = train[0]
    assert [s.strip() for s in spans(tok, example)] == [f"Hello there.{end}".strip(), f"Answer plainly.{end}".strip()]
    assert tok.decode(example["input_ids"]).count("Hello?") == 1, "the history is in the example once"
    if tok.bos_token_id is not None:
        assert example["input_ids"].count(tok.bos_token_id) == 1


def test_fewer_tokens_than_one_example_per_answer(tmp_path, models):
    from console.data.whole import chat_ids

    tok = family_tokenizer("qwen2.5-base")
    train, _ = trained_on(tmp_path, models("qwen2.5-base"), tok, [{"messages": TWO}])
    per_answer = len(chat_ids(tok, TWO[:2])) + len(chat_ids(tok, TWO))
    assert len(train[0]["input_ids"]) == len(chat_ids(tok, TWO)) < per_answer


def test_tool_definitions_calls_and_results_reach_a_template_that_renders_them(tmp_path, models):
    tok = family_tokenizer("qwen2.5-base")
    train, _ = trained_on(tmp_path, models("qwen2.5-base"), tok, [{"messages": TOOL_CHAT, "tools": TOOLS}])
    text = tok.decode(train[0]["input_ids"])
    assert "Add two numbers" in text, "the tool definitions"
    assert "<tool_call>" in text and '"add"' in text, "the tool call"
    assert "<tool_response>" in text and "4" in text, "the tool result"
    marked = spans(tok, train[0])
    assert len(marked) == 2 and "<tool_call>" in marked[0] and "Four, said plainly." in marked[1]
    assert not any("<tool_response>" in s for s in marked), "the tool's result is not the model's to say"


def test_reasoning_traces_reach_a_template_that_renders_them(tmp_path, models):
    tok = family_tokenizer("qwen3")
    train, info = trained_on(tmp_path, models("qwen3"), tok, [{"messages": REASONING}])
    # Qwen3 renders a <think> block for the last answer only: a conversation's earlier answers are rendered
    # differently once a question follows, so each answer is its own example, its reasoning in the loss
    assert len(train) == 2
    marked = sorted(s for example in train for s in spans(tok, example))
    assert any("be kind" in s and "Hello there." in s for s in marked)
    assert any("be brief" in s and "Answer plainly." in s for s in marked)


@pytest.mark.parametrize("family,rows,words", [
    ("qwen2.5-base", [{"messages": REASONING}], "does not render reasoning traces"),
    ("gemma-2", [{"messages": TOOL_CHAT}], "cannot render a 'tool' turn"),
    ("mistral-v0.1", [{"messages": TWO, "tools": TOOLS}], "does not render tool definitions"),
])
def test_what_a_template_would_drop_is_refused_in_one_line(tmp_path, family, rows, words):
    from console.data.prepare import prepare

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError) as err:
        prepare({"dataset": str(data)}, family_tokenizer(family), need_eval=False)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_sharegpt_function_calls_and_observations_are_kept(tmp_path, models):
    tok = family_tokenizer("qwen2.5-base")
    row = {"conversations": [{"from": "human", "value": "Two plus two?"}, {"from": "gpt", "value": "Let me add."},
                             {"from": "observation", "value": "4"}, {"from": "gpt", "value": "Four."}]}
    train, _ = trained_on(tmp_path, models("qwen2.5-base"), tok, [row])
    assert len(train) == 1
    assert [s.strip() for s in spans(tok, train[0])] == ["Let me add.<|im_end|>", "Four.<|im_end|>"]
    assert "<tool_response>" in tok.decode(train[0]["input_ids"])
