"""`training-console resume RUN [--detach]`: continue a stopped or failed run from its last checkpoint."""
from __future__ import annotations

from console.cli.args import add_machine_args, add_runs_dir, follow_to_end, machine_sets
from console.common.numbers import fmt
from console.runs.rundir import find_run

COMMAND = "resume"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="continue a stopped or failed run from its last checkpoint")
    add_runs_dir(p)
    p.add_argument("run")
    p.add_argument("--detach", action="store_true")
    add_machine_args(p)


def run(args) -> int:
    from console.runs.launcher import check_resumable, launch

    run = find_run(args.runs_dir, args.run)
    check_resumable(run)
    config = run.config()
    note = diverged_note(run, config)
    if note:
        print(note)
    if config.values.get("trust_remote_code"):  # said as train and rerun say it
        print("note: trust_remote_code is ON for this run: the model repository's own Python code will run on this "
              "machine")
    machines = {}
    if machine_sets(args):  # a resume over several machines may meet on another address or port this time
        from console.config.run_config import translate
        from console.machine.scale import check_scale, node_args

        given = dict(translate(k, v)[:2] for k, v in machine_sets(args).items())
        check_scale(dict(config.values, **given))
        machines = node_args(dict(config.values, **given))
    launch(run, resume=True, machines=machines, config=config)
    checkpoint, skipped = run.checkpoint_to_resume()
    for line in skipped:
        print(f"note: {line}")
    print(f"run {run.id} resumed from {checkpoint.name if checkpoint else 'its start'}")
    if args.detach:
        return 0
    return follow_to_end(run)


def diverged_note(run, config) -> str:
    """For a run that diverged, what resuming it continues: its last checkpoint at the same settings (resume of
    the demo "LR far too high" went on at learning rate 2.0 without a word), and where the fix is."""
    status = run.status()
    if status.get("kind") != "diverged":
        return ""
    checkpoint, _ = run.checkpoint_to_resume()
    lr = config.get("learning_rate")
    return (f"note: {run.id} diverged ({status.get('message') or 'its loss exploded'}); resume continues it from "
            f"{checkpoint.name if checkpoint else 'its start'} with the same settings (learning_rate {fmt(lr)}), which "
            f"diverged: `training-console rerun {run.id}` starts the next run with the fix instead")
