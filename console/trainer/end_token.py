"""The end of an answer the labels teach, made the end the model stops at (trainer process only).

A chat template ends each assistant turn with its own token (`<|im_end|>`, `<end_of_turn>`, `<|eot_id|>`); TRL's
labels teach that token. A base model's generation config and tokenizer name another end (`<|endoftext|>`), so
samples, chat, exports and merged models of a base trained through a template ran to the token limit (the
issue LlamaFactory#7454 reports). Once the datasets are tokenised, the template's end of turn is added to the
model's generation config (a list, as chat models ship it) and made the tokenizer's eos, which the trainer saves
beside every checkpoint and the final model; export writes it into a merged model's generation config.
"""
from __future__ import annotations

ANSWER = "Zq answer text"


def turn_end_id(tokenizer) -> int | None:
    """The first special token the chat template writes after an assistant's answer; None without a template or
    when the template writes none."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    messages = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": ANSWER}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # noqa: BLE001  a template that cannot render this is refused elsewhere (data checks)
        return None
    at = rendered.rfind(ANSWER)
    if at < 0:
        return None
    tail = rendered[at + len(ANSWER):]
    special = set(tokenizer.all_special_ids)
    special.update(i for i, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
                   if getattr(token, "special", False))
    for token_id in tokenizer(tail, add_special_tokens=False)["input_ids"]:
        if token_id in special:
            return int(token_id)
    return None


def teach_end_token(model, tokenizer) -> str | None:
    """Make the template's end of turn end generation (the model's generation config and the tokenizer's eos);
    the sentence for the log, or None when it already did."""
    end = turn_end_id(tokenizer)
    if end is None or end == tokenizer.eos_token_id:
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "generation_config", None)
    old = tokenizer.eos_token
    if config is not None:
        ids = config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        config.eos_token_id = [*dict.fromkeys([*ids, end])]
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(end)
    return (f"the chat template ends an answer with {tokenizer.eos_token} (the labels teach it), not the model's "
            f"{old}: it is the eos of the saved tokenizer and generation config, so answers stop at it")
