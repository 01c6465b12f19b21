"""The chat screen's child process (`python -m console.tools.chat RUN --serve`, console/tools/chat.py) and the thread
worker that
reads it: the console's own process never imports torch, transformers or peft.

The worker starts the child, reads its JSON lines and posts them in batches (ChatEvents: the tokens of a tenth of a
second merged, at most ten messages a second while an answer streams; any other event at once), then ChatEnded
when the child has exited. The screen writes requests to the child's stdin (ChatChild.send) from its handlers and
ends it with ChatChild.close (SIGTERM): the worker then reads the end of its output and reaps it.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.message import Message

from console.common.bounded_read import loads_json
from console.tools.chat_plan import MAX_EVENT_TEXT, typed_event

BATCH_S = 0.1
MAX_LINE_BYTES = 4 * MAX_EVENT_TEXT + 4096  # the longest event line the protocol writes, with room


def child_env() -> dict:
    """The environment of a child process the console starts (chat, export): this checkout's engine first on its
    PYTHONPATH (the folder above screens/: this file is screens/workers/chat_child.py), so a checkout beside an
    installed copy runs its own code."""
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
    return env


@dataclass
class ChatEvents(Message):
    """Events of the chat child, in order (consecutive token events of one model merged into one)."""

    events: list = field(default_factory=list)


@dataclass
class ChatEnded(Message):
    """The chat child has exited: its exit status and the last line of its stderr ('' when it said nothing)."""

    returncode: int | None = None
    stderr: str = ""


def child_command(run_path: str, checkpoint: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "console.tools.chat", str(run_path), "--serve"]
    return argv + (["--checkpoint", checkpoint] if checkpoint else [])


class ChatChild:
    """The child process, shared by the worker (which starts and reads it) and the screen (which writes to it and
    ends it); a lock keeps a close that comes before the start from leaving a child behind."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.proc: subprocess.Popen | None = None
        self.closed = False
        self.lock = threading.Lock()

    def start(self, stderr) -> subprocess.Popen | None:
        """Start the child (None when the screen has already closed). Its output is read as bytes (see pump)."""
        env = child_env()
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        with self.lock:
            if self.closed:
                return None
            # its own session: the terminal's signals are the console's (Textual's raw mode has none to send)
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                         env=env, start_new_session=True, close_fds=True)
            return self.proc

    def send(self, request: dict) -> bool:
        """Write one request line; False when the child is not there to read it."""
        proc = self.proc
        if proc is None or self.closed or proc.poll() is not None:
            return False
        try:
            proc.stdin.write((json.dumps(request, ensure_ascii=False) + "\n").encode("utf-8"))
            proc.stdin.flush()
        except (OSError, ValueError):  # a broken pipe, a closed stdin
            return False
        return True

    def close(self) -> None:
        """End the child now (the screen is closing): stdin closed and SIGTERM, even in the middle of an answer."""
        with self.lock:
            self.closed = True
            proc = self.proc
        if proc is None:
            return
        try:
            proc.stdin.close()
        except (OSError, ValueError):
            pass
        if proc.poll() is None:
            try:
                proc.terminate()
            except OSError:
                pass

    @property
    def exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None


def merge(events: list[dict], event: dict) -> None:
    """Append `event`; a token event right after another of the same model joins it."""
    if (event.get("event") == "token" and events and events[-1].get("event") == "token"
            and events[-1].get("which") == event.get("which")):
        events[-1] = dict(events[-1], text=str(events[-1].get("text", "")) + str(event.get("text", "")))
    else:
        events.append(event)


def pump(child: ChatChild, post: Callable[[Message], object], cancelled: Callable[[], bool],
         batch_s: float = BATCH_S) -> None:
    """The worker's body: start the child, post its events until it exits, reap it, post ChatEnded."""
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = child.start(stderr)
        except OSError as err:
            post(ChatEvents([{"event": "error", "fatal": True,
                              "message": f"the chat process could not start: {err.strerror or err}"}]))
            post(ChatEnded(None, ""))
            return
        if proc is None:
            return
        fd = proc.stdout.fileno()
        buffer = b""
        pending: list[dict] = []
        last_post = 0.0
        while True:
            if cancelled():  # the console is quitting
                child.close()
            ready, _, _ = select.select([fd], [], [], batch_s)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > MAX_LINE_BYTES:  # a "line" that never ends is no event: not kept in memory
                    buffer = b""
                for line in lines:
                    event = _parse(line)
                    if event is not None:
                        merge(pending, event)
            now = time.monotonic()
            if pending and (now - last_post >= batch_s or any(e.get("event") != "token" for e in pending)):
                post(ChatEvents(pending))
                pending, last_post = [], now
        event = _parse(buffer)
        if event is not None:
            merge(pending, event)
        if pending:
            post(ChatEvents(pending))
        try:
            returncode = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its stdout closed but it lives on: not ours to keep
            proc.kill()
            returncode = proc.wait()
        try:
            proc.stdout.close()
        except OSError:
            pass
        post(ChatEnded(returncode, _last_line(stderr)))


def _parse(line: bytes) -> dict | None:
    """The protocol event a line holds, each field typed (chat_plan.typed_event), or None."""
    text = line.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        event = loads_json(text)
    except ValueError:
        return None  # not a protocol line (or one nested past any of ours): nothing the screen can use
    return typed_event(event)


def _last_line(stream) -> str:
    try:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - 8192))
        text = stream.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
    lines = [t.strip() for t in text.splitlines() if t.strip()]
    return lines[-1][:300] if lines else ""


def start(screen, child: ChatChild) -> None:
    """Run the child's worker in a thread owned by the App; its messages go to `screen`."""
    from screens.workers.child_job import start_job

    def failed(err: Exception) -> None:
        child.close()
        screen.post_message(ChatEvents([{"event": "error", "fatal": True,
                                         "message": f"the chat process failed: {type(err).__name__}: {err}"}]))
        screen.post_message(ChatEnded(None, ""))

    start_job(screen, lambda post, cancelled: pump(child, post, cancelled), failed, group="chat", name="chat")
