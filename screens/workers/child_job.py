"""A job that drives a child process (an export, a chat model) from a thread worker owned by the App.

The worker only posts messages to its screen; whatever ends the job, the screen hears of it (`failed` turns an
unexpected exception into the screen's own closing message).
"""
from __future__ import annotations

from collections.abc import Callable


def start_job(screen, job: Callable[[Callable, Callable[[], bool]], None], failed: Callable[[Exception], None],
              group: str, name: str) -> None:
    """Run job(post, cancelled) in a thread worker of screen's App; failed(err) when it raises."""
    from textual.worker import get_current_worker

    def body() -> None:
        worker = get_current_worker()
        try:
            job(screen.post_message, lambda: worker.is_cancelled)
        except Exception as err:  # noqa: BLE001  the screen must hear of the end whatever happened
            failed(err)

    screen.app.run_worker(body, thread=True, group=group, exit_on_error=False, name=name)
