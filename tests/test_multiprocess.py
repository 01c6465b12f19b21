"""Two real training processes on the CPU (torchrun, gloo): one writer, the effective batch counts both."""
import json

import pytest

from console.cli import main
from console.launcher import trainer_command
from console.rundir import RunDir, list_run_dirs
from tests.e2e_util import sets

pytestmark = pytest.mark.e2e


def test_command_uses_torchrun_for_several_processes(tmp_path):
    run = RunDir(tmp_path / "r")
    assert trainer_command(run, 1)[1:3] == ["-m", "console.train"]
    cmd = trainer_command(run, 2)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in cmd
    assert all(isinstance(part, str) for part in cmd)  # an argv list, never a shell line
    cmd = trainer_command(run, 2, accelerate_config="ds.yaml")
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and cmd[4].endswith("ds.yaml")


def test_two_processes_train_with_one_writer(runs_dir, capsys):
    code = main(["train", "--runs-dir", str(runs_dir), "--processes", "2",
                 *sets("max_steps=6", "logging_steps=1", "eval_steps=3", "save_steps=3")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(40))
    records = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    train_steps = [r["step"] for r in records if "loss" in r and "train_runtime" not in r]
    assert train_steps == [1, 2, 3, 4, 5, 6]  # each step once: only rank 0 writes
    begin = next(r for r in records if r.get("event") == "train_begin")
    assert begin["effective_batch"] == 2 * 4 * 1  # processes x per-device batch x accumulation
    # the epoch advances twice as fast as with one process: each step sees both processes' batches
    epoch_at_6 = next(r["epoch"] for r in records if r.get("step") == 6 and "loss" in r)
    rows = 200  # max_samples
    assert epoch_at_6 == pytest.approx(6 * 8 / rows, rel=0.15)
    assert "effective batch = 4 per device x 1 accumulation x 2 processes = 8" in capsys.readouterr().out
    log = run.log_path.read_text()
    assert log.count("[console] done: step 6") == 1


def test_two_processes_save_and_stop_together(runs_dir):
    """A request seen by one rank reaches both: they save and stop at the same step instead of hanging."""
    from console.config import build_config, parse_set, resolve
    from console.launcher import launch, request_save, request_stop, wait
    from console.metrics import load_history
    from console.rundir import create_run
    from tests.e2e_util import FAST, wait_for

    config = resolve(build_config("lora", sets=parse_set(
        FAST + ["max_steps=100000", "logging_steps=1", "eval_steps=1000", "save_steps=1000", "processes=2"])))
    run = create_run(runs_dir, config, command=["test"])
    launch(run, processes=2)
    steps = lambda: load_history(run.metrics_path).train_loss.steps  # noqa: E731
    wait_for(lambda: len(steps()) >= 3, timeout=120)
    assert request_save(run)
    wait_for(lambda: run.last_checkpoint() is not None, timeout=60)
    assert request_stop(run)
    status = wait(run, timeout=90)
    assert status["phase"] == "stopped", (status, run.tail_log(30))
    assert (run.checkpoints / f"checkpoint-{status['step']}").is_dir()
    assert run.log_path.read_text().count("[console] stopped at step") == 1
