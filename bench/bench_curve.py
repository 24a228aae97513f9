"""Benchmark: the cost of one redraw of a training-loss chart at 80x24, for 1k, 10k and 100k points, with
(a) textual-plotext's PlotextPlot, (b) textual-plot's PlotWidget (when installed) and (c) TuneLab's CurveChart.

A redraw is everything between "new points arrived" and "the widget's lines are ready for the compositor":
handing the series to the chart and rendering every visible line to Strips. Each contender fills an 80x24
screen inside `App.run_test`, draws a noisy decaying loss with one spike in Braille, and is timed in-process
(median of repeats). CurveChart's work normally runs in a thread; the last column is the part that stays on
the event loop (snapshot + installing the lines). Prints a table with ratios against CurveChart.

    python bench/bench_curve.py [--sizes 1000 10000 100000] [--budget 2.0] [--svg DIR]

The competitors are not TuneLab dependencies: `pip install textual-plotext textual-plot` first (a missing one
is skipped). `--svg DIR` also saves a screenshot of each contender at 100k points, to judge legibility by eye.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget

from tunelab.themes import DEFAULT_THEME, register_themes, theme_variable_defaults
from tunelab.tui.widgets.curve import CurveChart, render_chart

SIZE = (80, 24)


def loss_curve(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(1, n + 1, dtype=np.float64)
    y = 2.5 * np.exp(-x / (n / 4)) + 0.1 + 0.15 * rng.standard_normal(n) ** 2
    y[n // 3] = 4.0  # the spike a good chart must not lose
    return x, y


def timed(frame: Callable[[], object], budget: float, min_reps: int = 3, max_reps: int = 30) -> tuple[float, int]:
    """Median milliseconds of `frame()` after one warm-up, repeated until `budget` seconds are spent."""
    frame()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (len(times) < max_reps and time.perf_counter() - start < budget):
        t = time.perf_counter()
        frame()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), len(times)


def all_lines(widget: Widget) -> list:
    """Render every line of `widget` (and of its descendants, for composite widgets) to Strips."""
    strips = []
    for node in [widget, *widget.query("*")]:
        if node.size.area:
            node.refresh()
            strips += node.render_lines(Region(0, 0, *node.size))
    return strips


class BenchApp(App):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_mount(self) -> None:
        register_themes(self)
        self.theme = DEFAULT_THEME


def plotext_contender():
    try:
        from textual_plotext import PlotextPlot
    except ImportError:
        return None

    widget = PlotextPlot()

    def feed(x: np.ndarray, y: np.ndarray) -> None:
        plt = widget.plt
        plt.clear_data()
        plt.plot(x.tolist(), y.tolist(), marker="braille")

    return widget, feed, lambda: all_lines(widget)


def textual_plot_contender():
    try:
        from textual_hires_canvas import HiResMode
        from textual_plot import PlotWidget
    except ImportError:
        return None
    widget = PlotWidget()

    def feed(x: np.ndarray, y: np.ndarray) -> None:
        widget.clear()
        widget.plot(x, y, hires_mode=HiResMode.BRAILLE, label="loss")

    def draw() -> list:
        widget.render()  # draws the datasets onto its canvases
        return all_lines(widget)

    return widget, feed, draw


def curve_contender():
    widget = CurveChart()
    widget.add_series("loss")

    def feed(x: np.ndarray, y: np.ndarray) -> None:
        widget.clear()
        widget.append("loss", x, y)

    def draw() -> list:
        snapshot = widget.snapshot()
        widget._install(render_chart(snapshot), (snapshot.width, snapshot.height), snapshot.generation)
        return all_lines(widget)

    return widget, feed, draw


def curve_on_loop(widget: CurveChart) -> Callable[[], object]:
    """What CurveChart itself leaves on the event loop per redraw: the snapshot and installing finished lines
    (the drawing runs in a thread)."""
    strips = render_chart(widget.snapshot())

    def frame() -> None:
        snapshot = widget.snapshot()
        widget._install(strips, (snapshot.width, snapshot.height), snapshot.generation)

    return frame


async def measure(name: str, make, sizes: list[int], budget: float, svg: Path | None) -> dict[int, float] | None:
    made = make()
    if made is None:
        print(f"# {name}: not installed, skipped")
        return None
    widget, feed, draw = made
    app = BenchApp(widget)
    results: dict[int, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for n in sizes:
            x, y = loss_curve(n)
            feed(x, y)
            await pilot.pause()
            # Appending new points is part of every redraw; with CurveChart the append is O(new points).
            ms, reps = timed(lambda: (feed(x, y), draw()), budget)
            results[n] = ms
            print(f"# {name:<12} n={n:>7}: {ms:9.2f} ms  ({reps} reps)", flush=True)
        if isinstance(widget, CurveChart):
            results[-1], _ = timed(curve_on_loop(widget), budget)
            results[-2], _ = timed(lambda: all_lines(widget), budget)
        if svg is not None:
            draw()
            await pilot.pause()
            svg.mkdir(parents=True, exist_ok=True)
            (svg / f"{name}.svg").write_text(app.export_screenshot())
    return results


async def run(sizes: list[int], budget: float, svg: Path | None) -> None:
    plotext = await measure("plotext", plotext_contender, sizes, budget, svg)
    textual_plot = await measure("textual-plot", textual_plot_contender, sizes, budget, svg)
    ours = await measure("CurveChart", curve_contender, sizes, budget, svg)
    assert ours is not None

    header = f"{'points':>8} | {'plotext ms':>10} | {'textual-plot ms':>15} | {'CurveChart ms':>13} | " \
             f"{'plotext/ours':>12} | {'t-plot/ours':>11}"
    print()
    print(f"one redraw at {SIZE[0]}x{SIZE[1]} (median; lower is better)")
    print(header)
    print("-" * len(header))
    for n in sizes:
        pe = f"{plotext[n]:10.2f}" if plotext else f"{'n/a':>10}"
        pe_ratio = f"{plotext[n] / ours[n]:11.1f}x" if plotext else f"{'n/a':>12}"
        tp = f"{textual_plot[n]:15.2f}" if textual_plot else f"{'n/a':>15}"
        tp_ratio = f"{textual_plot[n] / ours[n]:10.1f}x" if textual_plot else f"{'n/a':>11}"
        print(f"{n:>8} | {pe} | {tp} | {ours[n]:13.2f} | {pe_ratio} | {tp_ratio}")
    print(f"CurveChart on the event loop per redraw (snapshot + install; drawing runs in a thread): {ours[-1]:.2f} ms")
    print(f"  plus Textual's own processing of the 24 finished lines, which every widget pays: {ours[-2]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of repeats per cell (at least 3 reps)")
    parser.add_argument("--svg", type=Path, default=None, help="save a screenshot of each contender here")
    args = parser.parse_args()
    asyncio.run(run(args.sizes, args.budget, args.svg))


if __name__ == "__main__":
    main()
