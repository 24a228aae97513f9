"""The Runs screen: every run with its status from the run-status function (core.run_status), model, data,
step/total, best figure of merit and when it started, refreshed every few seconds; below it the opened run's status and
curves (live while it runs), or several runs overlaid.

Keys: enter opens the highlighted run, space marks runs and o overlays the marked ones, c compares them (or the
highlighted run's whole sweep) on the Compare screen, x stops a run, r
resumes it, t follows it on the Train screen, m uses its trained model. Listing and stopping run in threads
(they read every run's event log); everything else is the RunMonitor's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tunelab.core.run_status import RunInfo, RunStatus, started_text

from ..messages import RunLaunched, RunsListed
from ..widgets.run_monitor import RunMonitor
from ..widgets.status_panel import STATUS_MARK, STATUS_STYLE, shown_path
from .base import TuneLabScreen
from .train import resume_run

COLUMNS = (("", "mark"), ("status", "status"), ("run", "run"), ("model", "model"), ("data", "data"),
           ("step", "step"), ("best", "best"), ("started", "started"))
PROBLEMS = (RunStatus.FAILED, RunStatus.CRASHED, RunStatus.BROKEN, RunStatus.STALLED, RunStatus.UNKNOWN)


def column_widths(total: int) -> dict[str, int]:
    """Widths that fit the table in `total` cells: the run's name gets what the fixed columns leave."""
    widths = {"mark": 1, "status": 11, "model": 12, "data": 8, "step": 7, "best": 10, "started": 7}
    spare = total - 2 * len(COLUMNS) - 2          # one cell of padding each side, and the scrollbar
    run = spare - sum(widths.values())
    if run < 14:
        widths.update(model=9, data=6)
        run = spare - sum(widths.values())
    widths["run"] = max(10, min(run, 40))
    return widths


class RunsTable(DataTable):
    """The runs, one row each; enter opens the highlighted one."""

    BINDINGS = [Binding("enter", "select_cursor", "Open", tooltip="show the highlighted run's status and curves")]


def short_name(spec: str, width: int) -> str:
    """A model or data spec shortened for a column: a path's last part, the spec itself otherwise."""
    if not spec:
        return ""
    if not (spec == "demo" or spec.startswith("H:") or "=" in spec):
        spec = Path(spec).name or spec
    return spec if len(spec) <= width else spec[: width - 1] + "…"


def run_label(root: Path, width: int) -> str:
    """A run directory for the run column: its own name (not a path, even when the name holds `=` as a sweep's runs'
    names do, `003-lr=5e-05-seed=2`), cut in the middle so that both the start and the end, where a sweep's runs
    differ, stay readable."""
    name = Path(root).name or str(root)
    if len(name) <= width:
        return name
    head = max(1, min(4, (width - 1) // 3))
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


def best_text(metric: str, value: float | None, width: int) -> str:
    """`mcc 0.412` for the best column; a long metric name is cut, never the number (the table would otherwise cut
    `accuracy 0.734` to `accuracy 0`)."""
    if value is None:
        return ""
    number = f"{value:.3f}"
    text = f"{metric} {number}"
    if len(text) <= width:
        return text
    room = width - len(number) - 2
    return f"{metric[:room]}… {number}" if room >= 1 else number


def list_all_runs(extra_dirs: list | None, history: bool = True) -> list[RunInfo]:
    """Runs from the history and ./runs (when `history`), plus those under each extra directory, newest first."""
    from tunelab.core.errors import TuneLabError
    from tunelab.core.runs import list_runs

    found: dict[Path, RunInfo] = {}
    if history:
        for info in list_runs(None, limit=100):
            found.setdefault(info.root.resolve(), info)
    for directory in extra_dirs or []:
        try:
            for info in list_runs([directory], limit=100):
                found.setdefault(info.root.resolve(), info)
        except TuneLabError:
            continue
    infos = list(found.values())
    infos.sort(key=lambda i: i.updated or i.started or 0, reverse=True)
    return infos


def sweep_progress(infos: list[RunInfo]) -> dict[str, str]:
    """For each sweep some listed run belongs to: 'sweep cola: running, 3/9 done' (read in the listing's thread)."""
    from tunelab.core.errors import TuneLabError
    from tunelab.core.sweep import is_sweep, sweep_info

    out: dict[str, str] = {}
    for parent in dict.fromkeys(info.root.parent for info in infos):
        if is_sweep(parent):
            try:
                sweep = sweep_info(parent)
            except TuneLabError:
                continue
            out[str(parent)] = f"sweep {parent.name}: {sweep.status}, {sweep.done}/{sweep.total} done"
    return out


class RunsScreen(TuneLabScreen):
    MODE = "runs"
    BINDINGS = [
        Binding("enter", "open", "Open", show=False, tooltip="show the highlighted run's status and curves"),
        Binding("space", "mark", "Mark", tooltip="mark or unmark a run for the overlay"),
        Binding("o", "overlay", "Overlay", tooltip="overlay the marked runs' curves"),
        Binding("c", "compare", "Compare", tooltip="compare the marked runs, or the highlighted run's sweep, by "
                                                   "cost and score"),
        Binding("x", "stop", "Stop", tooltip="ask the run to stop after its current step, with a checkpoint"),
        Binding("r", "resume", "Resume", tooltip="continue a stopped or crashed run from its checkpoint"),
        Binding("t", "train", "Train", tooltip="follow the run on the Train screen, its settings in the form"),
        Binding("m", "use_model", "Use model", show=False, tooltip="use the run's trained model on other screens"),
        Binding("ctrl+l", "refresh", "Refresh", show=False, tooltip="list the runs again now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.infos: dict[str, RunInfo] = {}
        self.marked: list[str] = []
        self.sweeps: dict[str, str] = {}

    def compose_body(self) -> ComposeResult:
        yield RunsTable(id="runs-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="run-detail", markup=False)
        yield RunMonitor(clock=self.app.clock, id="runs-monitor")

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def monitor(self) -> RunMonitor:
        return self.query_one(RunMonitor)

    def on_mount(self) -> None:
        self._widths: dict[str, int] = {}
        self._build_columns(self.size.width or 80)
        self.monitor.status_panel.show_message("Highlight a run and press enter to open it; "
                                               "mark runs with space and press o to overlay them.")
        self.action_refresh()
        if self.app.refresh_seconds:
            self.set_interval(self.app.refresh_seconds, self.action_refresh)
        run = getattr(self.app, "open_run", None)
        if run:
            self.app.open_run = None
            self.open(run)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    # --- listing ------------------------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._list()

    @work(thread=True, exclusive=True, group="list-runs", exit_on_error=False)
    def _list(self) -> None:
        extra = list(self.app.runs_dirs or [])
        if self.app.selection.run:
            extra.append(self.app.selection.run)
        infos = list_all_runs(extra, history=self.app.runs_dirs is None)
        self.post_message(RunsListed(infos, sweep_progress(infos)))

    def _build_columns(self, width: int) -> None:
        widths = column_widths(width)
        if widths == self._widths:
            return
        self._widths = widths
        table = self.table
        table.clear(columns=True)
        for label, key in COLUMNS:
            table.add_column(label, key=key, width=widths[key])
        self._fill(list(self.infos.values()))

    def on_resize(self) -> None:
        if self._widths:
            self._build_columns(self.size.width)

    def on_runs_listed(self, message: RunsListed) -> None:
        self.sweeps = message.sweeps
        self._fill(message.infos)

    def _fill(self, infos: list[RunInfo]) -> None:
        table = self.table
        now = self.app.clock()
        keys = [str(info.root.resolve()) for info in infos]
        self.infos = dict(zip(keys, infos))
        rows = {key: self._row(info, now) for key, info in self.infos.items()}
        current = [row.key.value for row in table.ordered_rows]
        if current == keys:
            for key, cells in rows.items():
                for (_, column), cell in zip(COLUMNS, cells):
                    table.update_cell(key, column, cell)
        else:
            cursor_key = current[table.cursor_row] if current and 0 <= table.cursor_row < len(current) else None
            table.clear()
            for key, cells in rows.items():
                table.add_row(*cells, key=key)
            if cursor_key in keys:
                table.move_cursor(row=keys.index(cursor_key))
        if not keys:
            self.query_one("#run-detail", Static).update("No runs yet: start one on the Train screen (F3).")
        else:
            self._show_detail()

    def _row(self, info: RunInfo, now: float) -> tuple:
        from rich.text import Text

        key = str(info.root.resolve())
        status = info.status
        label = status.value.replace("_", " ")
        if status == RunStatus.RUNNING and info.phase and info.phase != "training":
            label = info.phase
        style = self.app.theme_variables.get(STATUS_STYLE.get(status, "$foreground").lstrip("$"), "")
        step = f"{info.step}/{info.total_steps}" if info.total_steps else (str(info.step) if info.step else "")
        if info.total_steps and len(step) > self._widths.get("step", 7):   # 1896/3000 would be cut: say 63%
            step = f"{100 * info.step / info.total_steps:.0f}%"
        best = best_text(info.figure_of_merit, info.best_metric, self._widths.get("best", 10))
        return (Text("✓" if key in self.marked else " ", style="bold"),
                Text(f"{STATUS_MARK.get(status, '?')} {label}", style=style),
                Text(run_label(info.root, self._widths.get("run", 24))),
                Text(short_name(info.model, self._widths.get("model", 12))),
                Text(short_name(info.data, self._widths.get("data", 8))), Text(step, justify="right"), Text(best, justify="right"),
                Text(started_text(info, now), justify="right"))

    def _cursor_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _show_detail(self) -> None:
        key = self._cursor_key()
        info = self.infos.get(key) if key else None
        detail = self.query_one("#run-detail", Static)
        if info is None:
            detail.update("")
            return
        if info.status in PROBLEMS and info.reason:
            detail.update(f"{info.status.value}: {info.reason}")
            detail.set_class(True, "-problem")
        else:
            detail.update(shown_path(info.root) + self._sweep_note(info.root))
            detail.set_class(False, "-problem")

    def _sweep_note(self, root: Path) -> str:
        progress = self.sweeps.get(str(Path(root).parent))
        return f"  ({progress}; c compares its runs)" if progress else ""

    # --- actions ------------------------------------------------------------------------------------------------

    def open(self, root: str | Path) -> None:
        root = Path(root).resolve()
        self.monitor.follow(root)
        self.app.select(run=str(root))

    def action_open(self) -> None:
        key = self._cursor_key()
        if key is None:
            self.notify("no run to open", severity="warning")
            return
        self.open(key)

    def action_mark(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        if key in self.marked:
            self.marked.remove(key)
        else:
            self.marked.append(key)
        self.table.update_cell(key, "mark", "✓" if key in self.marked else " ")

    def action_overlay(self) -> None:
        roots = [key for key in self.marked if key in self.infos]
        if len(roots) < 2:
            key = self._cursor_key()
            if key and key not in roots:
                roots.append(key)
        if len(roots) < 2:
            self.notify("mark two or more runs with space, then press o to overlay them", severity="warning")
            return
        self.monitor.overlay(roots)

    def action_compare(self) -> None:
        from tunelab.core.sweep import is_sweep

        from .compare import CompareScreen

        roots = [key for key in self.marked if key in self.infos]
        key = self._cursor_key()
        if len(roots) >= 2:
            self.app.push_screen(CompareScreen(roots))
        elif key is not None and is_sweep(Path(key).parent):
            self.app.push_screen(CompareScreen([Path(key).parent]))
        else:
            self.notify("mark two or more runs with space (or highlight a run of a sweep), then press c to compare "
                        "them", severity="warning")

    def action_stop(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        self._stop(Path(key))

    @work(thread=True, group="stop", exit_on_error=False)
    def _stop(self, root: Path) -> None:
        from tunelab.core.runs import request_stop

        info = request_stop(root)
        self.app.call_from_thread(
            self.notify, f"asked {root.name} (pid {info.pid}) to stop after its current step; it saves a checkpoint")
        self.app.call_from_thread(self.action_refresh)

    def action_resume(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        self._resume(Path(key))

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _resume(self, root: Path) -> None:
        self.post_message(RunLaunched(*resume_run(root), resumed=True))

    def on_run_launched(self, message: RunLaunched) -> None:
        self.notify(f"resumed {message.root.name} (pid {message.pid})")
        self.open(message.root)
        self.action_refresh()

    def action_train(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        self.app.select(run=key)
        self.app.show_run_on_train(key)

    def action_use_model(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        self.app.select(model=key)
        self.notify(f"model: {Path(key).name} (its trained model/)")

    def on_run_monitor_updated(self, message: RunMonitor.Updated) -> None:
        """Keep the opened run's row as fresh as its curves (the listing itself comes every few seconds)."""
        trace = self.monitor.traces.get(message.root)
        key = str(message.root)
        listed = self.infos.get(key)
        if trace is None or listed is None or trace.info is None:
            return
        fresh = replace(listed, status=trace.status, step=max(trace.step, 0), phase=trace.phase,
                        best_metric=trace.best if trace.best is not None else listed.best_metric,
                        updated=max(trace.last_time or 0, listed.updated or 0) or None)
        if fresh != listed:
            self.infos[key] = fresh
            cells = self._row(fresh, self.app.clock())
            for (_, column), cell in zip(COLUMNS, cells):
                self.table.update_cell(key, column, cell)
