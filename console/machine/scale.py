"""Scaling past one process: the shipped accelerate configs (DeepSpeed ZeRO-2/3, FSDP2) and several machines.

`accelerate_config` holds a path or the name of a shipped preset (presets/accelerate/<name>.yaml); the name is
kept as written in config.yaml (a run folder stays readable on another machine) and turned into the file's path
only for the launch. Everything here is checked before launch, in the console's own process: without torch or
accelerate imports (the UI never loads them), reading the config file as YAML.
"""
from __future__ import annotations

import os
from difflib import get_close_matches
from importlib import resources
from pathlib import Path

from console.common.errors import ConfigError
from console.machine.load_checks import installed

ACCELERATE_PRESETS = ("deepspeed_zero2", "deepspeed_zero3", "fsdp")
# accelerate's distributed_type values that shard the model; accelerate 1.15 turns them on only for GPU-type
# processes: its AcceleratorState (accelerate/state.py) enables FSDP only when the distributed type is MULTI_GPU,
# MULTI_NPU, ... and DeepSpeed only `and not cpu`. On a CPU the processes are MULTI_CPU and train as plain DDP,
# whatever the config says (tried here with presets/accelerate/fsdp.yaml on 2 gloo processes: ACCELERATE_USE_FSDP
# was true, the state's distributed type MULTI_CPU, no fsdp_plugin).
SHARDED = ("FSDP", "DEEPSPEED")


def preset_path(name: str) -> Path:
    return Path(str(resources.files("presets").joinpath("accelerate").joinpath(f"{name}.yaml")))


def accelerate_config_file(value: str | None) -> str | None:
    """The file an accelerate_config value names: a shipped preset's, else the (absolute) path itself."""
    if not value:
        return None
    value = str(value).strip()
    if value in ACCELERATE_PRESETS:
        return str(preset_path(value))
    return os.path.abspath(os.path.expanduser(value))


def check_accelerate_config(value) -> None:
    """ConfigError (one line) for a value that is neither a preset name nor an existing file."""
    if not value or str(value).strip() in ACCELERATE_PRESETS:
        return
    path = accelerate_config_file(value)
    if os.path.isfile(path):
        return
    close = get_close_matches(os.path.basename(str(value)).removesuffix(".yaml"), ACCELERATE_PRESETS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"accelerate_config {value} is neither a preset ({', '.join(ACCELERATE_PRESETS)}) nor an "
                      f"existing file: give one of those names or the path of an `accelerate config` file.{hint}",
                      "accelerate_config")


def distributed_type(value) -> str:
    """The distributed_type an accelerate config file declares ('' when unreadable: accelerate says why)."""
    import yaml

    from console.common.safe_yaml import load, read_file

    path = accelerate_config_file(value)
    try:
        data = load(read_file(path, "accelerate_config"))  # bounded, never a FIFO (open() would wait on one)
    except (OSError, ValueError, yaml.YAMLError):  # YAMLLimitError and UnicodeDecodeError are ValueErrors
        return ""  # accelerate launch says what is wrong with a malformed file itself, in train.log
    return str(data.get("distributed_type") or "").upper() if isinstance(data, dict) else ""


def check_scale(values: dict) -> None:
    """The pre-launch checks of a run's scale: its accelerate_config (exists, its engine installed, not on a CPU)
    and its machines (nodes, node_rank, master_addr, master_port). ConfigError, one line each."""
    value = values.get("accelerate_config")
    if value:
        check_accelerate_config(value)
        kind = distributed_type(value)
        if kind == "DEEPSPEED" and not installed("deepspeed"):
            raise ConfigError(f"accelerate_config {value} runs DeepSpeed, which is not installed: pip install "
                              f"deepspeed (on the GPU machine, with its CUDA torch)", "accelerate_config")
        if kind in SHARDED and values.get("use_cpu"):
            engine = "FSDP" if kind == "FSDP" else "DeepSpeed"
            raise ConfigError(f"accelerate_config {value} needs GPUs: on a CPU accelerate 1.15 does not turn "
                              f"{engine} on (its processes would train as plain DDP, sharding nothing); leave "
                              f"accelerate_config empty and use --processes N for several CPU processes",
                              "accelerate_config")
    nodes = int(values.get("nodes") or 1)
    rank = int(values.get("node_rank") or 0)
    if rank >= nodes:
        raise ConfigError(f"node_rank {rank} is not below nodes {nodes}: number the machines 0 to {nodes - 1} "
                          f"(0 is the main one)", "node_rank")
    if nodes > 1 and not values.get("master_addr"):
        raise ConfigError(f"nodes {nodes} needs master_addr: the main machine's (node_rank 0) address that every "
                          f"machine can reach, e.g. --master-addr 10.0.0.1", "master_addr")


def node_args(values: dict) -> dict:
    """nodes, node_rank, master_addr, master_port of a run's values, with their defaults (one machine)."""
    return {"nodes": int(values.get("nodes") or 1), "node_rank": int(values.get("node_rank") or 0),
            "master_addr": values.get("master_addr") or None, "master_port": int(values.get("master_port") or 29500)}
