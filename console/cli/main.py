"""The `training-console` command: the console (no subcommand, or `attach`) and the headless subcommands.

Each subcommand is one module of console/cli/commands (COMMAND, add_parser, run), listed once in COMMANDS below.
"""
from __future__ import annotations

import argparse
import os
import sys

from console.cli.args import add_runs_dir
from console.cli.commands import (
    attach,
    chat,
    data,
    export,
    import_config,
    inspect,
    rerun,
    resume,
    runs,
    show,
    stop,
    train,
    watch,
)
from console.common.errors import UserError, path_problem
from console.common.safe_text import PrintableStream, printable

# the order of `training-console --help`
COMMANDS = (train, data, runs, show, stop, resume, watch, attach, inspect, rerun, export, chat, import_config)
BY_NAME = {module.COMMAND: module for module in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="training-console",
        description="Fine-tune language models from the terminal. Without a subcommand, opens the console.")
    add_runs_dir(parser, top=True)
    parser.add_argument("--model", dest="session_model", metavar="MODEL",
                        help="the console: the model every new run starts with (Hub name or local folder)")
    parser.add_argument("--dataset", dest="session_dataset", metavar="DATASET",
                        help="the console: the dataset every new run starts with (file, folder or Hub name)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    parser.set_defaults(_commands=sub.choices)  # each subcommand's own parser, for its usage on a mistyped option
    return parser


def _unrecognized(parser: argparse.ArgumentParser, args, extra: list[str]) -> None:
    """A mistyped option, said by the subcommand's own parser (its usage, not the top level's), with the setting
    it likely meant when it names one: `train --max-step 20` -> `--set max_steps=...`."""
    import difflib

    from console.config.fields import all_fields

    command = args._commands.get(args.command) if args.command else None
    hint = ""
    option = next((a for a in extra if a.startswith("--")), None)
    if option and command is not None and any(a.dest == "set" for a in command._actions):
        name = option.lstrip("-").split("=")[0].replace("-", "_")
        close = difflib.get_close_matches(name, list(all_fields()), n=1)
        if close:
            hint = f" (a training argument goes through --set: --set {close[0]}=VALUE)"
    (command or parser).error(f"unrecognized arguments: {' '.join(extra)}{hint}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unrecognized(parser, args, extra)
    if args.command is None or args.command == "attach":
        try:
            return attach.run(args)
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
        command = BY_NAME.get(args.command)
        if command is None:
            parser.error(f"unknown command {args.command}")
        return command.run(args)
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


if __name__ == "__main__":
    raise SystemExit(main())
