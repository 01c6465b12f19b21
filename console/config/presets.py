"""Method presets: the YAML files in the `presets` package (defaults and recommended ranges of each method)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from console.common.errors import ConfigError

METHODS = ("full", "lora", "qlora", "adapter")
# Preference objectives with a preset of their own (presets/objectives/<name>.yaml), laid over the method's; sft is
# the method presets themselves.
PREFERENCE_OBJECTIVES = ("dpo", "kto")


@dataclass(frozen=True)
class Preset:
    method: str
    name: str
    summary: str
    characteristics: dict[str, str]
    defaults: dict  # common defaults with the method's own laid over them
    own_defaults: dict  # only what the method file sets (what changes when the method changes)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    objective: str = "sft"
    objective_defaults: dict = field(default_factory=dict)  # what the objective's preset sets for this method
    sources: tuple[str, ...] = ()  # where a preference objective's numbers come from (papers, TRL's guides)


def _read(name: str) -> dict:
    text = resources.files("presets").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def user_presets_dir() -> Path:
    """Named presets the user saved from the arguments screen: in the config home ($TRAINING_CONSOLE_HOME, else
    $XDG_CONFIG_HOME/training-console, else ~/.config/training-console), as the XDG base directory spec says."""
    import os

    base = os.environ.get("TRAINING_CONSOLE_HOME")
    if not base:
        xdg = os.environ.get("XDG_CONFIG_HOME")
        root = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")
        base = os.path.join(root, "training-console")
    return Path(base) / "presets"


@functools.cache
def load_preset(method: str, objective: str = "sft") -> Preset:
    """A method's preset (common.yaml, then <method>.yaml), with a preference objective's preset laid over it
    (objectives/<objective>.yaml: its defaults, then its numbers for this method)."""
    method = (method or "").strip().lower()
    if method not in METHODS:
        from difflib import get_close_matches

        close = get_close_matches(method, METHODS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown method '{method}': choose one of {', '.join(METHODS)}.{hint}", "method")
    common = _read("common.yaml")
    own = _read(f"{method}.yaml")
    defaults = dict(common.get("defaults") or {})
    defaults.update(own.get("defaults") or {})
    ranges = {k: (float(v[0]), float(v[1])) for k, v in (common.get("ranges") or {}).items()}
    ranges.update({k: (float(v[0]), float(v[1])) for k, v in (own.get("ranges") or {}).items()})
    name, summary, sources, objective_defaults = own.get("name", method), own.get("summary", ""), (), {}
    if objective in PREFERENCE_OBJECTIVES:
        layer = _read(f"objectives/{objective}.yaml")
        per_method = (layer.get("methods") or {}).get(method) or {}
        objective_defaults = {**(layer.get("defaults") or {}), **(per_method.get("defaults") or {})}
        defaults.update(objective_defaults)
        for part in (layer, per_method):
            ranges.update({k: (float(v[0]), float(v[1])) for k, v in (part.get("ranges") or {}).items()})
        name, summary = f"{layer.get('name', objective)} with {name}", f"{layer.get('summary', '')} {summary}"
        sources = tuple(layer.get("sources") or ())
    elif objective != "sft":
        raise ConfigError(f"unknown objective '{objective}': choose sft, {', '.join(PREFERENCE_OBJECTIVES)}",
                          "objective")
    return Preset(
        method=method,
        name=name,
        summary=summary.strip(),
        characteristics=dict(own.get("characteristics") or {}),
        defaults=defaults,
        own_defaults={**(own.get("defaults") or {}), **objective_defaults},
        ranges=ranges,
        objective=objective,
        objective_defaults=objective_defaults,
        sources=sources,
    )


def all_presets() -> list[Preset]:
    return [load_preset(m) for m in METHODS]


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    method: str
    description: str
    changes: dict


def load_scenarios() -> list[Scenario]:
    """The built-in demo scenarios (presets/scenarios.yaml)."""
    data = _read("scenarios.yaml")
    return [Scenario(s["id"], s["name"], s["method"], s.get("description", ""), dict(s.get("changes") or {}))
            for s in data.get("scenarios") or []]
