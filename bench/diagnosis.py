"""Score the diagnosis on labelled curves: python bench/diagnosis.py DIR LABELS [--no-args] [--verbose]

DIR holds <n>.json curve files (series = log_history entries, optional training_args); LABELS is a JSON list of
{file, labels, uncertain, stats?, onset_step?}. Prints, for the labels not marked uncertain (the target figures)
and separately for the uncertain ones: per problem precision/recall, the share of healthy runs with no finding,
detection delay where the onset is known, and the time diagnose takes on 10k points.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.cli.commands.inspect import config_from_arguments  # noqa: E402
from console.diagnosis.diagnose import diagnose  # noqa: E402
from console.diagnosis.fixes import assumed_config  # noqa: E402
from console.diagnosis.rules import PROBLEMS  # noqa: E402
from console.runs.metrics import History  # noqa: E402


def load_curve(path: Path, use_args: bool = True):
    data = json.loads(path.read_text(encoding="utf-8"))
    history = History.from_records(data.get("series") or [])
    meta = data.get("trainer_state_meta") or {}
    if meta.get("max_steps"):
        history.max_steps = int(meta["max_steps"])
    if data.get("final"):
        history.final = data["final"]
    args = data.get("training_args") if use_args else None
    # as `inspect` does: the run's arguments when known, else the preset seeded with what the log shows
    config = config_from_arguments(args, None) if args else assumed_config(history, meta)
    return data, history, config


def onset_of(label: dict, problem: str):
    """Where the labelled problem started: an explicit onset, else for overfitting the step of the best eval."""
    for key in ("onset_step", "onset"):
        v = label.get(key)
        if isinstance(v, dict):
            v = v.get(problem)
        if isinstance(v, (int, float)):
            return v
    if problem == "overfitting":
        return (label.get("stats") or {}).get("eval_min_step")
    return None


def detection_step(data: dict, config, problem: str):
    """Replay the log: the first step at which diagnose reports the problem (checked at each eval, or 40 cuts)."""
    series = data.get("series") or []
    meta = data.get("trainer_state_meta") or {}
    cuts = [i + 1 for i, e in enumerate(series) if "eval_loss" in e]
    if len(cuts) < 5:
        n = len(series)
        cuts = sorted(set(cuts) | {max(1, round(n * k / 40)) for k in range(1, 41)})
    for cut in cuts:
        h = History.from_records(series[:cut])
        if meta.get("max_steps"):
            h.max_steps = int(meta["max_steps"])
        if any(f.problem == problem for f in diagnose(h, config)):
            return h.last_step
    return None


def flips(data: dict, config, cuts: int = 100) -> dict:
    """Replay the second half of a log in `cuts` steps: how often each problem appears or disappears (hysteresis)."""
    series = data.get("series") or []
    meta = data.get("trainer_state_meta") or {}
    n, prev, out = len(series), None, {}
    for cut in range(max(3, n // 2), n + 1, max(1, n // cuts)):
        h = History.from_records(series[:cut])
        if meta.get("max_steps"):
            h.max_steps = int(meta["max_steps"])
        cur = {f.problem for f in diagnose(h, config) if f.problem in PROBLEMS}
        if prev is not None:
            for p in cur ^ prev:
                out[p] = out.get(p, 0) + 1
        prev = cur
    return out


def score(rows, title: str) -> None:
    print(f"\n== {title}: {len(rows)} runs ==")
    healthy = [r for r in rows if r["labels"] == {"healthy"}]
    if healthy:
        clean = [r for r in healthy if not r["found"]]
        print(f"healthy with no finding: {len(clean)}/{len(healthy)} = {len(clean) / len(healthy):.0%}"
              + ("" if len(clean) == len(healthy) else
                 "   flagged: " + ", ".join(f"{r['file']}:{'+'.join(sorted(r['found']))}" for r in healthy
                                            if r["found"])))
    print(f"{'problem':16s} {'labelled':>8s} {'flagged':>8s} {'TP':>4s} {'prec':>6s} {'recall':>6s}  misses / false")
    for p in PROBLEMS:
        pos = [r for r in rows if p in r["labels"]]
        flagged = [r for r in rows if p in r["found"]]
        tp = [r for r in pos if p in r["found"]]
        prec = f"{len(tp) / len(flagged):.2f}" if flagged else "-"
        rec = f"{len(tp) / len(pos):.2f}" if pos else "-"
        miss = [r["file"] for r in pos if p not in r["found"]]
        false = [r["file"] for r in flagged if p not in r["labels"]]
        print(f"{p:16s} {len(pos):8d} {len(flagged):8d} {len(tp):4d} {prec:>6s} {rec:>6s}  "
              f"{','.join(miss) or '-'} / {','.join(false) or '-'}")


def bench_speed(points: int = 10_000, repeats: int = 30) -> float:
    rnd = random.Random(0)
    records = []
    for s in range(1, points + 1):
        records.append({"step": s, "loss": 2.0 * math.exp(-s / 3000) + 0.5 + rnd.gauss(0, 0.1),
                        "learning_rate": 2e-4 * min(1.0, s / 500), "grad_norm": abs(rnd.gauss(1, 0.3))})
        if s % 100 == 0:
            records.append({"step": s, "eval_loss": 2.0 * math.exp(-s / 3000) + 0.6 + 0.00001 * s})
    h = History.from_records(records)
    h.max_steps = points
    config = config_from_arguments({}, "lora")
    diagnose(h, config)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        diagnose(h, config)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("labels")
    ap.add_argument("--no-args", action="store_true", help="ignore the curves' training_args (preset only)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every run's findings")
    ap.add_argument("--no-delay", action="store_true", help="skip the detection-delay replay")
    a = ap.parse_args(argv)
    labels = json.loads(Path(a.labels).read_text(encoding="utf-8"))
    rows = []
    diagnose(History(), None)  # warm: the first call pays for imports and preset loading, not the diagnosis
    for lab in labels:
        path = Path(a.dir) / lab["file"]
        data, history, config = load_curve(path, not a.no_args)
        t = time.perf_counter()
        findings = diagnose(history, config)
        ms = (time.perf_counter() - t) * 1000
        found = {f.problem for f in findings if f.problem in PROBLEMS}
        row = {"file": lab["file"].removesuffix(".json"), "labels": set(lab["labels"]),
               "uncertain": bool(lab.get("uncertain")), "found": found, "lab": lab, "data": data,
               "config": config, "ms": ms}
        rows.append(row)
        if a.verbose:
            mark = "" if found == row["labels"] - {"healthy", "uncertain"} else "  <--"
            print(f"{row['file']:>4s} {'U' if row['uncertain'] else ' '} {'+'.join(sorted(row['labels'])):28s} "
                  f"found {'+'.join(sorted(found)) or '-'}{mark}")
            for f in findings:
                print(f"        [{f.severity}] {f.problem} @ {f.step}: {f.evidence}")
    certain = [r for r in rows if not r["uncertain"]]
    unsure = [r for r in rows if r["uncertain"] and r["labels"] != {"uncertain"}]
    score(certain, "target figures (uncertain labels left out)")
    score(unsure, "uncertain labels only (for reference)")
    if not a.no_delay:
        print("\n== detection delay (certain labels, onset known) ==")
        for p in PROBLEMS:
            delays = []
            for r in certain:
                onset = onset_of(r["lab"], p) if p in r["labels"] else None
                if onset is None:
                    continue
                hit = detection_step(r["data"], r["config"], p)
                last = max((e.get("step", 0) for e in r["data"]["series"]), default=0) or 1
                if hit is None:
                    print(f"  {p:14s} {r['file']:>4s}: onset {onset}, never detected on replay")
                    continue
                delays.append((hit - onset, (hit - onset) / last))
                print(f"  {p:14s} {r['file']:>4s}: onset {onset}, detected at {hit:g} (+{hit - onset:g} steps, "
                      f"{100 * (hit - onset) / last:.0f}% of the run)")
            if delays:
                print(f"  {p}: median delay {statistics.median(d for d, _ in delays):g} steps, "
                      f"{100 * statistics.median(f for _, f in delays):.0f}% of the run")
    flicker = {r["file"]: f for r in rows if (f := {p: c for p, c in flips(r["data"], r["config"]).items() if c > 1})}
    print(f"\nflicker (second half replayed in 100 steps, a problem appearing/disappearing more than once): "
          f"{len(flicker)}/{len(rows)} runs" + (f": {flicker}" if flicker else ""))
    print(f"\ndiagnose time: median {statistics.median(r['ms'] for r in rows):.2f} ms per curve here, max "
          f"{max(r['ms'] for r in rows):.2f} ms; {bench_speed():.2f} ms on 10k train points + 100 evals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
