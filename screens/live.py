"""The state of the run the console is showing: owned by the App, changed only by its message handlers."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from console.loop.findings import findings_of
from console.runs.metrics import History
from console.runs.progress import Progress, progress
from console.runs.rundir import ACTIVE_PHASES, FINAL_PHASES, RunDir

DIAGNOSE_EVERY_S = 1.0  # while a run trains, its diagnosis (tens of ms on a long history) at most this often


@dataclass
class LiveRun:
    run: RunDir
    config: object = None  # RunConfig it was launched with (None if its config.yaml is unreadable)
    history: History = field(default_factory=History)
    status: dict = field(default_factory=dict)
    log_tail: list = field(default_factory=list)
    samples: list = field(default_factory=list)  # console.runs.samples.Sample, in the order the trainer wrote them
    gpu: tuple | None = None  # (used MiB list, total MiB list)
    version: int = 0  # bumped by every change; screens redraw when it moved
    diagnosis_error: str = ""
    # (bytes read, bytes in metrics.jsonl) while a long log is still being read: the history is part of the run's,
    # so it is not diagnosed (a finding on part of a run is wrong, and a diagnosis per batch slowed the read)
    reading: tuple | None = None
    _findings: list = field(default_factory=list)
    _findings_version: int = -1
    _findings_at: float = -1e9  # time.monotonic() of the last diagnosis

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def phase(self) -> str:
        return self.status.get("phase", "starting")

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES

    def changed(self) -> None:
        self.version += 1

    def progress(self) -> Progress:
        return progress(self.history, self.status,
                        self.config.get("logging_steps") if self.config is not None else None)

    def findings_due(self) -> bool:
        """Something changed since the last diagnosis, and (while it trains) a second has passed since."""
        return self._findings_version != self.version and (
            not self.active or time.monotonic() - self._findings_at >= DIAGNOSE_EVERY_S)

    def findings(self) -> list:
        """Diagnosis of the history so far, recomputed only when something changed, at most once a second while
        the run trains (a warning a second late is still in time; a diagnosis per metrics batch is not free)."""
        if self.reading is not None:
            return []
        if self.findings_due():
            self._findings_version = self.version
            self._findings_at = time.monotonic()
            try:
                self._findings = findings_of(self.history, self.config, self.status, self.samples)
            except Exception as err:  # noqa: BLE001  a diagnosis bug must never take the console down
                self._findings = []
                self.diagnosis_error = f"diagnosis failed: {type(err).__name__}: {err}"
        return self._findings

    def fixes(self) -> list[tuple[object, object]]:
        """(finding, fix) pairs in the order they are numbered on screen (1..9)."""
        return [(f, fix) for f in self.findings() for fix in f.fixes][:9]
