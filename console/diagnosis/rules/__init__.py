"""The rules: one module per problem, and here the one declared order in which their detectors run.

A rule module holds its PROBLEM id, its TITLE, its KIND ('problem': a shape of the curves, the guide's five and
divergence; 'advisory'; 'crash'; 'answers': from the sample answers), its detectors (each takes the call's context
and returns a Finding or None), the evidence they write and `fixes(config, history, **kw)`, the problem's table of
fixes in the guide's order of preference (built from console.diagnosis.fixes).

Precedence is data, below: the detectors run in the order listed, a problem is found once (the first detector of
it that fires wins), and a rule's `unless=(...)` names the problems already found that silence it; `needs=(...)`
names conditions of the call's context (boolean attributes of console.diagnosis.context.Context) it needs, and
`objectives=(...)` the objectives whose runs it reads (supervised fine-tuning's unless it says so), and
`evidence=` how much of the run it must have seen before it may speak (console.diagnosis.evidence: a rule that
declares nothing gets DEFAULT, so a rule added later is quiet on a smoke test too; severe events and facts of the
config declare AT_ONCE). The findings keep the order found; diagnose() then sorts them by severity, the curve
problems first.

A new finding: its module here, its line in one of the orders below (and in MODULES), its tests, a line in the
table of docs/diagnosis.md.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from console.diagnosis.evidence import ANSWERS, AT_ONCE, CHANGE, DEFAULT, TRAINING, Evidence
from console.diagnosis.preference import PREFERENCE
from console.diagnosis.rules import (
    answers_do_not_end,
    answers_empty,
    answers_grow_longer,
    answers_repeat,
    diverged,
    likelihood_displacement,
    lr_never_peaked,
    no_loss_tokens,
    nonfinite_grad_norm,
    not_decreasing,
    oscillating,
    out_of_memory,
    overfitting,
    preference_not_learning,
    preference_overfitting,
    slow,
    stuck,
    warmup_too_long,
)
from console.diagnosis.vocabulary import TITLES

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.vocabulary import Finding, Fix
    from console.runs.metrics import History


EVERY = ("sft", *PREFERENCE)


@dataclass(frozen=True)
class Rule:
    """One detector in the declared order, with its precedence."""

    detect: Callable
    unless: tuple[str, ...] = ()  # problems which, already found, silence it (its own problem always does)
    needs: tuple[str, ...] = ()  # conditions of the context (boolean attributes) that must hold for it to run
    # the objectives whose curves it reads: the loss-shape rules are supervised fine-tuning's (a preference loss
    # has other shapes, read by the preference rules); divergence, advisories and crashes are every run's
    objectives: tuple[str, ...] = ("sft",)
    evidence: Evidence = DEFAULT  # what the context must have seen (its `seen`) before it may run
    problem: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "problem", sys.modules[self.detect.__module__].PROBLEM)


# The curves' detectors, diagnose(history, config), in the order they run: what is found first wins its problem and
# silences the rules that name it in `unless`.
CURVE_RULES = (
    # a loss of exactly 0 from the start: every label masked, nothing is learned
    Rule(no_loss_tokens.detect, evidence=CHANGE),
    Rule(diverged.nonfinite_loss, objectives=EVERY, evidence=AT_ONCE),  # NaN/inf: nothing else about the curve matters
    Rule(diverged.explosion, objectives=EVERY, evidence=AT_ONCE),  # a loss explosion (4x, sustained), not recovered
    Rule(oscillating.recovered_explosion, unless=("diverged",), evidence=CHANGE),  # one that came back down
    # the first steps made the model worse than before training (needs an eval at step 0): still worse, or back
    Rule(not_decreasing.damaged_start, unless=("diverged",), evidence=CHANGE),
    Rule(oscillating.damaged_start, unless=("diverged",), evidence=CHANGE),
    # a rising train loss is instability, not memorising
    Rule(overfitting.eval_rises, needs=("train_falls",), evidence=CHANGE),
    Rule(oscillating.excursion, evidence=CHANGE),
    Rule(oscillating.eval_worsens, unless=("overfitting", "diverged"), evidence=CHANGE),
    Rule(overfitting.eval_not_improving, evidence=CHANGE),
    # the shape verdict (rising / erratic / flat / slow): not when the start was damaged (its finding says why)
    # a rising loss is the severe case of the shape (an erratic one still waits for a quarter of the run: ctx.shape)
    Rule(not_decreasing.shape, unless=("diverged",), needs=("start_intact",), evidence=CHANGE),
    Rule(oscillating.erratic_eval, unless=("diverged",), needs=("start_intact", "loss_rising")),
    Rule(stuck.shape, unless=("diverged", "overfitting"), needs=("start_intact", "rate_judgeable")),
    Rule(slow.shape, unless=("diverged",), needs=("start_intact", "rate_judgeable")),
    # preference training (DPO, KTO): its own curves (rewards, margins, accuracies; console/diagnosis/preference.py)
    Rule(likelihood_displacement.detect, unless=("diverged",), objectives=PREFERENCE),
    Rule(preference_overfitting.detect, unless=("diverged",), objectives=PREFERENCE),
    # judged on the training pairs when the held-out ones are few: a DPO run evaluated at its start and end only
    # (eval_steps past max_steps) ended 'no problems found' with its loss at ln 2 and its margin at 1e-4
    Rule(preference_not_learning.detect, unless=("diverged", "preference_overfitting"), objectives=PREFERENCE,
         evidence=TRAINING),
    # advisories
    Rule(warmup_too_long.detect, objectives=EVERY, evidence=AT_ONCE),  # a fact of the config
    Rule(lr_never_peaked.detect, unless=("warmup_too_long",), objectives=EVERY, evidence=AT_ONCE),  # at the end
    Rule(nonfinite_grad_norm.detect, objectives=EVERY, evidence=AT_ONCE),
)

# A crashed run, crash_findings(kind, config, message): the first that knows the crash's kind.
CRASH_RULES = (
    Rule(out_of_memory.crash, objectives=EVERY, evidence=AT_ONCE),  # the crash is the evidence
    Rule(diverged.crash, objectives=EVERY, evidence=AT_ONCE),
)

# The sample answers, sample_findings(samples, config, status).
ANSWER_RULES = (
    # empty answers end at once: "do not end" cannot be their problem
    Rule(answers_empty.detect, objectives=EVERY, evidence=ANSWERS),
    Rule(answers_do_not_end.detect, objectives=EVERY, evidence=ANSWERS),
    Rule(answers_repeat.detect, objectives=EVERY, evidence=ANSWERS),
    Rule(answers_grow_longer.detect, objectives=PREFERENCE, evidence=ANSWERS),
)

# Every problem's module, in the order titles are listed (the curve problems in the guide's order first).
MODULES = (not_decreasing, overfitting, stuck, slow, oscillating, diverged, likelihood_displacement,
           preference_overfitting, preference_not_learning, warmup_too_long, lr_never_peaked, nonfinite_grad_norm,
           out_of_memory, answers_do_not_end, answers_repeat, no_loss_tokens, answers_empty, answers_grow_longer)

TITLES.update({m.PROBLEM: m.TITLE for m in MODULES})  # the one table of titles, which Finding.title reads
# the problems of the curves' shape (sorted first among findings of one severity; what bench/diagnosis.py scores)
PROBLEMS = tuple(m.PROBLEM for m in MODULES if m.KIND == "problem")
PREFERENCE_PROBLEMS = (likelihood_displacement.PROBLEM, preference_overfitting.PROBLEM,
                       preference_not_learning.PROBLEM, answers_grow_longer.PROBLEM)
_BY_PROBLEM = {m.PROBLEM: m for m in MODULES}


def run(rules: tuple[Rule, ...], ctx, first_only: bool = False) -> list[Finding]:
    """The findings of `rules` in their declared order on one call's context (its `found` fills as they fire)."""
    found = ctx.found
    objective = getattr(ctx.config, "objective", "sft") if ctx.config is not None else "sft"
    seen = getattr(ctx, "seen", None)  # None: a context that counts nothing (a crash: the event is the evidence)
    for rule in rules:
        if objective not in rule.objectives:
            continue
        if rule.problem in found or any(p in found for p in rule.unless):
            continue
        if not rule.evidence.met(seen):  # too little seen yet: quiet, whatever the rule would say
            continue
        if rule.needs and not all(getattr(ctx, name) for name in rule.needs):
            continue
        finding = rule.detect(ctx)
        if finding is not None:
            found[finding.problem] = finding
            if first_only:
                break
    return list(found.values())


def fixes_for(problem: str, config: RunConfig | None = None, history: History | None = None, cause: str | None = None,
              best_epoch: float | None = None, best_step: float | None = None,
              total_steps: int | None = None) -> list[Fix]:
    """The fixes for a problem (its rule module's table), computed from this config; changes that would be no-ops
    are left out; none for a problem no rule knows."""
    module = _BY_PROBLEM.get(problem)
    if module is None:
        return []
    if config is None:
        from console.diagnosis.fixes import default_config

        config = default_config()
    return module.fixes(config, history, cause=cause, best_epoch=best_epoch, best_step=best_step,
                        total_steps=total_steps)
