"""The findings of a run: the one assembly both front ends show (the curves' diagnosis, the crash, the sample
answers), and their one text form.

The training screen, `watch`, `train`, `rerun`, the runs screen's `r` and the console's `a`/`r` all take a run's
findings from `findings_of`, so a crash's message or a sample-answer finding can no longer be dropped by one of them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis.diagnose import crash_findings, diagnose, sample_findings
from console.diagnosis.fixes import one_plan

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.vocabulary import Finding, Fix
    from console.runs.metrics import History
    from console.runs.rundir import RunDir


ENTROPY_LOGS = 5  # the logs whose entropy says whether the model's guesses are still flat (sample_findings)


def findings_of(history: History, config: RunConfig | None, status: dict | None = None,
                samples: list | None = None) -> list[Finding]:
    """Every finding of a run as it stands, as one plan: the crash's own finding first when it failed (out of
    memory, NaN, with its message), then what the curves and the sample answers show, most severe first (the curves
    first at one severity), with no two fixes pulling one setting both ways (console.diagnosis.fixes.one_plan: the
    earlier finding wins, and the later one says so)."""
    if config is None:  # an unreadable config.yaml: the curves are still drawn, nothing is judged
        return []
    status = status or {}
    out = list(diagnose(history, config)) if len(history.train_loss) or len(history.eval_loss) else []
    if samples:
        # the highest of the last few logs: a model whose entropy hovers at the threshold (the diverged demo at
        # 3.8-4.6 nats) is judged once, not at every other log (its 'answers are empty' showed at one moment)
        recent = [v for v in history.entropy.values[-ENTROPY_LOGS:] if v == v]
        out += sample_findings(samples, config, status, entropy=max(recent) if recent else None)
    out.sort(key=lambda f: f.severity.rank)  # stable: the curves before the sample answers at one severity
    if status.get("phase") == "failed" and status.get("kind"):
        crash = crash_findings(status["kind"], config, status.get("message"))
        if crash is not None and all(f.problem != crash.problem for f in out):
            out.insert(0, crash)
    # one plan: no two fixes pulling a setting both ways (the earlier finding wins, the later one says so)
    return one_plan(out, config)


def run_findings(run: RunDir, config: RunConfig | None = None) -> list[Finding]:
    """findings_of a run read from its folder (a finished one, or one still training)."""
    from console.runs.history_store import run_history
    from console.runs.samples import load_samples

    config = config or run.config()
    return findings_of(run_history(run.path), config, run.status(), load_samples(run.samples_path))


def top(findings: list[Finding]) -> Finding | None:
    """The finding whose first fix is fix 1 on the training screen: the first with a fix in the diagnosis' order
    (most severe first, a crash before the curves). The console's `r`, the runs screen's `r` and `rerun` without
    --fix all take its first fix (they disagreed: a run with an early NaN and later overfitting got the NaN's
    learning-rate fix from the console and weight decay from `rerun`)."""
    return next((f for f in findings if f.fixes), None)


def title_of(finding: Finding) -> str:
    return getattr(finding, "title", "") or finding.problem


def describe_fix(fix: Fix, config: RunConfig, number: int | None = None) -> str:
    """'[1] weight_decay 0.01 -> 0.1  (why)' from a Fix and the config it changes: Fix.describe's text form, the
    one every front end shows."""
    head = f"[{number}] " if number is not None else ""
    why = f"  ({fix.why})" if getattr(fix, "why", "") else ""
    return head + fix.describe(config) + why


def describe_finding(finding: Finding, config: RunConfig) -> list[str]:
    """A finding and its numbered fixes as the plain-text lines `watch`, `train` and `rerun` print."""
    marker = finding.severity.mark.ljust(2)
    lines = [f"{marker} {title_of(finding)}: {finding.evidence}"]
    for i, fix in enumerate(finding.fixes, 1):
        lines.append("     " + describe_fix(fix, config, i))
    if finding.numbers.get("overruled"):
        lines.append(f"     ({finding.numbers['overruled']})")
    return lines
