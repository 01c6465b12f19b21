"""Every key the footer shows fits in 80 columns: at 80x24 (tmux's default) the arguments screen's footer lost its
last item ("f1 He") when F11 Data was added."""
from __future__ import annotations

from textual.widgets import Footer

from tests.screens.test_screens_arguments import open_lora
from tests.screens.test_screens_method import app  # noqa: F401  the method screen's fixture: a console in tmp_path


def footer_overflow(screen, width: int) -> list[str]:
    """The footer's keys whose text passes the right edge (their region's right end beyond `width`)."""
    footer = screen.query_one(Footer)
    return [str(key.render()) for key in footer.query("FooterKey") if key.region.right > width]


async def test_the_footer_fits_80_columns_on_the_method_arguments_and_runs_screens(app):  # noqa: F811
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert footer_overflow(pilot.app.screen, 80) == [], "method screen"
        await open_lora(pilot)
        await pilot.pause()
        assert footer_overflow(pilot.app.screen, 80) == [], "arguments screen"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert footer_overflow(pilot.app.screen, 80) == [], f"runs screen ({type(pilot.app.screen).__name__})"


async def test_the_training_screens_footer_fits_80_columns_with_a_warning_shown(runs):  # noqa: F811
    """With a warning (its fix keys shown) the footer ended 'q Quit f1': Help was cut (a new user's report)."""
    from tests.screens.test_screens_training import make_app, opened

    console = make_app("lora-aaaa")
    async with console.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        assert screen.live.findings()
        await pilot.pause()
        assert footer_overflow(screen, 80) == [], "training screen with a warning"
