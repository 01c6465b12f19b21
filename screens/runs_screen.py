"""Screen 4: every run in the runs folder; mark runs to overlay their eval curves, diff two configs, open,
rerun, or edit and rerun."""
from __future__ import annotations

import os
import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey

from console.common.errors import RunError, UserError
from console.common.safe_text import printable
from console.runs.rundir import ACTIVE_PHASES, RunDir
from screens.messages import RunRowsRead, RunsListed
from screens.widgets.metric_chart import Curve, MetricChart

ARRANGE_S = 0.5  # while rows come in, the table is put in order at most this often
COLUMNS = ("mark", "run", "method", "status", "steps", "best", "parent", "fix")
# Fixed widths, so the columns stand still while thousands of rows come in batches (auto widths grew with each
# longer value: the table slipped sideways as it filled). The run column takes the longest id listed; fix is last.
WIDTHS = {"mark": 1, "method": 11, "status": 8, "steps": 9, "best": 9, "parent": 10}  # adapter+kto, qlora-524c whole
# The table's word for a phase longer than its column (the details line under it says the phase whole)
SHORT_PHASES = {"loading libraries": "loading", "loading model": "loading", "preparing data": "data",
                "evaluating": "eval"}
COLORS = ["cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white"]


def steps_text(step: int, max_steps: int | None, width: int = WIDTHS["steps"]) -> str:
    """'40/100'; in thousands or millions when that is wider than the column ('909k/1M': it showed '909090/10',
    which reads as another number)."""
    text = f"{step}/{max_steps}" if max_steps else str(step)
    if len(text) <= width:
        return text

    def short(n: int) -> str:  # rounded down: a run is never shown further than it is
        if n < 10_000:
            return str(n)
        if n < 10**6:
            return f"{n // 1000}k"
        if n < 10**7:
            return f"{n // 10**5 / 10:g}M"
        return f"{n // 10**6}M" if n < 10**9 else f"{n // 10**9}G"

    return f"{short(step)}/{short(max_steps)}" if max_steps else short(step)


def short_id(run_id: str | None) -> str:
    """'20261123-235402-lora-524c' -> 'lora-524c' (the stamp is in the run column)."""
    if not run_id:
        return ""
    parts = run_id.split("-")
    return "-".join(parts[2:]) if len(parts) > 2 and parts[0].isdigit() else run_id


def config_diff(a, b) -> list[str]:
    """Lines 'key: a -> b' for every argument that differs between two configs."""
    from console.config.analysis import fmt

    def word(value) -> str:  # None is what an argument left out holds: one word for both (it said both)
        return "(unset)" if value is None else fmt(value)

    lines = []
    if a.method != b.method:
        lines.append(f"method: {a.method} -> {b.method}")
    for key in sorted(set(a.values) | set(b.values)):
        va, vb = a.values.get(key), b.values.get(key)
        if va != vb:
            lines.append(f"{key}: {word(va)} -> {word(vb)}")
    return lines or ["the two configs are the same"]


class RunsScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("o", "overlay", "Overlay"),
        Binding("d", "diff", "Diff"),
        Binding("r", "rerun", "Rerun"),
        Binding("e", "edit", "Edit+rerun", show=False),  # the footer at 80 columns: e, s, x are under F1
        Binding("R", "resume", "Resume", key_display="R"),
        Binding("s", "sort", "Sort", show=False),
        Binding("x", "delete", "Delete", show=False),
        Binding("E", "export", "Export", show=False, key_display="E"),
        Binding("t", "chat", "Chat"),
        Binding("n", "new_run", "New run", show=False),
        Binding("escape", "back", "Back"),
        Binding("home", "first", "First run", show=False, priority=True),
        Binding("end", "last", "Last run", show=False, priority=True),
    ]

    def __init__(self):
        super().__init__()
        self.runs: list[RunDir] = []  # the runs shown, in the table's order
        self.rows: dict[str, dict] = {}
        self.marked: list[str] = []
        self.overlay = False
        self.sort_by = "date"  # s: date (oldest first, as the folder names sort) or best eval (lowest first)
        self.order: dict[str, int] = {}  # run id -> its place in the folder's order (oldest first)
        self.listed = 0  # runs in the folder at the last listing
        self.filled = False  # every row of the last listing is read
        self._generation = 0  # the listing whose rows are coming in
        self._fresh = False  # the next batch of rows starts a new listing
        self._seen: set[str] = set()  # the runs of this listing read so far
        self._arranged_at = 0.0  # time.monotonic() of the last sort of the table
        self._listing: tuple[int | None, float] = (None, 0.0)  # (the folder's mtime_ns, when it was listed)

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=False)
        with Vertical(id="runs-bottom"):
            yield Static(id="run-details")
            yield MetricChart("eval loss", id="overlay-chart")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in zip(("", "run", "method", "status", "steps", "best eval", "parent", "fix"), COLUMNS):
            table.add_column(label, key=key, width=WIDTHS.get(key, len("20261206-174547-lora-a982") if key == "run"
                                                              else None))
        self.query_one("#overlay-chart").display = False
        self.set_interval(2.0, self.refresh_active)
        table.focus()  # the rows are read at on_screen_resume, which follows (a second read here was thrown away)

    def on_screen_resume(self) -> None:
        self.reload()
        if self.overlay:  # drawn again once the screen has its size back (it was blank on the first `o` after)
            self.call_after_refresh(self.draw_overlay)

    # -- data ------------------------------------------------------------------------------------------------
    def summary(self, run: RunDir) -> dict:
        from console.runs.progress import run_summary

        return run_summary(run)

    def reload(self) -> None:
        """List the runs folder and read every run's row in a worker (screens/workers/run_rows.py): the screen
        draws at once and takes keys while the rows come in, newest first (at 1000 runs, built here, it showed
        nothing and took no key for 9 s)."""
        self._generation += 1
        self._fresh = True
        self.filled = False
        self._listing = (self._folder_mtime(), time.time())
        self.run_worker(self._read_rows, thread=True, exclusive=True, group="run-rows", exit_on_error=False)
        self._title()

    def _read_rows(self) -> None:
        from textual.worker import get_current_worker

        from screens.workers.run_rows import read_rows

        worker, generation = get_current_worker(), self._generation
        read_rows(self.app.runs_dir, self.post_message, lambda: worker.is_cancelled, generation)

    def on_runs_listed(self, message: RunsListed) -> None:
        if message.generation == self._generation:
            self.order = {run_id: i for i, run_id in enumerate(message.ids)}
            self.listed = len(message.ids)
            table = self.query_one(DataTable)
            column = table.columns[ColumnKey("run")]
            widest = max((len(run_id) for run_id in message.ids), default=len("run"))
            if column.width != widest:
                column.width = widest
                # DataTable has no public call to resize a column; this flag is the one its own update_cell(...,
                # update_width=True) sets to have the table's size worked out again
                table._require_update_dimensions = True
                table.refresh()
            self._title()

    def on_run_rows_read(self, message: RunRowsRead) -> None:
        """A batch of rows: new runs added, changed rows updated in place (a reload on coming back to the screen
        keeps the table and its cursor), and at the last batch the runs no longer in the folder removed."""
        if message.generation != self._generation:
            return  # a listing read again since: its rows are coming
        table = self.query_one(DataTable)
        cursor_key = self.cursor_run_id()
        if self._fresh:
            self._fresh, self._seen = False, set()
        for row in message.rows:
            run_id = row["id"]
            self._seen.add(run_id)
            if run_id not in self.rows:
                table.add_row(*self.cells(row), key=run_id)
                self.runs.append(RunDir(self.app.runs_dir / run_id))  # the table's order: add_row puts it last
            elif self.rows[run_id] != row:
                for key, value in zip(COLUMNS, self.cells(row)):
                    table.update_cell(run_id, key, value)
            self.rows[run_id] = row
        self.filled = message.done
        if self.filled:
            for gone in set(self.rows) - self._seen:
                del self.rows[gone]
                table.remove_row(gone)
            self.marked = [m for m in self.marked if m in self.rows]
        # put in order at most twice a second while the rows come in (a sort of every row at each batch queued
        # the batches ahead of the keys: a key waited seconds at 3000 runs), and once at the end
        if self.filled or time.monotonic() - self._arranged_at >= ARRANGE_S:
            self._arrange(cursor_key)
            if cursor_key is None or cursor_key not in self.rows:
                table.move_cursor(row=len(self.runs) - 1)
        self._title()
        self.show_details()
        self.refresh_bindings()

    def _arrange(self, cursor_key: str | None) -> None:
        """Put the table's rows in the screen's order (date or best eval) and the cursor back on its run (on the
        newest run at first)."""
        table = self.query_one(DataTable)
        ids = sorted(self.rows, key=lambda i: self.order.get(i, len(self.order)))
        if self.sort_by == "best eval":  # runs without an eval last, in date order
            ids.sort(key=lambda i: (self.rows[i]["best_eval"] is None, self.rows[i]["best_eval"] or 0))
        rank = {run_id: i for i, run_id in enumerate(ids)}
        table.sort("run", key=lambda cell: rank.get(str(cell), len(rank)))
        known = {run.id: run for run in self.runs}
        runs_dir = self.app.runs_dir
        self.runs = [known.get(run_id) or RunDir(runs_dir / run_id) for run_id in ids]
        self._arranged_at = time.monotonic()
        if cursor_key in self.rows:
            table.move_cursor(row=table.get_row_index(cursor_key))
        elif self.runs:
            table.move_cursor(row=len(self.runs) - 1)

    def _title(self) -> None:
        active = sum(1 for r in self.rows.values() if r["status"] in ACTIVE_PHASES)
        if self.filled:
            count = f"{len(self.runs)}" + (f", {active} training" if active else "") + f", by {self.sort_by}" + (
                "" if self.runs else "  (none yet: n starts one)")
        else:
            count = f"reading {len(self.rows)} of {self.listed or '...'} runs, newest first, by {self.sort_by}"
        self.query_one("#runs-title", Static).update(
            Text.assemble(("Runs", "bold"), f" in {self.app.runs_dir}: {count}"))

    def cells(self, row: dict) -> list:
        steps = steps_text(row["step"], row["max_steps"])
        best = f"{row['best_eval']:.4f}" if row["best_eval"] is not None else "-"
        style = {"failed": "red", "done": "green", "stopped": "yellow"}.get(row["status"], "bold")
        state = SHORT_PHASES.get(row["status"], row["status"])
        if row.get("stalled"):  # its why is in the details line (run_summary's message)
            state, style = "no reply", "bold red"
        mark = "●" if row["id"] in self.marked else " "
        # Text cells: DataTable reads a str cell as markup, and these come from run folders
        return [mark, Text(row["id"]), Text(printable(row["method"])), Text(printable(state), style=style),
                steps, best, Text(printable(short_id(row["parent"]))), Text(printable(row["fix"] or ""))]

    def refresh_active(self) -> None:
        """Timer: the runs folder listed again when it changed (its mtime), and the rows of runs still training
        read again (only while this screen is shown: listing every entry every 2 s cost 1 % of a core at 3000
        runs)."""
        if not self.is_current:
            return
        mtime, listed_at = self._listing
        now_mtime = self._folder_mtime()
        # a folder changed in the last seconds may still be getting its config.yaml (create_run writes it after
        # the mkdir, which alone moves the folder's mtime): its names are compared until it settles
        settling = now_mtime is not None and now_mtime / 1e9 > listed_at - 5
        if now_mtime != mtime or (settling and self.filled and self._folder_names() != set(self.rows)):
            self.reload()
            return
        if not self.filled:
            return
        table = self.query_one(DataTable)
        active = [run for run in self.runs if self.rows[run.id]["status"] in ACTIVE_PHASES]
        for run in active:
            self.rows[run.id] = self.summary(run)
        if self.sort_by != "date" and active:  # a training run's best eval moves: the order with it
            self._arrange(self.cursor_run_id())
        for run in active:
            for key, value in zip(COLUMNS, self.cells(self.rows[run.id])):
                table.update_cell(run.id, key, value)
        if active:
            self._title()

    def _folder_mtime(self) -> int | None:
        try:
            return os.stat(os.path.expanduser(str(self.app.runs_dir))).st_mtime_ns
        except OSError:
            return None

    def _folder_names(self) -> set[str]:
        """The names of the runs folder's run folders (a folder with a config.yaml), without reading them."""
        try:
            with os.scandir(os.path.expanduser(str(self.app.runs_dir))) as entries:
                return {e.name for e in entries if e.is_dir(follow_symlinks=False)
                        and os.path.isfile(os.path.join(e.path, "config.yaml"))}
        except OSError:
            return set(self.rows)

    def cursor_run_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return self.runs[table.cursor_row].id if table.cursor_row < len(self.runs) else None

    def cursor_run(self) -> RunDir | None:
        run_id = self.cursor_run_id()
        return next((r for r in self.runs if r.id == run_id), None)

    @on(DataTable.RowHighlighted)
    def show_details(self) -> None:
        row = self.rows.get(self.cursor_run_id() or "")
        details = self.query_one("#run-details", Static)
        if row is None:
            details.update("")
            return
        text = Text()
        text.append(row["id"], style="bold")
        text.append(printable(f"  {row['method']}  {row['status']}"))
        if row["message"]:
            text.append(printable(f": {row['message']}"), style="red" if row["status"] == "failed" else "")
        if row.get("data"):
            text.append(printable(f"\ndata: {row['data']}"))
        if row["parent"]:
            text.append(printable(f"\nparent {row['parent']}"))
            if row["fix"]:
                text.append(printable(f"  fix: {row['fix']}"))
        if self.marked:
            marked = Text(f"marked: {', '.join(short_id(m) for m in self.marked)}", style="dim")
            # under the overlay the details have two lines: what is marked (what the chart shows) comes second
            text = Text("\n").join([text.split()[0], marked]) if self.overlay else text.append("\n").append_text(marked)
        details.update(text)
        if self.overlay:
            self.draw_overlay()

    # -- keys ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters) -> bool | None:
        has_run = bool(self.runs)
        if action in ("open", "mark", "rerun", "edit", "overlay", "delete", "first", "last", "sort", "export",
                      "chat"):
            return True if has_run else None
        if action == "resume":
            row = self.rows.get(self.cursor_run_id() or "")
            return True if row and row["status"] in ("stopped", "failed") else None
        if action == "diff":  # shown when it can diff; with three marked it says why it will not
            return True if len(set(self.marked) | {self.cursor_run_id()}) >= 2 else None
        return True

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        run = self.cursor_run()
        if run is not None:
            self.app.open_run(run)

    def action_mark(self) -> None:
        run_id = self.cursor_run_id()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        self.query_one(DataTable).update_cell(run_id, "mark", "●" if run_id in self.marked else " ")
        self.show_details()
        self.refresh_bindings()

    def action_overlay(self) -> None:
        self.overlay = not self.overlay
        self.query_one("#overlay-chart").display = self.overlay
        self.query_one("#runs-bottom").set_class(self.overlay, "-overlay")
        self.show_details()  # its lines depend on the overlay; it draws the overlay when on

    def draw_overlay(self) -> None:
        from console.runs.history_store import run_history

        ids = self.marked or [self.cursor_run_id()]
        curves = []
        for i, run_id in enumerate(i for i in ids if i):
            run = next(r for r in self.runs if r.id == run_id)
            series = run_history(run.path).eval_loss
            curves.append(Curve(short_id(run_id), series.steps, series.values, color=COLORS[i % len(COLORS)]))
        self.query_one("#overlay-chart", MetricChart).set_curves(curves, title="eval loss")

    def two_runs(self) -> tuple[str, str] | None:
        """The two runs to diff, older first (a parent before its child: the diff reads old -> new); None unless
        exactly two are marked, or one is marked and the cursor is on another."""
        ids = list(self.marked)
        cursor = self.cursor_run_id()
        if len(ids) == 1 and cursor and cursor not in ids:
            ids.append(cursor)
        if len(ids) != 2:
            return None
        order = [r.id for r in self.runs]  # the runs folder's order: oldest first
        return tuple(sorted(ids, key=lambda i: order.index(i) if i in order else len(order)))

    def action_diff(self) -> None:
        from console.config.run_config import load_run_config
        from screens.text_screen import TextScreen

        pair = self.two_runs()
        if pair is None:
            self.notify(f"{len(self.marked)} runs are marked: diff compares two. Unmark with space until two are "
                        "marked" if len(self.marked) > 2 else
                        "mark a run with space, then put the cursor on another (or mark two)")
            return
        try:
            a, b = (load_run_config(self.app.runs_dir / run_id) for run_id in pair)
        except UserError as err:
            self.notify(str(err), severity="error")
            return
        body = "\n".join(config_diff(a, b))
        self.app.push_screen(TextScreen(f"{pair[0]}  ->  {pair[1]}", body))

    def _config_for_rerun(self):

        run = self.cursor_run()
        if run is None:
            return None, None
        from console.loop.next_run import child_config

        try:
            config = child_config(run.config(), run.id)
        except UserError as err:
            self.notify(str(err), severity="error")
            return None, None
        return run, config

    def action_rerun(self) -> None:
        """What `training-console rerun RUN` does: the top fix of the run's newest finding applied (the same config
        when it has none), asked first with the change spelled out."""
        from console.loop.findings import describe_fix
        from console.loop.next_run import plan_rerun
        from screens.confirm import ConfirmScreen

        run = self.cursor_run()
        if run is None:
            return
        try:
            try:
                plan = plan_rerun(run)
            except UserError as err:
                if "shows no problem with a fix" not in str(err):
                    raise
                plan = plan_rerun(run, "none")
        except UserError as err:
            self.notify(str(err), severity="error")
            return
        if plan.fix is not None:

            what = (f"with the fix for \"{plan.finding.title}\": "
                    f"{describe_fix(plan.fix, run.config())}")
        else:
            what = "with the same config (it shows no problem with a fix)"

        def decided(choice: str | None) -> None:
            if choice == "yes":
                self.app.launch(plan.config)

        self.app.push_screen(ConfirmScreen(f"Rerun {run.id} {what}? (e edits it first)",
                                           [("y", "Yes, start it", "yes"), ("n", "No", "no")]), decided)

    def action_edit(self) -> None:
        run, config = self._config_for_rerun()
        if config is not None:
            self.app.run_worker(self.app.show_arguments(config, f"edit of {run.id}"), exclusive=True, group="nav")

    def action_first(self) -> None:
        if self.runs:
            self.query_one(DataTable).move_cursor(row=0)

    def action_last(self) -> None:
        if self.runs:
            self.query_one(DataTable).move_cursor(row=len(self.runs) - 1)

    def action_sort(self) -> None:
        self.sort_by = "best eval" if self.sort_by == "date" else "date"
        self._arrange(self.cursor_run_id())
        self._title()

    def action_resume(self) -> None:
        """A stopped (or killed) run goes on from its last checkpoint, and opens live."""
        from console.runs.launcher import check_resumable, launch

        run = self.cursor_run()
        if run is None:
            return
        try:
            check_resumable(run)
            launch(run, resume=True)
        except UserError as err:
            self.notify(str(err), severity="error", timeout=10)
            return
        checkpoint, skipped = run.checkpoint_to_resume()
        self.notify(f"{run.id} resumed from {checkpoint.name if checkpoint else 'its start'}"
                    + (f" ({'; '.join(skipped)})" if skipped else ""), timeout=8)
        self.app.open_run(run)

    def action_delete(self) -> None:
        """Delete a run and its folder (checkpoints and model included), after asking; never one that trains. The
        check is made again when the answer comes (console/runs/delete.py): a resume started from a shell while
        the question was open had its folder deleted under its trainer."""
        from console.runs.delete import check_deletable, delete_run
        from screens.confirm import ConfirmScreen

        run = self.cursor_run()
        if run is None:
            return
        try:
            check_deletable(run)
        except RunError as err:
            self.notify(str(err), severity="error")
            return
        size = sum(f.stat().st_size for f in run.path.rglob("*") if f.is_file() and not f.is_symlink())

        def decided(choice: str | None) -> None:
            if choice != "delete":
                return
            try:
                delete_run(run)
            except RunError as err:
                self.notify(str(err), severity="error", timeout=10)
            else:
                self.notify(f"deleted {run.id}")
                if self.app.live is not None and self.app.live.id == run.id:
                    self.app.live = None
            self.reload()

        self.app.push_screen(ConfirmScreen(f"Delete run {run.id} and its folder {run.path} ({size / 2**20:.1f} MiB: "
                                           "checkpoints and model included)? This cannot be undone.",
                                           [("y", "Yes, delete", "delete"), ("n", "No", "no")]), decided)

    def action_export(self) -> None:
        """E: what `training-console export RUN [--merge]` does, after asking adapter or merged (a full fine-tuning
        run: its model), in a child process (screens/workers/exporter.py): this process never imports torch."""
        from screens.confirm import ConfirmScreen
        from screens.workers import exporter

        run = self.cursor_run()
        if run is None:
            return
        busy = [w.name for w in self.app.workers if w.group == "export" and not w.is_finished]
        if busy:
            self.notify(f"{busy[0]} is still going: one export at a time (a merge holds the whole model in memory)",
                        severity="warning")
            return
        try:
            plans = exporter.plans_for(run)
        except UserError as err:
            self.notify(str(err), severity="error", timeout=15)
            return
        text, choices = exporter.question(run, plans)

        def decided(choice: str | None) -> None:
            if choice in plans:
                exporter.start(self, plans[choice])
                self.notify(f"exporting {run.id} ({choice}) to {plans[choice].dest}: a notice says when it is done")

        self.app.push_screen(ConfirmScreen(text, choices), decided)

    def on_export_finished(self, message) -> None:
        """screens.workers.exporter.ExportFinished: where the exported folder is, or why there is none (one line)."""
        if message.error:
            self.notify(message.error, severity="error", timeout=20)
        else:
            self.notify(message.line or f"exported {message.run_id} to {message.path}", timeout=20)

    def action_chat(self) -> None:
        """t: chat with the run's model next to its base model (screens/chat_screen.py)."""
        from screens.chat_screen import open_chat

        open_chat(self.app, self.cursor_run())

    def action_new_run(self) -> None:
        self.app.run_worker(self.app.new_run(), exclusive=True, group="nav")

    def action_back(self) -> None:
        self.app.run_worker(self.app.back(), exclusive=True, group="nav")
