"""The warnings of a run, each with its evidence and numbered fixes; the picked fix highlighted."""
from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.diagnosis import finding_title, fix_label
from console.analysis import fmt


class FindingsPanel(VerticalScroll):
    """Read-only; the training screen's digit keys pick a fix, `a`/`r` apply it."""

    can_focus = False

    def compose(self):
        yield Static(id="findings-text")

    def show(self, findings: list, config, picked: int, crash: dict | None = None, log_tail: list | None = None,
             ) -> None:
        text = Text()
        if crash:
            text.append(f"✗ failed ({crash.get('kind', 'error')}): ", style="bold red")
            text.append(f"{crash.get('message') or 'the trainer ended with an error'}\n")
            if log_tail:
                text.append("end of train.log:\n", style="dim")
                for line in log_tail[-6:]:
                    text.append(f"  {line[:200]}\n", style="dim")
        number = 0
        for finding in findings:
            severity = getattr(finding, "severity", "warning")
            style = "bold red" if severity == "error" else "bold yellow" if severity == "warning" else "bold"
            mark = "!!" if severity == "error" else "!" if severity == "warning" else "i"
            step = getattr(finding, "step", None)
            text.append(f"{mark} {finding_title(finding)}", style=style)
            if step is not None and "step" not in finding_title(finding):
                text.append(f" (step {fmt(step)})", style=style)
            text.append(f": {finding.evidence}\n")
            for fix in finding.fixes:
                number += 1
                if number > 9:
                    break
                chosen = number == picked
                line = f"{'▶' if chosen else ' '} [{number}] {fix_label(fix, config)}\n"
                text.append(line, style="reverse" if chosen else "")
        if not findings and not crash:
            text.append("No warnings so far.", style="dim")
        elif findings:
            text.append("1-9 pick a fix · a: apply it to the next run · r: apply it and restart now", style="dim")
        self.query_one("#findings-text", Static).update(text)
