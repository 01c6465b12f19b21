"""Scaling past one process, without launching: the shipped accelerate configs, the trainer's command for several
processes and machines, the pre-launch checks, and DDP's find_unused_parameters per method."""
from __future__ import annotations

import sys

import pytest

from console.common.errors import ConfigError
from console.config.run_config import build_config, parse_set, resolve
from console.loop.preflight import check_inputs
from console.machine.hardware import Hardware
from console.machine.scale import ACCELERATE_PRESETS, accelerate_config_file, preset_path
from console.runs.launcher import trainer_command
from console.runs.rundir import RunDir


def _cpu():
    return Hardware()  # no GPU: the run is resolved for a CPU whatever this machine has


# -- the shipped accelerate configs --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ACCELERATE_PRESETS)
def test_each_shipped_accelerate_config_loads_with_accelerates_own_loader(name):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.utils import DistributedType

    path = preset_path(name)
    assert path.is_file(), path  # shipped in the package (pyproject's package-data holds accelerate/*.yaml)
    config = load_config_from_file(str(path))  # raises on a key accelerate does not know
    assert isinstance(config, ClusterConfig)
    if name == "fsdp":
        assert config.distributed_type == DistributedType.FSDP
        assert config.fsdp_config["fsdp_version"] == 2  # accelerate 1.15's `accelerate config` default
    else:
        assert config.distributed_type == DistributedType.DEEPSPEED
        assert config.deepspeed_config["zero_stage"] == int(name[-1])
        # left to the Trainer ("auto"): the run's own accumulation and clipping, never a second source of truth
        assert "gradient_accumulation_steps" not in config.deepspeed_config


def test_package_data_ships_the_accelerate_configs():
    text = (preset_path("fsdp").parents[2] / "pyproject.toml").read_text()
    assert '"accelerate/*.yaml"' in text


def test_a_preset_name_stays_a_name_and_a_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fsdp").mkdir()  # a folder of that name here does not turn the preset into a path
    config = build_config("full", sets={"accelerate_config": "fsdp"})
    assert config.values["accelerate_config"] == "fsdp"
    assert accelerate_config_file("fsdp") == str(preset_path("fsdp"))
    (tmp_path / "mine.yaml").write_text("distributed_type: MULTI_GPU\n")
    config = build_config("full", sets={"accelerate_config": "mine.yaml"})
    assert config.values["accelerate_config"] == str(tmp_path / "mine.yaml")


def test_an_accelerate_config_neither_preset_nor_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        build_config("full", sets={"accelerate_config": "fdsp"})
    message = str(err.value)
    assert "\n" not in message and "accelerate_config fdsp is neither a preset" in message
    assert "Did you mean 'fsdp'?" in message


def test_the_field_help_lists_the_presets():
    from console.config.fields import all_fields

    help_text = all_fields()["accelerate_config"].help
    assert all(name in help_text for name in ACCELERATE_PRESETS)
    assert all_fields()["accelerate_config"].choices is None  # free text: a path is accepted too


def test_deepspeed_without_its_package_is_one_line_before_launch():
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    for name in ("deepspeed_zero2", "deepspeed_zero3"):
        config = resolve(build_config("lora", sets={"accelerate_config": name}))
        with pytest.raises(ConfigError, match="pip install deepspeed") as err:
            check_inputs(config.values)
        assert "\n" not in str(err.value)


def test_fsdp_on_a_cpu_is_refused_in_one_line(tmp_path):
    # accelerate 1.15 turns FSDP on only for GPU-type processes (MULTI_CPU trains as plain DDP): said, not run
    config = resolve(build_config("full", sets={"accelerate_config": "fsdp"}), _cpu())
    assert config.values["use_cpu"] is True
    with pytest.raises(ConfigError, match="accelerate_config fsdp needs GPUs") as err:
        check_inputs(config.values)
    assert "\n" not in str(err.value)
    # a user's own file is read for its distributed_type, the same way
    own = tmp_path / "own.yaml"
    own.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: FSDP\n")
    config = resolve(build_config("full", sets={"accelerate_config": str(own)}), _cpu())
    with pytest.raises(ConfigError, match="needs GPUs"):
        check_inputs(config.values)


def test_cli_dry_run_refuses_fsdp_on_the_cpu(capsys, monkeypatch):
    from console.cli.main import main

    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")  # the CPU's case, even on a machine with a GPU

    assert main(["train", "--dry-run", "--set", "accelerate_config=fsdp", "--processes", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs GPUs" in err[0]


# -- the trainer's command ------------------------------------------------------------------------------------

def test_torchrun_over_several_machines(tmp_path):
    run = RunDir(tmp_path / "r")
    cmd = trainer_command(run, 2, nodes=3, node_rank=0, master_addr="10.0.0.1", master_port=29555)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" not in cmd
    for flag in ("--nnodes=3", "--node-rank=0", "--master-addr=10.0.0.1", "--master-port=29555",
                 "--nproc-per-node=2"):
        assert flag in cmd
    assert cmd[-3:] == ["-m", "console.trainer.train", str(run.path)]
    # one process per machine is still torchrun: the world is the machines together
    cmd = trainer_command(run, 1, nodes=2, node_rank=0, master_addr="h", master_port=1)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc-per-node=1" in cmd
    # one machine: --standalone as before
    cmd = trainer_command(run, 2)
    assert "--standalone" in cmd and not any(c.startswith("--nnodes") for c in cmd)


def test_a_worker_machine_runs_under_console_worker(tmp_path):
    run = RunDir(tmp_path / "r")
    cmd = trainer_command(run, 1, nodes=2, node_rank=1, master_addr="h", master_port=29500, resume=True)
    assert cmd[:5] == [sys.executable, "-m", "console.trainer.worker", str(run.path), "--"]
    assert cmd[6:8] == ["-m", "torch.distributed.run"] and "--node-rank=1" in cmd
    assert cmd[-1] == "--resume"


def test_accelerate_launch_over_several_machines(tmp_path):
    run = RunDir(tmp_path / "r")
    cmd = trainer_command(run, 4, accelerate_config="deepspeed_zero3", nodes=2, node_rank=1,
                          master_addr="10.0.0.1", master_port=29555)
    inner = cmd[cmd.index("--") + 1:]
    assert inner[1:3] == ["-m", "accelerate.commands.launch"]
    assert inner[inner.index("--config_file") + 1] == str(preset_path("deepspeed_zero3"))
    # accelerate's --num_processes is the total over the machines
    for flag in ("--num_processes=8", "--num_machines=2", "--machine_rank=1", "--main_process_ip=10.0.0.1",
                 "--main_process_port=29555"):
        assert flag in inner
    one = trainer_command(run, 2, accelerate_config="fsdp")
    assert "--num_processes=2" in one and not any(c.startswith("--num_machines") for c in one)


# -- the machines' settings -------------------------------------------------------------------------------------

def test_machine_settings_are_checked_in_one_line():
    for sets, expected in ((["nodes=2"], "needs master_addr"),
                           (["nodes=2", "node_rank=2", "master_addr=h"], "node_rank 2 is not below nodes 2"),
                           (["node_rank=1"], "node_rank 1 is not below nodes 1")):
        config = resolve(build_config("lora", sets=parse_set(sets)), _cpu())
        with pytest.raises(ConfigError, match=expected) as err:
            check_inputs(config.values)
        assert "\n" not in str(err.value)


def test_effective_batch_counts_machines_and_processes(capsys):
    from console.cli.main import main

    config = resolve(build_config("lora", sets=parse_set(
        ["nodes=3", "processes=2", "master_addr=h", "per_device_train_batch_size=4",
         "gradient_accumulation_steps=2"])), _cpu())
    assert config.effective_batch == 3 * 2 * 4 * 2 and config.resolved["effective_batch"] == 48
    assert main(["train", "--dry-run", "--nodes", "2", "--node-rank", "1", "--master-addr", "127.0.0.1",
                 "--master-port", "29555", "--set", "per_device_train_batch_size=4",
                 "--set", "gradient_accumulation_steps=1"]) == 0
    out = capsys.readouterr().out
    assert "effective batch = 4 per device x 1 accumulation x 1 process x 2 machines = 8" in out


def test_machine_flags_are_fields_a_config_file_can_hold(tmp_path):
    from console.config.fields import all_fields

    for name in ("nodes", "node_rank", "master_addr", "master_port"):
        spec = all_fields()[name]
        assert spec.section == "advanced" and spec.training_argument is False
    path = tmp_path / "c.yaml"
    path.write_text("nodes: 2\nnode_rank: 1\nmaster_addr: 10.0.0.1\nmaster_port: 29555\n")
    config = build_config(config_file=str(path))
    assert (config.values["nodes"], config.values["node_rank"], config.values["master_addr"],
            config.values["master_port"]) == (2, 1, "10.0.0.1", 29555)
    assert "nodes" not in config.training_arguments()  # never passed to TrainingArguments


# -- DDP's find_unused_parameters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method,expected", [("lora", False), ("qlora", False), ("adapter", False), ("full", None)])
def test_find_unused_parameters_is_off_for_adapters(method, expected):
    args = build_config(method).training_arguments()
    assert args.get("ddp_find_unused_parameters") is expected


def test_the_users_find_unused_parameters_wins():
    args = build_config("lora", sets={"ddp_find_unused_parameters": "true"}).training_arguments()
    assert args["ddp_find_unused_parameters"] is True
