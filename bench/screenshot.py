"""Pictures of the console for the docs: the method, arguments and training screens as SVG, drawn headless.

    python bench/screenshot.py [--out docs] [--size 100x32]

Writes docs/console-method.svg (the first screen), docs/console-arguments.svg (LoRA's arguments with the memory
estimate) and docs/console-training.svg (a finished LoRA run that overfits: its curves, the finding and its fixes).
The runs are the screens tests' fixed fake run folders (tests/support/screens.py: fixed ids and times, no
clocks), in a temporary folder; nothing is trained and nothing outside that folder is written but the pictures.
The clock is UTC and the machine is taken as a CPU with 16 GiB of memory, so the pictures do not depend on where
the script runs. Re-run it after a deliberate change of the look, and look at the pictures before committing them.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def _wait(pilot, condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def _shoot(app, size: tuple[int, int], out: Path, name: str, before) -> Path:
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await before(pilot)
        app.clear_notifications()
        await pilot.pause()
        app.save_screenshot(filename=name, path=str(out))
    return out / name


async def main_async(out: Path, size: tuple[int, int]) -> list[Path]:
    import console.config.memory
    from screens.app import TrainingConsoleApp
    from screens.arguments_screen import ArgumentsScreen
    from screens.method_screen import MethodScreen
    from screens.training_screen import TrainingScreen
    from tests.support.screens import standard_runs

    console.config.memory.available_ram = lambda: 16 * 1024 ** 3  # the estimate's verdict: the same everywhere
    standard_runs(Path("runs"))
    written = []

    async def method(pilot):
        await _wait(pilot, lambda: isinstance(pilot.app.screen, MethodScreen), "the method screen")

    written.append(await _shoot(TrainingConsoleApp(runs_dir="runs"), size, out, "console-method.svg", method))

    async def arguments(pilot):
        await pilot.press("2", "enter")  # LoRA
        await _wait(pilot, lambda: isinstance(pilot.app.screen, ArgumentsScreen), "the arguments screen")
        await _wait(pilot, lambda: pilot.app.screen.memory_for is not None, "the memory estimate")
        await pilot.pause()

    written.append(await _shoot(TrainingConsoleApp(runs_dir="runs"), size, out, "console-arguments.svg", arguments))

    async def training(pilot):
        app = pilot.app
        await _wait(pilot, lambda: app.live is not None and app.live.final and isinstance(app.screen, TrainingScreen),
                    "the run")
        await _wait(pilot, lambda: app.screen.drawn == (app.live.id, app.live.version), "the run drawn")

    app = TrainingConsoleApp(runs_dir="runs", attach="lora-aaaa", poll=0.02)
    written.append(await _shoot(app, size, out, "console-training.svg", training))
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="the folder for the SVG files (default: docs/)")
    parser.add_argument("--size", default="100x32", help="the terminal's size, COLUMNSxROWS (default 100x32)")
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="console-screenshot-") as tmp:
        os.environ["TRAINING_CONSOLE_HOME"] = str(Path(tmp) / "home")
        os.environ["TRAINING_CONSOLE_CPU"] = "1"
        os.environ["TZ"] = "UTC"
        time.tzset()
        os.chdir(tmp)
        for path in asyncio.run(main_async(out, (columns, rows))):
            print(f"{path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
