"""Long runs with a real demo trainer: a checkpoint whose trainer_state.json holds thousands of log entries."""
import json

import pytest

from console.common.files import MAX_RUN_FILE_BYTES
from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import check_resumable, kill, launch, request_stop, wait, wait_exit
from console.runs.metrics import load_history
from console.runs.rundir import create_run
from tests.support.e2e_util import FAST, wait_for

pytestmark = pytest.mark.e2e


def _records(run):
    return [json.loads(line) for line in run.metrics_path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(900)
def test_a_4000_step_run_logging_every_step_resumes_from_its_newest_checkpoint(runs_dir):
    """logging_steps=1 for 4,000 steps: trainer_state.json passes the 1 MiB cap of status.json, and every checkpoint
    was called "missing, cut or not a JSON object" (resume took none). About 2 min here: the demo model at a tiny
    max_length, an evaluation and a checkpoint at step 4,000 only."""
    sets = FAST + ["max_steps=100000", "logging_steps=1", "save_steps=4000", "eval_steps=4000", "max_length=16",
                   "per_device_train_batch_size=1", "save_total_limit=2"]
    config = resolve(build_config("lora", sets=parse_set(sets)))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    try:
        wait_for(lambda: run.checkpoint_to_resume()[0] is not None, timeout=900, poll=1.0)
        pid = run.read_status_file()["pid"]
        assert request_stop(run)
        assert wait(run, timeout=300)["phase"] == "stopped"
        assert wait_exit(pid, timeout=60)
        newest = run.last_checkpoint()
        state = newest / "trainer_state.json"
        assert state.stat().st_size > MAX_RUN_FILE_BYTES  # the case: a state bigger than today's cap
        assert int(newest.name.split("-")[1]) >= 4000
        assert run.checkpoint_to_resume() == (newest, [])
        check_resumable(run)
        stopped_at = load_history(run.metrics_path).last_step
        launch(run, resume=True)
        wait_for(lambda: f"resuming from {newest}" in run.log_path.read_text(errors="replace"), timeout=300,
                 poll=1.0)
        assert "skipped" not in run.log_path.read_text(errors="replace")
        wait_for(lambda: load_history(run.metrics_path).last_step > stopped_at, timeout=300, poll=1.0)
        assert request_stop(run)
        assert wait(run, timeout=300)["phase"] == "stopped", run.tail_log(20)
        # it went on from the newest checkpoint: the resumed trainer began at its step, not at 0
        begins = [r["step"] for r in _records(run) if r.get("event") == "train_begin"]
        assert begins == [0, int(newest.name.split("-")[1])] and stopped_at >= 4000
    finally:
        kill(run)  # a failed assertion must not leave a trainer running for ever
