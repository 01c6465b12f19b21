"""Text from files and users is shown as text: no markup parsing, no control characters to the terminal."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from console.cli.main import main
from console.common.safe_text import printable


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_printable_leaves_no_control_character_but_newline_and_tab(text):
    out = printable(text)
    assert all(c in "\n\t" or not (ord(c) < 32 or 127 <= ord(c) <= 159) for c in out)
    assert printable(out) == out  # stable


def test_the_cli_never_prints_an_escape_sequence_from_a_dataset(tmp_path, capsys, runs_dir):
    data = tmp_path / "data.jsonl"
    evil = "x\x1b]0;pwned\x07"
    data.write_text(json.dumps({evil: "hello", "text": "a b c"}) + "\n")
    code = main(["train", "--runs-dir", str(runs_dir), "--method", "lora", "--dataset", str(data),
                 "--set", f"text_column={evil}", "--dry-run"])
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\x07" not in out.out + out.err
    assert code in (0, 2)


async def test_markup_and_escapes_in_run_folders_and_toasts_are_shown_as_text(tmp_path, monkeypatch):
    from screens.app import TrainingConsoleApp
    from screens.runs_screen import RunsScreen
    from tests.support.screens import fake_run, metrics_records, wait_for

    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path / "runs", "20250101-120000-lora-aaaa", created=1_735_732_800.0, phase="failed",
             kind="input", message="dataset [/b] not found \x1b]0;pwned\x07", records=metrics_records(steps=10))
    app = TrainingConsoleApp(runs_dir="runs", poll=0.02)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.filled, what="runs")
        await pilot.pause()
        details = str(app.screen.query_one("#run-details").render())
        assert "[/b]" in details and "\x1b" not in details
        app.notify("bad [/b] value \x1b]0;x\x07", title="[b]")  # no MarkupError, no escape
        await pilot.pause()
        note = list(app._notifications)[-1]
        assert "[/b]" in note.message and "\x1b" not in note.message
        await pilot.press("enter")  # the training screen shows the failure message as text too
        await wait_for(pilot, lambda: app.live is not None and app.live.final, what="the failed run")
        await wait_for(pilot, lambda: getattr(app.screen, "drawn", None) == (app.live.id, app.live.version),
                       what="the failed run drawn")
        text = app.screen.query_one("#findings").plain_text
        assert "[/b]" in text and "\x1b" not in text
