"""LLaMA-Factory and axolotl YAML configs, recognised and mapped to the console's flat settings and method.

Pure data and functions (no torch, no transformers): `training-console import` writes the result as a config of
ours, and `--config THEIR.yaml` reads it through the same mapping. Every key of their file ends in one of three
groups, said to the user: mapped (their key: value -> our key: value), dropped (with why), refused (one line each:
what we cannot train, and what to do instead). Nothing is left out silently, and nothing is guessed: a name that
is not a file or a Hub repository (LLaMA-Factory's `dataset: identity,alpaca_en_demo`) is resolved through its
dataset_info.json or refused, never taken as a Hub name.

One module per tool, each declaring a `Tool` (console/config/foreign/mapping.py: how a file is recognised as its,
its renames, its own rules): llamafactory.py (LLaMA-Factory's training YAML, `llamafactory-cli train`, with
data/dataset_info.json) and axolotl.py (`axolotl train config.yml`, with its `datasets:` list). The machinery both
share is mapping.py; this module lists the tools, and recognises and converts a file.
"""
from __future__ import annotations

import os
from pathlib import Path

from console.common.errors import ConfigError
from console.config.foreign import axolotl, llamafactory
from console.config.foreign.axolotl import AXOLOTL
from console.config.foreign.llamafactory import LLAMA_FACTORY
from console.config.foreign.mapping import MAX_INFO_BYTES, Imported, Mapper, Tool

__all__ = ["AXOLOTL", "LLAMA_FACTORY", "MAX_INFO_BYTES", "TOOLS", "Imported", "Tool", "convert", "dataset_entries",
           "detect", "read_foreign"]

# The tools whose configs are read; on a tie in detect(), the first.
TOOLS: tuple[Tool, ...] = (llamafactory.TOOL, axolotl.TOOL)
_BY_NAME = {t.name: t for t in TOOLS}
_RENAMES = {t.name: t.renames for t in TOOLS}  # {tool: {their key: our setting}} (a test checks them against ALIASES)


def detect(data) -> str | None:
    """The tool's name (LLaMA-Factory, axolotl), or None (ours, or not recognised) for a YAML mapping."""
    if not isinstance(data, dict) or isinstance(data.get("arguments"), dict):
        return None
    best, best_score = None, 0
    for tool in TOOLS:
        score = tool.score(data)
        if score > best_score:
            best, best_score = tool.name, score
    return best if best_score >= 2 else None


def convert(data: dict, base_dir: str | os.PathLike = ".", dataset_given: bool = False,
            tool: str | None = None) -> Imported:
    """A foreign config mapped to ours; never raises on odd content (refusals are in the result).

    base_dir: the config's folder (dataset_info.json and relative data paths are looked for there first).
    dataset_given: the user gave the dataset on the command line: the file's own is not resolved."""
    tool = tool or detect(data)
    if tool not in _BY_NAME:
        raise ConfigError("not recognised as a LLaMA-Factory or axolotl config", "config")
    m = Mapper(_BY_NAME[tool], data, Path(base_dir), dataset_given)
    m.common_refusals()
    m.tool.rules(m)
    m.rest()
    return m.out


def dataset_entries(data: dict, base_dir: str | os.PathLike = ".", tool: str | None = None) -> list[Imported]:
    """Each dataset the file names, mapped on its own: one Imported per dataset, whose values are that dataset's
    settings (dataset, dataset_format, dataset_split, dataset_config, columns, text_column) and whose refused says
    why it cannot be read. The hook for several datasets per run (issue 26): convert() refuses a file naming several
    until the run's settings take a list; this gives that list (LLaMA-Factory's `dataset: a,b` and v1
    train_dataset YAML, axolotl's `datasets:` entries)."""
    tool = tool or detect(data)
    if tool not in _BY_NAME:
        raise ConfigError("not recognised as a LLaMA-Factory or axolotl config", "config")
    m = Mapper(_BY_NAME[tool], data, Path(base_dir), False)
    return (llamafactory.dataset_entries(m) if tool == llamafactory.LLAMA_FACTORY else axolotl.dataset_entries(m))


def read_foreign(path: str | os.PathLike, data: dict, dataset_given: bool = False) -> Imported | None:
    """The mapped config of a foreign file (None when `data` is not one); ConfigError listing its refusals."""
    tool = detect(data)
    if tool is None:
        return None
    imported = convert(data, Path(path).parent, dataset_given, tool)
    if imported.refused:
        raise ConfigError({f"config:{key}": f"{Path(path).name} ({tool}): {line}"
                           for key, line in imported.refused.items()})
    return imported
