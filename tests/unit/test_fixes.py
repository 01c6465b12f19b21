"""Fix tables computed from the run's own config, accepted by the engine, and applied with lineage, never twice."""
from __future__ import annotations

import pytest

from console.common.errors import ConfigError
from console.config.presets import METHODS
from console.config.run_config import RunConfig
from console.diagnosis.fixes import FixError, apply
from console.diagnosis.rules import fixes_for
from console.diagnosis.vocabulary import Fix

PROBLEM_CASES = [("not_decreasing", {"cause": "high"}), ("not_decreasing", {"cause": "low"}), ("overfitting", {}),
                 ("stuck", {}), ("slow", {}), ("oscillating", {}), ("diverged", {}), ("out_of_memory", {}),
                 ("warmup_too_long", {"total_steps": 30})]


def run_config(method: str, run_id: str = "run-1", **changes) -> RunConfig:
    config = RunConfig.from_preset(method)
    if changes:
        config = config.with_changes(changes)
    config.run_id = run_id
    return config


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem,kw", PROBLEM_CASES)
def test_every_fix_makes_a_config_the_engine_accepts(method, problem, kw):
    config = run_config(method, warmup_steps=50 if problem == "warmup_too_long" else 0.1)
    fixes = fixes_for(problem, config, **kw)
    assert fixes, f"no fix for {problem} on {method}"
    for fix in fixes:
        new = apply(config, fix)
        for key, value in fix.changes.items():
            assert (new.method if key == "method" else new.get(key)) == value
        assert new.parent == "run-1" and new.run_id is None
        assert new.fixes[-1]["changes"] == fix.changes


def test_learning_rate_factors_follow_the_guide():
    lora = run_config("lora")  # 2e-4
    down = [f.changes for f in fixes_for("not_decreasing", lora, cause="high")]
    up = [f.changes for f in fixes_for("not_decreasing", lora, cause="low")]
    # the guide's halving, then its quartering: 2e-4 / 4 would be below LoRA's range (1e-4 to 5e-4), so it stops at
    # the range's bottom, the same as the halving, and is not offered twice
    assert down[0] == {"learning_rate": 1e-4}
    assert [c for c in down if "learning_rate" in c] == [{"learning_rate": 1e-4}]
    assert up[:2] == [{"learning_rate": 3e-4}, {"learning_rate": 5e-4}]
    full = run_config("full")  # 2e-5
    assert fixes_for("oscillating", full)[0].changes == {"learning_rate": 1e-5}


def test_batch_fix_says_truthfully_that_it_doubles_the_effective_batch():
    for ga in (1, 4):
        config = run_config("lora", gradient_accumulation_steps=ga)  # 4 x ga
        for problem, kw in (("slow", {}), ("not_decreasing", {"cause": "high"})):
            fix = [f for f in fixes_for(problem, config, **kw) if "per_device_train_batch_size" in f.changes][0]
            new = apply(config, fix)
            assert new.effective_batch == 2 * config.effective_batch
            assert f"{4 * ga} -> {8 * ga}" in fix.why and "same effective batch" not in fix.why


def test_same_effective_batch_is_never_offered_for_flat_or_slow_curves():
    for ga in (1, 2, 4):
        config = run_config("lora", gradient_accumulation_steps=ga)
        for problem, kw in (("slow", {}), ("stuck", {}), ("stuck", {"cause": "unclear"}),
                            ("not_decreasing", {"cause": "low"}), ("not_decreasing", {"cause": "unclear"})):
            for fix in fixes_for(problem, config, **kw):
                new = apply(config, fix)
                if "per_device_train_batch_size" in fix.changes:  # a batch change must change the learning
                    assert new.effective_batch != config.effective_batch, (problem, fix)


def test_overfitting_fixes_in_the_repair_benchs_order_and_dropout_only_for_lora():
    lora = [f.changes for f in fixes_for("overfitting", run_config("lora", eval_steps=250, save_steps=500),
                                         best_epoch=2.4)]
    # early stopping with the best checkpoint kept (the schedule as it was) repaired the real bench's overfitting,
    # 10x weight decay did not, fewer steps compressed the schedule: in that order
    assert lora[0] == {"early_stopping_patience": 3, "load_best_model_at_end": True,
                       "metric_for_best_model": "eval_loss"} or (
        lora[0]["early_stopping_patience"] == 3 and "num_train_epochs" not in lora[0])
    assert lora[1] == {"weight_decay": 0.1}
    assert lora[2] == {"num_train_epochs": 3}
    assert lora[3] == {"lora_dropout": 0.1}
    assert lora[4]["eval_steps"] == 100
    full = [f.changes for f in fixes_for("overfitting", run_config("full"))]
    assert not any("lora_dropout" in c for c in full)
    # a run that already stops early and keeps its best checkpoint is not offered that again
    kept = run_config("lora", early_stopping_patience=3, load_best_model_at_end=True)
    assert not any("early_stopping_patience" in f.changes for f in fixes_for("overfitting", kept))


def test_fixes_come_from_the_runs_config_not_fixed_numbers():
    config = run_config("lora", weight_decay=0.1, max_grad_norm=0.3, learning_rate=4e-4)
    changes = [f.changes for f in fixes_for("overfitting", config)]
    assert not any("weight_decay" in c for c in changes)  # already 0.1: nothing to offer
    osc = [f.changes for f in fixes_for("oscillating", config)]
    assert {"learning_rate": 2e-4} in osc and not any("max_grad_norm" in c for c in osc)


def test_early_stopping_fix_is_valid_with_eval_off():
    config = run_config("lora", eval_strategy="no", load_best_model_at_end=False)
    fix = [f for f in fixes_for("overfitting", config) if "early_stopping_patience" in f.changes][0]
    new = apply(config, fix)
    assert new.get("eval_strategy") != "no" and new.get("load_best_model_at_end") is True


def test_eval_more_often_keeps_save_steps_a_multiple():
    config = run_config("lora", eval_steps=250, save_steps=500)
    fix = [f for f in fixes_for("overfitting", config) if "eval_steps" in f.changes][0]
    new = apply(config, fix)
    assert new.get("eval_steps") == 100 and new.get("save_steps") % new.get("eval_steps") == 0


def test_max_steps_runs_get_fewer_steps_instead_of_epochs():
    config = run_config("lora", max_steps=1000)
    fix = [f for f in fixes_for("overfitting", config, best_step=400) if f.id == "train_less"][0]
    assert fix.changes == {"max_steps": 480}


def test_same_fix_applied_twice_is_refused_not_compounded():
    config = run_config("lora")
    fix = fixes_for("oscillating", config)[0]  # learning_rate -> 1e-4 (absolute)
    child = apply(config, fix)
    assert child.get("learning_rate") == 1e-4
    with pytest.raises(FixError, match="already"):
        apply(child, fix)
    assert child.get("learning_rate") == 1e-4


def test_two_different_fixes_add_up_on_a_draft():
    config = run_config("lora")
    wd, dropout = fixes_for("overfitting", config)[1], fixes_for("overfitting", config)[2]
    child = apply(apply(config, wd), dropout)
    assert child.parent == "run-1"
    assert [f["changes"] for f in child.fixes] == [wd.changes, dropout.changes]
    assert child.fixes[0]["from"] == {"weight_decay": 0.01}


def test_explicit_parent_and_launched_child_start_a_new_lineage():
    config = run_config("lora")
    child = apply(config, fixes_for("slow", config)[0], parent="custom-parent")
    assert child.parent == "custom-parent"
    child.run_id = "run-2"  # launched: its own fixes start afresh
    grandchild = apply(child, fixes_for("slow", child)[0])
    assert grandchild.parent == "run-2" and len(grandchild.fixes) == 1
    assert grandchild.get("learning_rate") == pytest.approx(4.5e-4)  # 3e-4 x 1.5: recomputed, on purpose


def test_fix_that_changes_nothing_is_refused():
    config = run_config("lora")
    with pytest.raises(FixError, match="nothing to change"):
        apply(config, Fix({"weight_decay": 0.01}, "no-op"))


def test_invalid_value_raises_the_engines_error():
    with pytest.raises(ConfigError):
        apply(run_config("lora"), Fix({"lr_scheduler_type": "bogus"}, "bad"))


def test_out_of_memory_switches_method_and_halves_the_batch():
    full = run_config("full")
    changes = [f.changes for f in fixes_for("out_of_memory", full)]
    assert changes[0] == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 8}
    new = apply(full, [f for f in fixes_for("out_of_memory", full) if "method" in f.changes][0])
    assert new.method == "lora" and new.fixes[0]["from"] == {"method": "full"}
    assert fixes_for("out_of_memory", run_config("qlora"))[-1].changes != {"method": "qlora"}


def test_no_fix_raises_a_learning_rate_already_above_the_method_range():
    from console.config.run_config import build_config
    from console.diagnosis.rules import fixes_for

    config = build_config("lora", sets={"learning_rate": "0.05"})
    for problem in ("slow", "stuck", "not_decreasing"):
        for fix in fixes_for(problem, config):
            assert fix.changes.get("learning_rate", 0) <= 0.05, (problem, fix)


# -- the config assumed for a run that is not ours, and fixes that respect what the run did -------------------------

def _log_history(eval_every=None, lr_peak=5e-5, steps=600):
    from console.runs.metrics import History

    records = []
    for s in range(10, steps + 1, 10):
        records.append({"step": s, "loss": 2.0 - s / 1000, "learning_rate": lr_peak * min(1.0, s / 60)})
        if eval_every and s % eval_every == 0:
            records.append({"step": s, "eval_loss": 2.1 - s / 2000})
    return History.from_records(records)


def test_assumed_config_takes_the_values_the_log_shows():
    from console.diagnosis.fixes import assumed_config

    state = {"train_batch_size": 8, "eval_steps": 500, "save_steps": 200, "logging_steps": 10,
             "num_train_epochs": 2, "max_steps": 600}
    config = assumed_config(_log_history(eval_every=120), state)
    assert config.method == "lora"
    assert config.get("per_device_train_batch_size") == 8 and config.get("gradient_accumulation_steps") == 1
    assert config.get("learning_rate") == 5e-5  # the logged peak, not the preset's 2e-4
    assert config.get("eval_steps") == 120  # what the log's evals show beats the state's eval_steps
    assert config.get("logging_steps") == 10 and config.get("num_train_epochs") == 2
    assert config.get("max_steps") == 600
    assert any("with the values this log shows" in n for n in config.notices)
    # no eval in the log: evaluation was off
    assert assumed_config(_log_history(), state).get("eval_strategy") == "no"


def test_fixes_for_an_assumed_config_quote_the_runs_own_values():
    from console.diagnosis.fixes import assumed_config

    config = assumed_config(_log_history(eval_every=120), {"train_batch_size": 8})
    stuck = fixes_for("stuck", config, cause="low")
    assert stuck[0].changes["learning_rate"] == pytest.approx(1.25e-4, rel=0.05)  # 2.5 x the logged 5e-5
    batch = [f for f in fixes_for("slow", config) if "per_device_train_batch_size" in f.changes][0]
    assert batch.changes == {"per_device_train_batch_size": 16} and "8 -> 16" in batch.why


def test_early_stopping_keeps_the_users_own_metric():
    config = run_config("lora", metric_for_best_model="f1")
    fix = [f for f in fixes_for("overfitting", config) if "early_stopping_patience" in f.changes][0]
    assert "metric_for_best_model" not in fix.changes and "f1" in fix.why
    assert apply(config, fix).get("metric_for_best_model") == "f1"


def test_eval_more_often_is_never_longer_than_what_the_run_used():
    # the arguments say every 250 steps, the log shows an eval every 50: propose fewer than 50
    config = run_config("lora", eval_steps=250, save_steps=500)
    fix = [f for f in fixes_for("overfitting", config, history=_log_history(eval_every=50))
           if "eval_steps" in f.changes][0]
    assert fix.changes["eval_steps"] == 20 and "every 50 steps" in fix.why
    # per-epoch evaluation (no eval_steps to go by): the log's interval decides, and the strategy becomes steps
    epoch = run_config("lora", eval_strategy="epoch", save_strategy="epoch")
    fix = [f for f in fixes_for("overfitting", epoch, history=_log_history(eval_every=200))
           if "eval_steps" in f.changes][0]
    assert fix.changes["eval_steps"] == 80 and fix.changes["eval_strategy"] == "steps"
    apply(epoch, fix)  # the engine accepts it
    # an interval of 1 cannot be made shorter: nothing proposed
    assert not [f for f in fixes_for("overfitting", run_config("lora", eval_steps=1, save_steps=1),
                                     history=_log_history(eval_every=10)) if "eval_steps" in f.changes]


def test_warmup_ratio_fix_says_how_many_steps_the_ratio_is():
    fix = fixes_for("warmup_too_long", run_config("lora", warmup_steps=500), total_steps=400)[0]
    assert fix.changes == {"warmup_steps": 0.1}
    assert "10% of the run = 40 of its 400 steps" in fix.why and "instead of 500 steps" in fix.why


def test_a_learning_rate_far_below_the_range_goes_back_to_the_default():
    from console.config.run_config import build_config
    from console.diagnosis.rules import fixes_for

    config = build_config("lora", sets={"learning_rate": "1e-6"})
    for problem, cause in (("stuck", "low"), ("slow", None), ("not_decreasing", "low")):
        fixes = fixes_for(problem, config, cause=cause)
        assert fixes[0].changes == {"learning_rate": 2e-4}, problem


def test_a_schedule_cut_short_grows_to_one_epoch_at_most():
    from console.diagnosis.fixes import schedule_too_short
    from console.runs.metrics import History

    history = History.from_records([{"step": s, "epoch": s / 100, "loss": 2.0} for s in range(10, 61, 10)])
    assert schedule_too_short(run_config("lora", max_steps=60), history, 100).changes == {"max_steps": 100}
    assert schedule_too_short(run_config("lora", max_steps=80), history, 100) is None  # stopped before max_steps
    assert schedule_too_short(run_config("lora", max_steps=60), history, 50) is None  # a whole epoch already


def test_unstable_training_with_clipping_off_is_offered_clipping_on():
    off = [f.changes for f in fixes_for("oscillating", run_config("lora", max_grad_norm=0))]
    assert {"max_grad_norm": 1.0} in off  # it was dropped before: 0 is not "above 0.5"
    on = [f.changes for f in fixes_for("oscillating", run_config("lora", max_grad_norm=1.0))]
    assert {"max_grad_norm": 0.5} in on


async def test_the_console_r_the_runs_screen_r_and_the_cli_rerun_choose_the_same_fix(tmp_path, monkeypatch):
    # the example: an early NaN, then overfitting (the console took the NaN's fix, `rerun` weight decay)
    import math

    from console.loop.next_run import plan_rerun
    from console.runs.rundir import RunDir
    from screens.live import LiveRun
    from tests.support.screens import fake_run

    records = [{"step": 0, "max_steps": 100, "event": "train_begin"}]
    for step in range(2, 101, 2):
        loss = float("nan") if step == 10 else 3.0 * math.exp(-step / 20) + 0.3
        records.append({"step": step, "loss": loss, "learning_rate": 2e-4, "grad_norm": 1.0})
        if step % 10 == 0:
            records.append({"step": step, "eval_loss": 2.0 - 0.02 * step if step <= 40 else 1.2 + 0.02 * (step - 40)})
    path = fake_run(tmp_path / "runs", "20250101-120000-lora-nnnn", created=1_735_732_800.0, records=records,
                    changes={"max_steps": 100, "eval_steps": 10, "save_steps": 10})
    run = RunDir(path)
    cli = plan_rerun(run)
    from console.config.run_config import load_run_config
    from console.runs.metrics import load_history

    live = LiveRun(run, load_run_config(path), status=run.status())
    live.history = load_history(run.metrics_path)
    finding, fix = live.fixes()[0]  # fix 1 on the training screen
    problems = {f.problem for f in live.findings()}
    assert {"overfitting"} <= problems and len(problems) >= 2, problems
    assert cli.fix.changes == fix.changes and cli.finding.problem == finding.problem


def test_the_findings_of_a_run_are_one_plan_with_no_setting_pulled_both_ways():
    """Issue 30: 'sample answers repeat themselves' offered a lower learning rate and fewer steps while 'slow'
    offered a higher one: findings_of now hands one plan, the earlier (more severe) finding's fixes win, and the
    later finding says what was left out and why."""
    from console.diagnosis.fixes import direction
    from console.loop.findings import describe_finding, findings_of
    from console.runs.metrics import History
    from console.runs.samples import Sample

    config = RunConfig.from_preset("lora").with_changes({"max_steps": 300, "learning_rate": 1e-4})  # range's bottom
    history = History.from_records([{"step": s, "loss": 3.0 - 0.0004 * s, "learning_rate": 1e-4}
                                    for s in range(1, 301)] + [{"step": s, "eval_loss": 3.05 - 0.0004 * s}
                                                               for s in range(0, 301, 50)])
    history.max_steps = 300
    samples = [Sample(step=0, prompt=f"p{i}", answer="fine.", ended=True, tokens=3, seconds=0.1, reference="fine.")
               for i in range(3)] + [Sample(step=300, prompt=f"p{i}", answer="of " * 30, ended=True, tokens=30,
                                            seconds=0.1, reference="fine.") for i in range(3)]
    found = findings_of(history, config, {"phase": "done"}, samples)
    assert {f.problem for f in found} >= {"slow", "answers_repeat"}, [f.problem for f in found]
    pulled: dict = {}
    for finding in found:
        for fix in finding.fixes:
            for key, value in fix.changes.items():
                d = direction(config, key, value)
                assert not d or pulled.setdefault(key, d) == d, (key, [describe_finding(f, config) for f in found])
    later = found[[f.problem for f in found].index("answers_repeat")]
    assert "learning_rate" in later.numbers["overruled"] and "wins" in later.numbers["overruled"]
    assert any("left out" in line for line in describe_finding(later, config))


@pytest.mark.parametrize("method", METHODS)
def test_no_fix_takes_a_setting_out_of_the_methods_range_without_saying_so(method):
    """A new user saw 'gradient_accumulation_steps 4 -> 8' offered for LoRA, whose range is 2 to 4, and the
    arguments screen then marked the carried value out of range: the console contradicting itself. From the
    preset's own values, every rule's fixes stay in the method's ranges, except a step past an edge the run already
    stands at, which says so and comes after the fixes that stay in."""
    from console.diagnosis.rules import PROBLEMS

    config = run_config(method)
    for problem in PROBLEMS:
        for cause in (None, "high", "low"):
            fixes = fixes_for(problem, config, cause=cause, total_steps=300)
            seen_past = False
            for fix in fixes:
                past = False
                for key, value in fix.changes.items():
                    bounds = config.ranges.get(key)
                    if bounds and isinstance(value, (int, float)) and not isinstance(value, bool):
                        if not bounds[0] <= value <= bounds[1]:
                            past = len(fix.changes) == 1  # a coupled fix (the same effective batch) keeps its place
                            assert f"{key} " in fix.why and "range" in fix.why, (problem, fix.changes, fix.why)
                assert past or not seen_past, (problem, [f.changes for f in fixes])  # in-range fixes first
                seen_past = seen_past or past


def test_a_value_outside_the_range_is_brought_to_its_edge_never_further_out():
    from console.diagnosis.fixes import finish, lr_scale

    lora = run_config("lora", learning_rate=2.0)  # the demo's 'LR far too high': 4000x above 1e-4 to 5e-4
    assert finish(lora, [lr_scale(lora, 0.25, "lower")])[0].changes == {"learning_rate": 5e-4}
    low = run_config("lora", learning_rate=1e-6)  # below the range: lowering it further is never offered
    assert finish(low, [lr_scale(low, 0.5, "lower")]) == []
    inside = run_config("lora", gradient_accumulation_steps=2)  # 2 -> 8 would leave 2 to 4: stops at 4
    fix = Fix({"gradient_accumulation_steps": 8}, "steadier", "x")
    assert finish(inside, [fix])[0].changes == {"gradient_accumulation_steps": 4}
    assert isinstance(fix.changes["gradient_accumulation_steps"], int)
    # values that hold together are left as they are (CI found 'half the batch, double the accumulation' for full
    # made 4 x 1 into 2 x 4, the accumulation brought to full's range and the effective batch doubled)
    full = run_config("full", per_device_train_batch_size=4, gradient_accumulation_steps=1)
    same = finish(full, fixes_for("out_of_memory", full)[:1])[0]
    assert same.changes == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2}
