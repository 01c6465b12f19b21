"""Generating answers with a model being trained or a finished one (trainer and chat child processes only: imports
torch). What a prompt looks like to the model is decided here once, for the samples the trainer takes and for chat.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Answer:
    text: str
    ended: bool  # the model produced its end token before the token limit
    tokens: int  # new tokens generated
    seconds: float


def end_token_ids(model, tokenizer) -> set[int]:
    """Every token id that ends an answer: the generation config's (a list in many chat models) and the tokenizer's."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, (list, tuple)):
        ids.update(i for i in configured if isinstance(i, int))
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def prompt_ids(tokenizer, prompt) -> list[int]:
    """Token ids of a prompt: a list of chat messages goes through the model's chat template with the assistant's
    turn opened (what TRL trained on for conversational records); a string is tokenised as TRL tokenises a
    prompt/completion record's prompt."""
    if isinstance(prompt, list):
        ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)
    return list(tokenizer(str(prompt))["input_ids"])


def generate(model, tokenizer, prompt, max_new_tokens: int = 64, temperature: float = 0.0,
             streamer=None) -> Answer:
    """One answer, greedy unless a temperature is given. The model is put in eval mode and back, without
    gradients, with the KV cache on (training turns it off)."""
    import torch

    ids = prompt_ids(tokenizer, prompt)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    ends = end_token_ids(model, tokenizer)
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            kwargs = dict(do_sample=False) if temperature <= 0 else dict(do_sample=True, temperature=temperature,
                                                                         top_p=0.95)
            out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                 max_new_tokens=int(max_new_tokens), use_cache=True,
                                 pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                 else next(iter(ends), 0),
                                 eos_token_id=sorted(ends) or None, streamer=streamer, **kwargs)
    finally:
        if was_training:
            model.train()
    new = out[0, len(ids):].tolist()
    ended = bool(new) and new[-1] in ends
    text = tokenizer.decode(new, skip_special_tokens=True)
    return Answer(text=text, ended=ended, tokens=len(new), seconds=time.perf_counter() - t0)
