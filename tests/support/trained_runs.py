"""Finished demo runs of each method, trained once per test session through `training-console train` (the CLI's own
path: create_run, launch, wait) and shared by the tests that read a finished run: the engine's end-to-end checks
(test_engine_e2e), export and chat. A trainer start costs about 5 s of imports on the 2-core CI machine, so one run
per method instead of one per module took about 35 s off the suite. A test that changes a run copies it first.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from console.cli.main import main
from console.runs.rundir import RunDir, list_run_dirs
from tests.support.e2e_util import sets

# What each method trains with beyond e2e_util.FAST: full fine-tuning needs a larger step to move the demo's loss.
EXTRA = {"full": ("learning_rate=1e-3",)}


@dataclass
class Trained:
    method: str
    code: int  # the CLI's exit code
    out: str  # what it printed
    run: RunDir


class TrainedRuns:
    """`get(method)` trains on first use and hands back the same Trained afterwards."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._done: dict[str, Trained] = {}

    def get(self, method: str) -> Trained:
        if method not in self._done:
            before = {r.id for r in list_run_dirs(self.folder)} if self.folder.exists() else set()
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = main(["train", "--runs-dir", str(self.folder), "--method", method,
                             *sets(*EXTRA.get(method, ()))])
            run = next(r for r in list_run_dirs(self.folder) if r.id not in before)
            self._done[method] = Trained(method, code, printed.getvalue(), run)
        return self._done[method]

    def finished(self, method: str) -> RunDir:
        """The run of `method`, failing the asking test in one message when it did not end done."""
        import pytest

        trained = self.get(method)
        status = trained.run.status()
        if trained.code != 0 or status.get("phase") != "done":
            pytest.fail(f"the shared {method} run did not finish: {status}\n{trained.out}\n"
                        + "\n".join(trained.run.tail_log(20)))
        return trained.run
