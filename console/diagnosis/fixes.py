"""The guide's fixes as argument changes computed from a run's own config, and applying one to make the next run.

A Fix holds absolute target values (learning_rate 2e-4 -> 1e-4 is stored as {'learning_rate': 1e-4}), computed from
the config of the run that showed the problem. Applying it twice therefore cannot compound (the second time there is
nothing to change), and apply() refuses that case with a clear message instead of silently making a copy.

Here are the building blocks (one per kind of change) and finish(); each problem's table, the guide's order of
preference, is in its rule module (console/diagnosis/rules/<problem>.py), and rules.fixes_for(problem) finds it.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from console.common.errors import ConfigError, UserError
from console.diagnosis.vocabulary import Fix
from console.diagnosis.vocabulary import _fmt as _num_text

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.runs.metrics import History


class FixError(UserError):
    """A fix that cannot be applied to this config (already applied, or nothing would change)."""


def default_config():
    """The guide's LoRA defaults (the base of the config assumed when none is known: see assumed_config)."""
    from console.config.run_config import RunConfig

    return RunConfig.from_preset("lora")


ASSUMED_KEYS = {"train_batch_size": "per_device_train_batch_size", "eval_steps": "eval_steps",
                "save_steps": "save_steps", "logging_steps": "logging_steps", "num_train_epochs": "num_train_epochs",
                "max_steps": "max_steps"}


def assumed_config(history=None, state: dict | None = None, method: str | None = None):
    """The config assumed for a run that is not ours (a bare trainer_state.json or log): the method's preset, with
    the values the log shows, so that fixes quote the run's own numbers and not the preset's.

    From `state` (the trainer_state.json's top-level fields): train_batch_size, eval_steps, save_steps,
    logging_steps, num_train_epochs, max_steps. From `history`: the largest logged learning rate (as learning_rate),
    the eval interval its eval steps show (it beats the state's eval_steps, which the Trainer writes even when it
    evaluates per epoch or not at all), and eval_strategy 'no' when it logged train losses but no eval. Gradient
    accumulation is not in a state file: the Trainer's default of 1 is assumed (said in the notices). Values the
    engine refuses are skipped.
    """

    config = default_config() if method in (None, "lora") else _preset(method)
    changes: dict = {"gradient_accumulation_steps": 1}
    if history is not None and history.preference:  # TRL's rewards in the log: a DPO run (KTO logs its kl too)
        changes = {"objective": "kto" if len(history.kl) else "dpo", **changes}
    for src, key in ASSUMED_KEYS.items():
        v = (state or {}).get(src)
        # compared, not converted: math.isfinite() of a 300-digit integer (a foreign state file) overflowed
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf:
            changes[key] = v if isinstance(v, int) else int(v) if v.is_integer() else v
    if history is not None:
        if history.max_steps and "max_steps" not in changes:
            changes["max_steps"] = int(history.max_steps)
        lrs = [v for v in history.learning_rate.values if math.isfinite(v) and v > 0]
        if lrs:  # the peak as typed: a schedule logs just below it (9.99987e-05 for 1e-4)
            changes["learning_rate"] = _nice(max(lrs))
        every = eval_interval(history)
        if every:
            changes.update(eval_strategy="steps", eval_steps=every)
        elif len(history.train_loss) and not len(history.eval_loss):
            changes["eval_strategy"] = "no"
    for key, value in changes.items():
        try:
            config = config.with_changes({key: value})
        except ConfigError:
            continue
    config.notices = [assumed_words(config.method, config.objective)]
    return config


def assumed_words(method: str, objective: str = "sft") -> str:
    """'assumed: LoRA preset, with the values this log shows (gradient accumulation unknown: 1)' ('DPO with LoRA'
    for a preference run's log)."""
    from console.config.presets import load_preset

    return (f"assumed: {load_preset(method, objective).name} preset, with the values this log shows (gradient "
            "accumulation unknown: 1)")


def _preset(method: str):
    from console.config.run_config import RunConfig

    return RunConfig.from_preset(method)


def eval_interval(history: History) -> int | float | None:
    """The interval between evaluations that the log shows (median gap of its eval steps), None with fewer than 2."""
    if history is None:
        return None
    gaps = []
    for logged, _values in history.eval_loss.as_logged():  # a decimated series' gaps are not the run's: its own parts
        steps = sorted(set(logged))
        gaps += [b - a for a, b in zip(steps, steps[1:]) if b > a]
    gaps.sort()
    if not gaps:
        return None
    g = gaps[len(gaps) // 2]
    return int(round(g)) if g >= 1 else g


def _nice(x: float) -> float:
    """Two significant digits: 2e-4 / 2 = 1e-4, 2e-4 * 1.5 = 3e-4 (what a person would type)."""
    if not x or not math.isfinite(x):
        return x
    return float(f"{x:.2g}")


def _int(v, default: int = 1) -> int:
    try:
        return int(v) if v is not None else default
    except (TypeError, ValueError):
        return default


# -- one builder per kind of change ------------------------------------------------------------------------------

def lr_scale(config: RunConfig, factor: float, why: str) -> Fix | None:
    lr = config.get("learning_rate")
    if not lr:
        return None
    new = _nice(lr * factor)
    if new == lr:
        return None
    hi = (config.ranges.get("learning_rate") or (None, None))[1]
    if factor > 1 and hi and lr > hi:  # already above the method's range: raising it further is never the fix
        return None
    kind = f"lr_{'down' if factor < 1 else 'up'}_{(1 / factor if factor < 1 else factor):g}x"
    return Fix({"learning_rate": new}, why, kind)


def far_above(config: RunConfig) -> bool:
    """More than 2x above the method's range."""
    lr, hi = config.get("learning_rate"), (config.ranges.get("learning_rate") or (None, None))[1]
    return bool(lr and hi and lr > hi and times_outside(config) > 2)


def lr_preset(config: RunConfig, why: str) -> Fix | None:
    """Back to the method's default learning rate, for an LR far outside the method's range (either side)."""
    default = config.preset.defaults.get("learning_rate")
    if default and (far_above(config) or far_below(config)):
        return Fix({"learning_rate": default}, why, "lr_preset")
    return None


FAR_OUTSIDE = 10  # a learning rate this many times outside the method's range is first brought back into it


def times_outside(config: RunConfig) -> float:
    """How many times outside the method's learning-rate range the config's rate is (1.0 inside it)."""
    lr = config.get("learning_rate")
    lo, hi = config.ranges.get("learning_rate") or (None, None)
    if not lr or not lo or not hi:
        return 1.0
    return lr / hi if lr > hi else lo / lr if lr < lo else 1.0


def lr_into_range(config: RunConfig, why: str) -> Fix | None:
    """Back to the method's default learning rate (inside its range) for a rate FAR_OUTSIDE times outside it: a 4x
    or 2.5x step from there still leaves it far outside (0.03 / 4 is 15x above LoRA's range), which is why it comes
    first (bench/repair.py --model real measures it). The why says how far outside it was."""
    lr = config.get("learning_rate")
    lo, hi = config.ranges.get("learning_rate") or (None, None)
    default = config.preset.defaults.get("learning_rate")
    far = times_outside(config)
    if not (lr and default and far >= FAR_OUTSIDE):
        return None
    side = "above" if lr > hi else "below"
    return Fix({"learning_rate": default}, f"{why}: learning_rate {_num_text(lr)} is {far:.0f}x {side} the "
                                           f"{config.method} range ({_num_text(lo)} to {_num_text(hi)}), so back "
                                           f"into it at this method's default", "lr_into_range")


def far_below(config: RunConfig) -> bool:
    """More than 4x below the method's range."""
    lr, lo = config.get("learning_rate"), (config.ranges.get("learning_rate") or (None, None))[0]
    return bool(lr and lo and lr < lo and times_outside(config) > 4)


def effective_batch_up(config: RunConfig, why: str) -> Fix:
    """Per-device batch x2, accumulation kept: the effective batch doubles, and the why says so with the numbers."""
    bs = _int(config.get("per_device_train_batch_size"))
    ga = _int(config.get("gradient_accumulation_steps"))
    how = "with no accumulation" if ga < 2 else f"with accumulation {ga} kept"
    return Fix({"per_device_train_batch_size": bs * 2},
               f"{why} ({how} this doubles the effective batch, {bs * ga} -> {2 * bs * ga}: an epoch has half the "
               "steps; memory permitting)", "batch_up")


def accumulation_double(config: RunConfig, why: str) -> Fix:
    """Effective batch x2 through accumulation: steadier gradients at no memory cost."""
    bs = _int(config.get("per_device_train_batch_size"))
    ga = _int(config.get("gradient_accumulation_steps"))
    return Fix({"gradient_accumulation_steps": ga * 2},
               f"{why} (effective batch {bs * ga} -> {2 * bs * ga} at no memory cost)", "effective_batch_up")


def train_longer(config: RunConfig, why: str) -> Fix | None:
    ms = _int(config.get("max_steps"), -1)
    if ms > 0:
        return Fix({"max_steps": ms * 2}, why, "train_longer")
    ep = config.get("num_train_epochs")
    return Fix({"num_train_epochs": _nice(ep * 2)}, why, "train_longer") if ep else None


def keep_end_token(config: RunConfig, cut: dict | None = None) -> Fix | None:
    """The end token back in the labels: examples longer than max_length are cut at the end, answer and end token
    with them (a model trained on them never learns to stop); max_length up to the longest example (the next
    multiple of 64). Chat data rendered without its template loses the template's end-of-turn token: the template
    on. `cut` is the trainer's report per split (status.json's "cut")."""
    train = (cut or {}).get("train") if isinstance(cut, dict) else None
    if isinstance(train, dict) and isinstance(train.get("cut"), int) and train["cut"] > 0 \
            and isinstance(train.get("longest"), int):
        target = min(32768, -(-train["longest"] // 64) * 64)
        if target > _int(config.get("max_length"), 0):
            return Fix({"max_length": target}, f"{train['cut']} training examples were cut by max_length "
                       f"{config.get('max_length')}, their end token with them", "keep_end_token")
    if config.get("use_chat_template") is False:
        return Fix({"use_chat_template": True}, "the chat template closes each answer with its end-of-turn token",
                   "chat_template_on")
    return None


def schedule_too_short(config: RunConfig, history: History, steps_per_epoch: float | None) -> Fix | None:
    """A max_steps run that ended before one pass over the data, its loss still falling: the schedule (and its
    decay to zero) was cut short, so more steps help more than a bigger learning rate. Up to one epoch, at most 4x."""
    ms = _int(config.get("max_steps"), -1)
    if ms <= 0 or not steps_per_epoch or history is None or history.last_step < ms or ms >= steps_per_epoch:
        return None
    new = int(min(4 * ms, round(steps_per_epoch)))  # more than ms: ms < steps_per_epoch
    return Fix({"max_steps": new}, f"the run ended after {ms / steps_per_epoch:.0%} of an epoch with the loss still "
                                   "falling: a longer schedule", "schedule_longer")


def early_stopping(config: RunConfig, why: str) -> Fix | None:
    """Early stopping on eval_loss with the best checkpoint kept, the schedule left as it is: the run ends a few
    evals after the eval turns, and the model it leaves is the one at the best eval. On the real repair bench this
    kept the best eval (3.02) where cutting the steps to the best one compressed the cosine decay (3.09)."""
    if config.get("early_stopping_patience") and config.get("load_best_model_at_end"):
        return None
    changes: dict = {"early_stopping_patience": 3, "load_best_model_at_end": True}
    metric = config.get("metric_for_best_model")
    if not metric:  # a user's own metric (f1, accuracy...) is kept: early stopping then watches it
        changes["metric_for_best_model"] = "eval_loss"
    elif metric not in ("eval_loss", "loss"):
        why += f" (early stopping watches your metric_for_best_model, {metric})"
    if config.get("eval_strategy", "no") == "no":
        changes["eval_strategy"] = "epoch"
    return Fix(changes, why, "early_stop")


def train_less(config: RunConfig, why: str, best_epoch: float | None = None,
               best_step: float | None = None) -> Fix | None:
    """Fewer steps or epochs: to a little past where eval was best, else the guide's 5 -> 3."""
    ms = _int(config.get("max_steps"), -1)
    if ms > 0:
        target = int(math.ceil(best_step * 1.2)) if best_step else int(ms * 0.6)
        return Fix({"max_steps": target}, why, "train_less") if 0 < target < ms else None
    ep = config.get("num_train_epochs")
    if ep:
        target = max(1, math.ceil(best_epoch)) if best_epoch else max(1, round(ep * 0.6))
        if target < ep:
            return Fix({"num_train_epochs": target}, why, "train_less")
    return None


def weight_decay_up(config: RunConfig, why: str) -> Fix | None:
    wd = config.get("weight_decay") or 0.0
    return Fix({"weight_decay": 0.1}, why, "weight_decay") if wd < 0.1 else None


def dropout_up(config: RunConfig, why: str) -> Fix | None:
    if config.method not in ("lora", "qlora"):
        return None
    d = config.get("lora_dropout") or 0.0
    return Fix({"lora_dropout": 0.1}, why, "lora_dropout") if d < 0.1 else None


def eval_more_often(config: RunConfig, why: str, steps_per_epoch: float | None = None,
                    interval: float | None = None) -> Fix | None:
    """eval_steps at the guide's 250 -> 100 of the interval the run really used: the smaller of the config's
    eval_steps and the gap between the log's evals (`interval`), so it never proposes a longer interval than the
    run had. Without either, a quarter of an epoch."""
    strategy = config.get("eval_strategy", "no")
    ev = config.get("eval_steps")
    base = ev if strategy == "steps" and ev else None
    if interval and interval >= 1 and (base is None or base < 1 or interval < base):
        base = interval
    if base:
        new = max(1, round(base / 2.5)) if base >= 1 else _nice(base / 2.5)  # the guide's 250 -> 100
        if new >= base or (new == 1 and base == 1):
            return None
        changes = {"eval_steps": new}
        if strategy != "steps":
            changes["eval_strategy"] = "steps"
        if config.get("load_best_model_at_end"):
            save = config.get("save_steps")
            if config.get("save_strategy") != "steps":
                changes.update(save_strategy="steps", save_steps=new)
            elif save and save >= 1 and new >= 1 and save % new:
                changes["save_steps"] = int(math.ceil(save / new) * new)
        return Fix(changes, why + (f" (this run evaluated every {_num_text(base)} steps)" if interval else ""),
                   "eval_more_often")
    if steps_per_epoch and steps_per_epoch >= 4:
        every = max(1, int(round(steps_per_epoch / 4)))
        changes = {"eval_strategy": "steps", "eval_steps": every}
        if config.get("load_best_model_at_end"):
            changes.update(save_strategy="steps", save_steps=every)
        return Fix(changes, why, "eval_more_often")
    return None


def scheduler(config: RunConfig, kind: str, why: str) -> Fix | None:
    return Fix({"lr_scheduler_type": kind}, why, f"scheduler_{kind}") if config.get("lr_scheduler_type") != kind \
        else None


def warmup_shorter(config: RunConfig, why: str) -> Fix | None:
    w = config.get("warmup_steps") or 0
    if not w:
        return None
    new = _nice(w / 2) if w < 1 else int(w // 2)
    return Fix({"warmup_steps": new}, why, "warmup_shorter") if new < w else None


def warmup_ratio(config: RunConfig, why: str, total_steps: int | None) -> Fix | None:
    """Warmup as 10% of the run (the guide's warmup_ratio=0.1; a warmup_steps value below 1 is a ratio) when fixed
    steps exceed the run; the why gives the step count it comes to."""
    w = config.get("warmup_steps") or 0
    if w >= 1 and (total_steps is None or w >= 0.5 * total_steps):
        size = f" = {max(1, round(0.1 * total_steps))} of its {total_steps} steps" if total_steps else ""
        return Fix({"warmup_steps": 0.1}, f"{why}{size}, instead of {_num_text(w)} steps (a warmup_steps value "
                                          "below 1 is a ratio of the run)", "warmup_ratio")
    return None


def clip_harder(config: RunConfig, why: str) -> Fix | None:
    """Clipping at 0.5 (the guide's 1.0 -> 0.5); clipping turned on at 1.0 when it is off (0): an unclipped run
    has the most to gain from it."""
    g = config.get("max_grad_norm")
    if g is not None and g <= 0:
        return Fix({"max_grad_norm": 1.0}, "gradient clipping is off: turn it on (max_grad_norm 1.0, the "
                                           "Trainer's default) so one bad batch cannot throw the weights far",
                   "clip_on")
    return Fix({"max_grad_norm": 0.5}, why, "clip_harder") if g is None or g > 0.5 else None


def smaller_batch(config: RunConfig, why: str) -> Fix | None:
    bs = _int(config.get("per_device_train_batch_size"))
    ga = _int(config.get("gradient_accumulation_steps"))
    if bs < 2:
        return None
    return Fix({"per_device_train_batch_size": bs // 2, "gradient_accumulation_steps": ga * 2}, why,
               "batch_down_keep_effective")


def checkpointing(config: RunConfig, why: str) -> Fix | None:
    return None if config.get("activation_checkpointing") else Fix({"activation_checkpointing": True}, why,
                                                                 "activation_checkpointing")


def lighter_method(config: RunConfig, why: str) -> Fix | None:
    new = {"full": "lora", "lora": "qlora", "adapter": "qlora"}.get(config.method)
    return Fix({"method": new}, why, f"method_{new}") if new else None


# -- what every rule's table goes through ---------------------------------------------------------------------

def finish(config: RunConfig, table: list) -> list[Fix]:
    """A rule's table of fixes (the guide's order of preference, None where a builder has nothing to change) as the
    finding carries it: each change kept to the method's recommended range (within_range), changes that would be
    no-ops left out, fixes repeating an earlier one left out, and fixes that go past the range where the run already
    stands at its edge placed after the fixes that stay in it."""
    inside, beyond, seen = [], [], set()
    for fix in table:
        if fix is None:
            continue
        past = within_range(config, fix)
        fix.changes = {k: v for k, v in fix.changes.items() if not _same(config, k, v)}  # say only what changes
        key = tuple(sorted((k, repr(v)) for k, v in fix.changes.items()))
        if not fix.changes or key in seen:
            continue
        seen.add(key)
        (beyond if past else inside).append(fix)
    return inside + beyond


def within_range(config: RunConfig, fix: Fix) -> bool:
    """Keep a fix's numbers to the method's recommended range (the preset's `ranges`, the ones the arguments screen
    marks): a guide's factor that would carry a value from inside the range past its edge stops at the edge (LoRA's
    accumulation 2 -> 8 becomes 2 -> 4, its range being 2 to 4), and a value already outside is brought to the edge
    it is past (a diverged learning rate of 2 lowered 4x is still 1000x above LoRA's range: 5e-4). Only a value
    already at or past an edge and moved further out keeps the guide's step, and its why says it leaves the range
    (returns True: the caller lists it after the fixes that stay in). A fix never moves a value the other way. A fix
    of several values that hold together (half the batch and double the accumulation: the same effective batch) is
    left as it is, and its why says which value is outside the range."""
    past = False
    coupled = len(fix.changes) > 1  # values that hold together (half the batch, double the accumulation)
    for key, new in list(fix.changes.items()):
        old, bounds = config.get(key), config.ranges.get(key)
        d = direction(config, key, new)
        if not d or not bounds or not isinstance(old, (int, float)) or isinstance(old, bool):
            continue
        lo, hi = bounds
        if lo is None or hi is None or lo <= new <= hi:
            continue
        if coupled:  # moved one by one they would no longer hold together (the same effective batch): only said
            fix.why += (f" ({key} {_num_text(new)} is outside the {config.method} range of {_num_text(lo)} to "
                        f"{_num_text(hi)})")
            continue
        edge = min(max(new, lo), hi)
        edge = int(edge) if isinstance(new, int) else edge
        if (old > hi and d > 0) or (old < lo and d < 0):  # outside and moved further out: never the fix
            fix.changes[key] = old
        elif old == (hi if d > 0 else lo):  # at the edge it moves past: the guide's step, said to leave the range
            past = True
            fix.why += (f" ({key} {_num_text(new)} is past the {config.method} range of {_num_text(lo)} to "
                        f"{_num_text(hi)}: this run is already at its {'top' if d > 0 else 'bottom'})")
        else:  # from inside past an edge, or from outside toward the range: to the range's edge
            fix.changes[key] = edge
            fix.why += (f" (stopped at the {'top' if edge == hi else 'bottom'} of the {config.method} range, "
                        f"{_num_text(lo)} to {_num_text(hi)}, instead of {_num_text(new)})")
    return past


# -- one plan per run -----------------------------------------------------------------------------------------------

def direction(config: RunConfig, key: str, value) -> int:
    """+1 when a fix raises `key` above the config's value, -1 when it lowers it, 0 when it cannot tell (a word, a
    value not set before, a warm-up switched between a ratio and a step count)."""
    old = None if key == "method" else config.get(key)
    numbers = (int, float)
    if not (isinstance(old, numbers) and isinstance(value, numbers)) or isinstance(old, bool) or isinstance(value,
                                                                                                           bool):
        return 0
    if key == "warmup_steps" and ((0 < old < 1) != (0 < value < 1)):
        return 0
    return (value > old) - (value < old)


# the settings that pull the same way: a bigger effective batch is per-device batch or accumulation, a longer run is
# steps or epochs (max_steps beats epochs when both are set, but the direction is what counts)
SAME_SETTING = {"gradient_accumulation_steps": "batch", "per_device_train_batch_size": "batch",
                "max_steps": "length", "num_train_epochs": "length"}


def one_plan(findings: list, config: RunConfig) -> list:
    """The findings of one run as one plan: in their order (the most severe first, a crash before the curves, the
    curves before the sample answers of the same severity), a fix that pulls a setting the other way from a fix of
    an earlier finding is left out of the later finding, and the finding says which one won and why. Two findings
    can no longer offer, one a lower learning rate and fewer steps, the other a higher one and more steps."""
    pulls: dict[str, tuple[int, object]] = {}  # setting -> (direction, the finding whose fix pulls it so)
    for finding in findings:
        kept, dropped = [], []
        for fix in finding.fixes:
            against = [(k, pulls[SAME_SETTING.get(k, k)][1]) for k, v in fix.changes.items()
                       if (d := direction(config, k, v)) and SAME_SETTING.get(k, k) in pulls
                       and pulls[SAME_SETTING.get(k, k)][0] == -d]
            (dropped if against else kept).append((fix, against))
        for fix, _ in kept:
            for k, v in fix.changes.items():
                if d := direction(config, k, v):
                    pulls.setdefault(SAME_SETTING.get(k, k), (d, finding))
        if dropped:
            finding.fixes = [f for f, _ in kept]
            winner = dropped[0][1][0][1]
            keys = sorted({k for _, against in dropped for k, _ in against})
            why = ("it is more severe" if winner.severity.rank < finding.severity.rank else
                   "it comes first in the plan (at one severity the curves' findings, then the sample answers', "
                   "in the guide's order)")
            finding.numbers["overruled"] = (
                f"{len(dropped)} fix{'es' if len(dropped) > 1 else ''} moving {', '.join(keys)} the other way left "
                f"out: '{winner.title}' wins, {why}")
    return findings


def _same(config: RunConfig, key, value) -> bool:
    return (config.method == value) if key == "method" else config.get(key) == value


def steps_per_epoch(history: History) -> float | None:
    """Steps per epoch, from the last logged epoch (None without one)."""
    if history is None:
        return None
    ep = history.epoch
    for s, e in zip(reversed(ep.steps), reversed(ep.values)):
        if e and e > 0 and s > 0:
            return s / e
    return None


# -- applying -----------------------------------------------------------------------------------------------------

def apply(config: RunConfig, fix: Fix, parent: str | None = None):
    """The next run's config: `fix` applied (validated by the engine), with lineage (parent run, fixes applied).

    From a launched run's config (run_id set) this starts a new child; on a draft child (no run_id) fixes add up.
    Refused with FixError when the fix is already recorded or would change nothing; ConfigError when the engine
    refuses a value.
    """
    record = {"id": fix.id, "changes": dict(fix.changes), "why": fix.why}
    is_draft = config.run_id is None and (config.parent is not None or config.fixes)
    if is_draft and any(f.get("changes") == record["changes"] for f in config.fixes if isinstance(f, dict)):
        raise FixError(f"fix already applied to this config: {fix.describe(config)}")
    if all(_same(config, k, v) for k, v in fix.changes.items()):
        raise FixError(f"nothing to change: {', '.join(f'{k} is already {v!r}' for k, v in fix.changes.items())}")
    record["from"] = {k: (config.method if k == "method" else config.get(k)) for k in fix.changes}
    new = config.with_changes(fix.changes, notice=f"fix applied: {fix.describe(config)} ({fix.why})")
    if is_draft:
        new.parent = parent or config.parent
        new.fixes = list(config.fixes) + [record]
    else:
        new.parent = parent or config.run_id
        new.fixes = [record]
    new.run_id = None
    return new
