"""Scale: what the readers cost on long runs and on runs folders of thousands of runs.

    python bench/scale.py [--events 10000,100000,1000000] [--runs 10,100,1000,3000] [--evals 1000,10000,30000]
                          [--keep DIR]

Run folders are synthesised in the exact format a trainer writes: one folder is made by the engine (`create_run`
over the lora preset, its status written by `RunDir.write_status`), its metrics.jsonl holds records with the keys
and value shapes a demo run's callback writes (a training log each step with TRL's entropy, num_tokens and
mean_token_accuracy and the callback's rates, an evaluation every 10 steps, a train_begin and a closing summary),
and its .summary.json is the one the trainer keeps as it writes them (console/runs/summary.py LiveSummary, stored
at the end); the other runs are copies of it under their own ids. Every measurement runs in a fresh process: CPU
seconds (user + system) and peak resident memory of that process.

- long runs (10k/100k/1M events): `show` and `runs` (one run) after the trainer (its .summary.json), cold (none: a
  run of an older trainer) and warm (read again); `inspect` and the console opening the run (attached, until its
  whole history is in) after the trainer (its .history.json) and cold; `watch` (finished run).
- many runs (10/100/1000/3000 short runs of 200 events): `runs` after the trainer, cold and warm; the runs screen:
  time to its first row, to every row, and how long a key waits while it fills.
- watch on finished runs of 1k/10k/30k evaluations.
- the trainer's own cost of what it keeps for the readers: CPU µs a log line through LiveSummary with and
  without the history, and one store of the history at its bound.

Figures are printed as a table with each one's ratio to the smallest case.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVAL_EVERY = 10


def _records(events: int, eval_every: int = EVAL_EVERY):
    """`events` metrics records as the trainer's callback writes them (console/trainer/callbacks.py)."""
    yield {"step": 0, "max_steps": events, "event": "train_begin", "effective_batch": 8, "epoch": 0.0}
    written, step = 1, 0
    while written < events - 1:
        step += 1
        loss = 3.0 / (1 + step / 500) + 0.05 * ((step * 7919) % 13) / 13
        yield {"step": step, "time": round(step * 0.021, 3), "loss": loss, "grad_norm": 1.2345678 + step % 3,
               "learning_rate": 2e-4 * (1 - step / (events + 1)), "entropy": 3.2123456, "num_tokens": 1024.0 * step,
               "mean_token_accuracy": 0.5 + (step % 100) / 1000, "epoch": step / 250,
               "steps_per_second": 47.1234, "samples_per_second": 376.987, "tokens_per_second": 48251.3}
        written += 1
        if step % eval_every == 0 and written < events - 1:
            yield {"step": step, "time": round(step * 0.021 + 0.01, 3), "eval_loss": loss + 0.1,
                   "eval_runtime": 0.0712, "eval_samples_per_second": 1404.2, "eval_steps_per_second": 98.3,
                   "eval_entropy": 3.1, "eval_num_tokens": 1024.0 * step, "eval_mean_token_accuracy": 0.51,
                   "epoch": step / 250}
            written += 1
    yield {"step": step, "time": round(step * 0.021 + 1, 3), "train_runtime": step * 0.021,
           "train_samples_per_second": 376.9, "train_steps_per_second": 47.1, "total_flos": 1.0e12,
           "train_loss": 1.5, "epoch": step / 250, "console_seconds": 0.5}


def make_run(runs_dir: Path, events: int, name: str, eval_every: int = EVAL_EVERY):
    """One finished run folder, made by the engine, with `events` metrics records and the metrics summary the
    trainer keeps as it writes them (stored once, at the end: the file a trainer leaves)."""
    from console.config.run_config import build_config, resolve
    from console.runs.progress import summary_row
    from console.runs.rundir import create_run
    from console.runs.summary import LiveSummary

    config = resolve(build_config("lora", sets={"max_steps": str(max(1, events))}))
    run = create_run(runs_dir, config, command=["bench/scale.py"], name=name)
    summary = LiveSummary(run.path, summary_row, clock=lambda: 0.0)  # never due: stored at the end only
    last = 0
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        for record in _records(events, eval_every):
            line = json.dumps(record) + "\n"
            f.write(line)
            f.flush()
            summary.add(line)
            last = record["step"]
    summary.store(final=True)  # the summary and the history, as a trainer leaves them at its end
    run.write_status("done", step=last, seconds=1.0)
    return run


def copy_runs(template, runs_dir: Path, count: int) -> None:
    """`count` copies of a run folder under their own ids (run.json's id and created rewritten)."""
    base = time.time() - count
    for i in range(count):
        run_id = f"20260101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-lora-{i:05x}"
        dest = runs_dir / run_id
        shutil.copytree(template.path, dest)
        info = json.loads((dest / "run.json").read_text())
        info.update(id=run_id, created=base + i)
        (dest / "run.json").write_text(json.dumps(info))


def measure(code: str, *args: str) -> dict:
    """CPU seconds and peak MB of a fresh Python process running `code` (its output: one JSON line, merged)."""
    probe = ("import resource, sys, json, time\n" + code +
             "\nru = resource.getrusage(resource.RUSAGE_SELF)\n"
             "print(json.dumps(dict(OUT, cpu=ru.ru_utime + ru.ru_stime, mb=ru.ru_maxrss / 1024)))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.monotonic() - t0
    return result


CLI = """
import io, contextlib
from console.cli.main import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    main(sys.argv[1:])
OUT = {"lines": buf.getvalue().count("\\n")}
"""

ATTACH = """
import asyncio
from screens.app import TrainingConsoleApp
async def go():
    app = TrainingConsoleApp(runs_dir=sys.argv[1], attach=sys.argv[2], poll=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.monotonic()
        while not (app.live is not None and app.live.final and app.live.history.events >= int(sys.argv[3])):
            await pilot.pause(0.05)
            if time.monotonic() - t0 > 900:
                break
        return app.live.history.events if app.live else 0, time.monotonic() - t0
events, seconds = asyncio.run(go())
OUT = {"events": events, "seconds": seconds}
"""

RUNS_SCREEN = """
import asyncio
from screens.app import TrainingConsoleApp
from screens.runs_screen import RunsScreen
async def go():
    app = TrainingConsoleApp(runs_dir=sys.argv[1])
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.monotonic()
        await pilot.press("u")
        first = key = None
        while True:
            screen = app.screen
            if isinstance(screen, RunsScreen):
                if first is None and screen.rows:
                    first = time.monotonic() - t0
                    if not screen.filled:  # how long a key waits while the rows come in
                        k0 = time.monotonic()
                        await pilot.press("s")
                        key = time.monotonic() - k0
                if screen.filled:
                    break
            await pilot.pause(0.01)
        return first, time.monotonic() - t0, key, len(app.screen.rows)
first, filled, key, rows = asyncio.run(go())
OUT = {"first_row_s": first, "filled_s": filled, "key_s": key, "rows": rows}
"""


STORED = (".summary.json", ".history.json")  # what the trainer keeps beside metrics.jsonl for its readers


def clear_cache(runs_dir: Path) -> None:
    """The runs as an older trainer left them: no stored summary or history."""
    for name in STORED:
        for cache in runs_dir.glob(f"*/{name}"):
            cache.unlink()


def trainer_summary(runs_dir: Path, template: Path) -> None:
    """Every run's .summary.json and .history.json as the trainer left them: the template's (the runs are copies of
    its log)."""
    for folder in runs_dir.iterdir():
        if folder.is_dir():
            for name in STORED:
                if (template / name).exists():
                    shutil.copyfile(template / name, folder / name)


def ratio_table(title: str, rows: list[tuple[str, dict]], fields: list[str]) -> None:
    print(f"\n## {title}")
    print("| case | " + " | ".join(fields) + " |")
    print("|---|" + "---|" * len(fields))
    base = rows[0][1] if rows else {}
    for name, r in rows:
        cells = []
        for f in fields:
            v = r.get(f)
            if v is None:
                cells.append(r.get("error", "-") if f == fields[0] else "-")
                continue
            b = base.get(f)
            ratio = f" (x{v / b:.1f})" if isinstance(b, (int, float)) and b and name != rows[0][0] else ""
            cells.append(f"{v:.2f}{ratio}" if isinstance(v, float) else f"{v}{ratio}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def trainer_cost(base: Path, events: int) -> dict:
    """The trainer's own cost of what it keeps for its readers, in this process: CPU µs per log line written
    through LiveSummary (the summary, and the history since issue 29's history store) against the summary alone, and
    CPU s per store of the history at the end (the largest: every series at its bound)."""
    from console.runs import history_store
    from console.runs.progress import summary_row
    from console.runs.summary import LiveSummary

    lines = [json.dumps(r) + "\n" for r in _records(events)]
    out = {}
    for case in ("summary", "summary+history"):
        folder = base / f"trainer-cost-{case}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "metrics.jsonl").touch()
        keeper = LiveSummary(folder, summary_row, clock=lambda: 0.0)  # stores only when asked, as at evaluations
        if case == "summary":
            keeper.keeper = None
        t0 = time.process_time()
        with open(folder / "metrics.jsonl", "a", encoding="utf-8") as f:
            for line in lines:
                f.write(line)
                f.flush()
                keeper.add(line)
        out[f"{case}_us_per_line"] = (time.process_time() - t0) / len(lines) * 1e6
        if keeper.keeper is not None:
            t0 = time.process_time()
            keeper.keeper.store(keeper.summary.offset, keeper.summary.fingerprint, final=True)  # as at the end
            out["history_store_s"] = time.process_time() - t0
            out["history_mb"] = (folder / history_store.NAME).stat().st_size / 2**20
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", default="10000,100000,1000000")
    p.add_argument("--runs", default="10,100,1000,3000")
    p.add_argument("--evals", default="1000,10000,30000")
    p.add_argument("--keep", default=None, help="build the folders here and leave them (default: a temp folder)")
    p.add_argument("--heavy-max", type=int, default=10**9,
                   help="inspect, watch and the console only on runs of at most this many events (they read the "
                        "whole history; the 1M case takes many minutes on a loaded machine)")
    p.add_argument("--skip", default="", help="comma list of parts to skip: long, many, trainer, watch, console")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    base = Path(args.keep or tempfile.mkdtemp(prefix="scale-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"# bench/scale.py  (folders in {base}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    try:
        if "long" not in skip:
            rows = []
            for events in [int(x) for x in args.events.split(",")]:
                runs_dir = base / f"long-{events}"
                if not runs_dir.exists():
                    make_run(runs_dir, events, f"long{events}")
                run_id = next(runs_dir.iterdir()).name
                size = (runs_dir / run_id / "metrics.jsonl").stat().st_size / 2**20
                kept = base / f"trainer-summary-{events}"  # the trainer's stored files, put back before each
                if not kept.exists():
                    shutil.copytree(runs_dir / run_id, kept, ignore=lambda d, names: set(names) - set(STORED))
                r = {"metrics_mb": size}
                for name, cli in (("show", ["show", run_id]), ("runs", ["runs"])):
                    trainer_summary(runs_dir, kept)
                    after = measure(CLI, "--runs-dir", str(runs_dir), *cli)
                    clear_cache(runs_dir)
                    cold = measure(CLI, "--runs-dir", str(runs_dir), *cli)
                    warm = measure(CLI, "--runs-dir", str(runs_dir), *cli)
                    r.update({f"{name}_trainer_cpu": after.get("cpu"), f"{name}_trainer_mb": after.get("mb"),
                              f"{name}_cold_cpu": cold.get("cpu"), f"{name}_cold_mb": cold.get("mb"),
                              f"{name}_warm_cpu": warm.get("cpu"), f"{name}_warm_mb": warm.get("mb")})
                if events > args.heavy_max:
                    rows.append((f"{events:,} events", r))
                    continue
                for case in ("", "_cold"):  # after the trainer (its stored history), then without (an older one's)
                    if case:
                        clear_cache(runs_dir)
                    else:
                        trainer_summary(runs_dir, kept)
                    ins = measure(CLI, "--runs-dir", str(runs_dir), "inspect", "--fail-on", "never", run_id)
                    r.update({f"inspect{case}_cpu": ins.get("cpu"), f"inspect{case}_mb": ins.get("mb")})
                    if "console" not in skip:
                        if case:
                            clear_cache(runs_dir)  # inspect stored what it read (history_store.run_history)
                        att = measure(ATTACH, str(runs_dir), run_id, str(events))
                        r.update({f"console{case}_cpu": att.get("cpu"), f"console{case}_mb": att.get("mb"),
                                  f"console{case}_events": att.get("events")})
                wat = measure(CLI, "--runs-dir", str(runs_dir), "watch", run_id)
                r.update(watch_cpu=wat.get("cpu"), watch_mb=wat.get("mb"))
                rows.append((f"{events:,} events", r))
            if rows:
                ratio_table("long runs: CPU s and peak MB per command (trainer: its .summary.json; cold: none, a "
                            "run of an older trainer)", rows,
                            ["metrics_mb", "show_trainer_cpu", "show_trainer_mb", "show_cold_cpu", "show_cold_mb",
                             "show_warm_cpu", "show_warm_mb", "runs_trainer_cpu", "runs_cold_cpu", "runs_warm_cpu",
                             "runs_warm_mb", "inspect_cpu", "inspect_mb", "inspect_cold_cpu", "inspect_cold_mb",
                             "watch_cpu", "watch_mb", "console_cpu", "console_mb", "console_events",
                             "console_cold_cpu", "console_cold_mb"])
        if "many" not in skip:
            rows = []
            template_dir = base / "template"
            template = make_run(template_dir, 200, "short") if not template_dir.exists() else None
            for count in [int(x) for x in args.runs.split(",")]:
                runs_dir = base / f"many-{count}"
                if not runs_dir.exists():
                    from console.runs.rundir import RunDir

                    copy_runs(template or RunDir(next(template_dir.iterdir())), runs_dir, count)
                trainer_summary(runs_dir, next(template_dir.iterdir()))
                after = measure(CLI, "--runs-dir", str(runs_dir), "runs")
                clear_cache(runs_dir)
                cold = measure(CLI, "--runs-dir", str(runs_dir), "runs")
                warm = measure(CLI, "--runs-dir", str(runs_dir), "runs")
                r = {"runs_trainer_cpu": after.get("cpu"), "runs_cold_cpu": cold.get("cpu"),
                     "runs_warm_cpu": warm.get("cpu"), "runs_warm_mb": warm.get("mb"), "lines": warm.get("lines")}
                screen = measure(RUNS_SCREEN, str(runs_dir))
                r.update({k: screen.get(k) for k in ("first_row_s", "filled_s", "key_s", "rows")},
                         screen_cpu=screen.get("cpu"), screen_mb=screen.get("mb"))
                rows.append((f"{count} runs", r))
            if rows:
                ratio_table("many runs: `runs` CPU s (after the trainer/cold/warm), the runs screen (s from `u`)", rows,
                            ["runs_trainer_cpu", "runs_cold_cpu", "runs_warm_cpu", "runs_warm_mb", "lines", "first_row_s", "filled_s",
                             "key_s", "rows", "screen_cpu", "screen_mb"])
        if "trainer" not in skip:
            cost = trainer_cost(base, 200_000)
            print("\n## the trainer's own cost, 200k log events written through LiveSummary (CPU, this process)")
            print("| " + " | ".join(cost) + " |\n|" + "---|" * len(cost) + "\n| "
                  + " | ".join(f"{v:.2f}" for v in cost.values()) + " |")
        if "watch" not in skip:
            rows = []
            for evals in [int(x) for x in args.evals.split(",")]:
                runs_dir = base / f"evals-{evals}"
                if not runs_dir.exists():
                    make_run(runs_dir, 2 * evals + 2, f"evals{evals}", eval_every=1)
                run_id = next(runs_dir.iterdir()).name
                wat = measure(CLI, "--runs-dir", str(runs_dir), "watch", run_id)
                rows.append((f"{evals:,} evals", {"watch_cpu": wat.get("cpu"), "watch_mb": wat.get("mb"),
                                                  "lines": wat.get("lines")}))
            if rows:
                ratio_table("watch on a finished run: CPU s by number of evaluations", rows,
                            ["watch_cpu", "watch_mb", "lines"])
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
