"""`training-console data [--config F] [--model M] [--dataset D ...] [--set k=v ...] [--examples N] [--json]`: the
examples as the model sees them, the part that carries the loss marked, and per split the rows, examples, tokens,
loss tokens and rows cut (console/trainer/preview.py)."""
from __future__ import annotations

import json

from console.cli.args import add_config_args

COMMAND = "data"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="show the examples as the model sees them, the loss-carrying part marked")
    add_config_args(p)
    p.add_argument("--examples", "-n", type=int, default=3, help="how many training examples to show (default 3)")
    p.add_argument("--json", action="store_true", help="print the figures and examples as JSON")


def run(args) -> int:
    from console.config.run_config import build_config, parse_set, resolve
    from console.loop.preflight import check_inputs
    from console.trainer.preview import as_text, preview
    from console.trainer.quiet import quiet_libraries

    quiet_libraries()  # what the libraries say on import and on a cached Hub dataset is not about the data

    config = resolve(build_config(args.method, args.config, parse_set(args.set), args.model, args.dataset))
    check_inputs(config.values)  # what train checks first: a missing file is one line before any library loads
    result = preview(config, args.examples)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else as_text(result))
    return 0
