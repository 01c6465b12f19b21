"""Sample answers during training: real generation with the demo model, the findings they give, their readers."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.config.run_config import build_config, parse_set, resolve
from console.diagnosis.diagnose import sample_findings
from console.runs.launcher import launch, wait
from console.runs.rundir import create_run
from console.runs.samples import Sample, by_step, load_samples, parse, repeats, samples_text
from tests.support.e2e_util import FAST


def _run(runs_dir, *extra, method="lora"):
    config = resolve(build_config(method, sets=parse_set(FAST + list(extra))))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    status = wait(run, timeout=180)
    assert status["phase"] == "done", (status, run.tail_log(30))
    return run, config


@pytest.mark.e2e
def test_samples_are_taken_before_training_and_at_each_evaluation_with_their_cost(trained, capsys):
    from console.cli.main import main

    run = trained.finished("lora")  # the session's LoRA run: max_steps 8, evaluations at 0 (eval_on_start), 4, 8
    runs_dir = trained.folder
    samples = load_samples(run.path / "samples.jsonl")
    steps = by_step(samples)
    assert sorted(steps) == [0, 4, 8] and all(len(v) == 3 for v in steps.values())
    base = steps[0]
    assert all(s.prompt and s.reference and 0 < s.tokens <= 64 and s.seconds > 0 for s in base)
    assert [s.prompt for s in steps[8]] == [s.prompt for s in base]  # the same fixed prompts every time
    lines = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    end = next(r for r in lines if "train_runtime" in r)
    assert 0 < end["samples_seconds"] < end["train_runtime"]  # its own time, reported apart
    text = samples_text(samples)
    assert "step 0 (base)" in text and "step 8" in text and "expected" in text
    capsys.readouterr()
    assert main(["watch", "--runs-dir", str(runs_dir), "--samples", run.id]) == 0  # on request only
    out = capsys.readouterr().out
    assert "sample answers at step 8" in out and "step 0 (base)" in out and base[0].prompt[:30] in out
    assert main(["watch", "--runs-dir", str(runs_dir), run.id]) == 0
    assert "step 0 (base)" not in capsys.readouterr().out


@pytest.mark.e2e
def test_no_samples_without_evaluation_or_when_turned_off_and_the_users_own_prompts(runs_dir):
    run, _ = _run(runs_dir, "eval_strategy=no", "eval_on_start=false", "load_best_model_at_end=false")
    assert not (run.path / "samples.jsonl").exists()
    run, _ = _run(runs_dir, "sample_every=0")
    assert not (run.path / "samples.jsonl").exists()
    config = resolve(build_config("lora", sets=parse_set(FAST)))
    config = config.with_changes({"sample_prompts": ["Say hi.", "What is the first word? one two"],
                                  "sample_max_new_tokens": 5, "sample_every": 2})
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    assert wait(run, timeout=180)["phase"] == "done"
    steps = by_step(load_samples(run.path / "samples.jsonl"))
    assert sorted(steps) == [0, 8]  # every 2nd evaluation: steps 0 and 8 of 0, 4, 8
    assert [s.prompt for s in steps[0]] == ["Say hi.", "What is the first word? one two"]
    assert all(s.tokens <= 5 for v in steps.values() for s in v)


@pytest.mark.e2e
def test_answers_do_not_end_on_the_demo_is_the_base_models_habit_and_its_fix_reads_the_real_cut_report(runs_dir):
    """The same demo fine-tune twice, 60 full fine-tuning steps: with max_length 24 most examples are cut, their
    end token with them, and the model never learns to stop; with max_length 64 it does (real generation). The demo
    model is random: its step-0 answers never end either, so not ending is the base model's habit and no finding
    (issue 30: it blamed training on a smoke test); where the base answers ended, the finding's fix reads the cut
    run's own report of examples cut by max_length."""
    from console.loop.findings import run_findings

    common = ["max_steps=60", "eval_steps=20", "save_steps=20", "learning_rate=1e-3", "max_samples=400"]
    cut, cut_config = _run(runs_dir, *common, "max_length=24", method="full")
    samples = load_samples(cut.path / "samples.jsonl")
    assert not any(s.ended for s in by_step(samples)[0])  # the random base never ends
    assert "answers_do_not_end" not in {f.problem for f in run_findings(cut)}
    # the same latest answers after a base that ended: the finding, with the fix from the trainer's cut report
    base_ended = [Sample(step=0, prompt=s.prompt, answer="fine", ended=True, tokens=2, seconds=0.1,
                         reference=s.reference) for s in by_step(samples)[0]]
    found = {f.problem: f for f in sample_findings(base_ended + by_step(samples)[60], cut_config, cut.status())}
    assert "answers_do_not_end" in found, [f.evidence for f in found.values()]
    finding = found["answers_do_not_end"]
    assert "ran to the 64-token limit" in finding.evidence
    assert finding.fixes[0].changes == {"max_length": 64}  # the longest example (49-50 tokens), to a multiple of 64
    good, _ = _run(runs_dir, *common, "max_length=64", method="full")
    latest = by_step(load_samples(good.path / "samples.jsonl"))[60]
    assert sum(s.ended for s in latest) >= 2
    assert "answers_do_not_end" not in {f.problem for f in run_findings(good)}


def test_repeats_tells_a_loop_from_an_answer():
    assert repeats("The opposite of of of of of of of of of of of of of of of of of")
    assert repeats("I am a model. I am a model. I am a model. I am a model.")
    assert not repeats("The opposite of begin is end, and the opposite of up is down, as you know.")
    assert not repeats("of of of")  # too short to tell


def test_the_findings_from_hand_made_samples():
    def s(step, answer, ended, ref="short answer", prompt="p"):
        return Sample(step=step, prompt=prompt, answer=answer, ended=ended, tokens=64 if not ended else 5,
                      seconds=0.1, reference=ref)

    base_ends = [s(0, "fine", True)] * 3
    assert sample_findings(base_ends + [s(40, "a b c d", False)] * 3)[0].problem == "answers_do_not_end"
    assert sample_findings(base_ends + [s(40, "fine", True)] * 3) == []
    assert sample_findings(base_ends) == []  # only the base: nothing trained yet
    long_refs = [s(0, "x", False, ref=" ".join(["w"] * 40))] * 3 + [s(40, "y", False, ref=" ".join(["w"] * 40))] * 3
    assert sample_findings(long_refs) == []  # neither the base nor the data says the answers should be short
    loops = base_ends + [s(40, "of " * 30, True)] * 3
    assert [f.problem for f in sample_findings(loops)] == ["answers_repeat"]


def test_answer_findings_say_nothing_of_a_habit_the_base_model_had_nor_after_a_few_steps():
    """Issue 30: 'repeat' blamed training although the step-0 answers already repeated, and a 4-step smoke test of
    a random demo model got 'do not end'. Each answer is compared with the base model's answer to its prompt."""
    def s(step, answer, ended, prompt):
        return Sample(step=step, prompt=prompt, answer=answer, ended=ended, tokens=64 if not ended else 5,
                      seconds=0.1, reference="short answer")

    prompts = ["p1", "p2", "p3"]
    base_loops = [s(0, "the cat the cat " * 8, True, p) for p in prompts]
    assert sample_findings(base_loops + [s(40, "of " * 30, True, p) for p in prompts]) == []
    base_garbage = [s(0, "lelelelele\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd5555555555", False, p) for p in prompts]
    assert sample_findings(base_garbage + [s(40, "paper " * 30, False, p) for p in prompts]) == []  # nor do not end
    base_fine = [s(0, "fine", True, p) for p in prompts]
    assert [f.problem for f in sample_findings(base_fine + [s(40, "of " * 30, True, p) for p in prompts])] == [
        "answers_repeat"]
    assert sample_findings(base_fine + [s(4, "a b c d", False, p) for p in prompts],
                           status={"phase": "done"}) == []  # four steps: the answers are still the base's


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(records=st.lists(st.one_of(JSON, st.dictionaries(
    st.sampled_from(["step", "prompt", "answer", "ended", "tokens", "seconds", "reference"]), JSON)), max_size=8))
def test_any_samples_file_gives_samples_a_text_and_findings(tmp_path_factory, records):
    """samples.jsonl is another process' file: whatever it holds, readers give samples or skip the line."""
    path = tmp_path_factory.mktemp("s") / "samples.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    samples = load_samples(path)
    assert all(isinstance(x, Sample) for x in samples)
    assert len(samples) == sum(parse(r) is not None for r in records)
    assert isinstance(samples_text(samples), str)
    assert isinstance(sample_findings(samples), list)
