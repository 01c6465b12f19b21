"""`training-console train [--method M] [--config F] [--set k=v ...] [--model M] [--dataset D]`: check, launch
and follow a run (headless); `--dry-run` checks and analyses only."""
from __future__ import annotations

import sys

from console.cli.args import add_config_args, add_machine_args, add_runs_dir, follow_to_end, machine_sets
from console.common.errors import UserError

COMMAND = "train"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="launch a run and print its progress (headless)")
    add_runs_dir(p)
    add_config_args(p)
    p.add_argument("--name", help="a label for the run id")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    p.add_argument("--dry-run", action="store_true", help="check and analyse the config, launch nothing")
    p.add_argument("--processes", type=int, help="training processes (default: one per visible GPU, 1 on a CPU)")
    p.add_argument("--from", dest="from_run", metavar="RUN",
                   help="start from a finished run's model (its adapter trained further), as its child: preference "
                        "training after SFT; give the preference data with --dataset")
    p.add_argument("--objective", choices=("dpo", "kto", "sft"), help="with --from: the objective (default dpo)")
    add_machine_args(p)


def prepare_config(args, summary: bool = True):
    """The resolved config from the command line, with notices printed, and its warnings and effective batch unless
    `summary` is False (a dry run prints the whole analysis, which holds both: they were said twice)."""
    from console.config.analysis import out_of_range
    from console.config.run_config import build_config, parse_set, resolve
    from console.loop.preflight import check_inputs

    sets = parse_set(args.set)
    if getattr(args, "processes", None):
        sets["processes"] = str(args.processes)
    sets.update(machine_sets(args))
    if getattr(args, "from_run", None):
        config = resolve(_from_run(args, sets))
    else:
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


def _from_run(args, sets: dict):
    """The config of `train --from RUN`: the run's own settings, its model as the start (console.loop.next_run.
    from_model), then --dataset and --set; the lineage names RUN."""
    from console.config.paths import resolve_path
    from console.loop.next_run import from_model
    from console.runs.rundir import find_run

    for flag, given in (("--config", args.config), ("--model", args.model), ("--method", args.method)):
        if given:
            raise UserError(f"{flag} does not go with --from: the run's own settings and model are the start; "
                            f"change settings with --set")
    parent = find_run(args.runs_dir, args.from_run)
    dataset = resolve_path(args.dataset) if args.dataset else None
    config = from_model(parent, args.objective or "dpo", dataset)
    lineage = (config.parent, config.fixes)
    if sets:
        config = config.with_changes(sets)
        config.parent, config.fixes = lineage
    return config


def run(args) -> int:
    from console.config.analysis import analyse

    config = prepare_config(args, summary=not args.dry_run)
    if args.dry_run:
        from console.config.memory import estimate_text
        from console.config.model_shape import model_shape

        print(f"method: {config.preset.name}")
        print("\n".join(analyse(config)))
        try:  # the model must be there to train: a dry run that cannot find it says so and fails
            model_shape(config.values.get("model"))
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(estimate_text(config))
        return 0
    from console.loop.next_run import start

    run = start(args.runs_dir, config, command=sys.argv, name=args.name, checked=True)  # prepare_config checked
    print(f"run {run.id} started in {run.path}")
    if args.detach:
        print(f"follow it: training-console watch {run.id}   stop it: training-console stop {run.id}")
        return 0
    return follow_to_end(run)
