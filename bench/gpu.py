"""The GPU paths, proven on one CUDA device: precision, QLoRA on CUDA, memory against the estimate, throughput.

    python bench/gpu.py --skeleton DIR --data DIR [--out DIR]

--skeleton: a model folder's config.json, tokenizer and chat template (SmolLM2-135M-Instruct's, as built by
bench/real_model.py); its weights are drawn at random from the config, in the Hub checkpoint's bfloat16, on the
machine itself: memory and speed depend on the shapes, not on the values, and the 540 MB of real weights do not
travel. --data: a dataset folder (train.jsonl / validation.jsonl) for the console's own runs.

Part 1, memory and speed: per configuration, in a fresh process, the console's own loading path
(console.trainer.model.load_model) and trainer class (console.trainer.kinds.sft.ConsoleSFTTrainer) train 12 optimiser steps on sequences
of exactly max_length tokens (the estimate's worst case). Measured: the CUDA context (the device's used memory
after torch's first allocation, less that allocation), torch's peak allocated and reserved bytes; the process's
peak is the context plus the peak reserved. Against console.config.memory.estimate for the same config on this GPU.
Speed: optimiser steps and tokens per second after the first two steps (kernels compiled, caches warm).

Part 2, the console end to end: `python -m console train` on the dataset for a few dozen steps per method and
precision; the run's status (phase, precision, device) and whether every logged loss is finite.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MiB = 1024 ** 2
STEPS = 12
# name -> (method, --set overrides): the presets' own settings otherwise
CONFIGS = {
    "lora-bf16": ("lora", dict(bf16=True, fp16=False)),
    "lora-fp16": ("lora", dict(fp16=True, bf16=False)),
    "lora-preset": ("lora", {}),  # whatever the preset and this GPU resolve to
    "qlora-bf16": ("qlora", dict(bf16=True, fp16=False)),
    "full-bf16": ("full", dict(bf16=True, fp16=False)),
    "lora-bf16-gc": ("lora", dict(bf16=True, fp16=False, activation_checkpointing=True)),
}
SHAPE = dict(per_device_train_batch_size=8, max_length=1024, gradient_accumulation_steps=2)


def build_weights(skeleton: Path, out: Path) -> Path:
    """The skeleton's config with random weights, saved as the Hub checkpoint is (bfloat16), beside its tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if (out / "model.safetensors").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    cfg = AutoConfig.from_pretrained(skeleton)
    cfg.dtype = "bfloat16"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(out)
    for f in skeleton.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template", "generation_config")):
            shutil.copy(f, out / f.name)
    return out


def child(spec: dict) -> dict:
    """In a fresh process: the CUDA context, then load, train STEPS steps, and report."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.utils import logging as hf_logging

    from console.config.memory import estimate
    from console.config.model_shape import model_shape
    from console.config.run_config import build_config, resolve
    from console.machine.hardware import probe
    from console.trainer.kinds.sft import ConsoleSFTTrainer, sft_config
    from console.trainer.model import load_model

    hf_logging.set_verbosity_error()
    x = torch.zeros(1, device="cuda")
    free, total = torch.cuda.mem_get_info()
    context = total - free - torch.cuda.memory_reserved()
    del x
    hw = probe()
    sets = {**SHAPE, **spec["sets"], "model": spec["model"], "eval_strategy": "no", "save_strategy": "no",
            "load_best_model_at_end": False, "max_steps": STEPS, "logging_steps": 1000}
    config = resolve(build_config(spec["method"], sets={k: str(v) for k, v in sets.items()}), hw)
    values = config.values
    est = estimate(config, model_shape(spec["model"]), hw)
    seq, batch = int(values["max_length"]), int(values["per_device_train_batch_size"])
    accum = int(values.get("gradient_accumulation_steps") or 1)
    g = torch.Generator().manual_seed(0)
    data = Dataset.from_list([{"input_ids": torch.randint(3, est.shape.vocab, (seq,), generator=g).tolist()}
                              for _ in range(batch * accum * STEPS)])
    model, tokenizer, desc = load_model(config.method, values, STEPS)
    ta = config.training_arguments()
    tmp = tempfile.mkdtemp(prefix="gpu-bench-")
    ta.update(output_dir=tmp, disable_tqdm=True, report_to="none")
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            times.append(time.perf_counter())

    trainer = ConsoleSFTTrainer(model=model, args=sft_config(ta), train_dataset=data, processing_class=tokenizer,
                                callbacks=[Clock()])
    torch.cuda.reset_peak_memory_stats()
    result = trainer.train()
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    steady = (len(times) - 3) / (times[-1] - times[2]) if len(times) > 4 else float("nan")
    shutil.rmtree(tmp, ignore_errors=True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"precision": config.resolved["precision"], "notices": config.notices, "desc": desc,
            "context": context, "allocated": torch.cuda.max_memory_allocated(),
            "reserved": torch.cuda.max_memory_reserved(), "estimate": est.total, "parts": est.parts,
            "trainable": trainable, "trainable_est": est.trainable_params, "steps_per_s": steady,
            "tokens_per_s": steady * seq * batch * accum, "train_loss": result.training_loss,
            "finite": all(math.isfinite(v) for v in losses) and math.isfinite(result.training_loss)}


def run_child(name: str, model: Path) -> dict:
    method, sets = CONFIGS[name]
    spec = {"name": name, "method": method, "sets": sets, "model": str(model)}
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env, cwd=str(ROOT))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300],
                "stderr": proc.stderr[-4000:]}
    return json.loads(lines[-1][len("RESULT "):])


def console_run(method: str, model: Path, data: Path, runs: Path, sets: dict) -> dict:
    """The console's own CLI, headless, on the real dataset: its status and metrics afterwards."""
    args = [sys.executable, "-m", "console", "--runs-dir", str(runs), "train", "--method", method, "--model",
            str(model), "--dataset", str(data)]
    for k, v in {"max_steps": 40, "eval_steps": 20, "save_steps": 20, "logging_steps": 5, "max_length": 256,
                 **sets}.items():
        args += ["--set", f"{k}={v}"]
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=str(ROOT),
                          env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    seconds = time.monotonic() - t0
    folders = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.exists() else []
    if not folders:
        return {"rc": proc.returncode, "error": (proc.stderr or proc.stdout)[-1500:]}
    run = folders[-1]
    status = json.loads((run / "status.json").read_text())
    records = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    losses = [r["loss"] for r in records if isinstance(r.get("loss"), (int, float))]
    evals = [r["eval_loss"] for r in records if isinstance(r.get("eval_loss"), (int, float))]
    shutil.rmtree(run / "checkpoints", ignore_errors=True)
    return {"rc": proc.returncode, "phase": status.get("phase"), "precision": status.get("precision"),
            "device": status.get("device"), "model": status.get("model"), "seconds": round(seconds, 1),
            "losses": [round(v, 3) for v in losses[:1] + losses[-1:]], "evals": [round(v, 3) for v in evals],
            "finite": all(math.isfinite(v) for v in losses + evals) and bool(losses),
            "tail": "" if proc.returncode == 0 else (proc.stderr or proc.stdout)[-1500:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--skeleton", type=Path)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gpu-bench")
    ap.add_argument("--only", help="comma-separated configurations of part 1")
    ap.add_argument("--no-console", action="store_true", help="part 1 only")
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    import torch

    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    model = build_weights(args.skeleton, args.out / "model")
    report = {"part1": {}, "part2": {}}
    print(f"part 1: batch {SHAPE['per_device_train_batch_size']} x {SHAPE['max_length']} tokens, accumulation "
          f"{SHAPE['gradient_accumulation_steps']}, {STEPS} steps")
    print(f"{'config':<13} {'prec':<5} {'context':>8} {'alloc':>8} {'reserved':>9} {'peak':>8} {'estimate':>9} "
          f"{'est/peak':>8} {'steps/s':>8} {'tokens/s':>9} loss")
    names = args.only.split(",") if args.only else list(CONFIGS)
    for name in names:
        r = run_child(name, model)
        report["part1"][name] = r
        if "error" in r:
            print(f"{name:<13} FAILED: {r['error']}", flush=True)
            continue
        peak = r["context"] + r["reserved"]
        print(f"{name:<13} {r['precision']:<5} {r['context'] / MiB:>6.0f}Mi {r['allocated'] / MiB:>6.0f}Mi "
              f"{r['reserved'] / MiB:>7.0f}Mi {peak / MiB:>6.0f}Mi {r['estimate'] / MiB:>7.0f}Mi "
              f"{r['estimate'] / peak:>8.2f} {r['steps_per_s']:>8.2f} {r['tokens_per_s']:>9.0f} "
              f"{r['train_loss']:.3f}{'' if r['finite'] else ' NOT FINITE'}", flush=True)
        print("    estimate: " + ", ".join(f"{k} {v / MiB:.0f}" for k, v in r["parts"].items())
              + f"; trainable {r['trainable']:,} (estimated {r['trainable_est']:,}); {r['desc']}", flush=True)
    if not args.no_console and args.data:
        print("part 2: the console's own CLI (python -m console train), 40 steps, max_length 256")
        runs = args.out / "runs"
        for method, sets in (("lora", {}), ("qlora", {}), ("full", {"bf16": "true", "fp16": "false"}),
                             ("lora", {"bf16": "true", "fp16": "false", "packing": "true"})):
            r = console_run(method, model, args.data, runs, sets)
            report["part2"][f"{method} {sets}"] = r
            print(f"{method:<6} {json.dumps(sets):<48} rc {r.get('rc')} phase {r.get('phase')} precision "
                  f"{r.get('precision')} {r.get('device')} loss {r.get('losses')} eval {r.get('evals')} "
                  f"finite {r.get('finite')} {r.get('seconds')}s", flush=True)
            if r.get("tail"):
                print("    " + r["tail"].replace("\n", "\n    "), flush=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
