"""Pure parts of screens/: decimation, value text, run diffs; and the UI's import weight."""
from __future__ import annotations

import math
import subprocess
import sys

from screens.decimate import decimate
from screens.field_row import value_text
from screens.runs_screen import config_diff, short_id


def test_decimate_keeps_short_series_unchanged():
    assert decimate([1, 2, 3], [3.0, 2.0, 1.0], 10) == ([1, 2, 3], [3.0, 2.0, 1.0])


def test_decimate_bounds_points_and_keeps_extremes_and_ends():
    steps = list(range(10_000))
    values = [math.sin(i / 50) for i in steps]
    values[4321] = 50.0  # a spike
    values[7000] = -50.0
    s, v = decimate(steps, values, 80)
    assert len(s) <= 2 * 80 + 2
    assert 50.0 in v and -50.0 in v
    assert s[0] == 0 and s[-1] == 9999
    assert s == sorted(s)


def test_decimate_keeps_a_nan():
    steps = list(range(1000))
    values = [1.0] * 1000
    values[500] = float("nan")
    s, v = decimate(steps, values, 20)
    assert any(math.isnan(x) for x in v)


def test_value_text_round_trips_the_way_users_type():
    assert value_text(None) == ""
    assert value_text(True) == "true"
    assert value_text(2e-4) == "2e-4"
    assert value_text(["q_proj", "v_proj"]) == "q_proj, v_proj"
    assert value_text(16) == "16"


def test_short_id_and_config_diff():
    from console.config import RunConfig

    assert short_id("20250101-120000-lora-aaaa") == "lora-aaaa"
    assert short_id(None) == ""
    a = RunConfig.from_preset("lora")
    b = a.with_changes({"learning_rate": 1e-4})
    assert config_diff(a, b) == ["learning_rate: 2e-4 -> 1e-4"]
    assert config_diff(a, a) == ["the two configs are the same"]


def test_ui_never_imports_the_heavy_libraries():
    """The whole app path (app, every screen, opening the arguments and training screens) stays light."""
    code = (
        "import sys, asyncio\n"
        "from screens.app import TrainingConsoleApp\n"
        "import screens.watcher, screens.diagnosis, console.cli, console.diagnose, console.fixes\n"
        "async def main():\n"
        "    app = TrainingConsoleApp(runs_dir='/nonexistent-runs')\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.press('enter')\n"
        "        await pilot.pause(0.2)\n"
        "        await pilot.press('escape', 'u')\n"
        "        await pilot.pause(0.2)\n"
        "asyncio.run(main())\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes', 'datasets', 'accelerate')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
