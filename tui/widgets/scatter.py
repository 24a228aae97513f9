"""A scatter of runs: the figure of merit against a cost (training time, or trainable parameters), one point per
row of a comparison, with a vertical error bar (± one standard deviation) for a seed group.

The Compare screen gives it `ScatterPoint`s; `scatter_lines` is a pure function of the points and a size (no
Textual), so it is tested and drawn the same way. Each point is marked with its row's number in the table
(1-9, then a-z), so the plot and the table read together; the axes show the range of each quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tunelab.themes import SERIES_VARIABLES, theme_color

MARKS = "123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class ScatterPoint:
    x: float
    y: float
    y_err: float | None = None      # a seed group's standard deviation


def mark(index: int) -> str:
    return MARKS[index] if index < len(MARKS) else "+"


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def scatter_lines(points: list[ScatterPoint | None], width: int, height: int, x_title: str, y_title: str) -> list[list]:
    """Rows of (character, point index or -1 for an axis/bar cell or None for blank), `height` rows of `width`."""
    grid: list[list] = [[(" ", None)] * width for _ in range(height)]
    known = [(i, p) for i, p in enumerate(points) if p is not None and math.isfinite(p.x) and math.isfinite(p.y)]

    def put(row: int, col: int, char: str, who) -> None:
        if 0 <= row < height and 0 <= col < width:
            grid[row][col] = (char, who)

    def text(row: int, col: int, words: str) -> None:
        for k, ch in enumerate(words):
            put(row, col + k, ch, -1)

    if height < 4 or width < 16:
        return grid
    ys = [p.y for _, p in known] + [p.y + (p.y_err or 0) for _, p in known] + [p.y - (p.y_err or 0) for _, p in known]
    xs = [p.x for _, p in known]
    y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if y_hi - y_lo < 1e-12:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    if x_hi - x_lo < 1e-12:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    label_w = max(len(_fmt(y_hi)), len(_fmt(y_lo))) + 1
    left, top, bottom = label_w, 1, height - 3          # plot area rows top..bottom, columns left+1..width-2
    right = width - 2
    text(0, 0, f"{y_title} vs {x_title}"[:width])
    text(top, 0, _fmt(y_hi).rjust(label_w - 1))
    text(bottom, 0, _fmt(y_lo).rjust(label_w - 1))
    for row in range(top, bottom + 1):
        put(row, left, "│", -1)
    put(bottom + 1, left, "└", -1)
    for col in range(left + 1, width):
        put(bottom + 1, col, "─", -1)
    lo_text, hi_text = _fmt(x_lo), _fmt(x_hi)
    text(bottom + 2, left, lo_text)
    text(bottom + 2, width - len(hi_text), hi_text)

    def row_of(y: float) -> int:
        return bottom - round((y - y_lo) / (y_hi - y_lo) * (bottom - top))

    def col_of(x: float) -> int:
        return left + 2 + round((x - x_lo) / (x_hi - x_lo) * (right - left - 2))

    for i, p in known:                                   # error bars first, marks over them
        if p.y_err:
            col = col_of(p.x)
            for row in range(row_of(p.y + p.y_err), row_of(p.y - p.y_err) + 1):
                put(row, col, "┆", i)
            put(row_of(p.y + p.y_err), col, "┬", i)
            put(row_of(p.y - p.y_err), col, "┴", i)
    for i, p in known:
        put(row_of(p.y), col_of(p.x), mark(i), i)
    return grid


class ScatterPlot(Widget):
    """Points of a comparison: figure of merit (y) against a cost (x), error bars for seed groups."""

    DEFAULT_CSS = """
    ScatterPlot {
        height: 1fr;
        width: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: list[ScatterPoint | None] = []
        self.x_title = ""
        self.y_title = ""
        self.empty_text = "no scores yet"

    def show(self, points: list[ScatterPoint | None], x_title: str, y_title: str) -> None:
        self.points, self.x_title, self.y_title = list(points), x_title, y_title
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if not any(p is not None for p in self.points):
            return Text(self.empty_text, style=Style(dim=True))
        colours = [theme_color(self.app, v).rich_color for v in SERIES_VARIABLES]
        muted = Style(dim=True)
        out = Text()
        for r, row in enumerate(scatter_lines(self.points, width, height, self.x_title, self.y_title)):
            for char, who in row:
                if who is None:
                    out.append(char)
                elif who == -1:
                    out.append(char, muted)
                else:
                    out.append(char, Style(color=colours[who % len(colours)], bold=char.isalnum()))
            if r < height - 1:
                out.append("\n")
        return out
