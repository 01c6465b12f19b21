"""What sample answers cost a run, and what they show (issue: "what did the fine-tune learn?").

    python bench/samples.py                 # the demo's first run (LoRA preset, no change), samples on vs off
    python bench/samples.py --model real    # SmolLM2-135M-Instruct LoRA, 30 steps: base vs tuned answers, cost

Demo: the console's default first run, trained with samples on (the default: 3 held-out prompts, 64 tokens,
greedy, at every evaluation and before the first step) and off (sample_every 0), in alternating pairs; prints the
trainer's own measure (samples_seconds against train_runtime, from the run's last metrics line) and the wall-time
ratio of each pair. Real: one LoRA run on the stdlib docstring Q/A data (bench/real_model.py), the sample answers
of the base model (step 0) and of the tuned one printed side by side, with their cost.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def train(runs: Path, method: str, sets: dict) -> tuple[object, float]:
    from console.config.run_config import build_config, resolve
    from console.runs.launcher import launch, wait
    from console.runs.rundir import create_run

    config = resolve(build_config(method, sets={k: str(v) for k, v in sets.items()}))
    run = create_run(runs, config, command=["bench/samples.py"])
    t0 = time.perf_counter()
    launch(run)
    status = wait(run)
    wall = time.perf_counter() - t0
    if status.get("phase") != "done":
        raise SystemExit(f"run {run.id} ended {status.get('phase')}: {status.get('message')}")
    return run, wall


def end_record(run) -> dict:
    lines = [json.loads(line) for line in run.metrics_path.read_text().splitlines() if line.strip()]
    return next(r for r in reversed(lines) if "train_runtime" in r)


def demo(pairs: int) -> None:
    shares, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            walls = {}
            for which in order:
                run, wall = train(Path(tmp), "lora", {} if which == "on" else {"sample_every": 0})
                walls[which] = wall
                if which == "on":
                    end = end_record(run)
                    share = end["samples_seconds"] / end["train_runtime"]
                    shares.append(share)
                    from console.runs.samples import by_step, load_samples

                    steps = sorted(by_step(load_samples(run.path / "samples.jsonl")))
                    print(f"pair {i + 1}: samples at steps {steps}: {end['samples_seconds']:.2f} s of "
                          f"{end['train_runtime']:.1f} s training = {100 * share:.1f} %")
            ratios.append(walls["on"] / walls["off"])
            print(f"pair {i + 1}: wall time on {walls['on']:.1f} s, off {walls['off']:.1f} s, ratio "
                  f"{ratios[-1]:.3f}")
    print(f"demo first run: samples take {100 * statistics.median(shares):.1f} % of the training time (median of "
          f"{len(shares)}); wall-time ratio on/off {statistics.median(ratios):.3f} (target: at most 5 %)")


def real(steps: int) -> None:
    import real_model

    from console.runs.samples import load_samples, samples_text

    data = real_model.default_dataset_dir() / "instruction"
    if not data.is_dir():
        raise SystemExit(f"no dataset at {data}: build it with `python bench/real_model.py build`")
    sets = {"model": str(real_model.ensure_real_model()), "dataset": str(data), "max_steps": steps,
            "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "max_length": 256,
            "logging_steps": 5, "eval_steps": steps, "save_steps": steps, "per_device_eval_batch_size": 8}
    with tempfile.TemporaryDirectory() as tmp:
        run, wall = train(Path(tmp), "lora", sets)
        end = end_record(run)
        samples = load_samples(run.path / "samples.jsonl")
        print(samples_text(samples, 110))
        ended = {}
        for s in samples:
            ended.setdefault(s.step, []).append(s.ended)
        print()
        for step, flags in sorted(ended.items()):
            print(f"step {step}: {sum(flags)} of {len(flags)} answers ended")
        print(f"real LoRA, {steps} steps: samples {end['samples_seconds']:.1f} s of {end['train_runtime']:.1f} s "
              f"training = {100 * end['samples_seconds'] / end['train_runtime']:.1f} % (wall {wall:.0f} s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("demo", "real"), default="demo")
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    if args.model == "demo":
        demo(args.pairs)
    else:
        real(args.steps)


if __name__ == "__main__":
    main()
