"""The examples as the model sees them (`training-console data`, the console's data page): the run's datasets read
and tokenised by the trainer's own preparation, each example's tokens with the part that carries the loss marked,
and per split the rows, examples, tokens, loss tokens and rows cut. Imports transformers, trl and datasets: the
CLI runs it in its own process, the console in a child process (`python -m console.trainer.preview`, JSON on
stdout).

No model is loaded: the tokenizer is enough. The labels are those the trainer builds: the kind's `prepare`, then
`ConsoleSFTTrainer._prepare_dataset` (TRL's tokenisation, masks, truncation and the console's cut count) on a
trainer object made without a model, as `shell_trainer` says; the tests compare them with a real trainer's.
"""
from __future__ import annotations

import json
import sys
import tempfile

from console.data.preview_text import as_text  # noqa: F401  (the CLI's and the console's words for a preview)

DEFAULT_EXAMPLES = 3
MAX_EXAMPLES = 50


def shell_trainer(tokenizer, args, drop_long: bool = False):
    """A ConsoleSFTTrainer holding only what its dataset preparation reads (the tokenizer, the chat template TRL
    would swap in, the completion-only switch, the cut reports). Why not a real one: building one loads the model
    (seconds to minutes for a real one) to show tokens that do not depend on it."""
    from console.trainer.kinds.sft import ConsoleSFTTrainer, _Reports

    shell = ConsoleSFTTrainer.__new__(ConsoleSFTTrainer)
    shell._tokenizer = tokenizer
    shell.chat_template = None
    shell.completion_only_loss = args.completion_only_loss if args.completion_only_loss is not None else True
    shell._cut_reports = _Reports()
    shell._drop_long = drop_long  # drop_long_examples: what the run's trainer does with over-long rows
    shell.args = args
    return shell


def segments(tokenizer, input_ids: list[int], labels: list[int]) -> list[dict]:
    """The example as consecutive pieces of text, each {"text", "loss"}: whether its tokens carry the loss."""
    out: list[dict] = []
    run: list[int] = []
    state = None
    for token, label in zip(input_ids, labels):
        loss = label != -100
        if state is not None and loss != state:
            out.append({"text": tokenizer.decode(run), "loss": state})
            run = []
        run.append(token)
        state = loss
    if run:
        out.append({"text": tokenizer.decode(run), "loss": bool(state)})
    return out


def preview(config, examples: int = DEFAULT_EXAMPLES) -> dict:
    """What the run's data is to the model: {"data", "loss_on", "splits": {name: figures}, "examples": [...],
    "bos", "eos"}. DataError/UserError in one line as the trainer would raise them."""
    import datasets

    from console.trainer.kinds import kind_of
    from console.trainer.model import load_tokenizer, model_source

    datasets.disable_progress_bars()
    values = config.values
    tokenizer = load_tokenizer(model_source(values), values)
    eval_on = values.get("eval_strategy", "no") != "no"
    kind = kind_of(config)
    train, evaluation, info = kind.prepare(values, tokenizer, eval_on, seed=int(values.get("seed") or 42))
    if config.objective in ("dpo", "kto"):
        return preference_preview(tokenizer, values, train, evaluation, info, examples)
    ta = config.training_arguments()
    with tempfile.TemporaryDirectory(prefix="training-console-preview-") as out:
        ta.update(output_dir=out, report_to="none", disable_tqdm=True, use_cpu=True, fp16=False, bf16=False)
        args = kind.arguments(ta)
        shell = shell_trainer(tokenizer, args, bool(values.get("drop_long_examples")))
        split_data = {"train": train, **({"eval": evaluation} if evaluation is not None else {})}
        prepared = {name: shell._prepare_dataset(split, tokenizer, args, False, None, name)
                    for name, split in split_data.items()}
    reports = shell.cut_reports
    splits = {}
    for name, split in split_data.items():
        report = reports.get(name)
        tokens = prepared[name]
        splits[name] = {
            "rows": info.rows if name == "train" else None, "examples": len(split),
            "tokens": report.tokens if report else sum(len(r) for r in tokens["input_ids"]),
            "loss_tokens": report.label_tokens if report else sum(sum(1 for t in r if t != -100)
                                                                 for r in tokens["labels"]),
            "cut": report.cut if report else 0, "dropped": report.dropped if report else 0,
            "longest": report.longest if report else max((len(r) for r in tokens["input_ids"]), default=0),
            "max_length": values.get("max_length")}
    shown = []
    train_tokens = prepared["train"]
    for i in range(min(max(examples, 0), MAX_EXAMPLES, len(train_tokens))):
        row = train_tokens[i]
        shown.append({"split": "train", "index": i, "tokens": len(row["input_ids"]),
                      "loss_tokens": sum(1 for t in row["labels"] if t != -100),
                      "segments": segments(tokenizer, row["input_ids"], row["labels"])})
    return {"data": info.describe(), "loss_on": info.loss_on, "sources": info.sources, "splits": splits,
            "examples": shown, "bos": tokenizer.bos_token, "eos": tokenizer.eos_token}


def _rendered(tokenizer, prompt, answer) -> tuple[str, str]:
    """(prompt text, answer text) as the template lays them out: the answer is what the whole conversation adds to
    the prompt with its generation prompt (TRL's preference tokenisation does the same split)."""
    if isinstance(prompt, list) and getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        whole = tokenizer.apply_chat_template(prompt + list(answer), tokenize=False)
        return head, whole[len(head):] if whole.startswith(head) else whole
    text = "".join(m["content"] for m in answer) if isinstance(answer, list) else str(answer)
    return (prompt if isinstance(prompt, str) else str(prompt)), text + (tokenizer.eos_token or "")


def preference_preview(tokenizer, values: dict, train, evaluation, info, examples: int) -> dict:
    """The preview of DPO pairs and KTO rows: the prompt, then each answer marked as what the objective scores
    (DPO compares the chosen with the rejected answer, KTO scores one answer by its label), with per split the
    examples, tokens (both sequences of a pair), answer tokens and examples longer than max_length."""
    limit = values.get("max_length")

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def pieces(rec) -> list[tuple[str, list[dict]]]:
        answers = [("chosen", rec["chosen"]), ("rejected", rec["rejected"])] if "chosen" in rec else [
            ("desirable" if rec.get("label") else "undesirable", rec["completion"])]
        out = []
        for name, answer in answers:
            head, tail = _rendered(tokenizer, rec["prompt"], answer)
            out.append((name, [{"text": head, "loss": False}, {"text": tail, "loss": True}]))
        return out

    splits, shown = {}, []
    for name, split in (("train", train), ("eval", evaluation)):
        if split is None:
            continue
        tokens = answer_tokens = cut = longest = 0
        for i, rec in enumerate(split):
            for label, parts in pieces(rec):
                n_head, n_tail = count(parts[0]["text"]), count(parts[1]["text"])
                tokens, answer_tokens, longest = tokens + n_head + n_tail, answer_tokens + n_tail, max(
                    longest, n_head + n_tail)
                cut += int(bool(limit) and n_head + n_tail > limit)
                if name == "train" and i < min(max(examples, 0), MAX_EXAMPLES):
                    shown.append({"split": "train", "index": i, "answer": label, "tokens": n_head + n_tail,
                                  "loss_tokens": n_tail, "segments": parts})
        splits[name] = {"rows": info.rows if name == "train" else None, "examples": len(split), "tokens": tokens,
                        "loss_tokens": answer_tokens, "cut": cut, "dropped": 0, "longest": longest,
                        "max_length": limit}
    return {"data": info.describe(), "loss_on": info.loss_on, "sources": info.sources, "splits": splits,
            "examples": shown, "bos": tokenizer.bos_token, "eos": tokenizer.eos_token}


def main(argv: list[str] | None = None) -> int:
    """python -m console.trainer.preview CONFIG.yaml [N]: the preview of a saved config as JSON on stdout (the
    console's data page runs it as a child process); {"error": "..."} for a user's mistake."""
    from console.common.errors import UserError
    from console.config.run_config import build_config, resolve
    from console.trainer.lean_imports import leave_out_bitsandbytes

    leave_out_bitsandbytes("full", {})  # its own process, no model loaded: bitsandbytes (5 s, a notice) not needed
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        config = resolve(build_config(config_file=argv[0]))
        result = preview(config, int(argv[1]) if len(argv) > 1 else DEFAULT_EXAMPLES)
    except UserError as err:
        result = {"error": str(err).splitlines()[0] if str(err) else type(err).__name__}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
