"""Following a run from the terminal as plain text (`train`, `watch`, `rerun`, `resume`): progress lines and each
new finding as it appears, from the one follower (console.runs.follow) and the one findings assembly
(console.loop.findings) the console uses too."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from console.loop.findings import describe_finding, findings_of
from console.runs.follow import Follower, MetricsRead, SamplesRead
from console.runs.metrics import History, _number
from console.runs.progress import progress, progress_line
from console.runs.rundir import RunDir
from console.runs.summary import MetricStat

WATCH_POLL_S = 0.5  # how often `train` and `watch` look at the run folder: a line appears within this long


def watch(run: RunDir, write: Callable[[str], None] = print, samples: bool = False) -> dict:
    """Print progress and findings until the run ends (Ctrl+C detaches: the caller says so); returns the last status.
    `samples`: print the sample answers (first against latest) at each new sampling too."""
    from console.runs.samples import samples_text

    try:
        config = run.config()
    except Exception:  # an unreadable config still lets the curves be followed
        config = None
    follower = Follower(run)
    history, answers = History(), []
    evals = MetricStat(best=[])  # the best eval so far, kept as each eval line is read (linear in the evals)
    shown: set[str] = set()
    said: set[str] = set()  # the trainer's one-time words in status.json (data, cut examples)
    last_phase = None
    last_stall = ""
    while True:
        events = follower.poll()
        records = [r for e in events if isinstance(e, MetricsRead) for r in e.records]
        new_answers = [s for e in events if isinstance(e, SamplesRead) for s in e.samples]
        history.extend(records)
        answers += new_answers
        status = follower.status or {}
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
        if any("loss" in r and "train_runtime" not in r for r in records):
            write(progress_line(progress(history, status, config.get("logging_steps") if config else None)))
        for record in records:
            # each eval line says the best so far (it recomputed progress over every eval read: 10,000 evals cost
            # 17 s of CPU before the first line)
            value, step = _number(record.get("eval_loss")), _number(record.get("step"))
            if value is None or step is None:
                continue
            evals.add(step, value)
            best = f" (best {evals.best[-1][1]:.4f} at step {int(evals.best[-1][0])})" if evals.best else ""
            write(f"eval loss {value:.4f} at step {record.get('step')}{best}")
        if samples and new_answers:
            write(f"[{run.id}] sample answers at step {new_answers[-1].step}:")
            write(samples_text(answers))
        if config is not None and (records or new_answers or follower.ended):
            for finding in findings_of(history, config, status, answers):
                if finding.problem not in shown:
                    shown.add(finding.problem)
                    for line in describe_finding(finding, config):
                        write(line)
        if follower.ended:
            return status
        if not follower.behind:
            time.sleep(WATCH_POLL_S)


def stdout_writer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
