"""The console with hostile input (issue 27, causes 4 and 6).

Run files: a metrics line whose step is NaN or Infinity, values of Infinity, 100k-deep JSON and a train.log that is a
FIFO, in a run listed and opened (a NaN step exited the console; the FIFO hung it). The chat screen: names and titles
drawn as text, never as markup (a model folder named m[link=x:y] ended the console), and every event of the chat
process typed before use (a wrong-typed field reached int() and ended the console); its events come from a real
child process writing them to the screen's real worker (screens/workers/chat_child.py), no model loaded."""
from __future__ import annotations

import os
import sys

from textual.content import Content

from console.config.run_config import build_config, parse_set, resolve
from console.runs.rundir import create_run
from screens.app import TrainingConsoleApp
from screens.chat_screen import ChatScreen
from screens.runs_screen import RunsScreen
from screens.training_screen import TrainingScreen
from screens.workers.chat_child import ChatChild
from tests.support.e2e_util import FAST
from tests.support.screens import wait_for

# a chat process that says it is ready with wrong-typed fields, then answers a prompt with hostile events
HOSTILE_CHILD = r'''
import json, sys
say = lambda line: print(line, flush=True)
say(json.dumps({"event": "ready", "which": ["tuned", "bogus"], "seconds": "fast", "device": 5, "layout": None,
                "notes": "[red]not a list", "loaded": ["x"]}))
sys.stdin.readline()
say('{"event": "token", "which": "tuned", "text": 5}')
say('{"event": "token", "which": "tuned", "text": "hi [link=x:y] [/bold]"}')
say('{"event": "token", "which": ["tuned"], "text": "lost"}')
say("[" * 100000 + "]" * 100000)
say('{"event": "error", "message": ["a", "list"]}')
say('{"event": "done", "which": "tuned", "tokens": "many", "seconds": NaN, "ended": "yes", "text": ["x"]}')
sys.stdin.readline()
'''


async def test_hostile_names_and_events_leave_the_chat_screen_working(runs_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    run = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
    app = TrainingConsoleApp(runs_dir=str(runs_dir), poll=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = ChatScreen(run, "checkpoint-4", "checkpoint-4 [bold]x[/] (the newest)", "lora",
                            "/models/m[link=x:y]")
        screen.child = ChatChild([sys.executable, "-c", HOSTILE_CHILD])
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.ready is not None or screen.failed, timeout=30, what="ready")
        assert screen.ready["which"] == ["tuned"] and screen.ready["seconds"] == 0.0
        # what the border draws (the getter gives the title back as markup, escaped)
        assert Content.from_markup(screen.query_one("#pane-base").border_title).plain == "base: m[link=x:y]"
        assert "[bold]x[/]" in str(screen.query_one("#chat-title").render())
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: screen.current and not screen.answering, timeout=30, what="the answer")
        exchange, widget = screen.current["tuned"]
        assert exchange.answer == "hi [link=x:y] [/bold]"  # the streamed text stands; drawn as text
        assert "0 tokens" in exchange.stats and "no end token" in exchange.stats
        assert "hi [link=x:y] [/bold]" in str(widget.render())
        assert app.is_running and isinstance(app.screen, ChatScreen)
        await pilot.press("escape")


async def test_a_run_with_nan_steps_deep_json_and_a_fifo_log_is_listed_and_opened(runs_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    config = resolve(build_config("lora", sets=parse_set(FAST)))
    fifo = create_run(runs_dir, config, command=["test"])
    fifo.log_path.unlink(missing_ok=True)
    os.mkfifo(fifo.log_path)
    run = create_run(runs_dir, config, command=["test"])  # the newest: first in the list
    run.metrics_path.write_text('{"step": 1, "loss": 2.0, "eval_loss": 2.1}\n{"step": NaN, "loss": 1.0}\n'
                                + "[" * 100_000 + "]" * 100_000 + '\n{"step": 2, "loss": Infinity, '
                                '"eval_loss": NaN}\n{"step": Infinity, "loss": 0.5}\n')
    for made in (fifo, run):  # ended runs: a run made a moment ago without a trainer reads "starting" for 5 s, and
        made.write_status("failed", kind="killed", message="test")  # the console opened it at once (timing)
    app = TrainingConsoleApp(runs_dir=str(runs_dir), poll=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.filled, what="runs screen")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.live is not None
                       and app.live.id == run.id, what="the run opened")
        await wait_for(pilot, lambda: app.live.history.last_step == 2, what="its history read")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, TrainingScreen)
