"""`training-console rerun RUN [--fix PROBLEM[:N]] [--set k=v ...] [--detach]`"""
from __future__ import annotations

import sys

COMMAND = "rerun"


def add_parser(sub) -> None:
    from console.cli import _add_runs_dir

    p = sub.add_parser(COMMAND, help="start the next run from RUN's config with a finding's fix applied")
    _add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--fix", help="PROBLEM or PROBLEM:N (default: fix 1 as the console numbers them: the most severe "
                                 "finding's first; 'none': no fix)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more changes; repeatable")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    p.add_argument("--dry-run", action="store_true", help="show the change, launch nothing")


def run(args) -> int:
    from console.cli import _follow_to_end
    from console.config import parse_set
    from console.follow import describe_fix
    from console.rerun import plan_rerun, start
    from console.rundir import find_run

    parent = find_run(args.runs_dir, args.run)
    plan = plan_rerun(parent, args.fix, parse_set(args.set))
    if plan.fix is not None:
        print(f"{plan.finding.title}: {plan.finding.evidence}")
        from console.config import load_run_config

        print("fix: " + describe_fix(plan.fix, load_run_config(parent.path)))
    for notice in plan.config.notices:
        if not notice.startswith("fix applied"):
            print(f"note: {notice}")
    if args.dry_run:
        return 0
    child = start(args.runs_dir, plan.config, command=sys.argv)
    print(f"run {child.id} started (parent {parent.id})")
    if args.detach:
        return 0
    return _follow_to_end(child)
