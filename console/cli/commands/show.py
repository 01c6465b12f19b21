"""`training-console show [RUN] [--fields] [--python]`: a run's config, analysis and last metrics."""
from __future__ import annotations

from console.cli.args import add_runs_dir
from console.runs.progress import progress_line, run_progress, run_summary
from console.runs.rundir import find_run

COMMAND = "show"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="a run's config, analysis and last metrics")
    add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--fields", action="store_true", help="list every argument the console accepts")
    p.add_argument("--python", action="store_true", help="print the config as SFTConfig(...) Python (TRL)")


def run(args) -> int:
    from console.config.analysis import analyse, training_arguments_snippet
    from console.config.fields import SECTIONS, all_fields
    from console.config.run_config import to_yaml

    if args.fields:
        specs = all_fields()
        for section in SECTIONS:
            print(f"# {section}")
            for name, spec in specs.items():
                if spec.section == section:
                    choices = f" ({'|'.join(map(str, spec.choices))})" if spec.choices else ""
                    print(f"  {name}: {spec.kind}{choices}  {spec.help}")  # whole: a cut help hid its point
        return 0
    run = find_run(args.runs_dir, args.run)
    config = run.config()
    if args.python:
        print(training_arguments_snippet(config, str(run.checkpoints)))
        return 0
    from console.cli.args import say_long_read
    from console.runs.summary import unsummarised

    say_long_read(run.id, unsummarised(run.path))
    summary = run_summary(run)
    print(f"run {run.id}: {summary['method']}, {summary['status']}"
          + (f" ({summary['message']})" if summary["message"] else ""))
    if summary["parent"]:
        print(f"parent: {summary['parent']}  fix: {summary['fix']}")
    print("\n# analysis")
    print("\n".join(analyse(config)))
    print("\n# config.yaml")
    print(to_yaml(config))
    print("# last metrics")  # from the run's metrics summary: never a second read of the whole metrics.jsonl
    print(progress_line(run_progress(run, logging_steps=config.get("logging_steps"))))
    return 0
