"""How long a trainer process takes to load its libraries, with bitsandbytes left out (a run that never calls it,
console/trainer/lean_imports.py) and without (QLoRA, 8-bit, a bitsandbytes optimiser), measured alternately in one run.

    python bench/trainer_start.py [--rounds 5]

Each sample is a fresh `python -c` doing the trainer's own imports (console/trainer/train.py's _train), timed from outside.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = ("from console.trainer.quiet import quiet_known_noise; quiet_known_noise(); import torch; "
           "from console.trainer.model import load_model; from console.trainer.kinds.sft import ConsoleSFTTrainer; import datasets")
MODES = {
    "bitsandbytes left out (lora, adamw_torch)":
        "from console.trainer.lean_imports import leave_out_bitsandbytes; assert leave_out_bitsandbytes('lora', {}); ",
    "bitsandbytes loaded (qlora)":
        "from console.trainer.lean_imports import leave_out_bitsandbytes; assert not leave_out_bitsandbytes('qlora', {}); ",
}


def sample(code: str) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code + IMPORTS], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in MODES}
    sample(next(iter(MODES.values())))  # warm the file cache
    for _ in range(args.rounds):
        for name, code in MODES.items():
            times[name].append(sample(code))
    for name, values in times.items():
        print(f"{name:45s} median {statistics.median(values):5.2f} s  (min {min(values):.2f}, max {max(values):.2f}, "
              f"n={len(values)})")
    left_out, loaded = (statistics.median(v) for v in times.values())
    print(f"saved per trainer start: {loaded - left_out:.2f} s ({(loaded - left_out) / loaded:.0%})")


if __name__ == "__main__":
    main()
