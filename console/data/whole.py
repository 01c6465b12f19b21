"""Conversations trained whole (trainer process: it calls the tokenizer): one example per conversation, every
assistant answer in the loss, the history never repeated.

TRL's own way (assistant_only_loss) needs a chat template with `{% generation %}` markers, which most models' templates
lack (TRL swaps in its own training template only for the families it knows). Here the answers' spans come from the
template itself: the conversation up to an answer rendered with the assistant's turn opened is where that answer
starts, the conversation up to and with the answer is where it ends (its end-of-turn token included). The record
is {input_ids, completion_mask}, which TRL's SFTTrainer takes as already tokenised and turns into labels (its
completion-only loss) before cutting and packing it as any other example.

Where a template renders a turn differently once later turns follow it (reasoning kept only in the last answer, as
Qwen3's templates do), an answer's rendered span is not part of the whole conversation: that conversation gives one
example per answer instead (each with its history), still masked by rendered spans.

Tool definitions (a row's `tools`), tool calls, tool results and reasoning traces are passed to the template; one the
template drops (rendering the same text with and without it) is refused in one line: `carried_problem`.
"""
from __future__ import annotations

import json


def chat_ids(tokenizer, messages: list[dict], tools=None, **kwargs) -> list[int]:
    """Token ids of messages through the template, as TRL tokenises a conversational record."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, tools=tools or None, **kwargs)
    return list(out["input_ids"])


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def whole_records(tokenizer, messages: list[dict], tools=None) -> list[dict]:
    """{input_ids, completion_mask} records of one conversation: one with every answer marked, or one per answer
    where the template renders an earlier turn differently (see the module's docstring)."""
    full = chat_ids(tokenizer, messages, tools)
    first_user = next((i for i, m in enumerate(messages) if m["role"] not in ("system", "assistant")), len(messages))
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and i > first_user]
    mask = [0] * len(full)
    clean = True
    for i in answers:
        start = _common(chat_ids(tokenizer, messages[:i], tools, add_generation_prompt=True), full)
        upto = chat_ids(tokenizer, messages[:i + 1], tools)
        end = _common(upto, full)
        if end < len(upto) and i != answers[-1] or end <= start:
            clean = False
            break
        mask[start:end] = [1] * (end - start)
    if clean:
        return [{"input_ids": full, "completion_mask": mask}]
    out = []
    for i in answers:  # one example per answer, each rendered as the conversation up to it
        ids = chat_ids(tokenizer, messages[:i + 1], tools)
        start = _common(chat_ids(tokenizer, messages[:i], tools, add_generation_prompt=True), ids)
        out.append({"input_ids": ids, "completion_mask": [0] * start + [1] * (len(ids) - start)})
    return out


def tools_of(row: dict):
    """A row's tool definitions (a list, or its JSON text); None without."""
    tools = row.get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            return None
    return tools if isinstance(tools, list) and tools else None


def carried_problem(tokenizer, messages: list[dict], tools) -> str | None:
    """One line when the template drops something the conversation carries (tool definitions, tool calls, tool
    results, reasoning traces): rendered with and without it, the text is the same."""
    def text(msgs, with_tools=True):
        return tokenizer.apply_chat_template(msgs, tokenize=False, tools=(tools if with_tools else None) or None)

    try:
        base = text(messages)
    except Exception as err:  # noqa: BLE001  the template's own raise_exception / a Jinja error
        words = str(err).strip().splitlines()
        return (f"the model's chat template cannot render a conversation of the data (it says: "
                f"{words[0][:120] if words else type(err).__name__}): check its turns' roles and order")
    if tools and text(messages, with_tools=False) == base:
        return ("the model's chat template does not render tool definitions (the rows' 'tools'), which the data "
                "holds: use a model whose template has tools, or remove the 'tools' column")
    for key, what in (("tool_calls", "tool calls"), ("reasoning_content", "reasoning traces")):
        if any(key in m for m in messages):
            stripped = [{k: v for k, v in m.items() if k != key} for m in messages]
            if text(stripped) == base:
                return (f"the model's chat template does not render {what} ('{key}' in the assistant turns), which "
                        f"the data holds: they would be dropped without a word; use a model whose template renders "
                        f"them, or remove them from the data")
    if any(m["role"] == "tool" for m in messages):
        stripped = [m for m in messages if m["role"] != "tool"]
        try:
            if text(stripped) == base:
                return ("the model's chat template does not render tool results (the 'tool' turns), which the data "
                        "holds: use a model whose template has a tool role, or remove those turns")
        except Exception:  # noqa: BLE001  a template that needs the turns to alternate: it renders them
            return None
    return None
