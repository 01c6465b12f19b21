"""`training-console import FILE.yaml [-o OUT.yaml] [--force] [--dataset FILE]`

A LLaMA-Factory or axolotl config written as one of ours, with a report of what became what (console/config/foreign/
holds the mapping, one module per tool; `train --config THEIR.yaml` reads their file through the same one).
"""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

COMMAND = "import"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="turn a LLaMA-Factory or axolotl YAML config into a training-console config, "
                                     "saying what was mapped, dropped or refused")
    p.add_argument("file", help="the LLaMA-Factory or axolotl YAML file")
    p.add_argument("-o", "--output", help="where to write our config (default: FILE's name + .console.yaml here)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.add_argument("--dataset", action="append", help="the data file or folder to train on instead of the file's "
                   "own datasets; repeat it to mix several")


def default_output(file: str | os.PathLike) -> Path:
    return Path.cwd() / f"{Path(file).stem}.console.yaml"


def render(imported, source: str | os.PathLike) -> str:
    """Our flat config as YAML: method first, then the mapped settings, under a comment naming the source."""
    import yaml

    from console.common.safe_text import printable

    name = printable(Path(source).name).replace("\n", "\\n")
    head = (f"# imported from {name} ({imported.tool}) by `training-console import`\n"
            f"# train it: training-console train --config THIS_FILE (--dry-run first to check it)\n")
    body = yaml.safe_dump({"method": imported.method, **imported.values}, sort_keys=False,
                          default_flow_style=False, allow_unicode=True)
    return head + body


def run(args) -> int:
    from console.common.errors import ConfigError, UserError, path_problem
    from console.common.safe_text import printable
    from console.config.foreign import convert, detect
    from console.config.run_config import build_config, read_yaml_file

    data = read_yaml_file(args.file)
    tool = detect(data)
    if tool is None:
        raise UserError(f"{args.file} is not recognised as a LLaMA-Factory or axolotl config (no stage/finetuning_type"
                        f" or base_model/datasets keys); a training-console config is used as it is: "
                        f"training-console train --config {args.file}")
    dataset = None
    if args.dataset:
        from console.config.paths import resolve_path
        from console.data.sources import dataset_value

        given = args.dataset if isinstance(args.dataset, list) else [args.dataset]
        dataset = dataset_value(given, resolve_path)  # repeated: several datasets, mixed
    imported = convert(data, Path(args.file).parent, dataset_given=dataset is not None, tool=tool)
    if dataset is not None:
        imported.mapped.append(("--dataset", " ".join(given), "dataset", dataset, "given on the command line"))
        imported.values["dataset"] = dataset
    print(f"{printable(args.file)}: {tool} config")
    print("\n".join(imported.report()))
    if imported.refused:
        first = next(iter(imported.refused.values()))
        print(f"error: not imported: {printable(first)}"
              + (f" (and {len(imported.refused) - 1} more above)" if len(imported.refused) > 1 else ""),
              file=sys.stderr)
        return 2
    try:  # what is written must be a config `train --config` accepts: checked before anything is written
        build_config(imported.method, sets=imported.values)
    except ConfigError as err:
        raise UserError(f"the mapped settings do not hold: {err}; fix them in {args.file} and import again") from None
    out = Path(args.output) if args.output else default_output(args.file)
    if out.resolve() == Path(args.file).resolve():
        raise UserError(f"{out} is the file being imported: write to another with -o OUT.yaml")
    text = render(imported, args.file)
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UserError(f"{out} exists: pass --force to overwrite it, or -o OTHER.yaml")
    from console.common.safe_write import NotOwnFile, replace_file

    try:  # a temporary file beside it, renamed: a full disk leaves no 0-byte or half config behind
        replace_file(out, text)  # and a link at OUT is refused in one line (and kept), never written through
    except NotOwnFile:
        raise
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise UserError(f"no space left on the disk of {out.parent} to write {out}: nothing was written; free "
                            f"some space (`df -h {out.parent}`) or write elsewhere with -o OTHER.yaml") from None
        raise UserError(path_problem(err if err.filename else OSError(err.errno, err.strerror, str(out)),
                                     "cannot write")) from None
    print(f"written: {out}")
    print(f"check it: training-console train --config {out} --dry-run")
    return 0
