"""The findings' own objects: a Fix (absolute argument changes for the next run) and a Finding (a problem, its
severity, where it started, its evidence and fixes), and the one text form of a fix (Fix.describe; a finding's lines
are console.loop.findings.describe_finding, which every front end prints).

Apart from the rules (console/diagnosis/rules/, which find them and hold each problem's title) and
console/diagnosis/fixes.py (which computes the fixes): both import them from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig

# Each problem's title as its rule module declares it (TITLE in console/diagnosis/rules/<problem>.py), entered here
# when console.diagnosis.rules is imported, as every producer of findings does: the rules import this module, so
# it cannot import them.
TITLES: dict[str, str] = {}


class Severity(StrEnum):
    """How bad a finding is; the one ordering every front end sorts, marks and filters by (a StrEnum: it reads and
    writes as its word in JSON, and equals it)."""

    ERROR = "error"  # the run is failing: diverged, loss rising, out of memory
    WARNING = "warning"  # it works, but not well: overfitting, stuck, oscillating
    INFO = "info"  # worth knowing, nothing to fix yet

    @property
    def rank(self) -> int:
        """0 for the worst: the sort key."""
        return _RANKS[self]

    @property
    def mark(self) -> str:
        return {"error": "!!", "warning": "!", "info": "i"}[self.value]

    def at_least(self, other: Severity) -> bool:
        """As bad as `other` or worse."""
        return self.rank <= other.rank


_RANKS = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass
class Fix:
    """One suggested change for the next run: absolute target values computed from this run's config."""

    changes: dict
    why: str
    id: str = ""  # what kind of fix (lr_down_2x, weight_decay, ...): for display and lineage

    def describe(self, config: RunConfig | None = None) -> str:
        """'weight_decay 0.01 -> 0.1, num_train_epochs 5 -> 3' (old values from config when given)."""
        parts = []
        for key, value in self.changes.items():
            old = (config.method if key == "method" else config.get(key)) if config is not None else None
            new = _fmt(value)
            if key == "warmup_steps" and _is_ratio(value) and not _is_ratio(old):
                new += f" (a ratio: {100 * value:g}% of the run)"  # from a step count to a ratio: say which it is
            if config is None:
                parts.append(f"{key}={new}")
            else:  # an argument not set before reads 'early_stopping_patience -> 3', as the screens show it
                parts.append(f"{key} -> {new}" if old is None else f"{key} {_fmt(old)} -> {new}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"changes": dict(self.changes), "why": self.why}


@dataclass
class Finding:
    problem: str
    severity: Severity  # a word ("error") is taken too and made a Severity
    step: float | None  # where the problem started
    evidence: str  # one line, with numbers
    fixes: list[Fix] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)  # the figures behind the evidence, for screens and tests

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)

    @property
    def title(self) -> str:
        base = self.numbers.get("title") or TITLES.get(self.problem, self.problem.replace("_", " ").capitalize())
        return f"{base} since step {_fmt_step(self.step)}" if self.step is not None else base

    def to_dict(self) -> dict:
        return {"problem": self.problem, "severity": self.severity,
                "step": None if self.step is None else _json_step(self.step),
                "evidence": self.evidence, "fixes": [f.to_dict() for f in self.fixes]}



def _is_ratio(value) -> bool:
    """warmup_steps below 1 is a ratio of the run (transformers 5), 1 and above a step count."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1


def _fmt(value) -> str:
    from console.common.numbers import fmt

    return fmt(value)


def _fmt_step(step: float) -> str:
    return str(int(step)) if float(step).is_integer() else f"{step:g}"


def _json_step(step: float):
    return int(step) if float(step).is_integer() else step
