"""What an export takes from a run and where it writes it, checked without loading anything (light: no torch).

`plan_export` is what `training-console export` and the runs screen's E key both call first: which folder of the run
(final, best, checkpoint-N), which kind (adapter, merged, full), which destination; console.tools.export does it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from console.common.errors import RunError, UserError
from console.runs.checkpoints import (
    checkpoint_dirs,
    checkpoint_problem,
    checkpoint_step,
    final_model_label,
    has_weights,
    weights_problem,
)
from console.runs.rundir import ACTIVE_PHASES, RunDir

# Files of a checkpoint that hold the state to resume training from, not the model.
RESUME_FILES = ("optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "trainer_state.json",
                "training_args.bin")


KINDS = ("adapter", "merged", "full")


@dataclass
class ExportPlan:
    run: RunDir
    method: str
    kind: str  # adapter, merged or full
    source: Path  # the folder exported from: RUN/model or a checkpoint
    label: str  # "the final model (model/, step 80)", "the best checkpoint (checkpoint-40)", "checkpoint-40"
    dest: Path
    base: str = ""  # the base model (its path or Hub name): what a merge loads, what the adapter goes on
    demo: bool = False  # the base is the built-in demo model (built on first use, in the export's process)
    trust_remote_code: bool = False
    notes: list[str] = field(default_factory=list)
    # how the run loaded its base: the Hub revision, and a chat_template of its own (a base tokenizer exported
    # in place of a missing one gets it too)
    load_values: dict = field(default_factory=dict)

    @property
    def base_name(self) -> str:
        return f"the built-in demo model ({self.base})" if self.demo else self.base

    @property
    def what(self) -> str:
        """'the lora adapter of RUN, the final model (model/, step 8),'."""
        if self.kind == "merged":
            return f"{self.run.id} merged: its {self.method} adapter, {self.label}, merged into {self.base_name},"
        if self.kind == "adapter":
            return f"the {self.method} adapter of {self.run.id}, {self.label},"
        return f"the fully fine-tuned model of {self.run.id}, {self.label},"

    def load_hint(self) -> str:
        where = json.dumps(str(self.dest))
        if self.kind == "adapter":
            return (f"load it with: peft.AutoPeftModelForCausalLM.from_pretrained({where}), or "
                    f"PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained({json.dumps(self.base)}), "
                    f"{where})")
        return f"load it with: AutoModelForCausalLM.from_pretrained({where}) and AutoTokenizer.from_pretrained({where})"


def _checkpoints(run: RunDir) -> list[Path]:
    """The run's checkpoint folders, oldest first."""
    return [path for _, path in reversed(checkpoint_dirs(run.checkpoints))]


def _best_name(status: dict) -> str | None:
    best = status.get("best_checkpoint")
    return os.path.basename(str(best).rstrip("/")) if best else None  # by name: the runs folder may have moved


def what_exists(run: RunDir, status: dict | None = None) -> str:
    """'model/ (final), checkpoint-4, checkpoint-8 (best)' or 'no final model and no checkpoint'."""
    status = run.status() if status is None else status
    best = _best_name(status)
    parts = ["model/ (final)"] if has_weights(run.path / "model") else []
    parts += [p.name + (" (best)" if p.name == best else "") for p in _checkpoints(run)]
    return ", ".join(parts) if parts else "no final model and no checkpoint"


def _phase_words(status: dict) -> str:
    phase = status.get("phase", "?")
    step = status.get("step")
    return f"{phase}" + (f" at step {step}" if step is not None else "")


def resolve_source(run: RunDir, checkpoint: str = "final", status: dict | None = None,
                   verb: str = "exported") -> tuple[Path, str]:
    """(folder, label) of what `checkpoint` names in the run; RunError saying what exists and what to do. The one
    reading of --checkpoint final|best|checkpoint-N, for export and chat (`verb`: what cannot be done with a bad
    checkpoint)."""
    status = run.status() if status is None else status
    checkpoint = (checkpoint or "final").strip()
    exists = what_exists(run, status)
    hint = f"it has: {exists}"
    if checkpoint in ("final", "model", "model/"):
        if status.get("phase") in ACTIVE_PHASES:
            ckpts = _checkpoints(run)
            also = (f"; or export a checkpoint now: --checkpoint {ckpts[-1].name}" if ckpts else "")
            raise RunError(f"{run.id} is still {_phase_words(status)}: its final model is written when it ends; "
                           f"wait for it{also}")
        folder = run.path / "model"
        if not has_weights(folder):
            why = f"{run.id} ({_phase_words(status)}) has no final model (model/)"
            ckpts = _checkpoints(run)
            todo = (f"export a checkpoint with --checkpoint best or --checkpoint {ckpts[-1].name}" if ckpts else
                    "it ended before saving anything: train it again, or resume it if it was stopped")
            raise RunError(f"{why}; {hint}: {todo}")
        problem = weights_problem(folder)
        if problem is not None:  # a cut model/ exported "as a success"
            ckpts = _checkpoints(run)
            todo = (f"export a checkpoint instead (--checkpoint {ckpts[-1].name})" if ckpts else
                    "train it again")
            raise RunError(f"{run.id}'s final model cannot be {verb}: model/{problem}; {todo}")
        return folder, final_model_label(status, bool(run.config().get("load_best_model_at_end")))
    if checkpoint == "best":
        name = _best_name(status)
        if name is None:
            raise RunError(f"{run.id} names no best checkpoint (no evaluation was saved with a checkpoint); {hint}: "
                           f"give --checkpoint final or a checkpoint name")
        label = f"the best checkpoint ({name})"
    else:
        name = f"checkpoint-{checkpoint}" if checkpoint.isdigit() else checkpoint
        if not checkpoint_step(name) is not None:
            raise UserError(f"--checkpoint {checkpoint!r}: give final, best or a checkpoint name like checkpoint-40 "
                            f"({run.id} has: {exists})")
        label = name
    folder = run.checkpoints / name
    if not folder.is_dir() or folder.is_symlink():
        raise RunError(f"{run.id} has no {name} (checkpoints are deleted past save_total_limit); {hint}")
    problem = checkpoint_problem(folder)
    if problem is not None:
        raise RunError(f"{run.id}'s {name} cannot be {verb}: {problem}; {hint}: choose another with --checkpoint")
    return folder, label


def default_dest(run: RunDir, kind: str, source: Path | None = None, cwd: str | os.PathLike | None = None) -> Path:
    """./<run-id>-<kind>, or ./<run-id>-checkpoint-N-<kind> for a checkpoint (`best` too: the name it stands
    for), in `cwd` (default: the current folder)."""
    tag = f"-{source.name}" if source is not None and checkpoint_step(source.name) is not None else ""
    return Path(cwd or os.getcwd()).absolute() / f"{run.id}{tag}-{kind}"


def free_dest(path: Path) -> Path:
    """`path`, or path-2, path-3... the first that does not exist or is an empty folder (the console's E key:
    a second export of a run goes beside the first)."""
    candidate, n = path, 1
    while _non_empty(candidate):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _non_empty(path: Path) -> bool:
    if not path.exists() and not path.is_symlink():
        return False
    if not path.is_dir():
        return True
    return any(path.iterdir())


def plan_export(run: RunDir, checkpoint: str = "final", merge: bool = False, to: str | os.PathLike | None = None,
                force: bool = False, cwd: str | os.PathLike | None = None) -> ExportPlan:
    """What an export would do, checked without loading anything (light: no torch). UserError/RunError with one
    line for a run without the folder asked for, a config that cannot be read, a destination that is not free."""

    if not run.path.is_dir():
        raise RunError(f"{run.path} is not a run folder: `training-console runs` lists them")
    config = run.config()
    method, values = config.method, config.values
    status = run.status()
    source, label = resolve_source(run, checkpoint, status)
    notes = []
    adapter = (source / "adapter_config.json").is_file()
    if method == "full" or not adapter:
        if method != "full":  # an adapter run whose folder holds a whole model: exported as what it is
            notes.append(f"{label} holds a whole model, not an adapter: it is exported as it is")
        elif merge:
            notes.append("--merge: a full fine-tuning run has no adapter to merge; its whole model is exported")
        kind = "full"
    else:
        kind = "merged" if merge else "adapter"
        if kind == "merged" and method == "qlora":
            notes.append("QLoRA: the adapter is merged into the base model in floating point, not in 4-bit (the "
                         "merged model differs from the 4-bit run by the base's own quantisation error)")
    base = str(values.get("model") or "")
    if not base:  # the built-in demo model: its folder (built, if missing, by the export's process: torch)
        from console.data.demo import demo_model_dir

        base = str(demo_model_dir())
    dest = Path(to).expanduser() if to else default_dest(run, kind, source, cwd)
    if not dest.is_absolute():
        dest = Path(cwd or os.getcwd()).absolute() / dest
    if dest.exists() and not dest.is_dir():
        raise UserError(f"--to {dest}: a file is there, not a folder: choose another folder with --to")
    try:
        inside = dest.resolve() == run.path.resolve() or run.path.resolve() in dest.resolve().parents
    except OSError:
        inside = False
    if inside:
        raise UserError(f"--to {dest} is inside the run folder {run.path}: export somewhere else (--to DIR)")
    if _non_empty(dest) and not force:
        raise UserError(f"{dest} already exists and holds files: choose another folder with --to, or add --force "
                        f"to write into it (only the files an earlier export wrote there are replaced)")
    return ExportPlan(run=run, method=method, kind=kind, source=source, label=label, dest=dest, base=base,
                      demo=not values.get("model"), trust_remote_code=bool(values.get("trust_remote_code")),
                      notes=notes, load_values={k: values.get(k) for k in ("revision", "chat_template")})


def _is_resume_file(name: str) -> bool:
    return name in RESUME_FILES or name.startswith("rng_state")
