"""report_to: a named tracker's package missing is one line before launch; tensorboard's files land in the run
folder (really trained, when the [tensorboard] extra is installed)."""
from __future__ import annotations

import importlib.util

import pytest

from console.common.errors import ConfigError
from console.config.run_config import build_config, resolve
from console.loop.preflight import check_inputs
from console.machine.trackers import TRACKERS, check_trackers, named, tracker_notes
from tests.support.e2e_util import sets


def _hide(monkeypatch, *modules):
    """find_spec as if `modules` were not installed (the check must not depend on what this venv holds)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a))


def test_names_in_a_report_to_value():
    assert named("none") == [] and named("all") == [] and named(None) == []
    assert named("tensorboard") == ["tensorboard"]
    assert named(["wandb", "tensorboard", "wandb"]) == ["wandb", "tensorboard"]
    assert named("tensorboard,trackio") == ["tensorboard", "trackio"]


def test_every_integration_transformers_knows_is_in_the_table():
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    assert set(INTEGRATION_TO_CALLBACK) <= set(TRACKERS)


def test_a_missing_tracker_package_is_one_line_with_the_extra(monkeypatch):
    _hide(monkeypatch, "tensorboard", "tensorboardX")
    with pytest.raises(ConfigError) as err:
        check_inputs(resolve(build_config("lora", sets={"report_to": "tensorboard"})).values)
    assert str(err.value) == ("report_to tensorboard needs the tensorboard package: pip install "
                              "'training-console[tensorboard]' (or pip install tensorboard)")
    _hide(monkeypatch, "wandb")
    with pytest.raises(ConfigError, match=r"pip install 'training-console\[wandb\]'.*WANDB_MODE=offline"):
        check_trackers(["wandb"])
    _hide(monkeypatch, "mlflow")
    with pytest.raises(ConfigError, match=r"report_to mlflow needs the mlflow package: pip install mlflow$"):
        check_trackers("mlflow")


def test_none_and_all_need_nothing(monkeypatch):
    _hide(monkeypatch, *[m for modules, _, _ in TRACKERS.values() for m in modules])
    check_trackers("none")
    check_trackers("all")  # transformers then takes only the installed ones


def test_an_unknown_integration_is_one_line():
    with pytest.raises(ConfigError, match="report_to tensorbord is not an integration.*Did you mean 'tensorboard'"):
        check_trackers("tensorbord")


def test_cli_dry_run_exits_2_on_a_missing_tracker(monkeypatch, capsys):
    from console.cli.main import main

    _hide(monkeypatch, "tensorboard", "tensorboardX")
    assert main(["train", "--dry-run", "--set", "report_to=tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: report_to tensorboard needs the tensorboard package: pip install "
                   "'training-console[tensorboard]' (or pip install tensorboard)"]


def test_wandb_online_is_said_before_launch():
    assert tracker_notes("wandb", {}) and "WANDB_MODE=offline" in tracker_notes("wandb", {})[0]
    assert tracker_notes("wandb", {"WANDB_MODE": "offline"}) == []
    # tensorboard stays local: said is only where its files go
    assert tracker_notes("tensorboard", {}) == ["TensorBoard's event files go to the run folder's tensorboard/ "
                                                "(tensorboard --logdir runs)"]
    assert tracker_notes("none", {}) == []


@pytest.mark.e2e
def test_tensorboard_event_files_land_in_the_run_folder(runs_dir):
    if importlib.util.find_spec("tensorboard") is None:
        pytest.skip("tensorboard is not installed: pip install -e '.[tensorboard]' to run this test")
    from console.cli.main import main
    from console.runs.rundir import list_run_dirs

    code = main(["train", "--runs-dir", str(runs_dir), *sets("max_steps=4", "logging_steps=1", "eval_steps=2",
                                                             "save_steps=4", "report_to=tensorboard")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    events = list((run.path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1, list(run.path.rglob("*tfevents*"))
    assert not list(run.checkpoints.rglob("*tfevents*"))  # not under checkpoints/runs/<date> (the default)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    losses = acc.Scalars("train/loss")
    assert [e.step for e in losses] == [1, 2, 3, 4]
    assert [e.step for e in acc.Scalars("eval/loss")] == [0, 2, 4]  # eval_on_start, then every 2 steps
