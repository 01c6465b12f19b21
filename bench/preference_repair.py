"""Preference training (DPO, KTO) on the demo model: do healthy runs stay quiet at every moment, are bad runs made on
purpose flagged by their finding, and does the finding's first fix repair them?

    python bench/preference_repair.py                      # everything but the 100-step run (see below for times)
    python bench/preference_repair.py --only dpo-40,lr-far-too-low
    python bench/preference_repair.py --probe              # first runs only: the curve numbers and the findings
    python bench/preference_repair.py --long               # with the 100-step healthy run as well

Everything here trains the console's built-in demo model (a tiny randomly initialised Llama, not a pretrained
model) on the shipped demo sets (demo-pairs: prompt/chosen/rejected, DPO; demo-kto: labelled answers, KTO), through
the console's own engine: build_config + resolve, console.loop.next_run.start (what `training-console train`
does), the trainer process waited on, run_findings for the findings.

1. Healthy runs (DPO with LoRA at 2e-4 to 1e-3, beta 0.1; KTO at 5e-4; 8, 40 and 100 steps: no bad setting): the
   run's metrics.jsonl is replayed at EVERY prefix (after each log line) through diagnose(history, config), the
   live view's diagnosis. Target: no finding at any moment (a preference finding or any other). Measured
   (December 2026): at batch 4 the demo model learns no held-out preference at these settings in 100 steps (held-
   out margin <= 0, accuracy 30-43 % of 30 pairs), so preference_not_learning on them is a true finding; what the
   replay shows besides it (likelihood_displacement for a few steps) is noise (the numbers are in the output).
2. Bad runs made on purpose, each must raise its finding (the replay gives the first step it shows), then be rerun
   with that finding's FIRST fix exactly as the console's `r` / `rerun --fix PROBLEM` does
   (console.loop.next_run.plan_rerun, then start), with a figure before -> after:
   - lr-far-too-low (1e-8): preference_not_learning; figure: held-out reward accuracy and margin at the last eval.
   - displacement (a high learning rate, beta 0.01): likelihood_displacement; figure: the chosen answers'
     log-probability change (median of the first third after warm-up -> of the last third, the rule's own
     summary) and the margin.
   - overfitting (16 pairs, many epochs, eval every few steps): preference_overfitting; figure: the held-out
     accuracy of the model the run leaves (the last eval, or with load_best_model_at_end the best eval_loss's).
   A repair: the finding is gone from the rerun and its figure is better (for overfitting, whose fix is early
   stopping with the best checkpoint kept, the figure alone: the turn stays in the curve by design). A finding
   raised while the run trained but gone at its end is repaired with the fix the live view last offered for it
   (what the console's `r` applies at that moment).
Times: a run costs 1 to 6 minutes on 2 CPU cores shared with other work (a minute of it loading); the whole bench
took about 35 minutes with the 100-step run on a machine at load 15 (December 2026).
Sample answers are off in every run (sample_every 0: they cost a third of a short run's time on this CPU), so the
answer findings (answers_grow_longer, ...) are not exercised: only the curves' diagnosis is.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Small and fast: short sequences (the demo pairs are a few words), a log at every step (the rules see every point),
# 30 held-out pairs (val_size 0.05 of 600) in one eval batch, no sample answers, no accumulation.
BASE = {"max_length": 64, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "logging_steps": 1,
        "per_device_eval_batch_size": 32, "val_size": 0.05, "sample_every": 0, "save_total_limit": 1}


@dataclass
class Scenario:
    name: str
    dataset: str  # demo-pairs (DPO) or demo-kto (KTO)
    changes: dict
    problem: str | None = None  # None: a healthy run (no finding expected at any moment)
    figure: str = ""  # heldout_accuracy | chosen_logps | kept_accuracy
    notes: str = ""


def steps(n: int, every: int) -> dict:
    return {"max_steps": n, "eval_steps": every, "save_steps": every}


HEALTHY = [
    Scenario("dpo-8", "demo-pairs", {"learning_rate": 1e-3, "beta": 0.1, **steps(8, 4)}),
    Scenario("dpo-40", "demo-pairs", {"learning_rate": 5e-4, "beta": 0.1, **steps(40, 10)}),
    Scenario("kto-40", "demo-kto", {"learning_rate": 5e-4, "beta": 0.1, **steps(40, 10)}),
    Scenario("dpo-100", "demo-pairs", {"learning_rate": 2e-4, "beta": 0.1, **steps(100, 20)}),
]
BAD = [
    Scenario("lr-far-too-low", "demo-pairs", {"learning_rate": 1e-8, "beta": 0.1, **steps(30, 10)},
             "preference_not_learning", "heldout_accuracy"),
    # The demo model does not generalise a preference in a few dozen steps, so a growing margin needs pairs it can
    # learn by heart (32 pairs, many epochs), here at 100x LoRA's DPO learning-rate range and a tiny beta. It does
    # NOT show likelihood displacement on the demo: the chosen answers gain probability (their reward rises) while
    # the margin grows. Also tried, no displacement either: 570 pairs at 3e-3 (chance throughout), 32 pairs at 2e-2.
    Scenario("displacement", "demo-pairs",
             {"learning_rate": 5e-3, "beta": 0.01, "max_samples": 32, "num_train_epochs": 100, **steps(40, 10)},
             "likelihood_displacement", "chosen_logps"),
    Scenario("overfitting", "demo-pairs",
             {"learning_rate": 2e-3, "beta": 0.1, "max_samples": 16, "num_train_epochs": 100, "warmup_steps": 0,
              "load_best_model_at_end": False, **steps(40, 5)},
             "preference_overfitting", "kept_accuracy"),
]


@dataclass
class Outcome:
    scenario: Scenario
    run_id: str = ""
    settings: str = ""
    first_seen: dict = field(default_factory=dict)  # problem -> first step the replay shows it
    final: list = field(default_factory=list)  # run_findings at the end
    curve: dict = field(default_factory=dict)
    fix: str = ""
    fix_run: str = ""
    fix_first_seen: dict = field(default_factory=dict)
    fix_final: list = field(default_factory=list)
    fix_curve: dict = field(default_factory=dict)
    command: str = ""
    live_fix: bool = False  # the finding was gone at the end: its fix as the live view last offered it
    seconds: float = 0.0
    error: str = ""


# -- running --------------------------------------------------------------------------------------------------

def config_for(s: Scenario, overrides: dict | None = None):
    from console.config.run_config import build_config, resolve

    sets = {**BASE, **s.changes, **(overrides or {})}
    return resolve(build_config("lora", sets={k: str(v) for k, v in sets.items()}, dataset=s.dataset))


def train(runs_dir: Path, config):
    """Start the run as `training-console train` does, block until it ends; the run folder."""
    from console.loop.next_run import start
    from console.runs.launcher import wait

    run = start(runs_dir, config, command=["bench/preference_repair.py"])
    status = wait(run, timeout=1800)
    for _ in range(3):
        # Seen once on a loaded CPU: run.status() said "failed (killed): the trainer process ended without a final
        # status" right after the launch, and the trainer went on to finish. Said, and waited out.
        if status.get("phase") != "failed" or status.get("kind") != "killed":
            break
        time.sleep(3)
        if run.status().get("phase") == "failed":
            break
        print(f"   note: {run.id} was reported killed ({status.get('message')}) while its trainer ran on", flush=True)
        status = wait(run, timeout=1800)
    if status.get("phase") != "done":
        tail = "\n".join(run.tail_log(20))
        raise RuntimeError(f"{run.id}: {status.get('phase')} {status.get('message', '')}\n{tail}")
    return run


def records_of(run) -> list[dict]:
    out = []
    for line in run.metrics_path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict):
            out.append(r)
    return out


def replay(run, config) -> tuple[dict, dict]:
    """diagnose() after every log line of the run: ({problem: (first step shown, its evidence then)},
    {problem: the Finding as last shown}) (the live view's findings, moment by moment)."""
    from console.diagnosis.diagnose import diagnose
    from console.runs.metrics import History

    records, seen, last = records_of(run), {}, {}
    for i in range(1, len(records) + 1):
        h = History.from_records(records[:i])
        if not (len(h.train_loss) or len(h.eval_loss)):
            continue
        for f in diagnose(h, config):
            last[f.problem] = f
            if f.problem not in seen:
                seen[f.problem] = (h.last_step, f.evidence)
    return seen, last


def curve(run) -> dict:
    """The numbers the preference rules read, summarised: chosen log-probs, margins, accuracies, evals."""
    from console.diagnosis.context import Context
    from console.diagnosis.rules.preference_common import after_warmup, ends
    from console.runs.metrics import load_history

    h = load_history(run.metrics_path)
    ctx = Context(h, run.config())
    out: dict = {"steps": h.last_step}
    _, logps = after_warmup(ctx, h.chosen_logps)
    _, margins = after_warmup(ctx, h.reward_margin)
    _, acc = after_warmup(ctx, h.reward_accuracy)
    _, chosen_r = after_warmup(ctx, h.chosen_reward)
    if len(logps) >= 2:
        out["logps_chosen"] = ends(logps)
        out["logps_chosen_raw"] = (h.chosen_logps.values[0], h.chosen_logps.values[-1])
    _, rejected = after_warmup(ctx, h.rejected_logps)
    if len(rejected) >= 2:
        out["logps_rejected"] = ends(rejected)
    if len(margins) >= 2:
        out["margin"] = ends(margins)
    if len(acc) >= 2:
        out["accuracy"] = ends(acc)
    if len(chosen_r) >= 2:
        out["chosen_reward"] = ends(chosen_r)
    out["eval_accuracy"] = list(zip(h.eval_reward_accuracy.steps, h.eval_reward_accuracy.values))
    out["eval_margin"] = list(zip(h.eval_reward_margin.steps, h.eval_reward_margin.values))
    out["eval_chosen_logps"] = list(zip(h.eval_chosen_logps.steps, h.eval_chosen_logps.values))
    out["eval_loss"] = list(zip(h.eval_loss.steps, h.eval_loss.values))
    config = run.config()
    out["best_at_end"] = bool(config.get("load_best_model_at_end"))
    return out


def kept_accuracy(c: dict) -> float | None:
    """The held-out accuracy of the model the run leaves: the last eval's, or the best eval_loss's when the run
    loads its best checkpoint at the end."""
    acc = dict(c.get("eval_accuracy") or [])
    if not acc:
        return None
    if c.get("best_at_end") and c.get("eval_loss"):
        step = min(c["eval_loss"], key=lambda p: p[1])[0]
        return acc.get(step)
    return c["eval_accuracy"][-1][1]


def figure(kind: str, c: dict) -> str:
    if not c:
        return "-"
    if kind == "heldout_accuracy":
        acc = c["eval_accuracy"][-1][1] if c.get("eval_accuracy") else None
        m = c["eval_margin"][-1][1] if c.get("eval_margin") else None
        return f"eval acc {_pct(acc)}, eval margin {_num(m)}"
    if kind == "chosen_logps":
        a, b = c.get("logps_chosen", (None, None))
        m = c.get("margin", (None, None))
        return f"chosen logps {_num(a)}->{_num(b)} ({_num(b - a if a is not None else None)}), margin {_num(m[1])}"
    if kind == "kept_accuracy":
        return f"kept eval acc {_pct(kept_accuracy(c))} (best {_pct(max((v for _, v in c['eval_accuracy']), default=None))})"
    return "-"


def score(kind: str, c: dict) -> float | None:
    """One number per figure, higher is better: held-out accuracy, the chosen log-prob change, the kept accuracy."""
    if kind == "heldout_accuracy":
        return c["eval_accuracy"][-1][1] if c.get("eval_accuracy") else None
    if kind == "chosen_logps":
        a, b = c.get("logps_chosen", (None, None))
        return None if a is None else b - a
    if kind == "kept_accuracy":
        return kept_accuracy(c)
    return None


def _num(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.0%}"


def describe_curve(c: dict) -> str:
    parts = [f"steps {c.get('steps'):g}"]
    if "logps_chosen_raw" in c:
        a, b = c["logps_chosen_raw"]
        parts.append(f"chosen logps first/last {a:.1f}/{b:.1f}")
    for key, label in (("logps_chosen", "chosen logps (thirds)"), ("logps_rejected", "rejected logps (thirds)"),
                       ("margin", "margin"), ("accuracy", "train acc"),
                       ("chosen_reward", "chosen reward")):
        if key in c:
            a, b = c[key]
            parts.append(f"{label} {a:.3g}->{b:.3g}")
    if c.get("eval_accuracy"):
        parts.append("eval acc " + " ".join(f"{s:g}:{v:.2f}" for s, v in c["eval_accuracy"]))
    if c.get("eval_chosen_logps"):
        parts.append("eval chosen logps " + " ".join(f"{s:g}:{v:.1f}" for s, v in c["eval_chosen_logps"]))
    if c.get("eval_margin"):
        parts.append("eval margin " + " ".join(f"{s:g}:{v:.3g}" for s, v in c["eval_margin"]))
    return "; ".join(parts)


def settings_of(s: Scenario, overrides: dict | None = None) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in {**s.changes, **(overrides or {})}.items() if k not in ("save_steps",))


def command_of(s: Scenario, overrides: dict | None = None) -> str:
    sets = {**BASE, **s.changes, **(overrides or {})}
    return (f"training-console train --method lora --dataset {s.dataset} "
            + " ".join(f"--set {k}={v:g}" if isinstance(v, float) else f"--set {k}={v}" for k, v in sets.items()))


def run_scenario(s: Scenario, runs_dir: Path, probe: bool, overrides: dict | None) -> Outcome:
    from console.config.run_config import load_run_config
    from console.loop.findings import describe_fix, run_findings
    from console.loop.next_run import plan_rerun

    t0 = time.monotonic()
    out = Outcome(s, settings=settings_of(s, overrides), command=command_of(s, overrides))
    try:
        run = train(runs_dir, config_for(s, overrides))
        config = load_run_config(run.path)
        out.run_id = run.id
        out.first_seen, live = replay(run, config)
        findings = run_findings(run, config)
        out.final = [f.problem for f in findings]
        out.curve = curve(run)
        if s.problem is None or probe or s.problem not in out.first_seen:
            return out
        if s.problem not in out.final:  # raised while it trained, gone at the end: the fix the live view offered
            out.live_fix = True
            findings = [live[s.problem]]
        plan = plan_rerun(run, f"{s.problem}:1", findings=findings)  # the finding's first fix, as `r` applies it
        out.fix = describe_fix(plan.fix, config)
        child = train(runs_dir, plan.config)
        child_config = load_run_config(child.path)
        out.fix_run = child.id
        out.fix_first_seen, _ = replay(child, child_config)
        out.fix_final = [f.problem for f in run_findings(child, child_config)]
        out.fix_curve = curve(child)
        out.command += ("  ;  then the live view's fix 1 (r)" if out.live_fix
                        else f"  ;  training-console rerun {run.id} --fix {s.problem}:1")
    except Exception as err:  # noqa: BLE001 - one scenario's failure is reported, the others still run
        out.error = f"{type(err).__name__}: {err}"
    finally:
        out.seconds = time.monotonic() - t0
    return out


def gone(o: Outcome) -> bool | None:
    """The finding is not raised at the rerun's end."""
    return None if not o.fix_run else o.scenario.problem not in o.fix_final


def better(o: Outcome) -> bool | None:
    """The scenario's figure is better after the fix than before."""
    if not o.fix_run:
        return None
    before, after = score(o.scenario.figure, o.curve), score(o.scenario.figure, o.fix_curve)
    return before is not None and after is not None and after > before


def repaired(o: Outcome) -> bool | None:
    """Gone and better (early stopping leaves the finding in the curve by design: its repair is the model kept, so
    for overfitting the figure alone decides)."""
    if not o.fix_run:
        return None
    if o.scenario.figure == "kept_accuracy":
        return bool(better(o))
    return bool(gone(o) and better(o))


def _yn(x) -> str:
    return "-" if x is None else "yes" if x else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--runs-dir", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--probe", action="store_true", help="first runs only: curve numbers and findings")
    parser.add_argument("--long", action="store_true", help="add the 100-step healthy DPO run (a few minutes more)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the chosen scenarios (for trying settings)")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    chosen = [s for s in HEALTHY[:-1] + BAD + HEALTHY[-1:] if (not args.only or s.name in args.only.split(","))
              and (args.long or args.only or s.name != "dpo-100")]
    tmp = tempfile.TemporaryDirectory()
    runs_dir = Path(args.runs_dir or tmp.name) / "runs"
    os.environ.setdefault("TRAINING_CONSOLE_CACHE", str(Path(tmp.name) / "cache"))
    print("model: the console's built-in demo model (tiny, randomly initialised Llama), demo-pairs / demo-kto; "
          f"LoRA; base settings {BASE}", flush=True)
    outcomes = []
    t_all = time.monotonic()
    for s in chosen:
        o = run_scenario(s, runs_dir, args.probe, overrides)
        outcomes.append(o)
        print(f"\n== {s.name} ({'healthy' if s.problem is None else s.problem}) {o.run_id} ({o.seconds:.0f}s)",
              flush=True)
        if o.error:
            print(f"   ERROR {o.error}", flush=True)
            continue
        print(f"   settings: {o.settings}")
        print(f"   curve: {describe_curve(o.curve)}")
        seen = ", ".join(f"{p} @ {st:g}" for p, (st, _) in o.first_seen.items()) or "none"
        print(f"   findings at any moment (replay of every log line): {seen}; at the end: {', '.join(o.final) or 'none'}")
        for p, (st, ev) in o.first_seen.items():
            print(f"     {p} first at step {st:g}: {ev}")
        if o.fix_run:
            print(f"   first fix{' (as offered live: the finding was gone at the end)' if o.live_fix else ''}: "
                  f"{o.fix}")
            print(f"   rerun {o.fix_run}: {describe_curve(o.fix_curve)}")
            seen = ", ".join(f"{p} @ {st:g}" for p, (st, _) in o.fix_first_seen.items()) or "none"
            print(f"   rerun findings at any moment: {seen}; at the end: {', '.join(o.fix_final) or 'none'}")
        print(flush=True)
    total = time.monotonic() - t_all
    print("\n== table ==")
    print(f"{'scenario':<16} {'target':<24} {'fired (step)':<14} {'first fix':<46} {'before -> after':<70} "
          "gone/better/repaired")
    for o in outcomes:
        s = o.scenario
        if o.error:
            print(f"{s.name:<16} ERROR {o.error.splitlines()[0]}")
            continue
        target = s.problem or "none (healthy)"
        if s.problem is None:
            fired = ",".join(f"{p}@{st:g}" for p, (st, _) in o.first_seen.items()) or "none"
            print(f"{s.name:<16} {target:<24} {fired:<14} {'-':<46} {'-':<70} {'ok' if not o.first_seen else 'FLAGGED'}")
        else:
            fired = f"yes @ {o.first_seen[s.problem][0]:g}" if s.problem in o.first_seen else "NO"
            fix = o.fix.split("  (")[0] if o.fix else "-"
            ba = f"{figure(s.figure, o.curve)} -> {figure(s.figure, o.fix_curve)}" if o.fix_run else figure(s.figure, o.curve)
            print(f"{s.name:<16} {target:<24} {fired:<14} {fix:<46} {ba:<70} "
                  f"{_yn(gone(o))}/{_yn(better(o))}/{_yn(repaired(o))}")
        print(f"{'':<16} settings: {o.settings}")
        print(f"{'':<16} command: {o.command}")
    healthy = [o for o in outcomes if o.scenario.problem is None and not o.error]
    bad = [o for o in outcomes if o.scenario.problem is not None and not o.error]
    print(f"\nhealthy runs with no finding at any moment: {sum(not o.first_seen for o in healthy)}/{len(healthy)}; "
          f"bad runs flagged: {sum(o.scenario.problem in o.first_seen for o in bad)}/{len(bad)}; repaired by the "
          f"first fix: {sum(bool(repaired(o)) for o in bad)}/{len(bad)}; total {total:.0f}s")


if __name__ == "__main__":
    main()
