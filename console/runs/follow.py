"""Following a run from the terminal as plain text: progress lines and each new finding as it appears."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.runs.metrics import History, MetricsTail
from console.runs.progress import progress, progress_line
from console.runs.rundir import ACTIVE_PHASES, RunDir

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.vocabulary import Finding, Fix


def describe_fix(fix: Fix, config: RunConfig, number: int | None = None) -> str:
    """'[1] weight_decay 0.01 -> 0.1  (why)' from a Fix and the config it changes: Fix.describe's text form, the
    one every front end shows."""
    head = f"[{number}] " if number is not None else ""
    why = f"  ({fix.why})" if getattr(fix, "why", "") else ""
    return head + fix.describe(config) + why


def describe_finding(finding: Finding, config: RunConfig) -> list[str]:
    marker = finding.severity.mark.ljust(2)
    title = getattr(finding, "title", "") or finding.problem
    lines = [f"{marker} {title}: {finding.evidence}"]
    for i, fix in enumerate(finding.fixes, 1):
        lines.append("     " + describe_fix(fix, config, i))
    return lines


FOLLOW_POLL_S = 0.5  # how often `train` and `watch` look at the run folder: a line appears within this long


def follow(run: RunDir, write: Callable[[str], None] = print, samples: bool = False) -> dict:
    """Print progress and findings until the run ends (Ctrl+C detaches: the caller says so); returns the last status.
    `samples`: print the sample answers (first against latest) at each new sampling too."""
    from console.config.run_config import load_run_config
    from console.diagnosis.diagnose import diagnose
    from console.runs.samples import parse, sample_findings, samples_text

    tail = MetricsTail(run.metrics_path)
    sample_tail = MetricsTail(run.path / "samples.jsonl")
    answers: list = []
    history = History()
    try:
        config = load_run_config(run.path)
    except Exception:  # an unreadable config still lets the curves be followed
        config = None
    shown: set[str] = set()
    said: set[str] = set()  # the trainer's one-time words in status.json (data, cut examples)
    last_phase = None
    last_stall = ""
    while True:
        records = tail.read_new()
        history.extend(records)
        status = run.status()
        phase = status.get("phase")
        # Evaluations come and go every few steps: only the phases a reader cares about are printed.
        shown_phase = "training" if phase == "evaluating" else phase
        if shown_phase != last_phase:
            extra = f": {status['message']}" if status.get("message") else ""
            write(f"[{run.id}] {shown_phase}{extra}")
            last_phase = shown_phase
        stall = status.get("not_responding") or ""
        if stall != last_stall:  # said once when it starts, once when the trainer moves again
            write(f"[{run.id}] {stall}" if stall else f"[{run.id}] responding again")
            last_stall = stall
        for key, prefix in (("data", "data: "), ("cut_text", "warning: ")):
            value = status.get(key)
            if isinstance(value, str) and value and key not in said:
                said.add(key)
                write(prefix + value)
        for record in records:
            if "loss" in record and "train_runtime" not in record:
                write(progress_line(progress(history)))
                break
        for record in records:
            if "eval_loss" in record:
                p = progress(history)
                write(f"eval loss {record['eval_loss']:.4f} at step {record.get('step')}"
                      f" (best {p.best_eval:.4f} at step {int(p.best_eval_step)})")
        new_answers = [a for a in (parse(r) for r in sample_tail.read_new()) if a is not None]
        answers += new_answers
        if samples and new_answers:
            write(f"[{run.id}] sample answers at step {new_answers[-1].step}:")
            write(samples_text(answers))
        if config is not None and (records or new_answers):
            for finding in list(diagnose(history, config)) + sample_findings(answers, config, status):
                if finding.problem not in shown:
                    shown.add(finding.problem)
                    for line in describe_finding(finding, config):
                        write(line)
        if phase not in ACTIVE_PHASES:
            history.extend(tail.read_new())
            if config is not None and phase == "failed":  # the crash's own finding (OOM, NaN)
                from console.loop.rerun import run_findings

                for finding in run_findings(run, config):
                    if finding.problem not in shown:
                        shown.add(finding.problem)
                        for line in describe_finding(finding, config):
                            write(line)
            return status
        time.sleep(FOLLOW_POLL_S)


def stdout_writer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
