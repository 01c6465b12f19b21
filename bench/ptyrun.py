"""A program in a pseudo-terminal, as a user's terminal would run it: spawn, read what it draws, end it."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import termios
from pathlib import Path


def spawn(argv: list[str], env: dict, cols: int, rows: int) -> tuple[int, int]:
    """(pid, fd of the terminal's master side): argv runs with env in a cols x rows pty."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the program, drawing into the pty
        os.environ.clear()
        os.environ.update(env, COLUMNS=str(cols), LINES=str(rows))
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def read_some(fd: int, wait: float) -> bytes | None:
    """What the program wrote within `wait` seconds: None for nothing yet, b"" once it has closed the terminal."""
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:  # Linux answers EIO once the child side is gone
        return b""


def end(pid: int, fd: int) -> None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(fd)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")
