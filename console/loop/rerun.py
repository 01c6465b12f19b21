"""The next run from a finished or running one: a finding's fix applied, lineage recorded.

One function serves `training-console rerun` and the console's one-key "apply fix" so that both do exactly the same.
"""
from __future__ import annotations

from dataclasses import dataclass

from console.common.errors import UserError
from console.config.run_config import RunConfig, load_run_config, resolve
from console.diagnosis.vocabulary import Finding, Fix
from console.runs.rundir import RunDir, create_run


@dataclass
class RerunPlan:
    config: RunConfig  # the next run's config, resolved for this machine
    finding: Finding | None  # the finding whose fix was applied (None: no fix, only --set changes)
    fix: Fix | None


def run_findings(run: RunDir, config: RunConfig | None = None) -> list[Finding]:
    """The findings of a run: its curves, plus the crash finding when it failed (out of memory, divergence)."""
    from console.diagnosis.diagnose import crash_findings, diagnose
    from console.runs.metrics import load_history
    from console.runs.samples import load_samples, sample_findings

    config = config or load_run_config(run.path)
    findings = list(diagnose(load_history(run.metrics_path), config))
    status = run.status(repair=False)
    if status.get("phase") == "failed" and status.get("kind"):
        crash = crash_findings(status["kind"], config, status.get("message"))
        if crash is not None and all(f.problem != crash.problem for f in findings):
            findings.insert(0, crash)
    return findings + sample_findings(load_samples(run.path / "samples.jsonl"), config, status)


def top(findings: list[Finding]) -> Finding | None:
    """The finding whose first fix is fix 1 on the training screen: the first with a fix in the diagnosis' order
    (most severe first, a crash before the curves). The console's `r`, the runs screen's `r` and `rerun` without
    --fix all take its first fix (they disagreed: a run with an early NaN and later overfitting got the NaN's
    learning-rate fix from the console and weight decay from `rerun`)."""
    return next((f for f in findings if f.fixes), None)


def plan_rerun(run: RunDir, fix_spec: str | None = None, changes: dict | None = None,
               findings: list | None = None) -> RerunPlan:
    """The next run's config. fix_spec: 'PROBLEM' or 'PROBLEM:N' (N from 1), None for fix 1 as the training
    screen numbers them (top()), or 'none' to apply no fix (only `changes`)."""
    from console.diagnosis.fixes import apply

    config = load_run_config(run.path)
    config.run_id = run.id
    findings = run_findings(run, config) if findings is None else findings
    finding = fix = None
    if fix_spec and fix_spec.lower() != "none":
        problem, _, number = fix_spec.partition(":")
        matches = [f for f in findings if f.problem == problem]
        if not matches:
            found = ", ".join(f.problem for f in findings) or "none"
            raise UserError(f"run {run.id} has no '{problem}' finding (findings: {found})")
        finding = matches[0]
        index = int(number) if number.isdigit() else 1
        if not 1 <= index <= len(finding.fixes):
            raise UserError(f"'{problem}' has {len(finding.fixes)} fixes: choose 1 to {len(finding.fixes)}")
        fix = finding.fixes[index - 1]
    elif fix_spec is None:
        finding = top(findings)
        if finding is None and not changes:
            raise UserError(f"run {run.id} shows no problem with a fix: give --set key=value to change something, "
                            f"or --fix none to run the same config again")
        fix = finding.fixes[0] if finding else None
    if fix is not None:
        new = apply(config, fix, parent=run.id)
    else:
        new = config.with_changes({})
        new.parent, new.fixes, new.run_id = run.id, [], None
    if changes:
        lineage = (new.parent, new.fixes)
        new = new.with_changes(changes)
        new.parent, new.fixes = lineage
    return RerunPlan(resolve(new), finding, fix)


def start(runs_dir, config: RunConfig, command: list[str] | None = None, name: str | None = None,
          checked: bool = False) -> RunDir:
    """The one way every front end starts a run (`train`, `rerun`, the console's launch, `a`/`r` and the runs
    screen's `r`): check the model and data (unless the caller has just done it: `checked`), create the run folder,
    launch the trainer. A dataset gone since its parent ran is one line here, before any folder is made."""
    from console.loop.preflight import check_inputs
    from console.runs.launcher import launch

    if not checked:
        check_inputs(config.values)
    run = create_run(runs_dir, config, command=command, name=name)
    launch(run, processes=int(config.values.get("processes") or 1))
    return run
