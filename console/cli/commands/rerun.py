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
    from console.diagnosis.vocabulary import Fix
    from console.loop.findings import describe_fix
    from console.loop.next_run import plan_rerun, start
    from console.runs.rundir import find_run, run_label

    parent = find_run(args.runs_dir, args.run)
    changes = parse_set(args.set)
    plan = plan_rerun(parent, args.fix, changes)
    old = parent.config()
    if plan.fix is not None:
        print(f"{plan.finding.title}: {plan.finding.evidence}")

        print("fix: " + describe_fix(plan.fix, old))
    if changes:
        typed = {k: (plan.config.method if k == "method" else plan.config.get(k)) for k in changes}
        print("set: " + Fix(typed, "").describe(old))
    if plan.fix is None and not changes:
        print(f"the same config as {parent.id}, no change")
    for notice in plan.config.notices:
        if not notice.startswith("fix applied"):
            print(f"note: {notice}")
    if args.dry_run:
        print(f"dry run: nothing launched (the next run's parent would be {parent.id})")
        return 0
    label = run_label(parent.id)  # the parent's --name label carries over (the method is the default one)
    child = start(args.runs_dir, plan.config, command=sys.argv,
                  name=label if label and label != plan.config.method else None)
    print(f"run {child.id} started (parent {parent.id})")
    if args.detach:
        return 0
    return follow_to_end(child)
