"""The `training-console` command: the console (no subcommand, or `attach`) and the headless subcommands."""
from __future__ import annotations

import argparse
import os
import sys

from console.errors import UserError, path_problem
from console.progress import progress, progress_line, run_summary
from console.rundir import ACTIVE_PHASES, RunDir, find_run, list_run_dirs
from console.safe_text import PrintableStream, printable

DEFAULT_RUNS = os.environ.get("TRAINING_CONSOLE_RUNS", "runs")


def _add_runs_dir(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Only the top level holds the default: a subcommand's own --runs-dir must not hide one given before it.
    p.add_argument("--runs-dir", default=DEFAULT_RUNS if top else argparse.SUPPRESS,
                   help="the runs folder (default: ./runs)")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", help="full, lora, qlora or adapter (default: lora, or the config file's)")
    p.add_argument("--config", help="a YAML file of arguments, laid over the method's preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one argument (any TRL SFTConfig / TrainingArguments field or console setting); "
                        "repeatable")
    p.add_argument("--model", help="Hub name or local folder (default: the built-in demo model)")
    p.add_argument("--dataset", help="local file/folder or Hub dataset name (default: the demo dataset)")


def _add_machine_args(p: argparse.ArgumentParser) -> None:
    """Several machines: each runs the same command with its own --node-rank (torchrun's --nnodes, --node-rank,
    --master-addr, --master-port; accelerate's --num_machines, ... with an accelerate_config)."""
    p.add_argument("--nodes", type=int, help="machines training this run together (default 1)")
    p.add_argument("--node-rank", type=int, help="this machine's number, 0 (the main one) to nodes-1")
    p.add_argument("--master-addr", metavar="HOST", help="the main machine's address, reachable from every machine")
    p.add_argument("--master-port", type=int, metavar="PORT", help="a free port on the main machine (default 29500)")


MACHINE_ARGS = ("nodes", "node_rank", "master_addr", "master_port")


def _machine_sets(args) -> dict:
    """--nodes/--node-rank/--master-addr/--master-port given on the command line, as field: text."""
    return {name: str(getattr(args, name)) for name in MACHINE_ARGS if getattr(args, name, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="training-console",
        description="Fine-tune language models from the terminal. Without a subcommand, opens the console.")
    _add_runs_dir(parser, top=True)
    parser.add_argument("--model", dest="session_model", metavar="MODEL",
                        help="the console: the model every new run starts with (Hub name or local folder)")
    parser.add_argument("--dataset", dest="session_dataset", metavar="DATASET",
                        help="the console: the dataset every new run starts with (file, folder or Hub name)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="launch a run and print its progress (headless)")
    _add_runs_dir(p)
    _add_config_args(p)
    p.add_argument("--name", help="a label for the run id")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    p.add_argument("--dry-run", action="store_true", help="check and analyse the config, launch nothing")
    p.add_argument("--processes", type=int, help="training processes (default: one per visible GPU, 1 on a CPU)")
    _add_machine_args(p)

    p = sub.add_parser("runs", help="list the runs")
    _add_runs_dir(p)

    p = sub.add_parser("show", help="a run's config, analysis and last metrics")
    _add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--fields", action="store_true", help="list every argument the console accepts")
    p.add_argument("--python", action="store_true", help="print the config as SFTConfig(...) Python (TRL)")

    for name, text in (("stop", "stop a run gracefully (checkpoint saved)"),
                       ("resume", "continue a stopped or failed run from its last checkpoint")):
        p = sub.add_parser(name, help=text)
        _add_runs_dir(p)
        p.add_argument("run")
        if name == "resume":
            p.add_argument("--detach", action="store_true")
            _add_machine_args(p)
        else:
            p.add_argument("--kill", action="store_true",
                           help="end a trainer that does not respond at once (SIGKILL; no checkpoint at the stop)")

    p = sub.add_parser("watch", help="follow a run as plain text: progress and findings")
    _add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--samples", action="store_true",
                   help="print the sample answers (the base model's next to the latest) at each sampling")

    p = sub.add_parser("attach", help="open the console on a run (live if it trains)")
    _add_runs_dir(p)
    p.add_argument("run", nargs="?", default=None)

    for module in _command_modules():
        module.add_parser(sub)
    return parser


def _command_modules():
    """Subcommands that live in their own modules (inspect, rerun, export, chat, import)."""
    import importlib

    mods = []
    for name in ("console.inspect_cmd", "console.rerun_cmd", "console.export_cmd", "console.chat_cmd",
                 "console.import_cmd"):
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
    return mods


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None or args.command == "attach":
        try:
            return _open_console(args)
        except UserError as err:
            print(f"error: {printable(err)}", file=sys.stderr)
            return 2
        except OSError as err:
            if err.filename is None:
                raise
            print(f"error: {printable(path_problem(err))}", file=sys.stderr)
            return 2
    # what the subcommands print (paths, dataset columns, messages from run folders) never reaches the terminal
    # with its control characters: an escape sequence in a column name retitled the terminal
    out, err_stream = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(out), PrintableStream(err_stream)
    try:
        handler = COMMANDS.get(args.command)
        if handler is None:
            for module in _command_modules():
                if module.__name__.rsplit(".", 1)[-1].removesuffix("_cmd") == args.command:
                    return module.run(args)
            parser.error(f"unknown command {args.command}")
        return handler(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone(out)
    except OSError as err:
        if err.filename is None:
            raise  # not about a path the user gave: a bug, with its traceback
        # a path the user gave that the system refuses (a name over 255 bytes, a permission): one line, whichever
        # command met it, not a traceback
        print(f"error: {path_problem(err)}", file=sys.stderr)
        return 2
    finally:
        sys.stdout, sys.stderr = out, err_stream


def _reader_gone(out) -> int:
    """`show | head`: the reader has gone, which is not an error of ours."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())  # Python's flush at exit must not raise again
    except (OSError, ValueError, AttributeError):
        pass
    return 0


# -- subcommands ---------------------------------------------------------------------------------------------

def prepare_config(args, summary: bool = True):
    """The resolved config from the command line, with notices printed, and its warnings and effective batch unless
    `summary` is False (a dry run prints the whole analysis, which holds both: they were said twice)."""
    from console.analysis import out_of_range
    from console.config import build_config, parse_set, resolve
    from console.data import check_inputs

    sets = parse_set(args.set)
    if getattr(args, "processes", None):
        sets["processes"] = str(args.processes)
    sets.update(_machine_sets(args))
    config = resolve(build_config(args.method, args.config, sets, args.model, args.dataset))
    v = config.values
    model_desc, data_desc = check_inputs(v)
    for notice in config.notices:
        print(f"note: {notice}")
    for warning in out_of_range(config) if summary else ():
        print(f"warning: {warning}")
    print(f"model: {model_desc}; data: {data_desc}")
    if not summary:
        return config
    batch, accum = v.get("per_device_train_batch_size"), v.get("gradient_accumulation_steps")
    machines = f" x {config.nodes} machines" if config.nodes > 1 else ""
    print(f"effective batch = {batch} per device x {accum} accumulation x {config.processes} process"
          f"{'es' if config.processes != 1 else ''}{machines} = {config.effective_batch}; precision "
          f"{config.resolved.get('precision')} on {config.resolved.get('device')}")
    return config


def cmd_train(args) -> int:
    from console.analysis import analyse

    config = prepare_config(args, summary=not args.dry_run)
    if args.dry_run:
        from console.memory import estimate_text, model_shape

        print(f"method: {config.preset.name}")
        print("\n".join(analyse(config)))
        try:  # the model must be there to train: a dry run that cannot find it says so and fails
            model_shape(config.values.get("model"))
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(estimate_text(config))
        return 0
    from console.rerun import start

    run = start(args.runs_dir, config, command=sys.argv, name=args.name, checked=True)  # prepare_config checked
    print(f"run {run.id} started in {run.path}")
    if args.detach:
        print(f"follow it: training-console watch {run.id}   stop it: training-console stop {run.id}")
        return 0
    return _follow_to_end(run)


def _follow_to_end(run: RunDir) -> int:
    from console.follow import follow, stdout_writer

    try:
        status = follow(run, stdout_writer)
    except KeyboardInterrupt:
        print(f"\ndetached: {run.id} keeps training. Follow: training-console watch {run.id}  "
              f"Stop: training-console stop {run.id}")
        return 130
    return _summary(run, status)


def _summary(run: RunDir, status: dict) -> int:
    from console.metrics import load_history

    p = progress(load_history(run.metrics_path), status)
    phase = status.get("phase")
    best = f", best eval loss {p.best_eval:.4f} at step {int(p.best_eval_step)}" if p.best_eval is not None else ""
    last = f", last train loss {p.train_loss:.4f}" if p.train_loss is not None else ""
    print(f"run {run.id} {phase} at step {int(p.step)}{last}{best}")
    if phase == "failed":
        print(f"error: {status.get('message', 'unknown error')} (details: {run.log_path})", file=sys.stderr)
    return 0 if phase == "done" else 1


def cmd_runs(args) -> int:
    runs = list_run_dirs(args.runs_dir)
    if not runs:
        print(f"no runs in {args.runs_dir}: start one with `training-console train`")
        return 0
    print(f"{'RUN':<36} {'METHOD':<8} {'STATUS':<10} {'STEPS':>11} {'BEST EVAL':>9}  PARENT / FIX")
    stalled = []
    for run in runs:
        row = run_summary(run)
        steps = f"{row['step']}/{row['max_steps']}" if row["max_steps"] else str(row["step"])
        best = f"{row['best_eval']:.4f}" if row["best_eval"] is not None else "-"
        lineage = f"{row['parent'] or ''}{' / ' + row['fix'] if row['fix'] else ''}"
        state = "no reply" if row["stalled"] else row["status"]
        print(f"{row['id']:<36} {row['method']:<8} {state:<10} {steps:>11} {best:>9}  {lineage}")
        if row["stalled"]:
            stalled.append(f"{row['id']}: {row['message']}")
    for line in stalled:  # the why of a run that shows as training but does not move, under the table
        print(line)
    return 0


def cmd_show(args) -> int:
    from console.analysis import analyse, training_arguments_snippet
    from console.config import load_run_config, to_yaml
    from console.fields import SECTIONS, all_fields

    if args.fields:
        specs = all_fields()
        for section in SECTIONS:
            print(f"# {section}")
            for name, spec in specs.items():
                if spec.section == section:
                    choices = f" ({'|'.join(map(str, spec.choices))})" if spec.choices else ""
                    print(f"  {name}: {spec.kind}{choices}  {spec.help[:90]}")
        return 0
    run = find_run(args.runs_dir, args.run)
    config = load_run_config(run.path)
    if args.python:
        print(training_arguments_snippet(config, str(run.checkpoints)))
        return 0
    summary = run_summary(run)
    print(f"run {run.id}: {summary['method']}, {summary['status']}"
          + (f" ({summary['message']})" if summary["message"] else ""))
    if summary["parent"]:
        print(f"parent: {summary['parent']}  fix: {summary['fix']}")
    print("\n# analysis")
    print("\n".join(analyse(config)))
    print("\n# config.yaml")
    print(to_yaml(config))
    from console.metrics import load_history

    print("# last metrics")
    print(progress_line(progress(load_history(run.metrics_path), run.status())))
    return 0


STOP_WAIT_S = 120.0


def cmd_stop(args) -> int:
    from console.launcher import kill_trainer, request_stop, wait

    run = find_run(args.runs_dir, args.run)
    if args.kill:
        status = kill_trainer(run)
        print(f"run {run.id}: {status.get('phase')}" + (f" ({status['message']})" if status.get("message") else ""))
        return 0 if status.get("phase") == "stopped" else 1
    if not request_stop(run):
        print(f"run {run.id} is not running ({run.status().get('phase')})")
        return 1
    stall = run.status().get("not_responding")
    if stall:  # a stopped or hung trainer cannot act on the request: say so now, not after two minutes of waiting
        print(f"run {run.id} is {stall}.\nThe stop request stays: the trainer saves a checkpoint and stops as soon "
              f"as it runs again. To end it now without a checkpoint: training-console stop {run.id} --kill")
        return 1
    print(f"stopping {run.id} (saving a checkpoint)...")
    status = wait(run, timeout=STOP_WAIT_S)
    if status.get("phase") in ACTIVE_PHASES:
        why = status.get("not_responding") or f"still {status.get('phase')}; last log line: {run.last_log_line()}"
        print(f"run {run.id} did not stop within {STOP_WAIT_S / 60:.0f} minutes ({why}). The request stays: it "
              f"stops at its next step. To end it now without a checkpoint: training-console stop {run.id} --kill")
        return 1
    print(f"run {run.id}: {status.get('phase')}" + (f" ({status['message']})" if status.get("message") else ""))
    return 0 if status.get("phase") in ("stopped", "done") else 1


def cmd_resume(args) -> int:
    from console.config import load_run_config
    from console.launcher import check_resumable, launch

    run = find_run(args.runs_dir, args.run)
    check_resumable(run)
    config = load_run_config(run.path)
    if config.values.get("trust_remote_code"):  # said as train and rerun say it
        print("note: trust_remote_code is ON for this run: the model repository's own Python code will run on this "
              "machine")
    machines = {}
    if _machine_sets(args):  # a resume over several machines may meet on another address or port this time
        from console.config import translate
        from console.scale import check_scale, node_args

        given = dict(translate(k, v)[:2] for k, v in _machine_sets(args).items())
        check_scale(dict(config.values, **given))
        machines = node_args(dict(config.values, **given))
    launch(run, processes=int(config.values.get("processes") or 1), resume=True, machines=machines)
    checkpoint, skipped = run.checkpoint_to_resume()
    for line in skipped:
        print(f"note: {line}")
    print(f"run {run.id} resumed from {checkpoint.name if checkpoint else 'its start'}")
    if args.detach:
        return 0
    return _follow_to_end(run)


def cmd_watch(args) -> int:
    from console.follow import follow, stdout_writer

    run = find_run(args.runs_dir, args.run)
    try:
        status = follow(run, stdout_writer, samples=args.samples)
    except KeyboardInterrupt:
        return 130
    return _summary(run, status)


def _open_console(args) -> int:
    if not sys.stdout.isatty() and not os.environ.get("TRAINING_CONSOLE_FORCE_TUI"):
        print("the console needs a terminal; for scripts use the subcommands (training-console --help)",
              file=sys.stderr)
        return 2
    from screens.app import TrainingConsoleApp

    app = TrainingConsoleApp(runs_dir=args.runs_dir, attach=getattr(args, "run", None),
                             model=getattr(args, "session_model", None), dataset=getattr(args, "session_dataset", None))
    app.run()
    return app.return_code or 0


COMMANDS = {"train": cmd_train, "runs": cmd_runs, "show": cmd_show, "stop": cmd_stop, "resume": cmd_resume,
            "watch": cmd_watch}

if __name__ == "__main__":
    raise SystemExit(main())
