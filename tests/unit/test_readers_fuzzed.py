"""Every reader of a file another process or the user wrote, fed whatever bytes such a file can hold (issue 27,
cause 8): NaN and Infinity (which Python's json reads and writes), wrong types, nesting deep past the recursion
limit, huge numbers, invalid UTF-8, cut lines. Each reader gives its typed answer or one line, never a traceback.

Beside tests/unit/test_run_files_hostile.py (status.json, run.json, config.yaml, metrics records, the heartbeat),
these go through the files themselves: metrics.jsonl and samples.jsonl as bytes, the metrics summary a reader
stores, a trainer_state.json, LLaMA-Factory's dataset_info.json, a dataset file, the chat process' events and the
chat command's stdin.
"""
from __future__ import annotations

import io
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.common.errors import UserError

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**400, max_value=10**400) | st.floats()
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
# what a JSON value in such a file can be besides valid JSON: the literals Python's json reads, numbers past a
# float, nesting past the recursion limit, a cut line, bytes that are not UTF-8
ODD_TEXTS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, '"nan"', '"inf"', "[]", "{}",
             "[" * 100_000 + "]" * 100_000, '{"a": ' * 3000 + "1" + "}" * 3000, '{"step": 1', "\x00"]
ODD = st.sampled_from(ODD_TEXTS)
ODD_SET = set(ODD_TEXTS)


def _value():
    return st.one_of(JSON, ODD)


@st.composite
def json_lines(draw, keys):
    """Lines of a JSON Lines file written by hand: objects with the reader's keys holding anything (JSON or the odd
    values above, written as text), whole values of any kind, and raw bytes."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            fields = draw(st.dictionaries(st.sampled_from(keys), _value(), max_size=len(keys)))
            body = ", ".join(f"{json.dumps(k)}: {v if isinstance(v, str) and v in ODD_SET else _dump(v)}"
                             for k, v in fields.items())
            lines.append(("{" + body + "}").encode("utf-8", "surrogatepass"))
        elif kind == 1:
            value = draw(_value())
            lines.append((value if isinstance(value, str) and value in ODD_SET else _dump(value)).encode(
                "utf-8", "surrogatepass"))
        else:
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b" "))
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))


def _dump(value) -> str:
    try:
        return json.dumps(value)
    except (ValueError, OverflowError):
        return "null"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run folder whose files each example writes anew (a run folder costs a config resolved and written)."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    return create_run(tmp_path_factory.mktemp("runs"), resolve(build_config("lora", sets={"max_steps": "10"})),
                      command=["test"])


def _fresh(run, metrics: bytes):
    from console.runs.summary import CACHE_NAME

    (run.path / CACHE_NAME).unlink(missing_ok=True)
    run.metrics_path.write_bytes(metrics)


METRIC_KEYS = ["step", "loss", "eval_loss", "learning_rate", "grad_norm", "epoch", "time", "max_steps",
               "train_runtime", "steps_per_second", "rewards/chosen"]


@FUZZ
@given(data=json_lines(METRIC_KEYS), status_step=_value())
def test_any_metrics_file_gives_every_reader_a_typed_answer(run, data, status_step):
    from console.diagnosis.diagnose import diagnose
    from console.runs.metrics import load_history
    from console.runs.progress import progress, progress_line, run_summary

    _fresh(run, data)
    history = load_history(run.metrics_path)
    assert math.isfinite(history.last_step)
    for series in (history.train_loss, history.eval_loss, history.learning_rate):
        assert all(math.isfinite(s) for s in series.steps)
    row = run_summary(run)
    assert isinstance(row["step"], int) and row["step"] >= 0
    p = progress(history, {"step": status_step if not isinstance(status_step, str) else None})
    assert math.isfinite(p.step)
    progress_line(p)
    diagnose(history)
    assert run_summary(run) == row  # the summary stored by the first reader gives the same row


@FUZZ
@given(stored=st.one_of(JSON, st.fixed_dictionaries(
    {"version": st.integers(0, 5), "offset": _value(), "fingerprint": _value(), "events": _value(),
     "bad_lines": _value(), "last_step": st.dictionaries(st.text(max_size=5), _value(), max_size=3),
     "metrics": st.dictionaries(st.sampled_from(["loss", "eval_loss"]), st.fixed_dictionaries(
         {"tail": st.lists(st.lists(_value(), min_size=3, max_size=3), max_size=3), "best": _value(),
          "count": _value()}), max_size=2)})))
def test_any_stored_metrics_summary_is_used_whole_or_read_again(stored, run):
    from console.runs.progress import run_summary
    from console.runs.summary import CACHE_NAME, MetricsSummary

    summary = MetricsSummary.from_json(stored)
    if summary is not None:
        history = summary.history()
        assert all(math.isfinite(s) for s in history.train_loss.steps + history.eval_loss.steps)
    _fresh(run, b'{"step": 1, "loss": 2.0}\n')
    (run.path / CACHE_NAME).write_text(_dump(stored))
    assert isinstance(run_summary(run)["step"], int)


SAMPLE_KEYS = ["step", "answer", "prompt", "tokens", "seconds", "ended", "reference"]


@FUZZ
@given(data=json_lines(SAMPLE_KEYS))
def test_any_samples_file_gives_typed_samples_and_a_text(tmp_path_factory, data):
    from console.runs.samples import load_samples, samples_text

    path = tmp_path_factory.mktemp("run") / "samples.jsonl"
    path.write_bytes(data)
    samples = load_samples(path)
    for s in samples:
        assert isinstance(s.step, int) and s.step >= 0 and isinstance(s.answer, str) and isinstance(s.tokens, int)
        assert math.isfinite(s.seconds)
    assert isinstance(samples_text(samples, width=60), str)


@FUZZ
@given(state=st.one_of(JSON, st.fixed_dictionaries({"log_history": st.lists(st.dictionaries(
    st.sampled_from(METRIC_KEYS), _value(), max_size=5), max_size=6), "max_steps": _value()})), odd=ODD)
def test_any_trainer_state_is_inspected_or_refused_in_one_line(tmp_path_factory, capsys, state, odd):
    from console.cli.main import main

    folder = tmp_path_factory.mktemp("state")
    text = _dump(state) if not isinstance(state, dict) or state.get("max_steps") != odd else \
        _dump({**state, "max_steps": None}).replace("null", odd, 1)
    (folder / "trainer_state.json").write_text(text)
    code = main(["inspect", str(folder / "trainer_state.json")])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert code == 0 or len(out.err.strip().splitlines()) == 1, out.err


@FUZZ
@given(info=st.one_of(JSON, ODD, st.dictionaries(st.just("d"), st.one_of(JSON, st.fixed_dictionaries(
    {"file_name": _value(), "formatting": _value(), "columns": _value(), "tags": _value(), "split": _value()})))))
def test_any_dataset_info_json_is_read_or_refused_in_one_line(tmp_path_factory, info):
    from console.config.foreign import convert

    base = tmp_path_factory.mktemp("lf")
    (base / "data").mkdir()
    (base / "data" / "dataset_info.json").write_text(info if isinstance(info, str) else _dump(info))
    try:
        out = convert({"stage": "sft", "finetuning_type": "lora", "dataset": "d"}, base)
    except UserError as err:
        assert "\n" not in str(err)
        return
    for line in out.refused.values():
        assert "\n" not in line


@FUZZ
@given(data=json_lines(["text", "prompt", "completion", "messages", "chosen", "rejected", "instruction", "output"]),
       suffix=st.sampled_from([".jsonl", ".json", ".csv", ".txt"]))
def test_any_dataset_file_passes_the_preflight_or_is_refused_in_one_line(tmp_path_factory, data, suffix):
    from console.data.preflight import preflight

    path = tmp_path_factory.mktemp("data") / f"data{suffix}"
    path.write_bytes(data if suffix != ".json" else b"[" + data.replace(b"\n", b",") + b"]")
    try:
        assert isinstance(preflight(str(path)), str)
    except UserError as err:
        assert "\n" not in str(err).strip(), str(err)


@FUZZ
@given(event=st.one_of(JSON, st.fixed_dictionaries({"event": st.sampled_from(["ready", "token", "done", "error"])},
                                                   optional={k: _value() for k in [
                                                       "which", "text", "tokens", "seconds", "ended", "stopped",
                                                       "message", "fatal", "notes", "loaded", "device", "layout"]})))
def test_any_chat_event_is_typed_or_dropped_and_the_screen_draws_it(event):
    from console.tools.chat_plan import WHICH, typed_event
    from screens.chat_screen import ChatScreen

    typed = typed_event(event)
    if typed is None:
        return
    kind = typed["event"]
    if kind in ("token", "done"):
        assert typed["which"] in WHICH and isinstance(typed.get("text", ""), str)
    if kind == "done":
        assert isinstance(typed["tokens"], int) and math.isfinite(typed["seconds"])
        assert ChatScreen.stats_text(typed).startswith("(") and isinstance(ChatScreen._rate(typed), str)
    if kind == "ready":
        assert set(typed["which"]) <= set(WHICH) and all(isinstance(n, str) for n in typed["notes"])
        assert math.isfinite(typed["seconds"])
    if kind == "error":
        assert isinstance(typed["message"], str) and "\n" not in typed["message"]


@FUZZ
@given(data=st.binary(max_size=300), long_line=st.booleans())
def test_any_bytes_on_the_chat_commands_stdin_are_prompts_or_one_line_each(data, long_line, monkeypatch):
    import console.tools.chat_plan as chat_plan
    from console.cli.commands.chat import _prompts

    monkeypatch.setattr(chat_plan, "MAX_PROMPT_CHARS", 20)  # the bound (100,000) scaled down with the input
    stream = io.BytesIO(data + (b"x" * 200 + b"\n" if long_line else b""))
    lines = list(_prompts(stream, interactive=False))
    for _, prompt, problem in lines:
        assert isinstance(prompt, str) and (problem is None or "\n" not in problem)
        assert problem is not None or len(prompt) <= 20
    if long_line:
        assert lines and lines[-1][2] is not None
