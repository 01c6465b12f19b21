"""Adapter to the engine's diagnosis (console.diagnosis.diagnose, console.diagnosis.fixes), tolerant of their absence.

The screens call only these functions, so a console without a diagnosis still trains and draws.
"""
from __future__ import annotations

import importlib


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        return None


def findings(history, config, status: dict | None = None, samples: list | None = None) -> list:
    """The warnings for a history (live or finished), plus those of a crash (out of memory, NaN) and of the
    sample answers (not ending, repeating)."""
    mod = _module("console.diagnosis.diagnose")
    if mod is None or config is None:
        return []
    out = list(mod.diagnose(history, config)) if len(history.train_loss) or len(history.eval_loss) else []
    status = status or {}
    if status.get("phase") == "failed" and status.get("kind") and hasattr(mod, "crash_findings"):
        crash = mod.crash_findings(status["kind"], config)
        crash = [] if crash is None else [crash] if not isinstance(crash, (list, tuple)) else list(crash)
        seen = {f.problem for f in out}
        out = [f for f in crash if f.problem not in seen] + out
    if samples:
        from console.runs.samples import sample_findings

        out += sample_findings(samples, config, status)
    return out


def apply_fix(config, fix, parent: str | None):
    """The next run's config: `fix` applied to `config`, lineage (parent run, fixes) recorded."""
    mod = _module("console.diagnosis.fixes")
    if mod is not None:
        return mod.apply(config, fix, parent=parent)
    new = config.with_changes(dict(fix.changes))
    new.parent = parent
    new.fixes = list(config.fixes or []) + [{"changes": dict(fix.changes), "why": getattr(fix, "why", ""),
                                             "label": fix_label(fix, config)}]
    new.run_id = None
    return new


def fix_label(fix, config) -> str:
    follow = _module("console.runs.follow")
    return follow.describe_fix(fix, config) if follow else ", ".join(f"{k}={v}" for k, v in fix.changes.items())


def finding_title(finding) -> str:
    return getattr(finding, "title", "") or finding.problem
