"""Export a run's model as a folder to use elsewhere: a LoRA/QLoRA/adapter run's adapter (default), that adapter
merged into its base model (`--merge`), or a full fine-tuning run's model; optionally pushed to the Hugging Face Hub.

    training-console export RUN [--merge] [--to DIR] [--checkpoint final|best|checkpoint-N] [--force]
                                [--push-to-hub ORG/NAME [--private]] [--json]
    python -m console.tools.export ...   (the same; the console's runs screen runs it so, in a child process)

What is exported, from which folder of the run:
- `final` (default): RUN/model/, the model the run ended with (the best checkpoint's when the run used
  load_best_model_at_end); `best`: the checkpoint with the best eval loss (status.json's best_checkpoint);
  `checkpoint-N` (or N): that checkpoint.
- adapter: the adapter files, the tokenizer and its chat template; never the optimizer, scheduler, RNG,
  trainer_state or training_args files (state to resume training, not part of the model).
- merged: the base model (the run's `model`, the demo model when it names none) loaded in floating point on the CPU
  (a QLoRA run's base too: not in 4-bit), the adapter laid on it with peft and merged (`merge_and_unload`), saved
  with save_pretrained beside the run's tokenizer and chat template. It loads with AutoModelForCausalLM alone.
- full: the model folder copied as it is (`--merge` changes nothing), with `use_cache` turned back on (training
  turns it off).

The export is written into a hidden folder beside DIR and moved into place at the end: a failed or interrupted
export leaves no half-written DIR. DIR defaults to ./<run-id>-adapter, -merged or -full (with the checkpoint's name
in it when one is given) and must not hold files unless --force is given.

The heavy libraries (torch, transformers, peft, huggingface_hub) are imported inside the functions that use them:
`plan_export` is light, and the console's UI process calls it to check and word its question before starting the
export in a child process.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from console.common.errors import RunError, UserError, path_problem
from console.runs.rundir import ACTIVE_PHASES, RunDir, checkpoint_problem, find_run

# Files of a checkpoint that hold the state to resume training from, not the model.
RESUME_FILES = ("optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "trainer_state.json",
                "training_args.bin")
# Files whose presence decides how a folder loads: left over from an earlier export into the same folder
# (--force), they would make it load as something else (an adapter_config.json beside a merged model).
_MODEL_FILES = re.compile(r"^(adapter_config\.json|adapter_model.*\.(safetensors|bin)|model.*\.safetensors"
                          r"|model\.safetensors\.index\.json|pytorch_model.*\.bin|pytorch_model\.bin\.index\.json"
                          r"|config\.json|generation_config\.json)$")
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
            "pytorch_model.bin", "pytorch_model.bin.index.json")
_CKPT = re.compile(r"checkpoint-(\d+)")
_REPO_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
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


# -- which folder, where to -----------------------------------------------------------------------------------------

def _checkpoints(run: RunDir) -> list[Path]:
    found = []
    if run.checkpoints.is_dir():
        for child in run.checkpoints.iterdir():
            m = _CKPT.fullmatch(child.name)
            if m and child.is_dir() and not child.is_symlink():
                found.append((int(m.group(1)), child))
    return [path for _, path in sorted(found)]


def _best_name(status: dict) -> str | None:
    best = status.get("best_checkpoint")
    return os.path.basename(str(best).rstrip("/")) if best else None  # by name: the runs folder may have moved


def _has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in _WEIGHTS)


def what_exists(run: RunDir, status: dict | None = None) -> str:
    """'model/ (final), checkpoint-4, checkpoint-8 (best)' or 'no final model and no checkpoint'."""
    status = run.status(repair=False) if status is None else status
    best = _best_name(status)
    parts = ["model/ (final)"] if _has_weights(run.path / "model") else []
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
    status = run.status(repair=False) if status is None else status
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
        if not _has_weights(folder):
            why = f"{run.id} ({_phase_words(status)}) has no final model (model/)"
            ckpts = _checkpoints(run)
            todo = (f"export a checkpoint with --checkpoint best or --checkpoint {ckpts[-1].name}" if ckpts else
                    "it ended before saving anything: train it again, or resume it if it was stopped")
            raise RunError(f"{why}; {hint}: {todo}")
        return folder, "the final model (model/" + (f", step {status['step']})" if status.get("step") else ")")
    if checkpoint == "best":
        name = _best_name(status)
        if name is None:
            raise RunError(f"{run.id} names no best checkpoint (no evaluation was saved with a checkpoint); {hint}: "
                           f"give --checkpoint final or a checkpoint name")
        label = f"the best checkpoint ({name})"
    else:
        name = f"checkpoint-{checkpoint}" if checkpoint.isdigit() else checkpoint
        if not _CKPT.fullmatch(name):
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
    tag = f"-{source.name}" if source is not None and _CKPT.fullmatch(source.name) else ""
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
    from console.config.run_config import load_run_config

    if not run.path.is_dir():
        raise RunError(f"{run.path} is not a run folder: `training-console runs` lists them")
    config = load_run_config(run.path)
    method, values = config.method, config.values
    status = run.status(repair=False)
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
                        f"to write into it (its model files are replaced)")
    return ExportPlan(run=run, method=method, kind=kind, source=source, label=label, dest=dest, base=base,
                      demo=not values.get("model"), trust_remote_code=bool(values.get("trust_remote_code")),
                      notes=notes, load_values={k: values.get(k) for k in ("revision", "chat_template")})


# -- doing it -------------------------------------------------------------------------------------------------------

def _is_resume_file(name: str) -> bool:
    return name in RESUME_FILES or name.startswith("rng_state")


def _copy_model_files(source: Path, into: Path) -> list[str]:
    copied = []
    for item in sorted(source.iterdir()):
        if _is_resume_file(item.name) or item.is_symlink():
            continue
        if item.is_file():
            shutil.copy2(item, into / item.name)
            copied.append(item.name)
        elif item.is_dir():  # none in a save_pretrained folder; a subfolder a tokenizer or processor may hold
            shutil.copytree(item, into / item.name, symlinks=False)
            copied.append(item.name + "/")
    return copied


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file()


def _base_source(plan: ExportPlan) -> str:
    """The base model's path or Hub name, the demo model built first when it is the base (console.trainer.model's
    model_source)."""
    from console.trainer.model import model_source

    return model_source({} if plan.demo else {"model": plan.base})


def _save_tokenizer(plan: ExportPlan, into: Path, say) -> None:
    """The run's tokenizer (with its chat template) into `into`: from the exported folder when it holds one (the
    trainer saves it beside every checkpoint), else the base model's."""
    from transformers import AutoTokenizer

    from console.trainer.model import hub_revision

    source = str(plan.source) if _has_tokenizer(plan.source) else _base_source(plan)
    if source != str(plan.source):
        say(f"note: {plan.label} holds no tokenizer: the base model's ({plan.base}) is exported with it")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=plan.trust_remote_code,
                                                  **hub_revision(source, plan.load_values))
    except (OSError, ValueError) as err:
        raise RunError(f"cannot load the tokenizer of {source}: {_first_line(err)}") from None
    if plan.load_values.get("chat_template"):
        from console.machine.load_checks import chat_template_text

        tokenizer.chat_template = chat_template_text(plan.load_values["chat_template"])
    tokenizer.save_pretrained(str(into))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__


def _merge_into(plan: ExportPlan, into: Path, dtype: str, say) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from console.trainer.model import hub_revision

    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    source = _base_source(plan)
    say(f"loading the base model {plan.base} ({'its own dtype' if dtype == 'auto' else dtype}, on the CPU)")
    try:
        # the revision the run trained on: the adapter's deltas belong to those weights (no attn_implementation: a
        # merge runs no attention, and a GPU kernel would not load on the CPU)
        base = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, device_map={"": "cpu"},
                                                    trust_remote_code=plan.trust_remote_code,
                                                    **hub_revision(source, plan.load_values))
    except (OSError, ValueError) as err:
        raise RunError(f"cannot load the base model {plan.base}: {_first_line(err)}; the adapter alone exports "
                       f"without --merge") from None
    if getattr(base, "is_quantized", False) or getattr(base.config, "quantization_config", None):
        raise RunError(f"the base model {plan.base} is saved quantised: merging needs it in floating point (the "
                       f"model the run was trained from, before quantisation); the adapter alone exports without "
                       f"--merge")
    say(f"merging the adapter from {plan.label}")
    try:
        model = PeftModel.from_pretrained(base, str(plan.source))
        merged = model.merge_and_unload()
    except Exception as err:  # noqa: BLE001  a bad adapter file or one of another base: one line, not a traceback
        raise RunError(f"cannot merge {plan.source} into {plan.base}: {_first_line(err)}") from None
    merged.config.use_cache = True
    say(f"saving the merged model ({sum(p.numel() for p in merged.parameters()) / 1e6:.2f}M parameters)")
    merged.save_pretrained(str(into), safe_serialization=True)


def _quiet_progress() -> None:
    """No progress bars: 'Loading weights: 100%|...' of a model this size says nothing, and its carriage returns
    garble a log or the console's notice."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _enable_cache(folder: Path) -> None:
    """config.json's use_cache back on: training turns it off (activation checkpointing); generation with it off is
    many times slower."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and data.get("use_cache") is False:
        data["use_cache"] = True
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _move_into_place(partial: Path, dest: Path) -> list[str]:
    """The finished export at `dest`: one rename when dest is not there; else its files moved in one by one, after
    removing the model files of an earlier export the new one does not have (said in the returned lines)."""
    if not dest.exists():
        os.rename(partial, dest)
        return []
    new = {p.name for p in partial.iterdir()}
    removed = []
    for old in dest.iterdir():
        if old.name not in new and old.is_file() and _MODEL_FILES.match(old.name):
            old.unlink()
            removed.append(old.name)
    for item in partial.iterdir():
        target = dest / item.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(item, target)
    partial.rmdir()
    return [f"removed from {dest} the files of an earlier export: {', '.join(sorted(removed))}"] if removed else []


def export(plan: ExportPlan, dtype: str = "auto", say=print) -> Path:
    """Write the export `plan` describes; its folder. Every failure is one line (UserError); a failed export
    leaves no half-written folder."""
    dest = plan.dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(path_problem(err, "cannot create")) from None
    partial = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    for note in plan.notes:
        say(f"note: {note}")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        if plan.kind != "adapter" or not _has_tokenizer(plan.source):
            from console.trainer.quiet import quiet_known_noise

            quiet_known_noise()  # before bitsandbytes is imported (peft imports it; it speaks on import)
            _quiet_progress()
        if plan.kind == "merged":
            _merge_into(plan, partial, dtype, say)
            _save_tokenizer(plan, partial, say)
        else:
            _copy_model_files(plan.source, partial)
            if plan.kind == "full":
                _enable_cache(partial)
            if not _has_tokenizer(partial):
                _save_tokenizer(plan, partial, say)
        for line in _move_into_place(partial, dest):
            say(f"note: {line}")
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise UserError(f"no space left on the disk of {dest.parent} for the export: free some, or export "
                            f"elsewhere with --to") from None
        raise UserError(path_problem(err, "export:")) from None
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return dest


# -- the Hub --------------------------------------------------------------------------------------------------------

def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise UserError(f"--push-to-hub {repo_id!r}: give a Hub repository as ORG/NAME (letters, digits, '-', '_', "
                        f"'.'), e.g. my-org/my-model")
    return repo_id


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def push(folder: Path, repo_id: str, private: bool = False, message: str = "") -> str:
    """Upload `folder` to the Hub model repository `repo_id` (created if missing); its URL. RunError in one line
    when offline, not logged in, refused or unreachable: the folder stays as it is."""
    retry = f"the export is kept in {folder}; push it later with `hf upload {repo_id} {folder}`"
    if _offline():
        raise RunError(f"not pushed to {repo_id}: offline mode is on (HF_HUB_OFFLINE=1): {retry} where the Hub "
                       f"can be reached")
    import huggingface_hub
    from huggingface_hub import HfApi

    if not huggingface_hub.get_token():
        raise RunError(f"not pushed to {repo_id}: not logged in to the Hugging Face Hub (run `hf auth login` or set "
                       f"HF_TOKEN); {retry}")
    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                          commit_message=message or f"Export of {folder.name}")
    except Exception as err:  # noqa: BLE001  HTTP refusals, no network, a bad token: one line, the folder kept
        status = getattr(getattr(err, "response", None), "status_code", None)
        why = {401: "the token was refused (log in again: `hf auth login`)",
               403: f"this token may not write to {repo_id} (a write token, and membership of the organisation)",
               404: f"{repo_id} was not found"}.get(status, _first_line(err))
        if status is None and any(word in type(err).__name__ for word in ("Connect", "Timeout", "Network")):
            why = f"the Hub cannot be reached ({_first_line(err)}): check the network, or a proxy (HTTPS_PROXY)"
        raise RunError(f"not pushed to {repo_id}: {why}; {retry}") from None
    return str(url)


# -- the command ----------------------------------------------------------------------------------------------------

def arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of `training-console export` and `python -m console.tools.export` (one list for both)."""
    p.add_argument("run", nargs="?", default="latest", help="run id, unique part of one, 'latest' or a run folder")
    p.add_argument("--merge", action="store_true",
                   help="merge the adapter into its base model and export the whole model (LoRA, QLoRA, adapter "
                        "runs; a QLoRA base is loaded in floating point, not 4-bit)")
    p.add_argument("--to", metavar="DIR", help="the folder to write (default: ./<run-id>-adapter, -merged or -full)")
    p.add_argument("--checkpoint", default="final", metavar="final|best|checkpoint-N",
                   help="final (default: RUN/model, the best model when load_best_model_at_end was on), best (the "
                        "checkpoint with the best eval loss) or a checkpoint's name")
    p.add_argument("--force", action="store_true", help="write into --to even when it holds files")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                   help="--merge: the dtype to load the base and save the merged model in (default: the base "
                        "model's own)")
    p.add_argument("--push-to-hub", metavar="ORG/NAME", help="also upload the exported folder to this Hub model "
                                                              "repository (created if missing; needs `hf auth login`)")
    p.add_argument("--private", action="store_true", help="--push-to-hub: create the repository private")
    p.add_argument("--json", action="store_true",
                   help="progress on stderr, and one JSON object on stdout at the end: {path, kind, ...} or {error}")


def run_args(args) -> int:
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else (lambda t: print(t, flush=True))
    repo = check_repo_id(args.push_to_hub) if args.push_to_hub else None
    run = find_run(getattr(args, "runs_dir", "runs"), args.run)
    plan = plan_export(run, args.checkpoint, args.merge, args.to, args.force)
    folder = export(plan, args.dtype, say)
    line = f"exported {plan.what} to {folder}"
    result = {"path": str(folder), "kind": plan.kind, "run": run.id, "source": str(plan.source), "line": line}
    say(line)
    say(plan.load_hint())
    if repo:
        say(f"pushing {folder} to the Hub repository {repo}")
        try:
            url = push(folder, repo, args.private, message=f"Export of run {run.id} ({plan.kind})")
        except UserError as err:
            if args.json:
                print(json.dumps(dict(result, error=str(err))), flush=True)
                return 2
            raise
        result["url"] = url
        say(f"pushed to {url}")
    if args.json:
        print(json.dumps(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m console.tools.export`: what `training-console export` does; errors are one line (exit 2)."""
    import signal

    from console.common.safe_text import PrintableStream

    p = argparse.ArgumentParser(prog="python -m console.tools.export", description=__doc__.splitlines()[0])
    p.add_argument("--runs-dir", default=os.environ.get("TRAINING_CONSOLE_RUNS", "runs"),
                   help="the runs folder (default: ./runs)")
    arguments(p)
    args = p.parse_args(argv)

    def _terminated(signum, frame):  # the console's worker ends the export: clean up (export's finally)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminated)
    out, err_stream = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(out), PrintableStream(err_stream)
    try:
        return run_args(args)
    except UserError as err:
        if args.json:
            print(json.dumps({"error": str(err)}), flush=True)
        else:
            print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.filename is None:
            raise
        message = path_problem(err)
        print(json.dumps({"error": message}) if args.json else f"error: {message}",
              file=sys.stdout if args.json else sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout, sys.stderr = out, err_stream


if __name__ == "__main__":
    raise SystemExit(main())
