"""Live view of one run, or of several overlaid: the status panel over three curves (loss per step with its
smoothed trend, the figure of merit at each evaluation, the learning rate).

The Train screen shows the run it started; the Runs screen the run it opened, or the runs it overlays.
`follow(root)` / `overlay(roots)` start one RunFollower thread (tui/follow.py) that reads the run
directories; its `RunEvents` land here and go into the CurveCharts (which redraw in their own threads, at most
4 times a second) and into a RunTrace per run for the status panel. When a resumed segment starts at step k,
the points past k that the crashed segment logged are dropped first, so the curve continues from the checkpoint.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from tunelab.core.events import EvalDone, RunStarted
from tunelab.themes import SERIES_VARIABLES

from ..follow import RunFollower, RunTrace, StepBlock
from ..messages import RunEvents, RunStatusChanged
from .curve import CurveChart
from .status_panel import StatusPanel

LOSS_SMOOTHING = 0.9  # EMA weight of the loss trend (TensorBoard's default slider is 0.6-0.9)


def keep_after(chart: CurveChart, name: str, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop points at or before the series' last step (a re-read after a follower restarted)."""
    if name in chart.series_names:
        x, _ = chart.series_data(name)
        if len(x):
            keep = xs > x[-1]
            return xs[keep], ys[keep]
    return xs, ys


def truncate_series(chart: CurveChart, name: str, step: float) -> None:
    """Keep only the points of `name` at or before `step`."""
    if name not in chart.series_names:
        return
    x, y = chart.series_data(name)
    keep = x <= step
    if keep.all():
        return
    x, y = x[keep].copy(), y[keep].copy()
    chart.clear(name)
    if len(x):
        chart.append(name, x, y)


class RunMonitor(Widget):
    """Status panel + loss, figure-of-merit and learning-rate charts for followed runs."""

    DEFAULT_CSS = """
    RunMonitor {
        layout: vertical;
        width: 1fr;
        height: 1fr;
    }
    RunMonitor > #charts {
        layout: grid;
        grid-size: 2 2;
        grid-rows: 3fr 2fr;
        grid-gutter: 0 1;
        height: 1fr;
    }
    RunMonitor #loss-chart {
        column-span: 2;
    }
    RunMonitor CurveChart {
        min-height: 4;
        height: 1fr;
    }
    /* short: the three charts side by side, loss the widest */
    RunMonitor.-compact > #charts {
        grid-size: 3 1;
        grid-rows: 1fr;
        grid-columns: 2fr 1fr 1fr;
    }
    RunMonitor.-compact #loss-chart {
        column-span: 1;
    }
    """

    COMPACT_BELOW = 22  # rows: below this the charts stand side by side

    class Updated(Message):
        """Something about a followed run changed (events read, or its status); screens refresh their keys."""

        def __init__(self, monitor: "RunMonitor", root: Path) -> None:
            super().__init__()
            self.monitor = monitor
            self.root = root

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.clock = clock
        self.traces: dict[Path, RunTrace] = {}
        self._follower: RunFollower | None = None
        self._colors: dict[Path, str] = {}
        self._labels: dict[Path, str] = {}
        self._eval_split: dict[Path, str] = {}
        self.overlaid = False

    def compose(self) -> ComposeResult:
        yield StatusPanel(clock=self.clock, id="run-status")
        with Container(id="charts"):
            yield CurveChart(title="loss", id="loss-chart", empty_text="loss: waiting for steps…")
            yield CurveChart(title="figure of merit", id="metric-chart", empty_text="no evaluation yet")
            yield CurveChart(title="learning rate", id="lr-chart", empty_text="learning rate")

    def on_resize(self) -> None:
        self.set_class(self.size.height < self.COMPACT_BELOW, "-compact")

    # --- public API ---------------------------------------------------------------------------------------------

    @property
    def status_panel(self) -> StatusPanel:
        return self.query_one(StatusPanel)

    @property
    def loss_chart(self) -> CurveChart:
        return self.query_one("#loss-chart", CurveChart)

    @property
    def metric_chart(self) -> CurveChart:
        return self.query_one("#metric-chart", CurveChart)

    @property
    def lr_chart(self) -> CurveChart:
        return self.query_one("#lr-chart", CurveChart)

    @property
    def charts(self) -> list[CurveChart]:
        return [self.loss_chart, self.metric_chart, self.lr_chart]

    @property
    def current(self) -> Path | None:
        """The run shown alone (None in overlay mode or when nothing is shown)."""
        if self.overlaid or len(self.traces) != 1:
            return None
        return next(iter(self.traces))

    @property
    def current_trace(self) -> RunTrace | None:
        root = self.current
        return self.traces[root] if root is not None else None

    def follow(self, root: str | Path) -> None:
        """Show one run: its status and curves, live while it runs."""
        self._start([Path(root).resolve()], overlaid=False)

    def overlay(self, roots: Sequence[str | Path]) -> None:
        """Show several runs' curves on shared axes, one colour each (series-1 .. series-4, then again)."""
        self._start([Path(r).resolve() for r in dict.fromkeys(roots)], overlaid=True)

    def show_message(self, text: str) -> None:
        """Stop following and show `text` in place of a status."""
        self._stop()
        self.traces = {}
        self._reset_charts()
        self.status_panel.show_message(text)

    def draw_now(self) -> None:
        """Redraw every chart on the event loop (tests and screenshots)."""
        for chart in self.charts:
            chart.refresh_now()

    # --- following ----------------------------------------------------------------------------------------------

    def _start(self, roots: list[Path], overlaid: bool) -> None:
        self._stop()
        self.overlaid = overlaid
        self.traces = {}
        self._colors, self._labels, self._eval_split = {}, {}, {}
        labels = _unique_labels(roots)
        for index, root in enumerate(roots):
            self._labels[root] = labels[index]
            self._colors[root] = SERIES_VARIABLES[index % len(SERIES_VARIABLES)]
            self.traces[root] = RunTrace(root, labels[index])
        self._reset_charts()
        if overlaid:
            self.status_panel.show_overlay(list(self.traces.values()), [self._colors[r] for r in roots])
        else:
            self.status_panel.show_trace(self.traces[roots[0]])
        if roots:
            self._follower = RunFollower(roots, self)
            self.run_worker(functools.partial(self._follow_thread, self._follower), thread=True, group="follow",
                            exit_on_error=False, name="follow runs")

    @staticmethod
    def _follow_thread(follower: RunFollower) -> None:
        worker = get_current_worker()
        follower.run(lambda: worker.is_cancelled)

    def _stop(self) -> None:
        self.workers.cancel_group(self, "follow")
        self._follower = None

    def on_unmount(self) -> None:
        self._stop()

    def _reset_charts(self) -> None:
        for chart in self.charts:
            for name in list(chart.series_names):
                chart.remove_series(name)
        if not self.overlaid:
            self.loss_chart.add_series("loss", color="series-1", smooth=LOSS_SMOOTHING, smooth_color="series-smooth")
            self.lr_chart.add_series("learning rate", color="series-3")
        else:
            for root, color in self._colors.items():
                label = self._labels[root]
                self.loss_chart.add_series(label, color=color, smooth=LOSS_SMOOTHING)
                self.metric_chart.add_series(label, color=color, markers=True)
                self.lr_chart.add_series(label, color=color)

    def _series(self, root: Path, kind: str, event: EvalDone | None = None) -> str:
        if self.overlaid:
            return self._labels[root]
        if kind == "loss":
            return "loss"
        if kind == "lr":
            return "learning rate"
        return f"{event.split} {event.figure_of_merit}"

    # --- messages from the follower -----------------------------------------------------------------------------

    def on_run_events(self, message: RunEvents) -> None:
        message.stop()
        if message.source is not self._follower or message.root not in self.traces:
            return
        root = message.root
        trace = self.traces[root]
        if message.reset:
            trace.reset()
            self._truncate(root, -1)
        for chunk in message.chunks:
            if isinstance(chunk, StepBlock):
                self._append(self.loss_chart, self._series(root, "loss"), chunk.steps, chunk.loss)
                self._append(self.lr_chart, self._series(root, "lr"), chunk.steps, chunk.lr)
            elif isinstance(chunk, RunStarted) and chunk.resumed_from_step > 0:
                self._truncate(root, chunk.resumed_from_step)   # the crashed segment's tail is replayed
            elif isinstance(chunk, EvalDone):
                split = self._eval_split.setdefault(root, chunk.split)
                if split == chunk.split or not self.overlaid:
                    value = chunk.metrics.get(chunk.figure_of_merit)
                    if value is not None:
                        name = self._series(root, "metric", chunk)
                        if name not in self.metric_chart.series_names:
                            self.metric_chart.add_series(name, color="series-2", markers=True)
                        self._append(self.metric_chart, name, np.array([chunk.step], float), np.array([value], float))
            trace.apply(chunk)
        self.status_panel.refresh_status()
        self.post_message(self.Updated(self, root))

    def on_run_status_changed(self, message: RunStatusChanged) -> None:
        message.stop()
        if message.source is not self._follower or message.root not in self.traces:
            return
        self.traces[message.root].set_info(message.info)
        self.status_panel.refresh_status()
        self.post_message(self.Updated(self, message.root))

    def _append(self, chart: CurveChart, name: str, xs: np.ndarray, ys: np.ndarray) -> None:
        xs, ys = keep_after(chart, name, xs, ys)
        if len(xs):
            chart.append(name, xs, ys)

    def _truncate(self, root: Path, step: float) -> None:
        if self.overlaid:
            for chart in self.charts:
                truncate_series(chart, self._labels[root], step)
        else:
            for chart in self.charts:
                for name in chart.series_names:
                    truncate_series(chart, name, step)


def _unique_labels(roots: list[Path]) -> list[str]:
    """Run directory names, with the parent's name added where two runs share one."""
    names = [root.name for root in roots]
    return [f"{root.parent.name}/{root.name}" if names.count(root.name) > 1 else root.name for root in roots]
