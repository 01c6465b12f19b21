"""Pages that show a file or a growing list re-render only when it changed."""
from __future__ import annotations

from textual.app import App

from screens.text_screen import TextScreen, file_stamp


async def test_a_page_reads_its_file_again_only_when_it_changed(tmp_path):
    """The `v` and log pages rebuilt their whole text every second while open, on a finished run too."""
    log = tmp_path / "train.log"
    log.write_text("step 1\n")
    reads = []

    def text() -> str:
        reads.append(1)
        return log.read_text()

    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        page = TextScreen("train.log", text(), refresh=text, changed=lambda: file_stamp(log))
        await app.push_screen(page)
        await pilot.pause()
        for _ in range(5):
            page.reread()  # what its timer calls every second
        assert len(reads) == 1
        with open(log, "a") as f:
            f.write("step 2\n")
        page.reread()
        page.reread()
        assert len(reads) == 2 and "step 2" in str(page.query_one("#text-content").render())
