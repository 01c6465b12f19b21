"""Every read of a file another process or the user wrote is bounded and typed (issue 27, cause 4): a FIFO, a device
or a link to one is refused in one line instead of hanging the reader; a file over its bound is refused before it is
read whole; JSON and Jinja nested past what Python parses are one line, never a RecursionError; a step of NaN or
Infinity never reaches int(). Each case here hung, flooded memory or printed a traceback before."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from console.cli.main import main
from console.common.bounded_read import FileTooLarge, NotARegularFile, loads_json, open_regular, read_bytes, read_json

DEEP = "[" * 100_000 + "]" * 100_000


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


def _cli(*argv, timeout=90) -> subprocess.CompletedProcess:
    """The real CLI in its own process, so that a read that hangs fails the test in `timeout` seconds."""
    return subprocess.run([sys.executable, "-m", "console", *argv], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[2])


def _run_folder(base):
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    return create_run(base, resolve(build_config("lora", sets={"max_steps": "10"})), command=["test"])


# -- the readers' own bounds --------------------------------------------------------------------------------------

def test_a_fifo_a_device_and_a_folder_are_refused_without_waiting(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "zero").symlink_to("/dev/zero")
    for path, kind in ((fifo, "a FIFO"), (tmp_path / "zero", "a device"), (tmp_path, "a folder")):
        with pytest.raises(NotARegularFile, match=kind):
            open_regular(path, "the file")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real").write_text("x")
    assert read_bytes(tmp_path / "link", 10) == b"x"  # a link to a regular file is read


def test_a_file_over_its_bound_is_refused_reading_no_more_than_the_bound(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(300 << 20)  # 300 MB of zero bytes (sparse)
    tracemalloc.start()
    try:
        with pytest.raises(FileTooLarge, match="larger than 1 MiB"):
            read_bytes(big, 1 << 20, "the file")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_json_nested_past_the_bound_is_a_value_error_never_a_recursion_error(tmp_path):
    with pytest.raises(ValueError, match="nested"):
        loads_json(DEEP)
    with pytest.raises(ValueError, match="nested more than 100"):
        loads_json("[" * 150 + "]" * 150)  # parses in Python, but no file we read nests so
    assert loads_json('{"a": [1, {"b": NaN}]}')["a"][0] == 1
    (tmp_path / "deep.json").write_text(DEEP)
    with pytest.raises(ValueError, match="not valid JSON: JSON nested too deep"):
        read_json(tmp_path / "deep.json", 1 << 20, "dataset info")


# -- metrics, samples and status: NaN, Infinity, deep JSON, FIFOs -------------------------------------------------

@pytest.mark.parametrize("step", ["NaN", "Infinity", "-Infinity", "1e400", '"nan"'])
def test_a_metrics_line_whose_step_is_not_finite_leaves_runs_show_and_inspect_working(tmp_path, capsys, step):
    bad = _run_folder(tmp_path)
    after = _run_folder(tmp_path)  # listed after the bad one: its row was lost with the traceback
    bad.metrics_path.write_text(f'{{"step": 2, "loss": 0.5}}\n{{"step": {step}, "loss": 1.0}}\n')
    code, text = _run(capsys, "runs", "--runs-dir", str(tmp_path))
    assert code == 0 and bad.id in text and after.id in text
    code, text = _run(capsys, "show", bad.id, "--runs-dir", str(tmp_path))
    assert code == 0 and "step 2" in text
    code, text = _run(capsys, "inspect", str(bad.path))
    assert code == 0 and "last step 2" in text
    from console.runs.metrics import load_history
    from console.runs.progress import run_summary

    assert load_history(bad.metrics_path).last_step == 2
    assert run_summary(bad)["step"] == 2


def test_a_status_step_of_infinity_never_reaches_int(tmp_path, capsys):
    run = _run_folder(tmp_path)
    status = json.loads(run.status_json.read_text())
    run.status_json.write_text(json.dumps({**status, "step": float("inf")}))
    code, text = _run(capsys, "runs", "--runs-dir", str(tmp_path))
    assert code == 0 and run.id in text


def test_deeply_nested_metrics_and_samples_lines_are_bad_lines(tmp_path):
    from console.runs.metrics import MetricsTail, load_history
    from console.runs.samples import load_samples

    run = _run_folder(tmp_path)
    run.metrics_path.write_text(f'{DEEP}\n{{"step": 1, "loss": 2.0}}\n')
    run.samples_path.write_text(f'{DEEP}\n{{"step": 1, "answer": "yes", "prompt": "q"}}\n')
    assert load_history(run.metrics_path).train_loss.values == [2.0]
    tail = MetricsTail(run.metrics_path)
    tail.read_new()
    assert tail.bad_lines == 1
    assert [s.answer for s in load_samples(run.samples_path)] == ["yes"]


def test_a_trainer_state_nested_too_deep_is_one_line_in_inspect(tmp_path, capsys):
    state = tmp_path / "trainer_state.json"
    state.write_text('{"log_history": ' + DEEP + "}")
    code, text = _run(capsys, "inspect", str(state))
    assert code != 0 and "not a trainer_state.json" in text and "nested" in text


def test_a_train_log_that_is_a_fifo_never_hangs_runs_show_or_watch(tmp_path):
    run = _run_folder(tmp_path)
    run.log_path.unlink(missing_ok=True)
    os.mkfifo(run.log_path)
    os.mkfifo(run.metrics_path) if not run.metrics_path.exists() else None
    for argv in (["runs"], ["show", run.id], ["watch", run.id]):
        done = _cli(*argv, "--runs-dir", str(tmp_path))
        assert "Traceback" not in done.stderr, done.stderr
        assert run.id in done.stdout + done.stderr


def test_sample_prompts_from_a_fifo_or_an_endless_device_never_hang_or_flood(tmp_path):
    from console.runs.samples import MAX_PROMPT_CHARS, MAX_PROMPTS, user_prompts

    os.mkfifo(tmp_path / "fifo.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    assert len(user_prompts(str(tmp_path / "fifo.txt"), chat=False)) == 1  # the value itself, as for any non-file
    assert len(user_prompts(str(tmp_path / "zero.txt"), chat=False)) == 1
    many = tmp_path / "many.txt"
    many.write_text("a question\n" * 1_000_000)
    prompts = user_prompts(str(many), chat=False)
    assert len(prompts) == MAX_PROMPTS and all(len(p[1]) <= MAX_PROMPT_CHARS for p in prompts)


# -- templates and configs given by the user ------------------------------------------------------------------------

def test_a_chat_template_that_is_a_fifo_a_device_or_nested_too_deep_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "fifo.jinja")
    (tmp_path / "zero.jinja").symlink_to("/dev/zero")
    with open(tmp_path / "huge.jinja", "wb") as f:
        f.truncate(64 << 20)
    (tmp_path / "deep.jinja").write_text("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    expected = {"fifo.jinja": "is a FIFO", "zero.jinja": "is a device", "huge.jinja": "larger than 4 MiB",
                "deep.jinja": "nested too deeply"}
    for name, words in expected.items():
        done = _cli("train", "--dry-run", "--runs-dir", str(tmp_path / "runs"), "--set",
                    f"chat_template={tmp_path / name}")
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr, (name, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_model_folder_whose_template_files_are_fifos_is_not_read(tmp_path):
    from console.data.templates import model_template

    os.mkfifo(tmp_path / "chat_template.jinja")
    os.mkfifo(tmp_path / "tokenizer_config.json")
    assert model_template(str(tmp_path)) is None  # the trainer checks; the preflight never waits on a FIFO


def test_a_yaml_config_is_bounded_before_it_is_parsed(tmp_path, capsys):
    from console.common.errors import ConfigError
    from console.config.run_config import read_yaml_file

    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(300 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="larger than 1 MiB"):
            read_yaml_file(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # 300 MB was read whole before the limit was checked
    os.mkfifo(tmp_path / "fifo.yaml")
    done = _cli("train", "--dry-run", "--runs-dir", str(tmp_path / "runs"), "--config", str(tmp_path / "fifo.yaml"))
    assert done.returncode == 2 and "is a FIFO" in done.stderr and "Traceback" not in done.stderr


# -- datasets: each row bounded, depth-safe, regular files only, formats named ------------------------------------

def _dry_run(capsys, dataset) -> tuple[int, str]:
    code, text = _run(capsys, "train", "--dry-run", "--runs-dir", str(Path(dataset).parent / "runs"), "--dataset",
                      str(dataset))
    return code, text.strip()


def test_a_json_array_with_one_row_past_the_bound_among_small_ones_is_refused_before_launch(tmp_path, capsys):
    from console.data.preflight import MAX_ROW_CHARS

    data = tmp_path / "rows.json"
    with open(data, "w", encoding="utf-8") as f:  # the mean row is under the bound: it passed, then the trainer
        f.write('[{"text": "' + "x" * (MAX_ROW_CHARS + 10) + '"}')  # went past 3 GB
        for i in range(40):
            f.write(f', {{"text": "row {i}"}}')
        f.write("]")
    code, text = _dry_run(capsys, data)
    assert code == 2 and "row 1 is longer than 16 MiB (16.0 MiB)" in text and len(text.splitlines()) == 1, text


@pytest.mark.parametrize("name,body,words", [
    ("deep.json", '[{"text": "a"}, ' + DEEP + "]", "row 2: nested too deep"),
    ("deep.jsonl", '{"text": "a"}\n' + DEEP + "\n", "line 2: malformed JSON (JSON nested too deep"),
    ("shallow.json", '[{"text": ' + "[" * 150 + "]" * 150 + "}]", "row 1: nested more than 100 levels"),
    ("data.tsv", "text\tlabel\nhello\t1\n", ".tsv is not a format the console reads"),
    ("data.jsonl.gz", "\x1f\x8b", ".jsonl.gz is not a format the console reads"),
], ids=["deep-array", "deep-line", "over-100-levels", "tsv", "jsonl-gz"])
def test_a_dataset_nested_too_deep_or_in_a_format_not_read_is_one_line_not_empty(tmp_path, capsys, name, body, words):
    (tmp_path / name).write_text(body)
    code, text = _dry_run(capsys, tmp_path / name)
    assert code == 2 and words in text and "empty" not in text and len(text.splitlines()) == 1, text


def test_a_dataset_that_is_a_fifo_or_a_device_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    for name, words in (("fifo.jsonl", "is a FIFO"), ("zero.jsonl", "is a device")):
        done = _cli("train", "--dry-run", "--runs-dir", str(tmp_path / "runs"), "--dataset", str(tmp_path / name))
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_dataset_info_json_nested_too_deep_is_refused_in_one_line(tmp_path):
    from console.config.foreign import convert

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text('{"d": ' + DEEP + "}")
    out = convert({"stage": "sft", "finetuning_type": "lora", "dataset": "d"}, tmp_path)
    assert "cannot be read" in out.refused["dataset"] and "nested" in out.refused["dataset"]
