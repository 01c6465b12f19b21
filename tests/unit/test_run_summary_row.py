"""A run's stored row (in .summary.json) is taken as it is while the log has not grown: a row holding a flag and a
text (finished, note) was refused as malformed, so every reader computed and wrote every run's summary again (3000
runs: `runs` wrote 3000 files each time)."""
from __future__ import annotations

import json

from console.config.run_config import build_config, resolve
from console.runs.progress import run_summary, summary_row
from console.runs.rundir import create_run
from console.runs.summary import CACHE_NAME, stored_row


def _finished_run(tmp_path):
    run = create_run(tmp_path / "runs", resolve(build_config("lora", sets={"max_steps": "20"})), command=["test"])
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        for step in range(1, 21):
            f.write(json.dumps({"step": step, "loss": 3.0 - step / 10, "max_steps": 20}) + "\n")
        f.write(json.dumps({"step": 20, "eval_loss": 1.5}) + "\n")
    run.write_status("done", step=20, seconds=1.0)
    return run


def test_a_second_reader_reads_the_stored_row_and_writes_nothing(tmp_path):
    run = _finished_run(tmp_path)
    first = run_summary(run)
    cache = run.path / CACHE_NAME
    written = cache.stat().st_mtime_ns
    row = stored_row(run.path, summary_row)
    assert row is not None and isinstance(row["finished"], bool) and isinstance(row["note"], str)
    assert run_summary(run) == first and cache.stat().st_mtime_ns == written


def test_the_stored_row_is_not_taken_once_the_log_has_grown_or_was_replaced(tmp_path):
    run = _finished_run(tmp_path)
    run_summary(run)
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": 21, "loss": 0.5}) + "\n")
    assert stored_row(run.path, summary_row) is None
    assert run_summary(run)["step"] == 21
    text = run.metrics_path.read_text()
    run.metrics_path.write_text(text.replace('"loss": 0.5', '"loss": 0.7'))  # the same size, other bytes
    assert stored_row(run.path, summary_row) is None


def test_a_preference_run_is_listed_with_its_objective_beside_its_method(tmp_path, capsys):
    """`runs` showed a DPO or KTO run on LoRA as `lora`, the same as the SFT run it started from."""
    from console.cli.main import main

    runs = tmp_path / "runs"
    for objective in ("sft", "dpo", "kto"):
        create_run(runs, resolve(build_config("qlora", sets={"objective": objective, "max_steps": "5"})),
                   command=["test"])
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    methods = [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(methods) == ["qlora", "qlora+dpo", "qlora+kto"]
    dpo = next(p for p in runs.iterdir() if json.loads((p / "run.json").read_text())["objective"] == "dpo")
    info = json.loads((dpo / "run.json").read_text())
    info.pop("objective")  # a run from before run.json said it: its config.yaml does
    (dpo / "run.json").write_text(json.dumps(info))
    assert sorted(line.split()[1] for line in _listed(runs)) == ["qlora", "qlora+dpo", "qlora+kto"]
    (dpo / "config.yaml").write_text("method: qlora\n")  # nor there: its method alone, as before
    assert "qlora" in [line.split()[1] for line in _listed(runs) if dpo.name in line]


def _listed(runs) -> list[str]:
    import contextlib
    import io

    from console.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["runs", "--runs-dir", str(runs)]) == 0
    return out.getvalue().splitlines()[1:]


def test_a_long_first_read_is_said_on_stderr_once(tmp_path, capsys, monkeypatch):
    """A run of an older trainer (no stored summary or history) with a long log: `runs`, `show` and `inspect` sat
    silent for 25 s on a million-event one. Now they say so first, on stderr; once read, never again."""
    import console.cli.args as cli_args
    from console.cli.main import main
    from console.runs import history_store

    monkeypatch.setattr(cli_args, "LONG_READ_BYTES", 200)
    monkeypatch.setattr(history_store, "GROWTH_BYTES", 100)  # a read this long is stored for the next reader
    run = _finished_run(tmp_path)  # its summary and history not kept by a trainer: a log of an older one
    runs = str(tmp_path / "runs")

    def said(*command) -> str:
        assert main([command[0], "--runs-dir", runs, *command[1:]]) == 0
        out = capsys.readouterr()
        assert "reading" not in out.out
        return out.err

    assert f"reading {run.id}'s log" in said("runs")  # its summary read, and stored
    assert said("runs") == "" and said("show", run.id) == ""
    assert f"reading {run.id}'s log" in said("inspect", "--fail-on", "never", run.id)  # its whole history: stored
    assert said("inspect", "--fail-on", "never", run.id) == ""
