"""Whether a run's trainer runs comes from a recorded identity checked against the process, never from one field
(issue 27): whatever status.json and run.json say about pids (wrong types, huge numbers, this test's own process,
pid 1), no process but the run's own trainer is taken for it, and no reader raises (hypothesis). A real trainer
with a wrong status.json: tests/processes/test_links_and_liveness.py."""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.config.run_config import build_config, resolve
from console.runs.rundir import ACTIVE_PHASES, create_run

PIDS = st.one_of(st.sampled_from([os.getpid(), os.getppid(), 1, 0, -1, 2**31, 2**22 + 7]),
                 st.integers(min_value=-10**20, max_value=10**20), st.floats(allow_nan=True),
                 st.text(max_size=8), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))
IDENTITY = st.fixed_dictionaries({}, optional={"pid": PIDS, "pid_start": PIDS})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=IDENTITY, info=IDENTITY, phase=st.sampled_from(ACTIVE_PHASES + ("done", "failed")))
def test_no_process_but_the_runs_own_trainer_is_taken_for_it(tmp_path_factory, status, info, phase):
    run = create_run(tmp_path_factory.mktemp("runs"), resolve(build_config("lora")), command=["test"])
    run.status_json.write_text(json.dumps(dict(status, phase=phase, updated=0)))
    on_file = json.loads(run.run_json.read_text())
    run.run_json.write_text(json.dumps(dict(on_file, **info)))
    assert run.trainer_pid() is None and not run.trainer_alive()
    seen = run.status()
    assert seen["phase"] in (phase, "failed")  # an active phase with no trainer of its own: failed (killed)
    assert run.not_responding(seen) == ""
    settled = run.settle(seen)
    assert settled["phase"] == seen["phase"]
