"""Diagnosis: what is going wrong in a run, in plain words, with the numbers behind it and the guide's fixes.

`diagnose(history, config)` is a pure function of a metrics History and a RunConfig. It runs on every UI refresh, so
it works on a few robust summaries (medians of the first/last tenth, bin medians, the eval points) rather than on
every logged point, and it never imports torch, transformers or textual.

Problems (the guide's numbering): not_decreasing (1: a rising or erratic loss), overfitting (2: eval rises from its
best, or never improves while train falls a lot), stuck (3: a smooth flat loss, with or without an eval), slow (4: still
falling by a measurable amount, judged on the eval loss when there are 4 evals), oscillating (5), and diverged (NaN/inf
or an explosion). Advisories of our own: warmup_too_long, lr_never_peaked, nonfinite_grad_norm; crashes:
out_of_memory (crash_findings); from the sample answers: answers_do_not_end, answers_repeat (sample_findings).

Each problem is one module of console/diagnosis/rules/, and their detectors run in the order declared in
console/diagnosis/rules/__init__.py, which states each one's precedence. The rules work on relative changes above an
absolute floor (console/diagnosis/curves.py), need a minimum of evidence before they fire, and keep a finding once
raised unless the curve clearly clears it (hysteresis), so a live view does not flicker as points arrive.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis import fixes as fixtable
from console.diagnosis import rules
from console.diagnosis.context import AnswersContext, Context, CrashContext
from console.runs.samples import first_and_latest

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.vocabulary import Finding
    from console.runs.metrics import History
    from console.runs.samples import Sample


def diagnose(history: History, config: RunConfig | None = None) -> list[Finding]:
    """Every problem the curves show now, most severe first, each with its evidence and fixes for this config."""
    if config is None:  # not our run: the preset, with the values the log shows (its learning rate, eval interval)
        config = fixtable.assumed_config(history)
    out = rules.run(rules.CURVE_RULES, Context(history, config))
    out.sort(key=lambda f: (f.severity.rank, f.problem not in rules.PROBLEMS))
    return out


def crash_findings(kind: str, config: RunConfig | None = None, message: str | None = None) -> Finding | None:
    """The finding for a run that crashed: kind 'out_of_memory' (or 'oom'); None for a crash we have no fix for."""
    if config is None:
        config = fixtable.default_config()
    kind = (kind or "").lower().replace("-", "_")
    found = rules.run(rules.CRASH_RULES, CrashContext(kind, config, message), first_only=True)
    return found[0] if found else None


# Above this mean entropy of its next-token guesses (nats; TRL logs it on the answer tokens) a model's greedy answer
# is the tip of a nearly flat distribution, not a habit it learned: the demo model (entropy 5.8 of at most ~5.9 over
# its vocabulary after 300 healthy steps, eval loss 6.7 -> 5.2) answers '' because the end token edges out the rest by
# a hair. SmolLM2-135M's LoRA runs sit at 2.1-3.2, a model taught blank answers far below.
FLAT_GUESSES_NATS = 4.0


def sample_findings(samples: list[Sample], config: RunConfig | None = None, status: dict | None = None,
                    max_new_tokens: int | None = None, entropy: float | None = None) -> list[Finding]:
    """"answers do not end", "answers repeat", "answers are empty", from the latest sampling against the first (the
    base model's); none while the model's guesses are still nearly flat (`entropy`: findings_of passes the highest
    of the last few logged, above FLAT_GUESSES_NATS): its answers then say nothing about what training taught it."""
    first, latest = first_and_latest(samples)
    if not latest or latest[0].step == 0 or len(latest) < 2:
        return []
    if entropy is not None and entropy > FLAT_GUESSES_NATS:
        return []
    limit = max_new_tokens or (config.get("sample_max_new_tokens") if config is not None else None) or 64
    return rules.run(rules.ANSWER_RULES, AnswersContext(first, latest, config, status or {}, limit))
