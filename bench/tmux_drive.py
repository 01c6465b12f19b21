#!/usr/bin/env python3
"""Drive the real console inside tmux at 80x24 (or --size), as a new user would, through the whole loop.

    python bench/tmux_drive.py [--size 120x40] [--term tmux-256color|screen-256color] [--keep]

Starts `training-console` in a fresh folder inside a detached tmux session, sends keys with `tmux send-keys`
and reads the screen with `tmux capture-pane`: the method screen with the first built-in demo scenario
one key away (`d`; presets/scenarios.yaml, read with load_scenarios(): nothing about it is hard-coded here) with F8
pressed at once (before the arguments screen has opened: it must reach that screen's dialog, never a field), an
argument edited through F8 (go to field), a field of fixed words cycled with Ctrl-N, F5 to launch, `l` (the log at
its end), Ctrl-C (how to quit, in plain words), the curves drawing, a warning with its fixes, `r` to
apply fix 1 and restart now (it asks while the run trains), the next run training with the fix and its parent, the
runs screen (both runs, their eval curves overlaid, their configs diffed), a third run started alongside (the
rerun and the launch both ask), the terminal killed while both train (as an SSH link dropping) and a new console
reattached with `w`, `n` (the method screen), then `q`, which names both runs still training, and `s` to stop them all. Prints every screen it checked and the time each stage took; exits 1 on a failure.
Takes under a minute on a CPU (the demo model really trains). Needs tmux (apt-get install tmux).
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

SESSION = f"tc-drive-{os.getpid()}"
# this checkout's console (the venv's `training-console` script may belong to another checkout: an editable
# install elsewhere drove that one's code)
CONSOLE = f"env PYTHONPATH={ROOT} {sys.executable} -m console"
MAX_STEPS = 200  # typed over the scenario's own (its problem shows within ~50 steps)


def scenario_and_config():
    """The first built-in demo scenario and the config it gives, as the method screen builds it."""
    from console.config.presets import load_scenarios
    from console.config.run_config import RunConfig

    scenario = load_scenarios()[0]
    config = RunConfig.from_preset(scenario.method).with_changes({**scenario.changes, "max_steps": MAX_STEPS})
    return scenario, config


def tmux(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def keys(*names: str, pause: float = 0.15) -> None:
    for name in names:
        tmux("send-keys", "-t", SESSION, name)
        time.sleep(pause)


def type_text(text: str) -> None:
    tmux("send-keys", "-t", SESSION, "-l", text)
    time.sleep(0.2)


def wait_screen(predicate, what: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen()
        if predicate(text):
            return text
        time.sleep(0.25)
    print(text)
    raise SystemExit(f"FAILED: timed out after {timeout:.0f}s waiting for {what}")


def show(title: str, text: str, started: float) -> None:
    print(f"--- {title} ({time.monotonic() - started:.1f}s) " + "-" * max(0, 60 - len(title)))
    print(text.rstrip("\n"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--term", default="tmux-256color", help="TERM inside tmux (tmux-256color, screen-256color)")
    parser.add_argument("--size", default="80x24", help="terminal size, COLSxROWS (80x24, 120x40)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (runs/) for a look afterwards")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("tmux is not installed: apt-get install tmux", file=sys.stderr)
        return 2
    scenario, config = scenario_and_config()
    edits = {"max_steps": str(MAX_STEPS)}
    work = Path(tempfile.mkdtemp(prefix="tc-drive-"))
    env = f"TERM={args.term} TRAINING_CONSOLE_HOME={work / 'home'}"
    cols, rows = args.size.lower().split("x")
    tmux("new-session", "-d", "-s", SESSION, "-x", cols, "-y", rows,
         f"cd {work} && env {env} {CONSOLE}; echo EXITED $?; sleep 60")
    started = time.monotonic()
    try:
        text = wait_screen(lambda t: "choose a method" in t, "the method screen", 30)
        assert scenario.name in text and "demo" in text, scenario.name
        show("method screen", text, started)

        # the first demo scenario, one key away (the cursor starts on LoRA), and F8 pressed at once, before the
        # arguments screen has opened: it goes to that screen (it reached the method screen, and the field name
        # typed next went into `model`)
        keys("d", "F8", pause=0.02)
        text = wait_screen(lambda t: "Go to field" in t, "the go-to-field dialog of the arguments screen", 20)
        show("F8 pressed as the arguments screen opened: its dialog", text, started)
        first_f8 = True
        for name, value in edits.items():
            for attempt in range(3):  # under heavy load a key sent by script can be lost: check and retype
                if not first_f8:
                    keys("F8")
                first_f8 = False
                wait_screen(lambda t: "Go to field" in t, "the go-to-field dialog", 10)
                type_text(name)
                wait_screen(lambda t, name=name: f" {name} " in t.split("Go to field")[-1], f"{name} in the list", 10)
                keys("Enter")
                wait_screen(lambda t: "Go to field" not in t, "the dialog to close", 10)
                time.sleep(0.3)
                keys(*["BSpace"] * 8, pause=0.1)
                for char in value:
                    keys(char, pause=0.2)
                try:
                    wait_screen(lambda t, name=name, value=value: any(line.strip("│").split()[:2] == [name, value]
                                              for line in t.splitlines()), f"{name} = {value} on screen", 5)
                    break
                except SystemExit:
                    print(f"(retyping {name}: attempt {attempt + 2})")
            else:
                raise SystemExit(f"FAILED: could not set {name}")
        # a field with fixed words cycles through them (it was free text)
        keys("F8")
        wait_screen(lambda t: "Go to field" in t, "the go-to-field dialog", 10)
        type_text("lr_scheduler_type")
        keys("Enter")
        wait_screen(lambda t: "Go to field" not in t, "the dialog to close", 10)
        before = config.get("lr_scheduler_type")
        keys("C-n")
        text = wait_screen(lambda t: any(line.strip("│").split()[:1] == ["lr_scheduler_type"]
                                         and before not in line.split() for line in t.splitlines()),
                           "lr_scheduler_type moved to its next word", 10)
        show("Ctrl-N: the scheduler's next word", text, started)
        keys("C-p")
        # F8, a name, Enter and a value in one burst, as a fast typist or a script sends them: the first key after
        # Enter went into the closing dialog (a new user's 'F8 model Enter XYZ' gave 'YZ')
        seed = str(config.get("seed", 42))
        tmux("send-keys", "-t", SESSION, "F8", "seed", "Enter", "7")
        text = wait_screen(lambda t: any(line.strip("│").split()[:2] == ["seed", seed + "7"]
                                         for line in t.splitlines()), f"seed {seed}7 typed in one burst", 10)
        show("F8 seed Enter 7 in one burst", text, started)
        keys("Up", "Down")  # leave the last field: its mark and the analysis are up to date
        batch = f"effective batch {config.effective_batch}"
        text = wait_screen(lambda t: batch in t and "invalid" not in t, "the arguments ready to launch", 10)
        show("arguments edited", text, started)

        keys("F5")
        text = wait_screen(lambda t: "loading" in t or "starting" in t or "preparing" in t,
                           "the phase before the first step", 30)
        show("launched: before the first step", text, started)
        text = wait_screen(lambda t: "step " in t and f"/{MAX_STEPS}" in t, "the first steps", 120)
        first_id = text.split()[0]
        show("training: curves drawing", text, started)
        import yaml

        launched = yaml.safe_load((work / "runs" / first_id / "config.yaml").read_text())
        model = (launched.get("arguments") or {}).get("model")
        assert not model or "demo" in str(model), f"model {model!r}: keys typed for F8's dialog went into it"
        text = wait_screen(lambda t: "[1]" in t, "a warning with its fixes", 420)  # a loaded 2-core machine
        show("a warning with its fixes", text, started)

        keys("l")  # the log opens at its end
        text = wait_screen(lambda t: "train.log of" in t and "[console]" in t, "the end of train.log", 20)
        show("l: train.log at its end", text, started)
        keys("Escape")
        # under load a terminal reads Esc and the next key sent at once as one Alt sequence: wait for the page to go
        wait_screen(lambda t: "train.log of" not in t, "the log page closed", 10)
        keys("C-c")  # how to quit, in plain words (it showed '[b]ctrl+q[/b]')
        text = wait_screen(lambda t: "to quit" in t, "the Ctrl-C hint", 10)
        assert "[b]" not in text, "markup shown as text"
        show("Ctrl-C says how to quit", text, started)

        keys("r")
        first_short = "-".join(first_id.split("-")[2:])  # the header shows the parent as method-hash
        text = wait_screen(lambda t: "Yes, restart" in t or (t.split() and t.split()[0] != first_id),
                           "the restart question, or the next run", 60)
        if "Yes, restart" in text:  # the first run still trains: r asks before stopping it
            show("r asks before stopping the run", text, started)
            keys("y")
        text = wait_screen(lambda t: t.split() and t.split()[0] != first_id and "from " + first_short in t,
                           "the next run, with the fix and its parent", 180)
        second_id = text.split()[0]
        show("the next run started with the fix", text, started)
        runs = work / "runs"
        info = json.loads((runs / second_id / "run.json").read_text())
        assert info["parent"] == first_id, info
        assert info["fixes"], info
        first_status = json.loads((runs / first_id / "status.json").read_text())
        assert first_status["phase"] in ("stopped", "done", "failed"), first_status  # failed: it diverged
        print(f"run {second_id}: parent {info['parent']}, fix {info['fixes'][-1].get('changes')}; "
              f"{first_id} {first_status['phase']}")

        # the runs screen: both runs listed, their eval curves overlaid, their configs diffed (older -> newer)
        keys("u")
        text = wait_screen(lambda t: "Runs in" in t and first_id in t and second_id in t, "the runs screen", 20)
        show("the runs screen", text, started)
        keys("Home", "space", "Down", "space", "o")
        text = wait_screen(lambda t: "eval loss" in t and "marked:" in t, "the eval overlay of two runs", 20)
        show("eval curves of the two runs overlaid", text, started)
        keys("d")
        fix_key = next(iter(info["fixes"][-1].get("changes") or {"learning_rate": 0}))
        text = wait_screen(lambda t: f"{first_id}  ->  {second_id}" in t and fix_key in t, "the config diff", 20)
        show("the diff of the two configs", text, started)
        keys("Escape")
        wait_screen(lambda t: f"{first_id}  ->  {second_id}" not in t, "the diff page closed", 10)
        # a third run alongside the second one: the rerun asks, then the launch asks (another run trains)
        keys("Home", "r")
        text = wait_screen(lambda t: "Yes, start it" in t, "the rerun question", 20)
        show("rerun asks first", text, started)
        keys("y")
        text = wait_screen(lambda t: "Start alongside" in t, "the launch question (a run still trains)", 20)
        show("a launch while a run trains asks first", text, started)
        keys("a")
        def third_run(t: str) -> bool:  # the training screen's header names a run that is neither of the two
            head = t.split()[0] if t.split() else ""
            return head[:8].isdigit() and head not in (first_id, second_id) and "step " in t

        text = wait_screen(third_run, "the third run training", 180)
        third_id = text.split()[0]
        show("a third run started alongside", text, started)

        # the SSH link drops: the terminal and the console with it (tmux kill-session hangs up on it); the runs go on,
        # and a console started again reattaches with `w` (the run that is training)
        tmux("kill-session", "-t", SESSION, check=False)
        time.sleep(2)
        for run_id in (second_id, third_id):
            phase = json.loads((runs / run_id / "status.json").read_text()).get("phase")
            assert phase not in ("stopped", "done", "failed"), f"{run_id} ended ({phase}) with the terminal"
        tmux("new-session", "-d", "-s", SESSION, "-x", cols, "-y", rows,
             f"cd {work} && env {env} {CONSOLE}; echo EXITED $?; sleep 60")
        def reattached(t: str) -> bool:  # the training screen of one of the two runs
            return bool(t.split()) and t.split()[0] in (second_id, third_id) and "training" in t

        text = wait_screen(lambda t: "choose a method" in t or reattached(t), "a new console", 60)
        show("the terminal gone and back: a new console", text, started)
        if "choose a method" in text:  # it opens on the run training, or on the method screen with `w` for it
            keys("w")
            text = wait_screen(reattached, "a run still training, reattached", 60)
            show("w: reattached to a run still training", text, started)

        keys("n")  # a new run: the method screen, as F1 says
        text = wait_screen(lambda t: "choose a method" in t, "the method screen after n", 20)
        show("n: the method screen", text, started)
        keys("q")
        text = wait_screen(lambda t: "runs are still going" in t and second_id in t and third_id in t,
                           "the quit question naming both runs", 20)
        show("quit with two runs training", text, started)
        keys("s")
        text = wait_screen(lambda t: "EXITED 0" in t, "the console to exit", 30)
        for run_id in (second_id, third_id):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                phase = json.loads((runs / run_id / "status.json").read_text()).get("phase")
                if phase in ("stopped", "done", "failed"):
                    break
                time.sleep(0.5)
            assert phase in ("stopped", "done", "failed"), f"{run_id} still {phase} after quit-and-stop"
        print(f"quit stopped {second_id} and {third_id}")
        print(f"OK: the whole loop at {args.size} in tmux (TERM={args.term}) in {time.monotonic() - started:.0f}s")
        return 0
    except AssertionError as err:
        print(screen())
        print(f"FAILED: {err}")
        return 1
    finally:
        tmux("kill-session", "-t", SESSION, check=False)
        for status in (work / "runs").glob("*/status.json") if (work / "runs").is_dir() else []:
            try:
                pid = json.loads(status.read_text()).get("pid")
                phase = json.loads(status.read_text()).get("phase")
                if pid and phase not in ("done", "failed", "stopped"):
                    os.killpg(pid, 15)
            except (OSError, ValueError):
                pass
        if not args.keep:
            time.sleep(1)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}")


if __name__ == "__main__":
    raise SystemExit(main())
