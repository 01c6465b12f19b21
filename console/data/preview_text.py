"""A data preview (console/trainer/preview.py's result) in words: light, for the CLI and the console's data page,
which read the preview from a child process and never import the trainer side."""
from __future__ import annotations

LOSS_OPEN, LOSS_CLOSE = "[[", "]]"


def as_text(result: dict) -> str:
    """The preview for people: the figures per split, then each example with the loss-carrying text between
    [[ and ]] (BOS and end tokens appear as the tokenizer writes them)."""
    from console.common.numbers import fmt
    from console.common.safe_text import printable

    lines = [f"data: {printable(result['data'])}"]
    for name, s in result["splits"].items():
        share = 100 * s["loss_tokens"] / max(s["tokens"], 1)
        rows = f"{fmt(s['rows'])} rows -> " if s.get("rows") is not None else ""
        cut = (f"; {s['cut']} longer than max_length {s['max_length']} are cut (longest {s['longest']})"
               + (f", {s['dropped']} of them left with no loss token" if s["dropped"] else "")
               if s["cut"] else f"; none cut (longest {s['longest']} of max_length {s['max_length']})")
        lines.append(f"{name}: {rows}{fmt(s['examples'])} examples, {fmt(s['tokens'])} tokens, "
                     f"{fmt(s['loss_tokens'])} in the loss ({share:.0f} %){cut}")
    lines.append(f"loss on {printable(result['loss_on'])}; marked {LOSS_OPEN} ... {LOSS_CLOSE} below; BOS "
                 f"{printable(result['bos'])}, end {printable(result['eos'])}")
    for ex in result["examples"]:
        answer = f" ({ex['answer']} answer)" if ex.get("answer") else ""  # a preference pair's two, KTO's label
        lines.append(f"--- {ex['split']} example {ex['index'] + 1}{answer}: {ex['tokens']} tokens, "
                     f"{ex['loss_tokens']} in the loss")
        lines.append("".join(f"{LOSS_OPEN}{printable(seg['text'])}{LOSS_CLOSE}" if seg["loss"] else
                             printable(seg["text"]) for seg in ex["segments"]))
    return "\n".join(lines)
