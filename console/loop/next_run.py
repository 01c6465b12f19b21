"""The next run from a finished or running one: a finding's fix applied (or none), lineage recorded, and started.

One module serves `training-console train` and `rerun`, the console's launch, its one-key "apply fix" (`a`, `r`),
its edit (`e`) and the runs screen's `r`, so that all do exactly the same.
"""
from __future__ import annotations

from dataclasses import dataclass

from console.common.errors import UserError
from console.config.run_config import RunConfig, resolve
from console.diagnosis.fixes import apply
from console.diagnosis.vocabulary import Finding, Fix
from console.loop.findings import run_findings, top
from console.runs.rundir import RunDir, create_run


@dataclass
class RerunPlan:
    config: RunConfig  # the next run's config, resolved for this machine
    finding: Finding | None  # the finding whose fix was applied (None: no fix, only --set changes)
    fix: Fix | None


def child_config(config: RunConfig, parent: str, fix: Fix | None = None) -> RunConfig:
    """The next run's config from `config` (not yet resolved): `fix` applied with its lineage record (fixes.apply),
    or, without one, the same settings with `parent` as its parent and no fix of its own."""
    if fix is not None:
        return apply(config, fix, parent=parent)
    new = config.with_changes({})  # a validated copy, without the notices of the config it came from
    new.parent, new.fixes, new.run_id = parent, [], None
    return new


# What a run started from another run's model takes from it: the model and how it is loaded and held in memory
# (the "model and data" section but the data, the method's adapter and quantisation settings, the precision); its
# data and training settings are its own objective's preset's.
_DATA_KEYS = ("dataset", "dataset_format", "columns", "text_column", "dataset_config", "dataset_split",
              "train_on_prompt", "val_size", "max_samples", "drop_long_examples", "adapter_name_or_path")
_MACHINE_KEYS = ("bf16", "fp16", "activation_checkpointing", "accelerate_config", "seed")


def _carried(key: str) -> bool:
    from console.config.fields import all_fields

    spec = all_fields().get(key)
    if spec is None or key in _DATA_KEYS:
        return False
    if key in _MACHINE_KEYS or spec.section == "model and data":
        return True
    return spec.section == "method settings" and not getattr(spec, "objectives", None) and key != "loss_type"


def from_model(run: RunDir, objective: str = "dpo", dataset: str | None = None) -> RunConfig:
    """A preference run (DPO by default) that starts from a finished run's model, recorded as its child: the same
    method; with an adapter method the run's adapter is trained further on its base (adapter_name_or_path), so
    the reference model is the fine-tuned one, as DPO after SFT needs; with full fine-tuning its model/ folder is
    the model. UserError in one line for a run with no saved model."""
    from console.runs.checkpoints import has_weights

    config = run.config()
    final = run.path / "model"
    if run.status().get("phase") not in ("done", "stopped") or not has_weights(final):
        raise UserError(f"run {run.id} has no saved model to start from (its model/ folder appears when it ends): "
                        f"let it finish, or stop it (s) to save one")
    adapter = (final / "adapter_config.json").is_file()
    changes: dict = {"objective": objective, "adapter_name_or_path": str(final) if adapter else None}
    if not adapter:
        changes["model"] = str(final)
    if dataset is not None:
        changes["dataset"] = dataset
    # The objective's preset, with what belongs to the model carried over: an SFT run's own training settings (a
    # demo's learning rate 5e-3 and 100 epochs) put a DPO run far outside DPO's range (1e-7 to 1e-6) from its start
    fresh = RunConfig.from_preset(config.method).with_changes({"objective": objective})
    carried = {k: v for k, v in config.values.items() if _carried(k) and v != fresh.values.get(k)}
    new = fresh.with_changes({**carried, **changes})
    new.parent, new.run_id = run.id, None
    new.fixes = [{"id": "from_model", "changes": {k: v for k, v in changes.items() if v is not None},
                  "why": f"{objective.upper()} from the model run {run.id} trained",
                  "label": f"{objective} from {run.id}'s model"}]
    return new


def plan_rerun(run: RunDir, fix_spec: str | None = None, changes: dict | None = None,
               findings: list | None = None) -> RerunPlan:
    """The next run's config. fix_spec: 'PROBLEM' or 'PROBLEM:N' (N from 1), None for fix 1 as the training
    screen numbers them (top()), or 'none' to apply no fix (only `changes`)."""
    config = run.config()
    config.run_id = run.id
    findings = run_findings(run, config) if findings is None else findings
    finding = fix = None
    if fix_spec and fix_spec.lower() != "none":
        problem, _, number = fix_spec.partition(":")
        matches = [f for f in findings if f.problem == problem]
        if not matches:
            found = ", ".join(f.problem for f in findings) or "none"
            raise UserError(f"run {run.id} has no '{problem}' finding (findings: {found})")
        finding = matches[0]
        index = int(number) if number.isdigit() else 1
        if not 1 <= index <= len(finding.fixes):
            raise UserError(f"'{problem}' has {len(finding.fixes)} fixes: choose 1 to {len(finding.fixes)}")
        fix = finding.fixes[index - 1]
    elif fix_spec is None:
        finding = top(findings)
        if finding is None and not changes:
            raise UserError(f"run {run.id} shows no problem with a fix: give --set key=value to change something, "
                            f"or --fix none to run the same config again")
        fix = finding.fixes[0] if finding else None
    new = child_config(config, run.id, fix)
    if changes:
        # the lineage records the changes made by hand too (it said "no change" for a rerun with only --set)
        new = with_hand_changes(new, new.with_changes(changes), "set by hand (--set)")
    return RerunPlan(resolve(new), finding, fix)


def with_hand_changes(carried: RunConfig, edited: RunConfig, why: str) -> RunConfig:
    """`edited` with its lineage: `carried`'s (the parent and the fix carried) and one record more for every value
    changed by hand from `carried` ({"id": "set", "changes", "from", "why"}, the values as parsed). `rerun --set` and
    the arguments screen's edits after `r` alike: the lineage recorded only the fix, as if the user had changed
    nothing."""
    def value(config: RunConfig, key: str):
        return config.method if key == "method" else config.get(key)

    keys = sorted(k for k in ({"method"} | set(carried.values) | set(edited.values))
                  if value(carried, k) != value(edited, k))
    edited.parent, edited.fixes = carried.parent, list(carried.fixes or [])
    if keys and carried.parent:
        edited.fixes.append({"id": "set", "changes": {k: value(edited, k) for k in keys}, "why": why,
                             "from": {k: value(carried, k) for k in keys}})
    return edited


def start(runs_dir, config: RunConfig, command: list[str] | None = None, name: str | None = None,
          checked: bool = False) -> RunDir:
    """The one way every front end starts a run (`train`, `rerun`, the console's launch, `a`/`r` and the runs
    screen's `r`): check the model and data (unless the caller has just done it: `checked`), create the run folder,
    launch the trainer. A dataset gone since its parent ran is one line here, before any folder is made."""
    from console.loop.preflight import check_inputs
    from console.runs.launcher import launch

    if not checked:
        check_inputs(config.values)
    run = create_run(runs_dir, config, command=command, name=name)
    launch(run, config=config)
    return run
