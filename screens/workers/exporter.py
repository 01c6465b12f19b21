"""The runs screen's E key: export a run's model in a child process (`python -m console.tools.export ... --json`),
from a
thread worker that posts ExportFinished when it ends. The console's own process never imports torch, transformers
or peft (they cost seconds, and a merge of a large model must not stall the screen); it only plans the export
(console.tools.export_plan.plan_export reads the run folder) to word the question.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from console.common.errors import RunError, UserError
from console.runs.rundir import ACTIVE_PHASES, RunDir
from console.tools.export_plan import ExportPlan, default_dest, free_dest, plan_export
from screens.workers.chat_child import child_env


@dataclass
class ExportFinished(Message):
    """An export's child process ended: where the folder is (`line` says what went there), or one line of error."""

    run_id: str
    path: str = ""
    line: str = ""
    error: str = ""


def _checkpoint_arg(plan: ExportPlan) -> str:
    return "final" if plan.source.name == "model" else plan.source.name


def plans_for(run: RunDir, cwd=None) -> dict[str, ExportPlan]:
    """The exports the key offers for `run`, by kind ('adapter' and 'merged', or 'full'), each into a folder of
    its own in the current folder (./<run-id>-merged, then -merged-2...: a second export never meets a full
    folder). The final model; a run without one (killed while training) offers its best checkpoint, else its
    newest whole one. UserError in one line when there is nothing to export."""
    checkpoint = "final"
    try:
        # force: this plan only finds the source; its default folder is not where the export goes (a folder left
        # by an earlier export made the key refuse every later one)
        plan = plan_export(run, checkpoint, force=True, cwd=cwd)
    except RunError:
        if run.status().get("phase") in ACTIVE_PHASES:
            raise
        newest, _ = run.checkpoint_to_resume()
        for checkpoint in ("best", newest.name if newest is not None else ""):
            try:
                plan = plan_export(run, checkpoint, force=True, cwd=cwd) if checkpoint else None
            except UserError:
                plan = None
            if plan is not None:
                break
        else:
            raise  # the final model's line: what the run has and what to do
    kinds = ("full",) if plan.kind == "full" else ("adapter", "merged")
    plans = {}
    for kind in kinds:
        dest = free_dest(default_dest(run, kind, plan.source if checkpoint != "final" else None, cwd))
        plans[kind] = plan_export(run, checkpoint, merge=kind == "merged", to=dest, cwd=cwd)
    return plans


def question(run: RunDir, plans: dict[str, ExportPlan]) -> tuple[str, list[tuple[str, str, str]]]:
    """(the question, its (key, label, value) answers) for the confirm screen."""
    if "full" in plans:
        plan = plans["full"]
        return (f"Export the fully fine-tuned model of {run.id}, {plan.label}, to {plan.dest}?",
                [("y", "Yes, export", "full"), ("n", "No", "no")])
    adapter, merged = plans["adapter"], plans["merged"]
    return (f"Export the {adapter.method} adapter of {run.id}, {adapter.label}:\n"
            f"a: the adapter alone (loads with peft on the base model) to {adapter.dest}\n"
            f"m: merged into its base model{' in floating point (not 4-bit)' if merged.method == 'qlora' else ''}, "
            f"{merged.base_name}, to {merged.dest} (loads without peft; loading "
            f"and merging take a while for a large model)",
            [("a", "Adapter", "adapter"), ("m", "Merge", "merged")])


def child_command(plan: ExportPlan) -> list[str]:
    argv = [sys.executable, "-m", "console.tools.export", str(plan.run.path), "--to", str(plan.dest),
            "--checkpoint", _checkpoint_arg(plan), "--json"]
    return argv + (["--merge"] if plan.kind == "merged" else [])


def run_export(plan: ExportPlan, post: Callable[[Message], object], cancelled: Callable[[], bool],
               poll: float = 0.5) -> None:
    """The worker's body: run the export's child process to its end and post ExportFinished; a cancelled worker
    (the console quits) ends the child, which removes its half-written folder."""
    try:
        proc = subprocess.Popen(child_command(plan), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                                env=child_env())  # this checkout's engine, not another installed copy
    except OSError as err:
        post(ExportFinished(plan.run.id, error=f"the export could not start: {err.strerror or err}"))
        return
    while True:
        try:
            out, err = proc.communicate(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            if cancelled():
                proc.terminate()
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                return
    post(finished(plan.run.id, proc.returncode, out, err))


def finished(run_id: str, returncode: int, out: str, err: str) -> ExportFinished:
    """ExportFinished from what the child printed: its last stdout line is one JSON object ({path, line} or
    {error}); anything else (a crash) is said with the last line of its stderr."""
    result = None
    for text in reversed((out or "").splitlines()):
        if text.strip():
            try:
                result = json.loads(text)
            except ValueError:
                result = None
            break
    if isinstance(result, dict) and result.get("error"):
        return ExportFinished(run_id, path=str(result.get("path") or ""), error=str(result["error"]))
    if isinstance(result, dict) and result.get("path") and returncode == 0:
        return ExportFinished(run_id, path=str(result["path"]), line=str(result.get("line") or result["path"]))
    tail = next((t.strip() for t in reversed((err or "").splitlines()) if t.strip()), "")
    return ExportFinished(run_id, error=f"the export of {run_id} failed (exit {returncode})"
                                        + (f": {tail[:300]}" if tail else ""))


def start(screen, plan: ExportPlan) -> None:
    """Run the export in a thread worker owned by the App; ExportFinished goes to `screen`."""
    from screens.workers.child_job import start_job

    def failed(err: Exception) -> None:
        screen.post_message(ExportFinished(plan.run.id, error=f"the export of {plan.run.id} failed: "
                                                              f"{type(err).__name__}: {err}"))

    start_job(screen, lambda post, cancelled: run_export(plan, post, cancelled), failed, group="export",
              name=f"export {plan.run.id}")

