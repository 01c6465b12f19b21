"""The evidence gate (console.diagnosis.evidence): findings stay quiet until the run shows enough, in one place the
rule engine applies to every rule, and severe events still fire at once (issue 30)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from console.config.run_config import RunConfig
from console.diagnosis import rules
from console.diagnosis.context import Context
from console.diagnosis.diagnose import diagnose
from console.diagnosis.evidence import AT_ONCE, DEFAULT, Evidence
from console.diagnosis.vocabulary import Finding
from console.loop.findings import findings_of
from console.runs.metrics import History
from console.runs.rundir import RunDir
from console.runs.samples import load_samples

HEALTHY = Path(__file__).resolve().parents[1] / "support" / "fixtures" / "healthy"
LORA = RunConfig.from_preset("lora").with_changes({"max_steps": 200})


def _always(ctx):  # a rule added later, declaring no evidence: it would fire on anything
    return Finding("stuck", "warning", None, "always")


_always.__module__ = rules.stuck.__name__


def _history(n: int, total: int = 200) -> History:
    h = History.from_records([{"step": s, "loss": 3.0 - s / 1000, "learning_rate": 2e-4} for s in range(1, n + 1)])
    h.max_steps = total
    return h


def test_a_rule_that_declares_nothing_gets_the_default_gate():
    rule = rules.Rule(_always)
    assert rule.evidence == DEFAULT
    assert rules.run((rule,), Context(_history(20), LORA)) == []  # 10 % of the run: too early
    assert [f.evidence for f in rules.run((rule,), Context(_history(60), LORA))] == ["always"]
    assert [f.evidence for f in rules.run((rules.Rule(_always, evidence=AT_ONCE),), Context(_history(1), LORA))]


def test_the_evidence_says_what_it_needs():
    assert DEFAULT.words() == "4 points after warm-up, 25% of the run, 3 evals where there is an eval"
    assert AT_ONCE.words() == "at once"
    assert Evidence(steps=20).words() == "20 steps trained"


def test_severe_events_still_fire_at_once():
    nan = History.from_records([{"step": 1, "loss": 2.0}, {"step": 2, "loss": math.nan}])
    nan.max_steps = 1000
    assert [f.problem for f in diagnose(nan, LORA)] == ["diverged"]
    boom = History.from_records([{"step": s, "loss": 2.0 if s < 4 else 2e3} for s in range(1, 9)])
    boom.max_steps = 1000
    assert [f.problem for f in diagnose(boom, LORA)] == ["diverged"]


@pytest.mark.parametrize("name", sorted(p.name for p in HEALTHY.iterdir()))
def test_a_healthy_demo_run_is_quiet_at_every_moment(name):
    """Real CPU runs of the demo at the presets' learning rates (recorded by bench/healthy_runs.py record), each
    prefix of the log replayed as a live view sees it: a 35-step LoRA was 'stuck since step 1' with a schedule fix,
    its answers 'repeat themselves' as the random base model's did; the 100-step one ended 'slow'."""
    run = RunDir(HEALTHY / name)
    config = run.config()
    records = [json.loads(x) for x in run.metrics_path.read_text().splitlines() if x.strip()]
    samples = load_samples(run.samples_path)
    for cut in range(1, len(records) + 1):
        history = History.from_records(records[:cut])
        status = run.status() if cut == len(records) else {"phase": "running"}
        seen = [s for s in samples if s.step <= history.last_step]
        said = [f"{f.problem} at step {history.last_step:g}" for f in findings_of(history, config, status, seen)]
        assert said == [], said
