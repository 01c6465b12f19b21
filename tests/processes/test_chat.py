"""Chat with a run's model (console/tools/chat.py, console/cli/commands/chat.py, screens/chat_screen.py), really generating with the
demo model on the CPU.

The strongest check: the run's samples.jsonl holds the base model's greedy answers at step 0, taken by the trainer
for the first eval prompts; the chat server's greedy base answer to the same prompt is the same text, token for
token (the same prompt layout through the chat template, the same decoding, the adapter disabled on the base).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from console.common.errors import RunError, UserError
from console.common.safe_text import printable
from console.config.run_config import build_config, load_run_config, parse_set, resolve
from console.runs.launcher import launch
from console.runs.rundir import RunDir, create_run
from console.runs.samples import by_step, load_samples
from console.tools.chat_plan import format_prompt, parse_request, plan_chat, prompt_layout
from tests.support.e2e_util import FAST, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return env


@pytest.fixture
def lora_run(trained):
    """The session's finished LoRA run (tests/support/trained_runs.py): training one per test would cost seconds each."""
    return trained.finished("lora")


def _base_samples(run: RunDir):
    samples = by_step(load_samples(run.path / "samples.jsonl")).get(0)
    assert samples, "the trainer took no step-0 samples"
    return samples


# -- the light part: plan, layout, requests ------------------------------------------------------------------------

def test_a_prompt_is_laid_out_as_the_run_trained():
    user = [{"role": "user", "content": "Name a colour."}]
    assert format_prompt("Name a colour.", "instruction", True) == user
    assert format_prompt("Name a colour.", "chat", True) == user
    assert format_prompt("Name a colour.", "prompt_completion", True) == user
    assert format_prompt("Name a colour.", "instruction", False) == \
        "### Instruction:\nName a colour.\n\n### Response:\n"
    assert format_prompt("Name a colour.", "chat", False) == "user: Name a colour.\nassistant:"
    assert format_prompt("Once upon", "text", True) == "Once upon"
    assert "alpaca" in prompt_layout("instruction", False) and "chat template" in prompt_layout("chat", True)


def test_requests_are_checked_in_one_line():
    assert parse_request('{"prompt": "hi"}', ["base", "tuned"]) == {
        "prompt": "hi", "temperature": 0.0, "max_new_tokens": 256, "which": ["base", "tuned"]}
    assert parse_request('{"stop": true}', ["tuned"]) == {"stop": True}
    for bad, words in (("not json", "one JSON object"), ('["hi"]', "a JSON object"), ('{"prompt": " "}', "no prompt"),
                       ('{"prompt": "x", "temperature": -1}', "temperature"),
                       ('{"prompt": "x", "max_new_tokens": 0}', "max_new_tokens"),
                       ('{"prompt": "x", "which": ["other"]}', "which"),
                       ('{"prompt": "x", "which": ["base"]}', "not loaded")):
        with pytest.raises(UserError, match=words):
            parse_request(bad, ["tuned"])


def test_a_run_without_model_or_checkpoint_cannot_chat(runs_dir):
    config = resolve(build_config("lora", sets=parse_set(FAST)))
    run = create_run(runs_dir, config, command=["test"])
    run.write_status("failed", kind="input", message="dataset not found")
    with pytest.raises(RunError, match="no final model and no checkpoint"):
        plan_chat(run)


def test_the_stream_merges_token_events_of_one_model():
    from screens.workers.chat_child import merge

    events: list = []
    for e in ({"event": "token", "which": "base", "text": "a"}, {"event": "token", "which": "base", "text": "b"},
              {"event": "done", "which": "base"}, {"event": "token", "which": "tuned", "text": "c"},
              {"event": "token", "which": "tuned", "text": "d"}):
        merge(events, e)
    assert [e.get("text") for e in events] == ["ab", None, "cd"]


@pytest.mark.e2e
def test_a_run_without_its_final_model_chats_with_its_newest_checkpoint(lora_run, tmp_path):
    import shutil

    copy = RunDir(tmp_path / "runs" / lora_run.id)
    shutil.copytree(lora_run.path, copy.path)
    assert plan_chat(copy).label == "the final model (model/, step 8)"
    shutil.rmtree(copy.path / "model")
    plan = plan_chat(copy)
    assert plan.folder.name == "checkpoint-8" and plan.label == "checkpoint-8 (the newest: the run has no final model)"
    assert plan.adapter and plan.fmt == "instruction"
    assert plan_chat(copy, "best").label == "the best checkpoint (checkpoint-8)"
    assert plan_chat(copy, "4").folder.name == "checkpoint-4"
    with pytest.raises(RunError, match="has no final model"):
        plan_chat(copy, "final")


@pytest.mark.e2e
def test_a_checkpoint_deleted_while_it_loads_is_planned_again_or_named(lora_run, tmp_path):
    """A run still training deletes its oldest checkpoint as it saves one (save_total_limit): chat raced that with a
    traceback. Here the planned folder is deleted after planning, before the load ends, as rotation does."""
    import shutil

    from console.tools.chat import load_chat

    copy = RunDir(tmp_path / "runs" / lora_run.id)
    shutil.copytree(lora_run.path, copy.path)
    shutil.rmtree(copy.path / "model")
    plan = plan_chat(copy)
    assert plan.folder.name == "checkpoint-8"
    shutil.rmtree(plan.folder)
    chat = load_chat(copy, None, with_base=False, plan=plan)
    assert chat.plan.folder.name == "checkpoint-4"
    assert any("checkpoint-8 was deleted while it was loading" in note for note in chat.plan.notes)
    assert chat.answer("Name a colour.", "tuned", max_new_tokens=3)["tokens"] == 3
    named = plan_chat(copy, "checkpoint-4")
    shutil.rmtree(named.folder)
    with pytest.raises(RunError, match="checkpoint-4 of .* was deleted while it was loading"):
        load_chat(copy, "checkpoint-4", with_base=False, plan=named)


@pytest.mark.e2e
def test_a_run_still_training_chats_with_its_newest_checkpoint(runs_dir):
    from console.runs.launcher import kill, request_save
    from console.runs.metrics import load_history
    from console.tools.chat import Chat

    config = resolve(build_config("lora", sets=parse_set(FAST + ["max_steps=100000", "save_steps=1000",
                                                                 "eval_steps=1000", "logging_steps=1"])))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    try:
        wait_for(lambda: len(load_history(run.metrics_path).train_loss.steps) >= 2, timeout=90)
        assert request_save(run)  # a checkpoint now, as c on the training screen saves one
        wait_for(lambda: run.last_checkpoint() is not None, timeout=60)
        plan = plan_chat(run)
        assert plan.folder.name.startswith("checkpoint-") and "the run is still " in plan.label, plan.label
        with pytest.raises(RunError, match="still"):
            plan_chat(run, "final")
        answer = Chat(plan, with_base=False).answer("Name a colour.", "tuned", max_new_tokens=4)
        assert answer["tokens"] == 4
    finally:
        kill(run)


# -- the server --------------------------------------------------------------------------------------------------

class Server:
    """`python -m console.tools.chat RUN --serve` with its stdout read line by line in a thread."""

    def __init__(self, run: RunDir, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "console.tools.chat", str(run.path), "--serve", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=_env(), cwd=str(ROOT))
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def events(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines)]

    def send(self, request) -> None:
        self.proc.stdin.write((request if isinstance(request, str) else json.dumps(request)) + "\n")
        self.proc.stdin.flush()

    def wait_event(self, predicate, timeout=90) -> dict:
        return wait_for(lambda: next((e for e in self.events if predicate(e)), None), timeout=timeout)

    def close(self) -> int:
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.mark.e2e
def test_the_servers_greedy_base_answer_is_the_trainers_step_0_sample(lora_run):
    samples = _base_samples(lora_run)
    limit = int(load_run_config(lora_run.path).values.get("sample_max_new_tokens") or 64)
    server = Server(lora_run)
    try:
        ready = server.wait_event(lambda e: e["event"] in ("ready", "error"))
        assert ready["event"] == "ready", ready
        assert ready["loaded"].startswith("the final model") and ready["method"] == "lora"
        assert ready["which"] == ["base", "tuned"] and "chat template" in ready["layout"]
        for n, sample in enumerate(samples):
            server.send({"prompt": sample.prompt, "max_new_tokens": limit, "which": ["base", "tuned"]})
            server.wait_event(lambda e, n=n: e["event"] == "done" and e["which"] == "tuned"
                              and sum(1 for x in server.events if x["event"] == "done") == 2 * (n + 1))
        events = server.events
        answers = [e for e in events if e["event"] == "done"]
        assert [a["which"] for a in answers] == ["base", "tuned"] * len(samples)
        for sample, base in zip(samples, answers[0::2]):
            assert base["text"] == sample.answer, (sample.prompt, base["text"], sample.answer)
            assert (base["tokens"], base["ended"]) == (sample.tokens, sample.ended)
        # the streamed pieces of each answer add up to its done text
        streamed, i = {}, 0
        for e in events:
            if e["event"] == "token":
                streamed[(i, e["which"])] = streamed.get((i, e["which"]), "") + e["text"]
            elif e["event"] == "done":
                assert streamed.get((i, e["which"]), "") == e["text"]
                assert e["tokens"] > 0 and e["seconds"] >= 0 and e["stopped"] is False
                i += e["which"] == "tuned"
        assert sum(1 for e in events if e["event"] == "token") > len(answers)  # streamed, not sent whole

        # a bad request is one error line and the server goes on
        server.send("this is not json")
        server.send({"prompt": "x", "temperature": "hot"})
        errors = wait_for(lambda: [e for e in server.events if e["event"] == "error"][:2] if
                          len([e for e in server.events if e["event"] == "error"]) >= 2 else None, timeout=30)
        assert all("\n" not in e["message"] for e in errors) and "temperature" in errors[1]["message"]
        server.send({"prompt": "hello", "which": ["tuned"], "max_new_tokens": 4})
        wait_for(lambda: sum(1 for e in server.events if e["event"] == "done") == len(answers) + 1, timeout=60)
        last = server.events[-1]
        assert last["event"] == "done" and last["which"] == "tuned" and last["tokens"] == 4
    finally:
        rc = server.close()
    assert rc == 0  # stdin closed: a clean exit
    server.reader.join(10)
    assert all(json.loads(line).get("event") for line in server.lines)  # stdout holds protocol lines only


@pytest.mark.e2e
def test_a_stop_request_ends_the_answer_being_generated(lora_run):
    server = Server(lora_run)
    try:
        assert server.wait_event(lambda e: e["event"] in ("ready", "error"))["event"] == "ready"
        server.send({"prompt": "Count.", "which": ["base", "tuned"], "max_new_tokens": 400})
        server.wait_event(lambda e: e["event"] == "token")
        server.send({"stop": True})
        done = server.wait_event(lambda e: e["event"] == "done")
        assert done["stopped"] is True and done["which"] == "base" and done["tokens"] < 400
        server.send({"prompt": "again", "which": ["tuned"], "max_new_tokens": 3})
        after = server.wait_event(lambda e: e["event"] == "done" and e["which"] == "tuned")
        assert after["tokens"] == 3 and not after["stopped"]
        assert [e["which"] for e in server.events if e["event"] == "done"] == ["base", "tuned"]
    finally:
        assert server.close() == 0


@pytest.mark.e2e
def test_the_server_reads_each_request_with_a_bound_and_bad_utf8_is_an_error_event(lora_run):
    """The server's stdin read as bytes, line by line with a bound: invalid UTF-8 (it ended the reading thread, and
    the server waited for ever) and a line past any request are error events; the next request is answered."""
    server = Server(lora_run)
    try:
        assert server.wait_event(lambda e: e["event"] in ("ready", "error"))["event"] == "ready"
        raw = server.proc.stdin.buffer
        raw.write(b'{"prompt": "caf\xe9", "which": ["tuned"], "max_new_tokens": 2}\n')  # answered, \ufffd for the byte
        raw.write(b'{"prompt": "' + b"x" * 2_000_000 + b'"}\n')
        raw.flush()
        server.send({"prompt": "Name a colour.", "which": ["tuned"], "max_new_tokens": 3})
        server.wait_event(lambda e: e["event"] == "done" and e["tokens"] == 3)
        assert [e["tokens"] for e in server.events if e["event"] == "done"] == [2, 3]
        errors = [e["message"] for e in server.events if e["event"] == "error"]
        assert any("longer than" in m for m in errors), errors
    finally:
        assert server.close() == 0
    assert "Traceback" not in server.proc.stderr.read()


@pytest.mark.e2e
def test_the_server_says_in_one_line_when_there_is_nothing_to_load(lora_run):
    server = Server(lora_run, "--checkpoint", "checkpoint-999")
    try:
        error = server.wait_event(lambda e: e["event"] in ("ready", "error"))
    finally:
        rc = server.close()
    assert error["event"] == "error" and error["fatal"] and "no checkpoint-999" in error["message"]
    assert rc == 1 and "Traceback" not in server.proc.stderr.read()


# -- the CLI -------------------------------------------------------------------------------------------------------

def _cli(*args: str, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, env=_env(), cwd=cwd or str(ROOT), timeout=180)


@pytest.mark.e2e
def test_cli_base_then_tuned_labelled_the_base_answer_is_the_step_0_sample(lora_run):
    sample = _base_samples(lora_run)[0]
    runs = str(lora_run.path.parent)
    done = _cli("chat", "--runs-dir", runs, lora_run.id, "--base", "--prompt", sample.prompt,
                "--max-new-tokens", str(sample.tokens))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"[base]\n{printable(sample.answer)}\n[tuned]\n"), done.stdout
    assert "the final model" in done.stderr and "(base: " in done.stderr and "(tuned: " in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_cli_answers_each_piped_line(lora_run, tmp_path):
    done = _cli("chat", "--runs-dir", str(lora_run.path.parent), "--max-new-tokens", "6", "--temperature", "0.7",
                stdin="What is the opposite of begin?\n\nName a colour.\n", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("(tuned: 6 tokens") == 2  # two prompts (the empty line is none), one answer each
    # each piped prompt is said above its answer, on stderr: stdout holds the answers only
    assert "> What is the opposite of begin?" in done.stderr and "> Name a colour." in done.stderr
    assert "[base]" not in done.stdout and "temperature 0.7" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_cli_mistakes_are_one_line(lora_run, runs_dir):
    runs = str(lora_run.path.parent)
    empty = resolve(build_config("lora", sets=parse_set(FAST)))
    bare = create_run(runs_dir, empty, command=["test"])
    bare.write_status("failed", kind="input", message="dataset not found")
    for args, words in (((lora_run.id, "--checkpoint", "checkpoint-999"), "no checkpoint-999"),
                        ((lora_run.id, "--checkpoint", "nonsense"), "give final, best or a checkpoint name"),
                        ((lora_run.id, "--temperature", "-1"), "--temperature"),
                        ((lora_run.id, "--max-new-tokens", "0"), "--max-new-tokens"),
                        (("no-such-run",), "no run 'no-such-run'")):
        done = _cli("chat", "--runs-dir", runs, *args, "--prompt", "hi")
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    done = _cli("chat", "--runs-dir", str(runs_dir), bare.id, "--prompt", "hi")
    assert done.returncode == 2 and "no final model and no checkpoint" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_cli_a_prompt_past_the_servers_bound_or_not_utf8_is_one_line_and_the_others_are_answered(lora_run):
    """A 1.2 MB piped prompt ran 300 s at 3 GB with no answer (the server's bound was not applied by the CLI), and
    invalid UTF-8 on stdin was a traceback: each is one line now, and the prompts around them are answered."""
    from console.tools.chat_plan import MAX_PROMPT_CHARS

    stdin = (b"Name a colour.\n" + b"x" * 1_200_000 + b"\n" + b"caf\xe9 au lait?\n" + b"y" * (MAX_PROMPT_CHARS + 1)
             + b"\nWhat is the opposite of begin?\n")
    done = subprocess.run([sys.executable, "-m", "console", "chat", "--runs-dir", str(lora_run.path.parent),
                           lora_run.id, "--max-new-tokens", "4"], input=stdin, capture_output=True, env=_env(),
                          cwd=str(ROOT), timeout=180)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "Traceback" not in err, err
    assert "error: the prompt on line 2 is 1200001 bytes long, more than a prompt may be" in err
    assert "error: the prompt on line 3 is not UTF-8 text (a bad byte at position 3)" in err
    assert f"error: the prompt on line 4 is {MAX_PROMPT_CHARS + 1} characters long: at most" in err
    assert err.count("(tuned: ") == 2 and "> What is the opposite of begin?" in err  # the others are answered


def test_cli_prompt_argument_past_the_bound_or_not_utf8_is_refused_before_loading(capsys, runs_dir):
    from console.cli.main import main
    from console.tools.chat_plan import MAX_PROMPT_CHARS

    for prompt, words in (("x" * (MAX_PROMPT_CHARS + 1), "characters long: at most"),
                          ("caf\udce9", "is not UTF-8 text")):  # a byte that was not UTF-8, as argv keeps it
        assert main(["chat", "--runs-dir", str(runs_dir), "--prompt", prompt]) == 2
        err = capsys.readouterr().err
        assert "--prompt is " in err and words in err, err
        assert len(err.strip().splitlines()) == 1


# -- the screen ----------------------------------------------------------------------------------------------------

@pytest.mark.e2e
async def test_the_chat_screen_answers_in_two_panes_and_escape_ends_its_process(lora_run, monkeypatch):
    from screens.app import TrainingConsoleApp
    from screens.chat_screen import ChatScreen
    from screens.runs_screen import RunsScreen
    from tests.support.screens import wait_for as pilot_wait

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(lora_run.path.parent.parent / "home"))
    torch_before = "torch" in sys.modules
    app = TrainingConsoleApp(runs_dir=str(lora_run.path.parent), poll=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await pilot_wait(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.filled, what="runs screen")
        await pilot.pause()
        await pilot.press("t")
        await pilot_wait(pilot, lambda: isinstance(app.screen, ChatScreen), what="chat screen")
        screen = app.screen
        base, tuned = screen.query_one("#pane-base"), screen.query_one("#pane-tuned")
        assert base.region.width >= 38 and tuned.region.width >= 38 and base.region.x < tuned.region.x
        assert base.region.height >= 12  # side by side, most of the 24 rows
        # typed and sent at once, while the model loads: the Enter waits for it (it was dropped: a new user's
        # prompt stayed in the box until Enter was pressed again)
        await pilot.press(*"Name a colour.", "enter")
        assert screen.ready is None  # loading takes seconds, typing milliseconds
        await pilot_wait(pilot, lambda: screen.ready is not None or screen.failed, timeout=90, what="model loaded")
        assert screen.ready is not None, screen.failed
        assert "final model" in str(screen.query_one("#chat-title").render())
        await pilot_wait(pilot, lambda: screen.current and not screen.answering, timeout=90, what="both answers")
        for which in ("base", "tuned"):
            exchange, widget = screen.current[which]
            assert exchange.answer and not exchange.waiting and "256 tokens" in exchange.stats
            assert exchange.prompt == "Name a colour."
            shown = str(widget.render())
            assert shown.startswith("> Name a colour.") and "\x7f" not in shown and "\x1b" not in shown
        assert "tokens" in str(screen.query_one("#chat-status").render())
        assert "greedy" in str(screen.query_one("#chat-status").render())
        await pilot.press("ctrl+t")
        assert "temperature 0.7" in str(screen.query_one("#chat-status").render())
        proc = screen.child.proc
        await pilot.press("escape")
        await pilot_wait(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.filled, what="back on the runs screen")
        await pilot_wait(pilot, lambda: proc.poll() is not None, what="the chat process ended")
    if not torch_before:
        assert "torch" not in sys.modules  # the generation ran in the child process


@pytest.mark.e2e
async def test_t_on_the_training_screen_chats_with_the_run_shown_at_120x40(lora_run, monkeypatch):
    from screens.app import TrainingConsoleApp
    from screens.chat_screen import ChatScreen
    from screens.training_screen import TrainingScreen
    from tests.support.screens import wait_for as pilot_wait

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(lora_run.path.parent.parent / "home"))
    app = TrainingConsoleApp(runs_dir=str(lora_run.path.parent), attach=lora_run.id, poll=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot_wait(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.live is not None,
                         what="training screen")
        await pilot.press("t")
        await pilot_wait(pilot, lambda: isinstance(app.screen, ChatScreen), what="chat screen")
        screen = app.screen
        assert lora_run.id in str(screen.query_one("#chat-title").render())
        assert screen.query_one("#pane-base").region.width >= 55
        await pilot_wait(pilot, lambda: screen.child.proc is not None, what="the chat process started")
        proc = screen.child.proc
        await pilot.press("escape")  # before the model has loaded: the process ends all the same
        await pilot_wait(pilot, lambda: isinstance(app.screen, TrainingScreen), what="back")
        await pilot_wait(pilot, lambda: proc.poll() is not None, what="the chat process ended")


# -- QLoRA: the adapter on the 4-bit base --------------------------------------------------------------------------

@pytest.mark.e2e
def test_qlora_chat_loads_the_adapter_on_the_4bit_base_and_answers(trained):
    pytest.importorskip("bitsandbytes")
    torch = pytest.importorskip("torch")
    from bitsandbytes.nn import Linear4bit

    from console.tools.chat import Chat

    run = trained.finished("qlora")
    chat = Chat(plan_chat(run))
    model = chat.models["tuned"]
    assert chat.peft and chat.models["base"] is model  # one model: the base answers with the adapter off
    assert any(isinstance(m, Linear4bit) for m in model.modules())
    assert any("lora_A" in name for name, _ in model.named_parameters())
    pieces: list[str] = []
    tuned = chat.answer("Name a colour.", "tuned", max_new_tokens=8, on_text=pieces.append)
    base = chat.answer("Name a colour.", "base", max_new_tokens=8)
    assert tuned["tokens"] == 8 and "".join(pieces) == tuned["text"] and base["tokens"] == 8
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        with_adapter = model(input_ids=ids).logits
        with model.disable_adapter():
            without = model(input_ids=ids).logits
    assert not torch.allclose(with_adapter, without)  # the trained adapter changes what the 4-bit base says
