"""The trainer keeps its run's metrics summary (.summary.json) as it logs: after a real demo run, `show` and `runs`
take it without parsing a line of metrics.jsonl, and it is the summary a whole read of the log gives."""
from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

from console.cli.main import main
from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import kill, launch, wait
from console.runs.progress import summary_row
from console.runs.rundir import create_run
from console.runs.summary import CACHE_NAME, MetricsSummary, stored_row, summarise
from tests.support.e2e_util import FAST

pytestmark = pytest.mark.e2e


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

    shown, listed = _cli("show", "--runs-dir", str(runs_dir), run.id), _cli("runs", "--runs-dir", str(runs_dir))
    # the log overwritten but for the bytes the summary's fingerprint holds: a reader that parsed any line would
    # show other numbers (a bad line and no metrics)
    data = run.metrics_path.read_bytes()
    run.metrics_path.write_bytes(b"x" * (len(data) - 64) + data[-64:])
    assert _cli("show", "--runs-dir", str(runs_dir), run.id) == shown
    assert _cli("runs", "--runs-dir", str(runs_dir)) == listed
    assert "loss" in shown.split("# last metrics")[1] and run.id in listed
