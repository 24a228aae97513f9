"""The Compare screen: runs side by side by cost and score (core/compare.py), opened from the Runs screen with
the marked runs, or with the highlighted run's sweep.

Top: what is compared (a sweep's progress while it runs) and the table, sorted by the figure of merit, seed groups
as mean ± std with their count; each row numbered. Below: a scatter of the figure of merit against training time
(p: against trainable parameters), one point per row marked with its number, error bars for seed groups; beside
it the runs' curves overlaid, as the Runs screen draws them. The comparison is read in a thread worker, again
every few seconds (the app's refresh interval), so a running sweep's new runs and scores appear as they come.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from ..messages import RunsCompared
from ..widgets.run_monitor import RunMonitor
from ..widgets.scatter import ScatterPlot, ScatterPoint, mark
from .base import TuneLabScreen


def comparison_note(paths: list[Path]) -> str:
    """What is compared, in a line: a sweep's status and progress, or how many runs."""
    from tunelab.core.sweep import is_sweep, sweep_info

    parts = []
    for path in paths:
        if is_sweep(path):
            info = sweep_info(path)
            current = f"; now {', '.join(r.name for r in info.current)}" if info.current else ""
            parts.append(f"sweep {path.name}: {info.status}, {info.done}/{info.total} done{current}")
    return "; ".join(parts) or f"{len(paths)} runs"


class CompareScreen(TuneLabScreen):
    MODE = "runs"
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="back to the Runs screen"),
        Binding("p", "toggle_x", "Time/params", tooltip="plot the figure of merit against training time or "
                                                          "trainable parameters"),
        Binding("ctrl+l", "refresh", "Refresh", show=False, tooltip="read the runs again now"),
    ]
    DEFAULT_CSS = """
    CompareScreen #compare-note {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    CompareScreen #compare-table {
        height: auto;
        max-height: 40%;
        background: $surface;
    }
    CompareScreen #compare-plots {
        height: 1fr;
    }
    CompareScreen #compare-scatter {
        width: 2fr;
        padding: 0 1;
    }
    CompareScreen #compare-monitor {
        width: 3fr;
    }
    CompareScreen #compare-monitor #run-status {
        max-height: 4;
    }
    """

    def __init__(self, paths: list[str | Path]) -> None:
        super().__init__()
        self.paths = [Path(p).resolve() for p in paths]
        self.comparison = None
        self.by_params = False
        self._overlaid: list[Path] = []

    def compose_body(self) -> ComposeResult:
        yield Static("reading the runs…", id="compare-note", markup=False)
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=False)
        with Horizontal(id="compare-plots"):
            yield ScatterPlot(id="compare-scatter")
            yield RunMonitor(clock=self.app.clock, id="compare-monitor")

    @property
    def table(self) -> DataTable:
        return self.query_one("#compare-table", DataTable)

    @property
    def scatter(self) -> ScatterPlot:
        return self.query_one(ScatterPlot)

    @property
    def monitor(self) -> RunMonitor:
        return self.query_one(RunMonitor)

    def on_mount(self) -> None:
        self.action_refresh()
        if self.app.refresh_seconds:
            self.set_interval(self.app.refresh_seconds, self.action_refresh)

    def action_refresh(self) -> None:
        self._compare()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _compare(self) -> None:
        from tunelab.core.compare import compare
        from tunelab.core.errors import TuneLabError

        note = comparison_note(self.paths)
        try:
            self.post_message(RunsCompared(compare(self.paths), note))
        except TuneLabError as err:
            self.post_message(RunsCompared(None, f"{note}: {err}" if note else str(err)))

    def on_runs_compared(self, message: RunsCompared) -> None:
        result = message.comparison
        self.comparison = result
        note = message.note
        if result is not None:
            better = "higher" if result.higher_is_better else "lower"
            note += f"; sorted by validation {result.figure_of_merit or 'figure'} ({better} is better)"
            if result.grouped:
                note += ", seed groups: mean ± std"
        self.query_one("#compare-note", Static).update(note)
        self._fill_table()
        self._draw_scatter()
        if result is not None:
            roots = [run.root for run in result.runs]
            if roots != self._overlaid:          # a new run of a running sweep joins the curves
                self._overlaid = roots
                if len(roots) > 1:
                    self.monitor.overlay(roots)
                else:
                    self.monitor.follow(roots[0])

    def _fill_table(self) -> None:
        table, result = self.table, self.comparison
        if result is None:
            table.clear(columns=True)
            return
        columns = ["#"] + result.columns()
        rows = [[mark(i)] + result.cells(row, digits=3, cost_spread=False) for i, row in enumerate(result.rows)]
        if [str(c.label) for c in table.columns.values()] != columns:
            table.clear(columns=True)
            table.add_columns(*columns)
        else:
            table.clear()
        for cells in rows:
            table.add_row(*cells)

    def _draw_scatter(self) -> None:
        result = self.comparison
        if result is None:
            self.scatter.show([], "", "")
            return
        x_name = "trainable_parameters" if self.by_params else "train_seconds"
        points = []
        for row in result.rows:
            y = row.figures["best_validation"]
            if y.mean is None:
                y = row.figures["test"]
            x = row.figures[x_name].mean
            points.append(ScatterPoint(x, y.mean, y.std) if x is not None and y.mean is not None else None)
        metric = result.figure_of_merit or "figure"
        self.scatter.show(points, "trainable params" if self.by_params else "time (s)", f"valid {metric}")

    def action_toggle_x(self) -> None:
        self.by_params = not self.by_params
        self._draw_scatter()

    def action_close(self) -> None:
        self.app.pop_screen()
