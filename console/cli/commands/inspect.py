"""`training-console inspect PATH... [--json] [--method M]`: diagnose finished runs or Hugging Face output folders.

PATH is a trainer_state.json, a checkpoint folder, an HF output folder (its checkpoint-N with the largest N), one of
our run directories (metrics.jsonl + config.yaml), or a metrics.jsonl. Arguments are only ever read from JSON/YAML
files: training_args.bin is a pickle and is never opened.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.common.bounded_read import loads_json, read_json
from console.common.errors import ConfigError, UserError
from console.diagnosis.vocabulary import Severity
from console.runs.checkpoints import checkpoint_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.runs.metrics import History

MAX_STATE_BYTES = 256 * 2**20  # a trainer_state.json of 100k logged steps is some tens of MiB
MAX_ARGS_BYTES = 1 << 20
_ARGS_FILES = ("training_args.json", "training_args.yaml", "training_args.yml", "args.json", "hparams.yaml")


COMMAND = "inspect"


class InspectError(UserError):
    pass


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(COMMAND, help="diagnose finished runs, trainer_state.json files or HF output folders",
                              description=__doc__.splitlines()[0])
    _arguments(p)
    p.set_defaults(func=run)
    return p


def _arguments(p: argparse.ArgumentParser) -> None:
    from console.config.presets import METHODS

    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="trainer_state.json, checkpoint or output folder, run directory, or metrics.jsonl")
    p.add_argument("--json", action="store_true", help="one JSON object per PATH, one per line")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="the fine-tuning method, when PATH holds no config (default: lora)")
    p.add_argument("--runs-dir", default=argparse.SUPPRESS,
                   help="where PATH may also be a run id or 'latest' (default: ./runs, or the one given before "
                        "`inspect`)")
    p.add_argument("--fail-on", choices=("error", "warning", "never"), default="error",
                   help="exit 1 when a finding of this severity or worse is found (default: error: a diverged or "
                        "rising loss); 2 is always a PATH that could not be read")


# -- finding what to read ------------------------------------------------------------------------------------------

def newest_trainer_state(folder: Path) -> Path | None:
    """The folder's trainer_state.json, or that of its checkpoint-N with the largest N (also under checkpoints/)."""
    own = folder / "trainer_state.json"
    best, best_n = None, -1
    for base in (folder, folder / "checkpoints"):
        if not base.is_dir():
            continue
        for child in base.iterdir():
            step = checkpoint_step(child.name)
            if step is not None and step > best_n and (child / "trainer_state.json").is_file():
                best, best_n = child / "trainer_state.json", step
    if own.is_file() and (best is None or own.stat().st_mtime >= best.stat().st_mtime):
        return own
    return best


def _read_args_file(path: Path) -> dict:
    import yaml

    from console.common.safe_yaml import load, read_file

    text = read_file(path, "arguments file")  # bounded, never a FIFO (OSError/ValueError in one line)
    try:
        data = loads_json(text) if path.suffix == ".json" else load(text)
    except (yaml.YAMLError, RecursionError) as err:  # said as the ValueError the callers handle
        raise ValueError(f"{path.name} is not readable: {type(err).__name__}") from None
    return data if isinstance(data, dict) else {}


def config_from_arguments(arguments: dict, method: str | None = None, base=None):
    """A RunConfig from `base` (else the method's preset) and recovered arguments; values the engine refuses are
    skipped, said in the notices (a recovered file may hold arguments of another version or tool)."""
    from console.config.run_config import RunConfig

    config = base if base is not None else RunConfig.from_preset(method or "lora")
    skipped = []
    for key, value in (arguments or {}).items():
        if value is None:
            continue
        try:
            config = config.with_changes({key: value})
        except ConfigError:
            skipped.append(key)
    if skipped:
        config.notices.append(f"ignored {len(skipped)} arguments the console does not take: "
                              + ", ".join(skipped[:8]) + ("..." if len(skipped) > 8 else ""))
    return config


def _sibling_config(state: Path, method: str | None, history=None, meta: dict | None = None):
    """Arguments from JSON/YAML files beside the trainer_state.json (or one folder up), never from pickles, laid
    over what the log itself shows (fixes.assumed_config: its learning rate, eval interval, steps), which is laid
    over the method's preset: a PEFT output folder's adapter_config.json holds the adapter's shape only, and must
    not bring back the preset's learning rate or eval interval."""
    from console.diagnosis.fixes import assumed_config
    args: dict = {}
    found = []
    for folder in (state.parent, state.parent.parent):
        for name in _ARGS_FILES:
            p = folder / name
            if p.is_file() and not args:
                try:
                    args = _read_args_file(p)
                    found.append(p.name)
                except (ValueError, OSError, UnicodeDecodeError):
                    continue
        adapter = folder / "adapter_config.json"
        if adapter.is_file() and "lora_r" not in args:
            try:
                a = read_json(adapter, MAX_ARGS_BYTES, "adapter config")
            except (ValueError, OSError):
                a = {}
            a = a if isinstance(a, dict) else {}
            if str(a.get("peft_type", "")).upper() == "LORA":
                method = method or "lora"
                args.update({k2: a[k1] for k1, k2 in (("r", "lora_r"), ("lora_alpha", "lora_alpha"),
                                                        ("lora_dropout", "lora_dropout")) if a.get(k1) is not None})
                found.append("adapter_config.json")
    if found:
        base = assumed_config(history, meta, method)
        base.notices = []
        return (config_from_arguments(args, method, base),  # "DPO with LoRA" for a preference run's log
                f"{base.preset.name} preset + the values the log shows + {', '.join(found)}")
    return None, None


def _enclosing_run(path: Path, levels: int = 4) -> Path | None:
    """The run folder of ours (config.yaml and metrics.jsonl) that holds `path` a few folders up
    (runs/<id>/checkpoints/checkpoint-300/trainer_state.json), or None: `inspect` of a full run's checkpoint assumed
    LoRA and offered LoRA's learning rate, ten times the full fine-tuning range."""
    for folder in list(path.resolve().parents)[:levels]:
        if (folder / "config.yaml").is_file() and (folder / "metrics.jsonl").is_file():
            return folder
    return None


def _read_state(state: Path):
    """(History, the state file's top-level fields) from a trainer_state.json (NaN and Infinity accepted)."""
    from console.runs.metrics import History

    # bounded, never a FIFO; deep nesting a ValueError (100k-deep arrays raised RecursionError)
    data = read_json(state, MAX_STATE_BYTES, "trainer state")
    if not isinstance(data, dict):
        raise AttributeError("no log_history object")
    return History.from_state(data), {k: v for k, v in data.items() if k != "log_history"}


def _resolve(path_text: str, runs_dir: str | None) -> Path:
    """PATH as given, else a run id (or 'latest') in the runs folder, as show, stop and resume take."""
    path = Path(path_text)
    if not path.exists() and runs_dir is not None:
        from console.runs.rundir import find_run

        try:
            path = find_run(runs_dir, path_text).path
        except UserError:
            pass
    return path


def _findings(source: str, runs_dir: str | None, history: History, config: RunConfig) -> list:
    """The findings every front end shows (console.loop.findings): for one of our run folders with its status and
    sample answers too (a crash, answers that do not end), as `watch` and the console show them; for any other
    source the curves' alone."""
    from console.loop.findings import findings_of
    from console.runs.rundir import RunDir
    from console.runs.samples import load_samples

    path = _resolve(source, runs_dir)
    if path.is_dir() and (path / "metrics.jsonl").is_file() and (path / "config.yaml").is_file():
        run = RunDir(path)
        return findings_of(history, config, run.status(), load_samples(run.samples_path))
    return findings_of(history, config)


def load_target(path_text: str, method: str | None = None, runs_dir: str | None = None):
    """(history, config, what was assumed) for a PATH; InspectError with a one-line reason when it cannot be read.

    A run that is not ours and comes without arguments gets the method's preset seeded with what its log shows
    (the state file's batch size, eval/save/logging steps, epochs and max_steps, the logged learning rate and eval
    interval: fixes.assumed_config), so that fixes quote the run's own values rather than the preset's."""
    from console.cli.args import say_long_read
    from console.config.run_config import load_run_config
    from console.diagnosis.fixes import assumed_config, assumed_words
    from console.runs.history_store import run_history, unread
    from console.runs.metrics import load_history

    path = _resolve(path_text, runs_dir)
    if not path.exists():
        raise InspectError(f"{path_text}: no such file, folder or run id (in {runs_dir})" if runs_dir else
                           f"{path_text}: no such file or folder")
    state = None
    if path.is_dir():
        if (path / "metrics.jsonl").is_file():  # one of our run directories
            say_long_read(path.name, unread(path))
            history = run_history(path)  # the history the trainer stored, and the lines after it
            if (path / "config.yaml").is_file():
                try:
                    return history, load_run_config(path), "the run's config.yaml"
                except UserError as err:
                    raise InspectError(f"{path_text}: config.yaml unreadable: {err}") from None
            config = assumed_config(history, None, method)
            return history, config, f"no config.yaml; {assumed_words(config.method, config.objective)}"
        state = newest_trainer_state(path)
        if state is None:
            raise InspectError(f"{path_text}: no trainer_state.json, checkpoint-N folder or metrics.jsonl in it")
    elif path.suffix == ".jsonl":
        history = load_history(path)
        config = assumed_config(history, None, method)
        return history, config, f"no config; {assumed_words(config.method, config.objective)}"
    else:
        state = path
    try:
        history, meta = _read_state(state)
    except (ValueError, UnicodeDecodeError) as err:
        raise InspectError(f"{path_text}: not a trainer_state.json ({type(err).__name__}: {err})") from None
    except OSError as err:
        raise InspectError(f"{path_text}: cannot read {state}: {err.strerror or err}") from None
    except AttributeError:
        raise InspectError(f"{path_text}: not a trainer_state.json (no log_history object)") from None
    run = _enclosing_run(state)
    if run is not None:  # a checkpoint (or any folder) inside one of our runs: that run's own config, never a guess
        try:
            return history, load_run_config(run), f"{state}; the config.yaml of run {run.name}"
        except UserError as err:
            raise InspectError(f"{path_text}: the run's config.yaml unreadable: {err}") from None
    config, said = _sibling_config(state, method, history, meta)
    if config is None:
        config = assumed_config(history, meta, method)
        said = f"no config found; {assumed_words(config.method, config.objective)}"
    if state != path:
        said = f"{state}; {said}"
    return history, config, said


# -- printing ------------------------------------------------------------------------------------------------------

def render_text(source: str, history: History, config: RunConfig, said: str, findings) -> str:
    lines = [f"{source}  ({history.train_loss.logged} train / {history.eval_loss.logged} eval points, last step "
             f"{history.last_step:g}; {said})"]
    if not len(history.train_loss) and not len(history.eval_loss):
        lines.append("  no loss logged yet")
    elif not findings:
        lines.append("  no problems found")
    for f in findings:
        lines.append(f"  [{f.severity}] {f.title}: {f.evidence}")
        for i, fix in enumerate(f.fixes, 1):
            lines.append(f"      [{i}] {fix.describe(config)}  ({fix.why})")
    return "\n".join(lines)


def run(args) -> int:
    status = 0
    for source in args.paths:
        runs_dir = getattr(args, "runs_dir", "runs")
        try:
            history, config, said = load_target(source, getattr(args, "method", None), runs_dir)
        except UserError as err:
            print(f"inspect: {err}", file=sys.stderr)
            status = 2
            continue
        findings = _findings(source, runs_dir, history, config)
        if status == 0 and _fails(findings, getattr(args, "fail_on", "error")):
            status = 1
        if getattr(args, "json", False):
            print(json.dumps({"source": source, "findings": [f.to_dict() for f in findings]}, allow_nan=False,
                             default=str), flush=True)
            if "assumed" in said or "no config" in said:
                print(f"inspect: {source}: {said}", file=sys.stderr)
        else:
            print(render_text(source, history, config, said, findings), flush=True)
    return status


def _fails(findings, fail_on: str) -> bool:
    """Whether the findings are bad enough for a non-zero exit (a script's `inspect ... || alert`)."""
    if fail_on == "never":
        return False
    return any(f.severity.at_least(Severity(fail_on)) for f in findings)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m console.cli.commands.inspect", description=__doc__.splitlines()[0])
    _arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
