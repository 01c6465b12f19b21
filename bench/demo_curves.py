"""Train the built-in demo with plain transformers Trainer (no console) and print the curves.

Used to tune the demo model, its dataset and the "problem" scenarios the console's warnings are shown on.

    python bench/demo_curves.py --scenario lora-preset          # one named scenario (see SCENARIOS below)
    python bench/demo_curves.py --scenario all                  # every scenario, one summary table at the end
    python bench/demo_curves.py --method lora --lr 2e-3 --max-steps 300 --eval-steps 25
    python bench/demo_curves.py --throughput                    # steps/s at batch 4, max_seq_length 128 and 256

The data path mirrors what a trainer would do with the demo: the 2000 instruction examples are split 90/10
(datasets' train_test_split, seed 42: 1800 train, 200 eval); --max-samples then keeps the first N training
examples (the eval set stays 200), as console.data.preflight.prepare does; each example is rendered by
the console's alpaca layout (console.data.formats, the console's "### Instruction: / ### Input: / ### Response:" prompt, then eos),
tokenised and cut at --seq-len; the loss is on every token (DataCollatorForLanguageModeling, mlm=False).
Each run's log is replayed through the console's own diagnose() (when present) to say which warning shows first,
at which step and after how many seconds. Torch threads: --threads 1 is fastest on a busy 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.data.formats import to_records  # noqa: E402  (the console's own alpaca layout)


def render_row(ex: dict, tokenizer) -> str:
    """An instruction row in the console's alpaca layout (no chat template), with the end token."""
    record = to_records(ex, "instruction", chat_template=False, train_on_prompt=False)[0]
    return record["prompt"] + record["completion"] + (tokenizer.eos_token or "")
from console.data.demo import demo_dataset_path  # noqa: E402
from console.data.demo_model import ensure_demo_model  # noqa: E402

# The preset numbers (presets/*.yaml, common.yaml: eval_steps 50, logging_steps 10) and the problem scenarios.
# Keys are this script's options; epochs as in the presets, so warmup (a ratio) covers the same steps as a real run.
LORA = dict(method="lora", lr=2e-4, batch=4, accum=4, epochs=5, scheduler="cosine", warmup=0.1, weight_decay=0.01,
            lora_r=16, lora_alpha=32, lora_dropout=0.05)
FULL = dict(method="full", lr=2e-5, batch=4, accum=4, epochs=3, scheduler="cosine", warmup=0.1, weight_decay=0.01)
SCENARIOS: dict[str, dict] = {
    # (a) the presets as they are
    "lora-preset": dict(LORA),
    "full-preset": dict(FULL),
    "qlora-preset": dict(LORA, method="qlora", batch=8, accum=2, epochs=3),
    "loha-preset": dict(LORA, method="loha", lr=1e-4, epochs=3),
    # (a) what the random-init demo model likes
    "lora-demo": dict(LORA, lr=2e-3),
    "full-demo": dict(FULL, lr=2e-3),
    # (b) learning rate far too high, and the fix (lr / 4). Adam, clipping at 1.0 and RMSNorm make this tiny model
    # hard to upset: full fine-tuning needs lr >= 1.5 for the loss to explode (diverged, then oscillating).
    "lr-high": dict(FULL, lr=2.0),
    "lr-high-fix": dict(FULL, lr=0.5),
    # LoRA with lr 0.05: the train loss falls, then climbs ~45% while the warmup peaks; the fix falls smoothly
    "lora-lr-high": dict(LORA, lr=0.05),
    "lora-lr-high-fix": dict(LORA, lr=0.0125),
    # (b) learning rate far too low: flat
    "lr-low": dict(LORA, lr=1e-6),
    # (b) many epochs on a tiny subset: train falls to ~0.1, eval turns up (LoRA cannot memorise: frozen embeddings)
    "overfit": dict(FULL, lr=5e-3, max_samples=32, epochs=100, warmup=0.0),
    "overfit-slow": dict(FULL, lr=2e-3, max_samples=64, epochs=100, warmup=0.0),
    # (b) tiny noisy batch: batch 1, no accumulation (5x the log-to-log jitter of batch 4 x 4)
    "noisy": dict(FULL, lr=2e-3, batch=1, accum=1, epochs=1),
    "noisy-lora": dict(LORA, lr=2e-3, batch=1, accum=1, epochs=1),
}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--scenario", help="a name from SCENARIOS, or 'all'")
    p.add_argument("--method", default="lora", choices=["full", "lora", "qlora", "loha", "lokr", "ia3"])
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--accum", type=int, default=4)
    p.add_argument("--epochs", type=float, default=5)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--scheduler", default="cosine")
    p.add_argument("--warmup", type=float, default=0.1, help="warmup_steps: a float below 1 is a ratio")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--eval-steps", type=int, default=50)
    p.add_argument("--logging-steps", type=int, default=10)
    p.add_argument("--stop-at", type=int, help="stop after this many steps, keeping the schedule of the whole run "
                                                "(what the first minute of a real run looks like)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (1 is fastest on a busy 2-core machine)")
    p.add_argument("--throughput", action="store_true", help="measure steps/s at batch 4, seq 128 and 256")
    p.add_argument("--json", type=Path, help="also write the summaries and curves here")
    p.add_argument("--quiet", action="store_true", help="summary only, no curve table")
    return p.parse_args(argv)


def load_data(tokenizer, seq_len: int, max_samples: int | None, seed: int = 42):
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(demo_dataset_path()), split="train")
    split = ds.train_test_split(test_size=0.1, seed=seed)
    train, evl = split["train"], split["test"]
    if max_samples:
        train = train.select(range(min(max_samples, len(train))))

    def render(ex):
        return tokenizer(render_row(ex, tokenizer), truncation=True, max_length=seq_len)

    cols = train.column_names
    return train.map(render, remove_columns=cols), evl.map(render, remove_columns=cols)


def build_model(method: str, path: Path, a):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if method == "qlora":
        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.float32)
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=bnb, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if method == "full":
        return model
    from peft import IA3Config, LoHaConfig, LoKrConfig, LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if method in ("lora", "qlora"):
        cfg = LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout,
                         target_modules="all-linear", task_type="CAUSAL_LM")
    elif method == "loha":
        cfg = LoHaConfig(r=a.lora_r, alpha=a.lora_alpha, module_dropout=a.lora_dropout,
                         target_modules="all-linear", task_type="CAUSAL_LM")
    elif method == "lokr":
        cfg = LoKrConfig(r=a.lora_r, alpha=a.lora_alpha, module_dropout=a.lora_dropout,
                         target_modules="all-linear", task_type="CAUSAL_LM")
    else:
        cfg = IA3Config(task_type="CAUSAL_LM")   # peft's Llama defaults: k_proj, v_proj, down_proj
    return get_peft_model(model, cfg)


def train(a, label: str = "") -> dict:
    import torch
    from transformers import (
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    path = ensure_demo_model()
    tok = AutoTokenizer.from_pretrained(path)
    train_ds, eval_ds = load_data(tok, a.seq_len, a.max_samples, seed=42)
    torch.manual_seed(a.seed)
    model = build_model(a.method, path, a)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    class Clock(TrainerCallback):
        """Wall time since the start of training at each logged step (to say when a problem shows)."""
        def __init__(self):
            self.t0 = None
            self.times: dict[int, float] = {}

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if a.stop_at and state.global_step >= a.stop_at:
                control.should_evaluate = True
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kw):
            if self.t0 is not None:
                self.times[state.global_step] = round(time.perf_counter() - self.t0, 1)

    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, use_cpu=True, seed=a.seed, report_to="none", disable_tqdm=True,
            learning_rate=a.lr, per_device_train_batch_size=a.batch, gradient_accumulation_steps=a.accum,
            per_device_eval_batch_size=8, num_train_epochs=a.epochs, max_steps=a.max_steps,
            lr_scheduler_type=a.scheduler, warmup_steps=a.warmup, weight_decay=a.weight_decay,
            max_grad_norm=a.max_grad_norm, eval_strategy="steps", eval_steps=a.eval_steps,
            logging_steps=a.logging_steps, logging_first_step=True, save_strategy="no",
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                          processing_class=tok, data_collator=DataCollatorForLanguageModeling(tok, mlm=False),
                          callbacks=[clock])
        trainer.remove_callback(PrinterCallback)
        t = time.perf_counter()
        first_eval = trainer.evaluate()["eval_loss"]       # the curve's step-0 point
        eval0_s = time.perf_counter() - t
        t = time.perf_counter()
        trainer.train()
        secs = time.perf_counter() - t
        hist = trainer.state.log_history
        max_steps = trainer.state.max_steps
    train_pts = [(h["step"], h["loss"]) for h in hist if "loss" in h]
    eval_pts = [(0, first_eval)] + [(h["step"], h["eval_loss"]) for h in hist if "eval_loss" in h]
    steps = trainer.state.global_step
    res = dict(label=label, method=a.method, lr=a.lr, batch=a.batch, accum=a.accum, max_samples=a.max_samples,
               epochs=round(trainer.state.epoch or 0, 2), steps=steps, seconds=round(secs, 1),
               eval_seconds=round(eval0_s, 2), trainable=trainable,
               train=summary([v for _, v in train_pts]), eval=summary([v for _, v in eval_pts]),
               train_curve=train_pts, eval_curve=eval_pts, wall=clock.times)
    res["steps_per_s"] = round(steps / max(secs, 1e-9), 1)    # evaluations included
    res["max_steps"] = max_steps
    hist = [dict(h, time=clock.times.get(h.get("step"), 0.0)) for h in hist]   # as the console's metrics.jsonl
    res["findings"] = first_findings(a, hist, max_steps, first_eval)
    return res


def first_findings(a, hist: list[dict], max_steps: int, first_eval: float) -> list[tuple[str, float, float]]:
    """Replay the log through the console's own diagnose(), one record at a time, as the live screen sees it:
    (problem, step, seconds) of the first time each problem is reported. Empty when console.diagnosis.diagnose is absent."""
    try:
        from console.config.run_config import RunConfig
        from console.diagnosis.diagnose import diagnose
        from console.runs.metrics import History
    except ImportError:
        return []
    preset = {"loha": "adapter", "lokr": "adapter", "ia3": "adapter"}.get(a.method, a.method)
    changes = dict(learning_rate=a.lr, per_device_train_batch_size=a.batch, gradient_accumulation_steps=a.accum,
                   num_train_epochs=a.epochs, max_samples=a.max_samples, eval_steps=a.eval_steps,
                   logging_steps=a.logging_steps, max_steps=a.max_steps)
    cfg = RunConfig.from_preset(preset).with_changes(changes)
    records = [dict(step=0, eval_loss=first_eval, time=0.0)] + [dict(r, max_steps=max_steps) for r in hist]
    seen: dict[str, tuple[str, float, float]] = {}
    history = History()
    for rec in records:
        history.add(rec)
        for f in diagnose(history, cfg):
            if f.problem not in seen:
                seen[f.problem] = (f.problem, rec.get("step", 0), rec.get("time", 0.0))
    return list(seen.values())


def summary(vals: list[float]) -> dict:
    fin = [v for v in vals if math.isfinite(v)]
    if not fin:
        return dict(first=float("nan"), min=float("nan"), last=float("nan"))
    return dict(first=round(vals[0], 3), min=round(min(fin), 3), last=round(vals[-1], 3),
                argmin=vals.index(min(fin)))


def print_curves(r: dict) -> None:
    ev = dict(r["eval_curve"])
    tr = dict(r["train_curve"])
    print(f"{'step':>6} {'train':>8} {'eval':>8} {'secs':>6}")
    for s in sorted(set(tr) | set(ev)):
        t = f"{tr[s]:8.3f}" if s in tr else " " * 8
        e = f"{ev[s]:8.3f}" if s in ev else " " * 8
        print(f"{s:>6} {t} {e} {r['wall'].get(s, 0.0):6.1f}")


def line(r: dict) -> str:
    t, e = r["train"], r["eval"]
    eval_min_step = r["eval_curve"][e.get("argmin", 0)][0] if r["eval_curve"] else 0
    return (f"{r['label'] or r['method']:<18} lr={r['lr']:<8g} bs={r['batch']}x{r['accum']} "
            f"steps={r['steps']:<4} ep={r['epochs']:<6} {r['seconds']:>6.1f}s "
            f"train {t['first']:.2f}/{t['min']:.2f}/{t['last']:.2f}  "
            f"eval {e['first']:.2f}/{e['min']:.2f}@{eval_min_step}/{e['last']:.2f}  "
            + (" ".join(f"{p}@{st:g}({t:g}s)" for p, st, t in r.get("findings", [])) or "-"))


def throughput() -> None:
    import torch

    path = ensure_demo_model()
    for method in ("full", "lora"):
        for seq in (128, 256):
            a = parse(["--method", method])
            model = build_model(method, path, a)
            model.train()
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            ids = torch.randint(6, 512, (4, seq))
            # one optimiser step = one micro-batch of 4 (accum 1); with accum 4 divide by 4
            for i in range(60):
                if i == 10:
                    t = time.perf_counter()
                out = model(input_ids=ids, labels=ids)
                out.loss.backward()
                opt.step()
                opt.zero_grad()
            dt = (time.perf_counter() - t) / 50
            print(f"{method:<5} batch 4 x seq {seq:<3} full-length: {1 / dt:6.1f} micro-steps/s "
                  f"({1 / dt / 4:5.1f} optimiser steps/s with accumulation 4)")


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    a = parse(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.throughput:
        throughput()
        return 0
    names = list(SCENARIOS) if a.scenario == "all" else [a.scenario] if a.scenario else [None]
    results = []
    for name in names:
        if name is not None:
            if name not in SCENARIOS:
                raise SystemExit(f"unknown scenario {name!r}; one of: {', '.join(SCENARIOS)}")
            sa = parse(argv)
            for k, v in SCENARIOS[name].items():
                setattr(sa, k, v)
        else:
            sa = a
        r = train(sa, label=name or "")
        results.append(r)
        if not a.quiet:
            print(f"\n== {name or a.method}  (trainable {r['trainable']:,} params, {r['steps_per_s']} steps/s)")
            print_curves(r)
        print(line(r), flush=True)
        sys.stdout.flush()
    if len(results) > 1:
        print("\nscenario           settings                    steps epochs  time   train first/min/last  "
              "eval first/min@step/last")
        for r in results:
            print(line(r))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
