"""console.data.formats: which format a dataset is in, and each row as TRL's records (pure Python, no tokenizer)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.common.errors import DataError
from console.data.formats import FORMATS, RECORD_KEYS, detect_format, parse_columns, record_kind, to_records


@pytest.mark.parametrize("columns,fmt", [
    (["text"], "text"), (["prompt", "completion"], "prompt_completion"),
    (["instruction", "input", "output"], "instruction"), (["instruction", "response"], "instruction"),
    (["messages"], "chat"), (["conversations", "id"], "sharegpt"),
])
def test_formats_are_detected_from_the_columns(columns, fmt):
    assert detect_format(columns) == fmt


def test_a_column_mapping_renames_before_detection_and_bad_mappings_say_the_form():
    mapping = parse_columns("prompt:question, completion:answer")
    assert mapping == {"prompt": "question", "completion": "answer"}
    assert detect_format(["question", "answer"], mapping=mapping) == "prompt_completion"
    assert parse_columns({"text": "body"}) == {"text": "body"}
    for bad, words in (("prompt=question", "name:column"), ("prompts:q", "not a column name"),
                       ("prompt:", "names no dataset column")):
        with pytest.raises(DataError, match=words):
            parse_columns(bad)


def test_missing_columns_name_what_was_found_and_how_to_map():
    with pytest.raises(DataError) as err:
        detect_format(["question", "answer"])
    assert "columns found: question, answer" in str(err.value) and "columns=" in str(err.value)
    with pytest.raises(DataError) as err:
        detect_format(["question"], wanted="prompt_completion")
    assert "no column prompt, completion" in str(err.value)


def test_sharegpt_roles_and_a_multi_turn_chat():
    row = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q1"},
                             {"from": "gpt", "value": "A1"}, {"from": "human", "value": "Q2"},
                             {"from": "gpt", "value": "A2"}]}
    records = to_records(row, "sharegpt", chat_template=True, train_on_prompt=False)
    assert [r["completion"][0]["content"] for r in records] == ["A1", "A2"]
    assert [m["role"] for m in records[1]["prompt"]] == ["system", "user", "assistant", "user"]
    assert to_records(row, "sharegpt", chat_template=True, train_on_prompt=True)[0]["messages"][0]["role"] == "system"


def test_instruction_rows_use_the_template_when_there_is_one_else_the_alpaca_layout():
    row = {"instruction": "Add", "input": "2 and 3", "output": "5", "system": "Be exact."}
    [chat] = to_records(row, "instruction", chat_template=True, train_on_prompt=False)
    assert chat["prompt"] == [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "Add\n\n2 and 3"}]
    assert chat["completion"] == [{"role": "assistant", "content": "5"}]
    [plain] = to_records(row, "instruction", chat_template=False, train_on_prompt=False)
    assert plain == {"prompt": "Be exact.\n\n### Instruction:\nAdd\n\n### Input:\n2 and 3\n\n### Response:\n",
                     "completion": "5"}


def test_answers_need_a_question_and_content_parts_are_joined():
    opening = {"messages": [{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Hi"},
                            {"role": "assistant", "content": [{"type": "text", "text": "How "}, "can I help?"]}]}
    [record] = to_records(opening, "chat", chat_template=True, train_on_prompt=False)
    assert record["completion"][0]["content"] == "How can I help?"  # the opening greeting answers nothing
    assert to_records({"messages": [{"role": "assistant", "content": "Hi"}]}, "chat", chat_template=True,
                      train_on_prompt=False) == []
    with pytest.raises(DataError, match="'image' part"):
        to_records({"messages": [{"role": "user", "content": [{"type": "image", "url": "x"}]}]}, "chat",
                   chat_template=True, train_on_prompt=False)
    [plain] = to_records({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
                         "chat", chat_template=False, train_on_prompt=False)
    assert plain == {"prompt": "user: Q\nassistant:", "completion": " A"}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                       max_size=4), max_leaves=12)
ROW_KEYS = st.sampled_from(["text", "prompt", "completion", "instruction", "input", "output", "response", "system",
                            "messages", "conversations", "chosen", "rejected", "label", "other"])


@settings(max_examples=300, deadline=None)
@given(row=st.dictionaries(ROW_KEYS, JSON, max_size=6), fmt=st.sampled_from(FORMATS), template=st.booleans(),
       everything=st.booleans())
def test_any_row_a_user_file_holds_gives_records_of_one_shape_or_a_data_error(row, fmt, template, everything):
    """Rows come from the user's files: whatever they hold, the result is records of the format's one shape (TRL
    needs one shape per dataset) with text where TRL expects text, or nothing; never an exception."""
    try:
        records = to_records(row, fmt, chat_template=template, train_on_prompt=everything)
    except DataError as err:  # one line that says what is wrong (a non-text message part)
        assert "\n" not in str(err)
        return
    kind = record_kind(fmt, template, everything)
    for record in records:
        if kind == "text":
            assert set(record) == {"text"} and isinstance(record["text"], str)
        elif kind == "messages":
            assert set(record) == {"messages"}
            assert all(isinstance(m["content"], str) and isinstance(m["role"], str) for m in record["messages"])
        else:
            assert list(record) == RECORD_KEYS[kind]
            for key in ("prompt", "completion", "chosen", "rejected"):
                part = record.get(key, "")
                assert isinstance(part, str) or all(isinstance(m["content"], str) for m in part)
            assert kind != "unpaired" or isinstance(record["label"], bool)


def test_a_mapping_to_a_missing_column_and_a_wrong_format_say_what_would_work():
    with pytest.raises(DataError, match="no column 'q'"):
        detect_format(["question", "answer"], mapping=parse_columns("prompt:q,completion:answer"))
    with pytest.raises(DataError, match="set dataset_format=sharegpt"):
        detect_format(["conversations"], wanted="chat")
