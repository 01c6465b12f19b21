"""Out of memory (a crash): the run died for lack of device memory. Found from the trainer's status, not a curve."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fx
from console.diagnosis.vocabulary import Finding, Severity

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.context import CrashContext
    from console.runs.metrics import History

PROBLEM = "out_of_memory"
TITLE = "Out of memory"
KIND = "crash"
CRASH_KINDS = ("oom", "out_of_memory", "cuda_oom", "outofmemory")  # status.json's kind, lowercase, '_' for '-'


def crash(ctx: CrashContext) -> Finding | None:
    if ctx.kind not in CRASH_KINDS:
        return None
    config = ctx.config
    return Finding(PROBLEM, Severity.ERROR, None,
                   f"the run ran out of memory (per-device batch {config.get('per_device_train_batch_size')}, "
                   f"method {config.method}).", fixes(config))


def fixes(config: RunConfig, history: History | None = None, **_) -> list:
    return fx.finish(config, [
        fx.smaller_batch(config, "half the per-device batch, double accumulation: same effective batch"),
        fx.checkpointing(config, "recompute activations instead of storing them (~20% slower)"),
        fx.lighter_method(config, "a lighter method trains fewer parameters / a quantised base")])
