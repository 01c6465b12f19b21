"""The warnings of a run, each with its evidence and numbered fixes; the picked fix highlighted."""
from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.common.safe_text import printable
from console.config.analysis import fmt
from console.diagnosis.vocabulary import Severity
from console.loop.findings import describe_fix, title_of

_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold"}


class FindingsPanel(VerticalScroll):
    """The training screen's digit keys pick a fix, `a`/`r` apply it. Focusable (Tab) and scrolled by PageUp/PageDown
    from the screen: on a small terminal a failed run's findings, fixes and log tail do not fit its few lines. The
    fixes come before the log tail, and a picked fix is scrolled into view."""

    can_focus = True
    plain_text = ""
    _shown: list | None = None

    def compose(self):
        yield Static(id="findings-text")

    def show(self, findings: list, config, picked: int, crash: dict | None = None, log_tail: list | None = None,
             notes: list[str] | None = None, ending: list[str] | None = None, gone: list[str] | None = None,
             reading: str = "") -> None:
        """notes: what the trainer said about the data; ending: where a finished run's model is, what next; gone:
        the titles of findings shown earlier in this view that the run no longer shows; reading: the history is
        still being read (said instead of 'No warnings')."""
        text = Text()
        lines: list = []  # Text blocks; a fix is one line (cut to the width) unless it is the picked one
        picked_block = None
        if crash:
            text.append(f"✗ failed ({crash.get('kind', 'error')}): ", style="bold red")
            text.append(f"{printable(crash.get('message') or 'the trainer ended with an error')}\n")
        for note in notes or []:  # what the trainer said about the data (examples cut by max_length)
            text.append("! data: ", style="bold yellow")
            text.append(f"{printable(note)}\n")
        number = 0
        for finding in findings:
            severity = finding.severity
            style = _STYLES[severity]
            mark = severity.mark
            step = getattr(finding, "step", None)
            text.append(f"{mark} {title_of(finding)}", style=style)
            if step is not None and "step" not in title_of(finding):
                text.append(f" (step {fmt(step)})", style=style)
            text.append(f": {finding.evidence}\n")
            for fix in finding.fixes:
                number += 1
                if number > 9:
                    break
                chosen = number == picked
                lines.append(text)
                text = Text()
                line = Text(f"{'▶' if chosen else ' '} [{number}] {describe_fix(fix, config)}",
                            style="reverse" if chosen else "", no_wrap=not chosen, overflow="ellipsis")
                if chosen:
                    picked_block = line
                lines.append(line)
            if finding.numbers.get("overruled"):  # the one plan left a fix of this finding out: say which won
                text.append(f"  ({finding.numbers['overruled']})\n", style="dim")
        for line in ending or []:
            text.append("→ ", style="bold green")
            text.append(f"{printable(line)}\n")
        if gone:  # shown earlier, gone since: said, so a warning that went is not taken for one never raised
            text.append(f"No longer shown: {', '.join(printable(t) for t in gone)} (the curves since no longer show "
                        "it).\n", style="dim")
        if reading:
            text.append(f"{printable(reading)}\n", style="bold yellow")
        elif not findings and not crash and not notes and not gone:
            if not ending:
                text.append("No warnings so far.", style="dim")
            else:
                text.append("No warnings.", style="dim")
        elif findings:
            text.append("1-9 pick a fix · a: apply it to the next run · r: apply it and restart now", style="dim")
        if crash and log_tail:  # last: the fixes above matter more than the trainer's own words
            lines.append(text)
            text = Text("end of train.log:\n", style="dim")
            for line in log_tail[-6:]:
                text.append(f"  {printable(line[:200])}\n", style="dim")
        lines.append(text)
        for block in lines:
            block.rstrip()
        blocks = [b for b in lines if b.plain]
        if blocks == self._shown:  # the same text and styles: leave the terminal alone
            return
        self._shown = blocks
        self.plain_text = "\n".join(b.plain for b in blocks)  # what is shown, for tests and tools
        self.query_one("#findings-text", Static).update(Group(*blocks))
        if picked_block is not None:
            above = sum(b.plain.count("\n") + 1 for b in blocks[:blocks.index(picked_block)])
            self.call_after_refresh(self.scroll_to, y=max(0, above - 1), animate=False)
