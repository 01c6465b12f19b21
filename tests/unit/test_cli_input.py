"""Bad input on the command line: one clear message naming what is wrong and what to do, never a traceback."""
import json

import pytest

from console.cli.main import main
from console.runs.rundir import list_run_dirs


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    return code, text


@pytest.mark.parametrize("argv,words", [
    (["--method", "lorra"], ["unknown method 'lorra'", "Did you mean 'lora'"]),
    (["--set", "learnig_rate=1e-4"], ["unknown argument 'learnig_rate'", "Did you mean 'learning_rate'"]),
    (["--set", "learning_rate=abc"], ["learning_rate must be a number > 0", "'abc'"]),
    (["--set", "learning_rate=0"], ["learning_rate must be a number > 0"]),
    (["--set", "per_device_train_batch_size=0"], ["per_device_train_batch_size", ">= 1"]),
    (["--set", "val_size=1"], ["val_size"]),
    (["--set", "per_device_train_batch_size=1000000000"], ["<= 65536"]),
    (["--set", "learning_rate=1e9"], ["<= 10"]),
    (["--model", "./no/such/model"], ["/no/such/model not found"]),
    (["--dataset", "./missing.jsonl"], ["/missing.jsonl not found"]),
    (["--set", "oops"], ["--set needs key=value"]),
])
def test_refused_before_anything_starts(runs_dir, capsys, argv, words):
    code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--dry-run", *argv)
    assert code == 2
    for w in words:
        assert w in text, text
    assert not list_run_dirs(runs_dir)


def test_out_of_range_is_allowed_with_a_warning(runs_dir, capsys):
    code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--dry-run", "--set", "learning_rate=1e-3")
    assert code == 0
    # said once, in the analysis (the summary above it said both again)
    assert text.count("learning_rate=1e-3  outside the LoRA range 1e-4 to 5e-4") == 1, text
    assert "!! learning_rate=1e-3  outside the LoRA range 1e-4 to 5e-4" in text
    assert text.count("effective batch = 4 per device x 4 accumulation x 1 process = 16") == 1, text


def _write(path, text, binary=False):
    if binary:
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_dataset_problems(tmp_path, runs_dir, capsys):
    cases = [
        (_write(tmp_path / "cols.jsonl", '{"question": "a", "answer": "b"}\n'),
         ["no usable column", "columns found: question, answer"]),
        (_write(tmp_path / "empty.jsonl", ""), ["is empty"]),
        (_write(tmp_path / "bad.jsonl", '{"text": "a"}\n{"text": "b"}\n{"text": oops}\n'),
         ["line 3", "malformed JSON"]),
        (_write(tmp_path / "latin.jsonl", '{"text": "caf\xe9"}\n'.encode("latin-1"), binary=True), ["not UTF-8"]),
        (_write(tmp_path / "cols.csv", "a,b\n1,2\n"), ["columns found: a, b"]),
    ]
    for path, words in cases:
        code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--dry-run", "--dataset", path)
        assert code == 2, path
        for w in words:
            assert w in text, (path, text)


def test_yaml_syntax_error_shows_the_line(tmp_path, runs_dir, capsys):
    path = _write(tmp_path / "c.yaml", "learning_rate: 1e-4\nweight_decay: [0.1\n")
    code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--config", path)
    assert code == 2 and "YAML syntax error" in text and "line" in text


def test_dataset_formats_are_detected(tmp_path, runs_dir, capsys):
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    for name, row, fmt in [("t.jsonl", {"text": "x"}, "text"), ("c.jsonl", chat, "chat"),
                           ("i.jsonl", {"instruction": "a", "input": "", "output": "b"}, "instruction")]:
        path = _write(tmp_path / name, json.dumps(row) + "\n")
        code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--dry-run", "--dataset", path)
        assert code == 0 and f"{fmt} format" in text


@pytest.mark.e2e
def test_qlora_where_bitsandbytes_cannot_load(tmp_path, runs_dir, capsys, monkeypatch):
    fake = tmp_path / "fake" / "bitsandbytes"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('libbitsandbytes_cpu.so: cannot open shared object')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--method", "qlora", "--set", "max_steps=2")
    assert code == 1
    assert "QLoRA needs bitsandbytes, which cannot load here" in text and "--method lora" in text
    status = list_run_dirs(runs_dir)[-1].status()
    assert status["kind"] == "input"


def test_runs_show_and_stop_on_unknown_runs(runs_dir, capsys):
    code, text = _run(capsys, "show", "--runs-dir", str(runs_dir), "nope")
    assert code == 2 and "no run" in text
    code, text = _run(capsys, "runs", "--runs-dir", str(runs_dir))
    assert code == 0 and "no runs" in text
    code, text = _run(capsys, "show", "--fields")
    assert code == 0 and "learning_rate" in text and "lora_r" in text


def test_runs_dir_before_or_after_the_subcommand(tmp_path):
    from console.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["--runs-dir", "X", "attach", "r1"]).runs_dir == "X"
    assert parser.parse_args(["attach", "--runs-dir", "Y", "r1"]).runs_dir == "Y"
    assert parser.parse_args(["runs"]).runs_dir == "runs"
    assert parser.parse_args(["--runs-dir", "Z", "rerun", "r1"]).runs_dir == "Z"


def test_dry_run_of_a_hub_model_fails_at_once_when_the_hub_cannot_be_reached(runs_dir, capsys, monkeypatch,
                                                                               tmp_path):
    # no network here: the endpoint is a closed local port, so the answer must come from one refused connection,
    # not from huggingface_hub's five retries (24 s), and the exit status must say it failed
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    rc, text = _run(capsys, "train", "--method", "lora", "--set", "model=no-such-org/no-such-model", "--dry-run")
    assert rc == 2
    assert "error: cannot read the config of Hub model no-such-org/no-such-model: offline" in text
    assert "Retrying" not in text


def test_a_hub_name_in_the_local_hub_cache_is_read_offline(runs_dir, capsys, monkeypatch, tmp_path):
    # the path real users take (a Hub name), served by the Hub cache's own layout in a local folder
    from console.data.demo import CONFIG, VOCAB_SIZE

    repo = tmp_path / "hf" / "hub" / "models--some-org--tiny-llama"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(dict(CONFIG, model_type="llama", vocab_size=VOCAB_SIZE)))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    rc, text = _run(capsys, "train", "--method", "lora", "--set", "model=some-org/tiny-llama", "--dry-run")
    assert rc == 0, text
    assert "memory" in text and "no estimate" not in text


def test_the_console_takes_a_session_model_and_dataset_and_train_keeps_its_own():
    from console.cli.main import build_parser

    args = build_parser().parse_args(["--model", "org/m", "--dataset", "d.jsonl"])
    assert args.command is None and args.session_model == "org/m" and args.session_dataset == "d.jsonl"
    args = build_parser().parse_args(["train", "--model", "org/other"])
    assert args.model == "org/other"


LONG = "a" * 300  # one path component past the file system's 255 bytes


@pytest.mark.parametrize("argv", [
    ["train", "--dry-run", "--dataset", f"/tmp/{LONG}.jsonl"],
    ["train", "--dry-run", "--model", f"/tmp/{LONG}"],
    ["train", "--dry-run", "--config", f"/tmp/{LONG}.yaml"],
    ["runs", "--runs-dir", f"/tmp/{LONG}"],
    ["show", "--runs-dir", f"/tmp/{LONG}", "latest"],
])
def test_a_path_component_over_255_bytes_is_one_line(capsys, argv):
    """A name over 255 bytes gave an OSError traceback in six commands: one line now, whichever met it."""
    code, text = _run(capsys, *argv)
    assert code == 2 and "longer than the file system allows" in text and "shorten it" in text, text
    assert len(text.strip().splitlines()) == 1 and "characters)" in text  # the path shortened, its length said


def test_the_preflight_reads_a_huge_single_line_in_bounded_memory(tmp_path, monkeypatch):
    """A 1 GB single-line JSONL was read whole by the preflight (6 GB, then an abort). Each row is read with a
    bound: here the bound is lowered to 64 KiB and the line is 4 MiB; the memory the read took is measured."""
    import tracemalloc

    import console.data.preflight as data
    from console.common.errors import DataError

    monkeypatch.setattr(data, "MAX_ROW_CHARS", 64 * 1024)
    path = tmp_path / "one-line.jsonl"
    path.write_text('{"text": "' + "x" * (4 * 2**20) + '"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="line 1: longer than"):
            data.preflight(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 * 2**20, peak  # far below the 4 MiB line (and its decoded copies)
    text = tmp_path / "one-line.txt"
    text.write_text("y" * (256 * 1024))
    with pytest.raises(DataError, match="line 1: longer than"):
        data.preflight(str(text))


def test_a_csv_field_longer_than_csv_s_default_is_read(tmp_path, runs_dir, capsys):
    """csv's own 128 KiB field limit made a long document a traceback; the preflight's bound is MAX_ROW_CHARS."""
    path = _write(tmp_path / "long.csv", "text\n" + "word " * 60000 + "\nshort\n")
    code, text = _run(capsys, "train", "--runs-dir", str(runs_dir), "--dry-run", "--dataset", path)
    assert code == 0 and "2 rows" in text, text


def test_rerun_checks_the_data_before_it_makes_a_run_folder(tmp_path, runs_dir, capsys):
    """Every front end starts a run through console.loop.next_run.start, which checks the model and data first: `rerun`
    did not, and a dataset gone since the parent ran made a run folder that failed in the trainer."""
    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.rundir import create_run

    data = tmp_path / "gone.jsonl"
    data.write_text('{"text": "a line"}\n' * 20)
    parent = create_run(runs_dir, resolve(build_config("lora", sets=parse_set([f"dataset={data}"]))),
                        command=["test"])
    parent.write_status("failed", kind="error", message="an earlier failure")
    data.unlink()
    code, text = _run(capsys, "rerun", "--runs-dir", str(runs_dir), parent.id, "--fix", "none", "--detach")
    assert code == 2 and "gone.jsonl not found" in text, text
    assert [r.id for r in list_run_dirs(runs_dir)] == [parent.id]  # no new folder


def test_a_mistyped_option_is_said_by_its_command_with_the_setting_it_likely_meant(capsys):
    """`train --max-step 20` printed the top level's usage and no hint; now the command's own usage and the --set
    it likely meant (found by a new-user run)."""
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--max-step", "20"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "usage: training-console train" in err and "Traceback" not in err
    assert "unrecognized arguments: --max-step 20 (a training argument goes through --set: --set max_steps=VALUE)" in err
    with pytest.raises(SystemExit):
        main(["runs", "--bogus"])
    err = capsys.readouterr().err
    assert "usage: training-console runs" in err and "--set" not in err


def _labelled_run(runs_dir, name="smoke", **changes):
    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.rundir import create_run

    sets = [f"{k}={v}" for k, v in {"max_steps": 2, "eval_steps": 2, "save_steps": 2, **changes}.items()]
    run = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(sets))), command=["test"], name=name)
    run.write_status("done")
    return run


def test_a_runs_name_label_is_taken_as_its_id(runs_dir, capsys):
    """Issue 30: `train --name smoke` made 2026...-smoke-ab12, and stop/attach/export/show refused `smoke`."""
    from console.runs.rundir import find_run, run_label

    run = _labelled_run(runs_dir)
    assert run_label(run.id) == "smoke" and find_run(runs_dir, "smoke").id == run.id
    code, text = _run(capsys, "show", "--runs-dir", str(runs_dir), "smoke")
    assert code == 0 and run.id in text, text
    code, text = _run(capsys, "stop", "--runs-dir", str(runs_dir), "smoke")
    assert "no run 'smoke'" not in text, text
    _labelled_run(runs_dir)  # two runs of one label: say so, never pick one silently
    code, text = _run(capsys, "show", "--runs-dir", str(runs_dir), "smoke")
    assert code == 2 and "matches 2 runs" in text, text


def test_rerun_fix_none_set_dry_run_prints_the_plan_and_the_lineage_records_the_set(runs_dir, capsys):
    """Issue 30: `rerun --fix none --set k=v --dry-run` printed nothing, and the child's lineage recorded no
    change for a rerun with only --set."""
    from console.loop.next_run import plan_rerun

    run = _labelled_run(runs_dir)
    code, text = _run(capsys, "rerun", "--runs-dir", str(runs_dir), run.id, "--fix", "none", "--set",
                      "learning_rate=1e-4", "--dry-run")
    assert code == 0 and "set: learning_rate 2e-4 -> 1e-4" in text and "dry run: nothing launched" in text, text
    assert [r.id for r in list_run_dirs(runs_dir)] == [run.id]
    plan = plan_rerun(run, "none", {"learning_rate": 1e-4})
    assert plan.config.parent == run.id
    assert [(f["id"], f["changes"], f["from"]) for f in plan.config.fixes] == [
        ("set", {"learning_rate": 1e-4}, {"learning_rate": 2e-4})]


@pytest.mark.e2e
def test_rerun_keeps_the_parents_label(runs_dir, capsys):
    """Issue 30: a rerun of `--name smoke` was named after its method, its label lost."""
    from console.runs.launcher import wait
    from console.runs.rundir import run_label

    run = _labelled_run(runs_dir)
    code, text = _run(capsys, "rerun", "--runs-dir", str(runs_dir), run.id, "--fix", "none", "--set",
                      "learning_rate=1e-4", "--detach")
    assert code == 0, text
    child = [r for r in list_run_dirs(runs_dir) if r.id != run.id][0]
    assert run_label(child.id) == "smoke" and child.read_info()["parent"] == run.id
    assert child.read_info()["fixes"][0]["changes"] == {"learning_rate": 1e-4}
    assert wait(child, timeout=180)["phase"] == "done"


def test_any_unique_part_of_a_run_id_names_it(runs_dir, capsys):
    """A new user's `show 175354` (the time in the id) said "no run"; cli.md promises "a unique part of one"."""
    from console.common.errors import RunError
    from console.runs.rundir import find_run

    first = _labelled_run(runs_dir, name="alpha")
    second = _labelled_run(runs_dir, name="beta")
    middle = first.id.split("-")[1]  # the time of day: neither a prefix nor a suffix
    if middle != second.id.split("-")[1]:
        assert find_run(runs_dir, middle).id == first.id
    assert find_run(runs_dir, "lph").id == first.id
    with pytest.raises(RunError, match="matches 2 runs"):
        find_run(runs_dir, first.id[:8])  # the date: both runs
