"""What this machine can train on, found without importing torch (the UI process must stay light).

nvidia-smi answers in tens of milliseconds; torch.cuda costs seconds of import. The trainer process checks again
with torch and records the precision it really used.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    total_mib: int
    free_mib: int
    compute_capability: float

    @property
    def bf16(self) -> bool:
        return self.compute_capability >= 8.0  # Ampere and newer


@dataclass(frozen=True)
class Hardware:
    gpus: tuple[GPU, ...] = field(default_factory=tuple)

    @property
    def cuda(self) -> bool:
        return bool(self.gpus)

    @property
    def bf16(self) -> bool:
        return self.cuda and all(g.bf16 for g in self.gpus)

    @property
    def free_mib(self) -> int | None:
        return min(g.free_mib for g in self.gpus) if self.gpus else None

    def describe(self) -> str:
        if not self.gpus:
            return "CPU only (no CUDA device)"
        g = self.gpus[0]
        more = f" x{len(self.gpus)}" if len(self.gpus) > 1 else ""
        return f"{g.name}{more}, {g.free_mib / 1024:.1f} of {g.total_mib / 1024:.1f} GiB free"


CPU_ONLY = Hardware()


def _visible(indices: list[int]) -> list[int]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return indices
    env = env.strip()
    if env in ("", "-1"):
        return []
    wanted = []
    for part in env.split(","):
        part = part.strip()
        if part.isdigit() and int(part) in indices:
            wanted.append(int(part))
    return wanted


def probe() -> Hardware:
    """The visible NVIDIA GPUs, or CPU only. The environment (TRAINING_CONSOLE_CPU=1, CUDA_VISIBLE_DEVICES) is read
    at every call, so a test or a user that sets it later is not given a stale answer; only nvidia-smi's list of
    every GPU is asked once per process (it takes a second)."""
    if os.environ.get("TRAINING_CONSOLE_CPU") == "1":
        return CPU_ONLY
    gpus = {g.index: g for g in _nvidia()}
    return Hardware(tuple(gpus[i] for i in _visible(sorted(gpus))))


def probed() -> bool:
    """Whether probe() can answer without running nvidia-smi (the UI thread must not wait for it)."""
    return os.environ.get("TRAINING_CONSOLE_CPU") == "1" or bool(_nvidia.cache_info().currsize)


@lru_cache(maxsize=1)
def _nvidia() -> tuple[GPU, ...]:
    """Every GPU nvidia-smi lists, whatever CUDA_VISIBLE_DEVICES says (probe() applies it); () without one."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ()
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total,memory.free,compute_cap", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    gpus = {}
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            continue
        try:
            gpus[int(parts[0])] = GPU(int(parts[0]), parts[1], int(float(parts[2])), int(float(parts[3])),
                                      float(parts[4]))
        except ValueError:
            continue
    return tuple(gpus[i] for i in sorted(gpus))
