"""`inspect`: trainer_state.json files, HF output and checkpoint folders, our run directories; JSON lines; bad paths."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import pytest

from console.cli.commands import inspect as inspect_cmd
from console.config.run_config import RunConfig


def overfit_log(n_evals: int = 12, scale: float = 1.0) -> list[dict]:
    """Train falls; eval bottoms out at the 4th eval (step 400) and climbs: overfitting since step 400."""
    log = []
    for i in range(1, n_evals + 1):
        step = 100 * i
        for s in range(step - 90, step + 1, 10):
            log.append({"step": s, "epoch": s / 400, "loss": scale * (2.0 * math.exp(-s / 400) + 0.2),
                        "learning_rate": 2e-4, "grad_norm": 1.0})
        log.append({"step": step, "epoch": step / 400, "eval_loss": scale * (1.9 + 0.004 * (i - 4) ** 2 * 10)})
    return log


def healthy_log() -> list[dict]:
    return [{"step": s, "loss": 2.0 * math.exp(-s / 300) + 0.5, "eval_loss": 2.0 * math.exp(-s / 300) + 0.6}
            for s in range(10, 1001, 10)]


def write_state(folder, log, max_steps=1200):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trainer_state.json"
    path.write_text(json.dumps({"log_history": log, "max_steps": max_steps, "global_step": log[-1]["step"]}))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = inspect_cmd.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_trainer_state_file_text_output(tmp_path, capsys):
    state = write_state(tmp_path / "out", overfit_log())
    rc, out, err = run(capsys, str(state))
    assert rc == 0
    assert "Overfitting since step 400" in out
    assert "[1] early_stopping_patience -> 3" in out  # unset before: no 'None'
    assert "[2] weight_decay 0.01 -> 0.1" in out and "[4] lora_dropout 0.05 -> 0.1" in out
    assert "assumed: LoRA preset, with the values this log shows" in out  # no config found: says what it assumed


def test_json_lines_in_path_order(tmp_path, capsys):
    a = write_state(tmp_path / "a", overfit_log())
    b = write_state(tmp_path / "b", healthy_log(), 1000)
    rc, out, _ = run(capsys, "--json", str(a), str(b))
    assert rc == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["source"] for line in lines] == [str(a), str(b)]
    first = lines[0]["findings"][0]
    assert set(first) == {"problem", "severity", "step", "evidence", "fixes"}
    assert first["problem"] == "overfitting" and first["step"] == 400
    assert first["fixes"][1] == {"changes": {"weight_decay": 0.1}, "why": first["fixes"][1]["why"]}
    assert lines[1]["findings"] == []


def test_method_option_changes_the_assumed_config(tmp_path, capsys):
    state = write_state(tmp_path / "out", overfit_log())
    rc, out, _ = run(capsys, "--json", "--method", "full", str(state))
    fixes = json.loads(out)["findings"][0]["fixes"]
    assert rc == 0 and not any("lora_dropout" in f["changes"] for f in fixes)


def test_output_folder_uses_the_checkpoint_with_the_largest_n(tmp_path, capsys):
    out_dir = tmp_path / "output"
    write_state(out_dir / "checkpoint-900", healthy_log(), 1000)
    write_state(out_dir / "checkpoint-1200", overfit_log())
    write_state(out_dir / "checkpoint-300", healthy_log()[:30], 1000)
    old = os.path.getmtime(out_dir / "checkpoint-1200" / "trainer_state.json") - 100
    os.utime(out_dir / "checkpoint-1200" / "trainer_state.json", (old, old))  # N decides, not the file's age
    rc, out, _ = run(capsys, "--json", str(out_dir))
    assert rc == 0 and json.loads(out)["findings"][0]["problem"] == "overfitting"
    assert inspect_cmd.newest_trainer_state(out_dir) == out_dir / "checkpoint-1200" / "trainer_state.json"


def test_checkpoint_folder_reads_json_args_and_never_the_pickle(tmp_path, capsys):
    ckpt = tmp_path / "output" / "checkpoint-1200"
    write_state(ckpt, overfit_log())
    (ckpt / "training_args.bin").write_bytes(b"\x80\x04not a pickle you should ever load")
    (tmp_path / "output" / "training_args.json").write_text(json.dumps(
        {"weight_decay": 0.05, "eval_steps": 250, "eval_strategy": "steps", "output_dir": "x", "unknown_thing": 3}))
    rc, out, _ = run(capsys, str(ckpt))
    assert rc == 0
    # the log evaluates every 100 steps (the arguments say 250): more often means below what the run really did
    assert "weight_decay 0.05 -> 0.1" in out and "eval_steps 250 -> 40" in out
    assert "training_args.json" in out


def test_run_directory_uses_its_config(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in overfit_log()))
    config = RunConfig.from_preset("full").with_changes({"weight_decay": 0.02})
    config.save(run_dir / "config.yaml")
    rc, out, _ = run(capsys, str(run_dir))
    assert rc == 0 and "weight_decay 0.02 -> 0.1" in out and "config.yaml" in out
    assert "lora_dropout" not in out


@pytest.mark.parametrize("inside", ["checkpoints/checkpoint-300", "checkpoints/checkpoint-300/trainer_state.json",
                                    "checkpoints"])
def test_a_folder_inside_a_run_reads_that_runs_config(tmp_path, capsys, inside):
    """Issue 30: inspect runs/<full-run>/checkpoints/checkpoint-300 ignored the run's config.yaml two folders up,
    assumed LoRA and offered learning_rate 2e-5 -> 2e-4, ten times the full fine-tuning range."""
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in overfit_log()))
    RunConfig.from_preset("full").with_changes({"weight_decay": 0.02}).save(run_dir / "config.yaml")
    write_state(run_dir / "checkpoints" / "checkpoint-300", overfit_log())
    history, config, said = inspect_cmd.load_target(str(run_dir / inside))
    assert config.method == "full" and config.get("learning_rate") == 2e-5 and "config.yaml of run r1" in said
    rc, out, _ = run(capsys, str(run_dir / inside))
    assert rc == 0 and "weight_decay 0.02 -> 0.1" in out and "2e-4" not in out and "lora" not in out.lower()


def test_run_directory_without_config_assumes_the_preset(tmp_path, capsys):
    run_dir = tmp_path / "r2"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in overfit_log()))
    rc, out, _ = run(capsys, str(run_dir))
    assert rc == 0 and "no config.yaml; assumed: LoRA preset, with the values this log shows" in out


def test_large_loss_scale_and_nan_values_in_the_file(tmp_path, capsys):
    log = overfit_log(scale=1000.0)
    log[5]["grad_norm"] = float("nan")
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": log}))  # json writes NaN as NaN
    rc, out, _ = run(capsys, "--json", str(path))
    problems = [f["problem"] for f in json.loads(out)["findings"]]
    assert rc == 0 and "overfitting" in problems and "nonfinite_grad_norm" in problems


@pytest.mark.parametrize("make", ["missing", "empty_dir", "bad_json", "not_state"])
def test_bad_path_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, make):
    path = tmp_path / "thing"
    if make == "empty_dir":
        path.mkdir()
    elif make == "bad_json":
        path = tmp_path / "trainer_state.json"
        path.write_text("{not json")
    elif make == "not_state":
        path = tmp_path / "trainer_state.json"
        path.write_text("[1, 2, 3]")
    rc, out, err = run(capsys, str(path))
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(path) in err and "Traceback" not in err


def test_a_bad_path_does_not_stop_the_good_ones(tmp_path, capsys):
    good = write_state(tmp_path / "ok", healthy_log(), 1000)
    rc, out, err = run(capsys, "--json", str(tmp_path / "missing"), str(good))
    assert rc == 2 and json.loads(out)["source"] == str(good) and "missing" in err


def test_add_parser_registers_the_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="training-console")
    inspect_cmd.add_parser(parser.add_subparsers(dest="command"))
    state = write_state(tmp_path / "out", overfit_log())
    args = parser.parse_args(["inspect", "--json", str(state)])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["findings"][0]["problem"] == "overfitting"


def test_module_entry_point_runs_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "console.cli.commands.inspect", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_bare_trainer_state_fixes_quote_the_runs_own_values(tmp_path, capsys):
    # no arguments anywhere: the state file's top-level fields and the logged LR seed the assumed config
    log = overfit_log()
    for r in log:
        if "learning_rate" in r:
            r["learning_rate"] = 3e-5
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": log, "max_steps": 1200, "global_step": 1200, "train_batch_size": 2,
                                "eval_steps": 500, "save_steps": 500, "logging_steps": 10, "num_train_epochs": 3}))
    history, config, said = inspect_cmd.load_target(str(path))
    assert "assumed: LoRA preset, with the values this log shows" in said
    assert config.get("learning_rate") == 3e-5 and config.get("per_device_train_batch_size") == 2
    assert config.get("eval_steps") == 100  # the log evaluates every 100 steps, whatever the state's eval_steps says
    assert config.get("max_steps") == 1200
    rc, out, _ = run(capsys, str(path))
    assert rc == 0 and "Overfitting since step 400" in out
    assert "eval_steps 100 -> 40" in out  # more often than the run really evaluated, never the preset's 50
    assert "0.0002" not in out  # the preset's learning rate is never quoted as this run's


def test_bare_trainer_state_raises_no_lr_never_peaked_from_the_presets_peak(tmp_path, capsys):
    log = [{"step": s, "loss": 2.0 * math.exp(-s / 300) + 0.5, "learning_rate": 1e-5 * s / 300}
           for s in range(10, 301, 10)] + [{"step": 300, "train_runtime": 10.0, "train_loss": 1.0}]
    path = write_state(tmp_path / "out", log, 300)
    rc, out, _ = run(capsys, "--json", str(path))
    assert rc == 0 and json.loads(out)["findings"] == []


@pytest.mark.parametrize("in_checkpoint", [False, True])
def test_peft_output_folder_quotes_the_logged_values_not_the_presets(tmp_path, capsys, in_checkpoint):
    # a PEFT output folder: peft's own adapter_config.json beside (or one folder above) the trainer_state.json; it
    # holds the adapter's shape and nothing of the schedule, so the log's learning rate and eval interval must win
    from peft import LoraConfig

    out = tmp_path / "out"
    LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj"]).save_pretrained(str(out))
    log = []
    for i in range(1, 13):  # evaluated every 5 steps, at learning rate 3e-2; eval best at step 20, then rising
        step = 5 * i
        log += [{"step": s, "epoch": s / 20, "loss": 2.0 * math.exp(-s / 20) + 0.2, "learning_rate": 3e-2}
                for s in range(step - 4, step + 1)]
        log.append({"step": step, "epoch": step / 20, "eval_loss": 1.9 + 0.04 * (i - 4) ** 2})
    state = write_state(out / "checkpoint-60" if in_checkpoint else out, log, max_steps=60)
    history, config, said = inspect_cmd.load_target(str(out))
    assert "adapter_config.json" in said and "the values the log shows" in said
    assert config.get("lora_r") == 8 and config.get("lora_alpha") == 16  # the adapter's own shape kept
    assert config.get("learning_rate") == 3e-2 and config.get("eval_steps") == 5 and config.get("max_steps") == 60
    rc, text, _ = run(capsys, str(out))
    assert rc == 0 and "Overfitting" in text, text
    assert "eval_steps 5 -> 2" in text  # more often than the run evaluated: never from the preset's 50
    assert "0.0002" not in text and "eval_steps 50" not in text
    # the same state file alone gets the same numbers
    rc, alone, _ = run(capsys, str(state))
    assert rc == 0 and "eval_steps 5 -> 2" in alone and "0.0002" not in alone


def test_exit_status_follows_the_worst_finding(tmp_path, capsys):
    # a loss that explodes and stays up: an error-level finding, so a script's `inspect ... || alert` fires
    log = [{"step": s, "loss": 2.0 if s < 50 else 500.0, "learning_rate": 1e-3} for s in range(1, 101)]
    diverged = write_state(tmp_path / "boom", log)
    rc, out, _ = run(capsys, str(diverged))
    assert rc == 1 and "[error]" in out
    assert run(capsys, str(diverged), "--fail-on", "never")[0] == 0
    # an overfitting warning fails only with --fail-on warning
    warned = write_state(tmp_path / "of", overfit_log())
    assert run(capsys, str(warned))[0] == 0
    assert run(capsys, str(warned), "--fail-on", "warning")[0] == 1


def test_a_run_id_and_runs_dir_work_as_in_show(runs_dir, capsys):
    from console.cli.main import main
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    run = create_run(runs_dir, resolve(build_config("lora")), command=["test"])
    run.metrics_path.write_text("\n".join(json.dumps(r) for r in overfit_log()) + "\n")
    for argv in (["--runs-dir", str(runs_dir), "inspect", run.id], ["inspect", "--runs-dir", str(runs_dir), "latest"]):
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0 and "Overfitting since step" in out.out, out
    assert main(["inspect", "--runs-dir", str(runs_dir), "no-such-run"]) == 2
    assert "no such file, folder or run id" in capsys.readouterr().err


def test_a_run_folder_gets_the_findings_watch_and_the_console_show(runs_dir, capsys):
    """inspect of one of our runs takes its findings from the one assembly (console.loop.findings): its sample
    answers and its crash count too (it said "no problems found" where watch said the answers do not end)."""
    from console.cli.main import main
    from console.config.run_config import build_config, resolve
    from console.loop.findings import run_findings
    from console.runs.rundir import create_run

    run = create_run(runs_dir, resolve(build_config("lora")), command=["test"])
    run.metrics_path.write_text("\n".join(json.dumps({"step": s, "loss": 3.0 - s / 100}) for s in range(1, 21)) + "\n")
    answers = [(0, "Paris.", True, 3), (20, "Paris is a city in a country in a place " * 8, False, 64)]
    run.samples_path.write_text("".join(
        json.dumps({"step": step, "prompt": f"question {i}", "answer": text, "ended": ended, "tokens": tokens,
                    "seconds": 0.1, "reference": "Paris."}) + "\n"
        for step, text, ended, tokens in answers for i in range(3)))
    run.write_status("failed", kind="oom", message="out of memory: CUDA out of memory. Tried to allocate 2 GiB")
    expected = [f.problem for f in run_findings(run)]
    assert "answers_do_not_end" in expected and "out_of_memory" in expected
    assert main(["inspect", "--json", "--fail-on", "never", "--runs-dir", str(runs_dir), run.id]) == 0
    said = json.loads(capsys.readouterr().out)
    assert [f["problem"] for f in said["findings"]] == expected
