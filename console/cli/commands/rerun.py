"""`training-console rerun RUN [--fix PROBLEM[:N]] [--set k=v ...] [--detach]`"""
from __future__ import annotations

import sys

from console.cli.args import add_runs_dir, follow_to_end

COMMAND = "rerun"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="start the next run from RUN's config with a finding's fix applied")
    add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--fix", help="PROBLEM or PROBLEM:N (default: fix 1 as the console numbers them: the most severe "
                                 "finding's first; 'none': no fix)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more changes; repeatable")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    p.add_argument("--dry-run", action="store_true", help="show the change, launch nothing")


def run(args) -> int:
    from console.config.run_config import parse_set
    from console.loop.findings import describe_fix
    from console.loop.next_run import plan_rerun, start
    from console.runs.rundir import find_run

    parent = find_run(args.runs_dir, args.run)
    plan = plan_rerun(parent, args.fix, parse_set(args.set))
    if plan.fix is not None:
        print(f"{plan.finding.title}: {plan.finding.evidence}")

        print("fix: " + describe_fix(plan.fix, parent.config()))
    for notice in plan.config.notices:
        if not notice.startswith("fix applied"):
            print(f"note: {notice}")
    if args.dry_run:
        return 0
    child = start(args.runs_dir, plan.config, command=sys.argv)
    print(f"run {child.id} started (parent {parent.id})")
    if args.detach:
        return 0
    return follow_to_end(child)
