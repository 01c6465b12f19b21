"""The trainer keeps its run's metrics summary (.summary.json) and history (.history.json) as it logs: after a real
demo run, `show`, `runs`, `inspect` and the console take them without parsing a line of metrics.jsonl, and they are
what a whole read of the log gives."""
from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

from console.cli.main import main
from console.config.run_config import build_config, parse_set, resolve
from console.runs.follow import Follower
from console.runs.history_store import load as load_stored_history
from console.runs.launcher import kill, launch, wait
from console.runs.metrics import load_history
from console.runs.progress import summary_row
from console.runs.rundir import create_run
from console.runs.summary import CACHE_NAME, MetricsSummary, stored_row, summarise
from tests.support.e2e_util import FAST

pytestmark = pytest.mark.e2e


def _state(history) -> str:
    return json.dumps(history.state(), allow_nan=True, sort_keys=True)


def _cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def test_a_demo_run_ends_with_its_summary_current_and_readers_never_parse_its_log(runs_dir, tmp_path):
    run = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
    launch(run)
    try:
        assert wait(run, timeout=600)["phase"] == "done", run.tail_log(20)
    finally:
        kill(run)  # a failed assertion must not leave a trainer running
    # no reader has read the run yet (wait reads status.json only): what is there, the trainer wrote
    head, points = (run.path / CACHE_NAME).read_text().splitlines()
    stored = MetricsSummary.from_json({**json.loads(points), **json.loads(head)})
    copy = tmp_path / "whole"
    copy.mkdir()
    shutil.copy(run.metrics_path, copy / "metrics.jsonl")
    whole = summarise(copy, write=False, row_of=summary_row)  # every line read
    assert whole.events >= 8 and whole.final is not None and whole.row["best_eval"] is not None  # evaluations in
    assert stored.to_text() == whole.to_text()  # points, row, offset, fingerprint: the same
    assert stored_row(run.path, summary_row) == whole.row
    # and the whole history, stored at its end: what the console opens the run from (console/runs/history_store.py)
    history, covered = load_stored_history(run.path)
    assert covered == run.metrics_path.stat().st_size
    assert _state(history) == _state(load_history(run.metrics_path)) and history.eval_loss.steps

    shown, listed = _cli("show", "--runs-dir", str(runs_dir), run.id), _cli("runs", "--runs-dir", str(runs_dir))
    inspected = _cli("inspect", "--runs-dir", str(runs_dir), "--fail-on", "never", run.id)
    attached, _ = Follower(run).attach()  # the console attaching to the run
    # the log overwritten but for the bytes the summary's fingerprint holds: a reader that parsed any line would
    # show other numbers (a bad line and no metrics)
    data = run.metrics_path.read_bytes()
    run.metrics_path.write_bytes(b"x" * (len(data) - 64) + data[-64:])
    assert _cli("show", "--runs-dir", str(runs_dir), run.id) == shown
    assert _cli("runs", "--runs-dir", str(runs_dir)) == listed
    assert _cli("inspect", "--runs-dir", str(runs_dir), "--fail-on", "never", run.id) == inspected
    assert _state(Follower(run).attach()[0]) == _state(attached) == _state(history)
    assert "loss" in shown.split("# last metrics")[1] and run.id in listed
