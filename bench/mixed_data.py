"""Several datasets, conversations trained whole, on the real model (SmolLM2-135M-Instruct, bench/real_model.py):
an instruction file mixed with a multi-turn chat file.

    python bench/mixed_data.py            # the figures (tokenizer only: a minute)
    python bench/mixed_data.py --train 8  # and a real training run of that many steps through `training-console`

The data are the cached standard-library docstring rows (real text nobody on the project wrote): the first 200
rows of instruction/train.jsonl, and the 200 rows of chat/train.jsonl after them grouped three by three into
multi-turn conversations (3 questions, 3 answers each). Printed, side by side on the same tokenizer:
- this branch's preparation (`training-console data`'s figures: a conversation is one example, every answer in the
  loss): examples, tokens per epoch, tokens in the loss, and that every loss token is an answer's (or its end);
- the one-example-per-answer split main did until now (each answer its own example holding the whole history,
  tokenised by the same TRL preparation): examples, tokens per epoch, tokens in the loss.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import real_model  # noqa: E402


def write_data(folder: Path) -> tuple[Path, Path]:
    data = real_model.default_dataset_dir()
    instructions = [json.loads(line) for line in (data / "instruction" / "train.jsonl").read_text().splitlines()]
    chats = [json.loads(line) for line in (data / "chat" / "train.jsonl").read_text().splitlines()]
    instruction_file = folder / "instructions.jsonl"
    instruction_file.write_text("".join(json.dumps(r) + "\n" for r in instructions[:200]))
    rest = chats[200:]
    conversations = [{"messages": [turn for row in rest[i:i + 3] for turn in row["messages"]]}
                     for i in range(0, len(rest) - 2, 3)]
    chat_file = folder / "conversations.jsonl"
    chat_file.write_text("".join(json.dumps(r) + "\n" for r in conversations))
    return instruction_file, chat_file


def per_answer_figures(config, tokenizer) -> dict:
    """The split main made: every answer its own prompt/completion record with the history, through the same
    TRL preparation (console/trainer/preview.shell_trainer)."""
    import datasets

    from console.data.formats import get_format
    from console.data.sources import entries_of
    from console.trainer.kinds.sft import sft_config
    from console.trainer.preview import shell_trainer

    records = []
    for entry in entries_of(config.values):
        rows = [json.loads(line) for line in Path(entry.path).read_text().splitlines()]
        fmt = get_format("chat" if "messages" in rows[0] else "instruction")
        records += [rec for row in rows for rec in fmt.render(row, chat_template=True, train_on_prompt=False)]
    ta = config.training_arguments()
    with tempfile.TemporaryDirectory() as out:
        ta.update(output_dir=out, report_to="none", use_cpu=True, fp16=False, bf16=False)
        args = sft_config(ta)
        shell = shell_trainer(tokenizer, args)
        shell._prepare_dataset(datasets.Dataset.from_list(records), tokenizer, args, False, None, "train")
    report = shell.cut_reports["train"]
    return {"examples": report.examples, "tokens": report.tokens, "loss_tokens": report.label_tokens}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=0, help="also train this many steps on the real model")
    args = parser.parse_args()
    import datasets

    from console.config.run_config import build_config, resolve
    from console.trainer.model import load_tokenizer
    from console.trainer.preview import preview

    datasets.disable_progress_bars()
    model = real_model.ensure_real_model()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        instruction_file, chat_file = write_data(folder)
        sets = {"model": str(model), "eval_strategy": "no", "max_length": "1024"}
        config = resolve(build_config("lora", sets=sets, dataset=[str(instruction_file), str(chat_file)]))
        print(f"$ training-console data --model {model} --dataset instructions.jsonl "
              f"--dataset conversations.jsonl --set eval_strategy=no")
        result = preview(config, examples=200)
        tokenizer = load_tokenizer(str(model), config.values)
        figures = result["splits"]["train"]
        # every token in the loss is an answer's: the answer text, then the template's end of turn
        answers = 0
        for ex in result["examples"]:
            marked = [s["text"] for s in ex["segments"] if s["loss"]]
            answers += len(marked)
            assert all(s.endswith(("<|im_end|>", "<|im_end|>\n")) for s in marked), marked
        whole_examples = [ex for ex in result["examples"] if ex["tokens"]]
        conversations = [ex for ex in whole_examples if sum(s["loss"] for s in ex["segments"]) > 1]
        print(result["data"])
        print(f"this branch: {figures['examples']} examples, {figures['tokens']} tokens per epoch, "
              f"{figures['loss_tokens']} in the loss; of the first {len(whole_examples)} examples, "
              f"{len(conversations)} are conversations with all their answers marked; every one of the {answers} "
              f"marked spans ends at <|im_end|>")
        old = per_answer_figures(config, tokenizer)
        print(f"one example per answer (main until now): {old['examples']} examples, {old['tokens']} tokens per "
              f"epoch, {old['loss_tokens']} in the loss")
        print(f"tokens per epoch: {figures['tokens'] / old['tokens']:.2f}x ({old['tokens'] - figures['tokens']} "
              f"fewer), the same {figures['loss_tokens']} loss tokens" if figures["loss_tokens"] ==
              old["loss_tokens"] else f"loss tokens differ: {figures['loss_tokens']} vs {old['loss_tokens']}")
        from console.data.preview_text import as_text

        shown = dict(result, examples=[conversations[0]])
        print(as_text(shown))
        if args.train:
            from console.cli.main import main as cli

            runs = folder / "runs"
            argv = ["train", "--runs-dir", str(runs), "--model", str(model), "--dataset", str(instruction_file),
                    "--dataset", str(chat_file), "--set", f"max_steps={args.train}", "--set", "max_length=256",
                    "--set", "per_device_train_batch_size=4", "--set", "gradient_accumulation_steps=1",
                    "--set", "eval_strategy=no", "--set", "logging_steps=2", "--set", "save_strategy=no"]
            print("$ training-console " + " ".join(argv))
            return cli(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
