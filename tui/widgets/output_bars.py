"""One horizontal bar per output of a several-output regression (`regress: valence + arousal + dominance ~ word`):
the Predict screen's read-out of `Prediction.values`.

`OutputBars.set_values({"valence": 0.41, "arousal": -0.2}, {"valence": (-1.0, 1.0), ...})` redraws the bars. Each row
is the output's name, a track spanning that output's range in training (the run's `output_ranges`), a bar from
zero (or from the range's nearer end when zero lies outside it) to the value, the value itself and the range. An
output with no known range shares a symmetric scale, ± the largest value shown rounded up to 1, 2 or 5 times a
power of ten, so that the bars hold still while the values move a little. A value beyond its training range fills
its bar to the end and is drawn in the warning colour. Bars have half-cell resolution both ways from zero.
"""

from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

ZERO_TICK = "┊"   # where zero is on a track that spans it, when no bar covers it
MAX_ROWS = 12     # outputs drawn as bars; the rest are listed with their values on one line below


def nice_bound(largest: float) -> float:
    """The smallest of 1, 2 and 5 times a power of ten at or above `largest` (1 for nothing to show)."""
    if not largest > 0 or not math.isfinite(largest):
        return 1.0
    power = 10 ** math.floor(math.log10(largest))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= largest * (1 - 1e-9))


def output_bar(value: float, low: float, high: float, width: int) -> tuple[str, int | None]:
    """(the bar's `width` cells, the cell of zero or None) for `value` on a track from `low` to `high`: filled from
    zero, or from the track's nearer end when zero is outside it, to the value (clamped to the track)."""
    if not high > low:                     # a constant output: nothing to place it against
        return " " * width, None
    halves = 2 * width

    def half(x: float) -> int:
        return round((min(high, max(low, x)) - low) / (high - low) * halves)

    origin = half(0.0)
    end = half(value) if math.isfinite(value) else origin
    a, b = min(origin, end), max(origin, end)
    cells = []
    for i in range(width):
        left, right = a <= 2 * i < b, a <= 2 * i + 1 < b
        cells.append("█" if left and right else "▌" if left else "▐" if right else " ")
    zero = min(width - 1, origin // 2) if low < 0 < high else None
    return "".join(cells), zero


def format_value(value: float) -> str:
    """A value as the bars label it: 3 decimals for everyday numbers, 4 significant digits beyond."""
    return f"{value:.3f}" if math.isfinite(value) and 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.4g}"


class OutputBars(Widget):
    """Each output's value as a labelled bar on its training range, in the model's order of outputs."""

    DEFAULT_CSS = """
    OutputBars {
        height: auto;
        width: 1fr;
    }
    OutputBars > .output-bars--bar { color: $accent; background: $panel; }
    OutputBars > .output-bars--zero { color: $foreground-muted; background: $panel; }
    OutputBars > .output-bars--label { color: $foreground; }
    OutputBars > .output-bars--value { color: $foreground; text-style: bold; }
    OutputBars > .output-bars--beyond { color: $warning; text-style: bold; }
    OutputBars > .output-bars--muted { color: $foreground-muted; }
    """

    COMPONENT_CLASSES = {"output-bars--bar", "output-bars--zero", "output-bars--label", "output-bars--value",
                         "output-bars--beyond", "output-bars--muted"}

    def __init__(self, *, max_label: int = 16, max_rows: int = MAX_ROWS, placeholder: str = "",
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_label = max_label
        self.max_rows = max_rows
        self.placeholder = placeholder
        self._names: list[str] = []
        self._values: dict[str, float] = {}
        self._ranges: dict[str, tuple[float, float]] = {}
        self._stale = False

    @property
    def values(self) -> dict[str, float]:
        return dict(self._values)

    def set_outputs(self, names: list[str], ranges: dict[str, tuple[float, float]] | None = None) -> None:
        """The model's outputs, in order, and each one's (lowest, highest) train value where known; no values yet."""
        relayout = len(names) != len(self._names)
        self._names, self._ranges, self._values = list(names), dict(ranges or {}), {}
        self.refresh(layout=relayout)

    def set_values(self, values: dict[str, float], *, stale: bool = False) -> None:
        """Show these values (by output name); `stale` dims them (a new prediction is on its way)."""
        for name in values:
            if name not in self._names:
                self._names.append(name)
        self._values, self._stale = dict(values), stale
        self.refresh(layout=True)

    def mark_stale(self, stale: bool = True) -> None:
        if stale != self._stale:
            self._stale = stale
            self.refresh()

    def scale(self, name: str) -> tuple[float, float]:
        """The track of output `name`: its training range, else ± the largest value shown, rounded up."""
        return self._ranges.get(name) or self.shared_scale() or (-1.0, 1.0)

    def shared_scale(self) -> tuple[float, float] | None:
        """The symmetric track of the outputs whose range in training is not known; None when every one's is."""
        if all(name in self._ranges for name in self._names):
            return None
        bound = nice_bound(max((abs(v) for v in self._values.values() if math.isfinite(v)), default=0.0))
        return -bound, bound

    def get_content_height(self, container, viewport, width: int) -> int:
        n = len(self._names)
        return max(1, n if n <= self.max_rows else self.max_rows + 1)

    def render(self) -> Text:
        if not self._names:
            return Text(self.placeholder, style=self.get_component_rich_style("output-bars--muted"))
        names, rest = self._names[: self.max_rows], self._names[self.max_rows:]
        label_width = min(self.max_label, max(len(name) for name in names))
        values = [format_value(self._values[n]) if n in self._values else "" for n in names]
        value_width = max([7, *map(len, values)])
        scales = [self.scale(n) for n in names]
        ends = [f"{lo:.4g}…{hi:.4g}" for lo, hi in scales]
        end_width = max(map(len, ends))
        width = self.content_region.width or self.size.width
        bar_width = max(4, width - label_width - value_width - end_width - 4)
        style = self.get_component_rich_style
        muted, bar_style = style("output-bars--muted"), style("output-bars--bar")
        zero_style = style("output-bars--zero")
        label_style, value_style = (muted, muted) if self._stale else (style("output-bars--label"),
                                                                        style("output-bars--value"))
        lines = []
        for name, shown, (low, high), end in zip(names, values, scales, ends):
            value = self._values.get(name)
            label = name if len(name) <= label_width else name[: label_width - 1] + "…"
            line = Text()
            line.append(label.ljust(label_width) + " ", style=label_style)
            cells, zero = output_bar(value if value is not None else 0.0, low, high, bar_width)
            if zero is not None and cells[zero] == " ":
                cells = cells[:zero] + ZERO_TICK + cells[zero + 1:]
            for start, stop, piece_style in _runs(cells, zero, zero_style if self._stale else bar_style, zero_style):
                line.append(cells[start:stop], style=piece_style)
            beyond = value is not None and not self._stale and not low <= value <= high
            line.append(" " + shown.rjust(value_width), style=style("output-bars--beyond") if beyond else value_style)
            line.append("  " + end.ljust(end_width), style=muted)
            lines.append(line)
        if rest:                          # more outputs than rows: the others by name and value, as far as they fit
            listed = " · ".join(f"{n} {format_value(self._values[n])}" if n in self._values else n for n in rest)
            more = f"… and {len(rest)} more: {listed}"
            lines.append(Text(more if len(more) <= width else more[: max(1, width - 1)] + "…", style=muted))
        return Text("\n").join(lines)


def _runs(cells: str, zero: int | None, bar_style: Style, zero_style: Style):
    """(start, stop, style) pieces of a track: the zero tick in its own style, the rest in the bar's."""
    if zero is None or cells[zero] != ZERO_TICK:
        return [(0, len(cells), bar_style)]
    return [(0, zero, bar_style), (zero, zero + 1, zero_style), (zero + 1, len(cells), bar_style)]
