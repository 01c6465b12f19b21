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
in it when one is given) and must not hold files unless --force is given; --force replaces only the files an
earlier export wrote there (its manifest, console/tools/export_target.py), never the user's own. A partial folder
left by a killed export is removed by the next export to the same DIR.

Choosing what to export and where (`plan_export`) is console.tools.export_plan, light: the console's UI process
calls it to check and word its question before starting the export in a child process; pushing to the Hub is
console.tools.hub. Here torch, transformers and peft are imported inside the functions that use them.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
from pathlib import Path

from console.common.errors import RunError, UserError, first_line, path_problem
from console.runs.rundir import find_run
from console.tools.export_plan import ExportPlan, _is_resume_file, plan_export
from console.tools.export_target import move_into_place, partial_folder, remove_stale_partials
from console.tools.hub import check_repo_id, push


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
        raise RunError(f"cannot load the tokenizer of {source}: {first_line(err, with_type=True)}") from None
    if plan.load_values.get("chat_template"):
        from console.machine.load_checks import chat_template_text

        tokenizer.chat_template = chat_template_text(plan.load_values["chat_template"])
    tokenizer.save_pretrained(str(into))


def _end_with_run_tokenizer(plan: ExportPlan, merged) -> None:
    """The run's tokenizer's eos (the chat template's end of turn when the trainer made it so,
    console/trainer/end_token.py) among the merged model's generation ends: the base's generation config alone
    would let a base model trained through a template run to the token limit."""
    if not _has_tokenizer(plan.source):
        return
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(plan.source), trust_remote_code=plan.trust_remote_code)
    except (OSError, ValueError):
        return
    config = getattr(merged, "generation_config", None)
    if config is None or tokenizer.eos_token_id is None:
        return
    ids = config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id not in ids:
        config.eos_token_id = [*ids, tokenizer.eos_token_id]


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
        why = first_line(err, with_type=True)
        raise RunError(f"cannot load the base model {plan.base}: {why}; the adapter alone exports "
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
        raise RunError(f"cannot merge {plan.source} into {plan.base}: {first_line(err, with_type=True)}") from None
    merged.config.use_cache = True
    _end_with_run_tokenizer(plan, merged)
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


def _says_disk_full(err: BaseException) -> bool:
    text = str(err)
    return any(sign in text for sign in ("No space left on device", "StorageFull", "os error 28"))


def _disk_full(dest: Path, partial: Path | None, err: BaseException) -> str:
    """One line for an export that filled the disk, naming the file it was writing: the error's own file name, else
    the partial folder's newest file (safetensors does not name it). The partial folder is removed after."""
    name = getattr(err, "filename", None)
    if not name and "Safetensor" in type(err).__name__:
        name = "the model's weights (model.safetensors)"  # safetensors removes the file it could not finish
    elif not name and partial is not None:
        try:
            files = [p for p in partial.rglob("*") if p.is_file() and not p.is_symlink()]
            name = max(files, key=lambda p: p.stat().st_mtime).name if files else None
        except OSError:
            name = None
    writing = f" while writing {name if ' ' in str(name) else Path(str(name)).name}" if name else ""
    return (f"no space left on the disk of {dest.parent}{writing} for the export of {dest.name}: nothing was "
            f"left there; free some space (`df -h {dest.parent}`), or export elsewhere with --to")


def export(plan: ExportPlan, dtype: str = "auto", say=print) -> Path:
    """Write the export `plan` describes; its folder. Every failure is one line (UserError); a failed export
    leaves no half-written folder."""
    dest = plan.dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(path_problem(err, "cannot create")) from None
    for note in plan.notes:
        say(f"note: {note}")
    partial = None
    try:
        for name in remove_stale_partials(dest):
            say(f"note: removed {name} beside {dest.name}: what an earlier export there left when it was killed")
        partial = partial_folder(dest)
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
        from console.tools.model_card import model_card

        # our card, in place of peft's blank one ("More Information Needed", the base as [None])
        (partial / "README.md").write_text(model_card(plan), encoding="utf-8")
        for line in move_into_place(partial, dest):
            say(f"note: {line}")
    except UserError:
        raise
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise UserError(_disk_full(dest, partial, err)) from None
        raise UserError(path_problem(err, "export:")) from None
    except Exception as err:
        # safetensors and torch wrap a full disk in their own errors (SafetensorError "... os error 28"): their
        # text is what says it; any other error is not the disk's and goes on as it is
        if not _says_disk_full(err):
            raise
        raise UserError(_disk_full(dest, partial, err)) from None
    finally:
        if partial is not None and partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return dest


# -- the Hub --------------------------------------------------------------------------------------------------------


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
