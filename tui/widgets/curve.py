"""A live line chart for training curves: loss per step under its smoothed trend, the figure of merit at each
evaluation, the learning rate (log scale), or the same metric of several runs overlaid.

The Train and Runs screens own one `CurveChart` per quantity and feed it from run events with
`chart.append(series, steps, values)`. Every point is kept, in growable numpy buffers; nothing is thinned
when it arrives. Drawing is a pure function, `render_chart`, of a `ChartSnapshot`: each series is reduced to
a min/max per Braille pixel column (`decimate_minmax`, vectorised, so a single spike in 100,000 points still
shows), rasterised into Braille cells and turned into `Strip`s. A dirty flag and a 4 Hz timer start that
work in a thread worker, so appends stay cheap and the event loop only swaps in finished lines.
`bench/bench_curve.py` measures it against textual-plotext and textual-plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.color import Color
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tunelab.themes import SERIES_VARIABLES, theme_color

BRAILLE_BASE = 0x2800
# Bit of each dot in a Braille cell, indexed [pixel row 0..3][pixel column 0..1].
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint16)
_EMA_MAX_GAIN = 1e12  # a**-k stays below this within one vectorised EMA block (see `ema`)


# ---------------------------------------------------------------------------------------------------------------
# Numerics: growable buffers, EMA smoothing, min/max decimation, tick placement. Pure numpy, no Textual.
# ---------------------------------------------------------------------------------------------------------------


class SeriesBuffer:
    """(x, y) points in float64 arrays that grow by doubling, so appending is amortised O(1) per point.

    `view()` returns read-only views of the filled part. A view taken before an append stays valid and
    unchanged (appends only write past it, and growth copies into a new array), so a drawing thread can hold one
    while the event loop appends.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        m = len(xs)
        if self._n + m > len(self._x):
            capacity = max(2 * len(self._x), self._n + m)
            for name in ("_x", "_y"):
                grown = np.empty(capacity, dtype=np.float64)
                grown[: self._n] = getattr(self, name)[: self._n]
                setattr(self, name, grown)
        self._x[self._n : self._n + m] = xs
        self._y[self._n : self._n + m] = ys
        self._n += m

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._x[: self._n], self._y[: self._n]
        x.flags.writeable = False
        y.flags.writeable = False
        return x, y

    def last_y(self) -> float | None:
        return float(self._y[self._n - 1]) if self._n else None


def ema(values: np.ndarray, weight: float, start: float | None = None) -> np.ndarray:
    """Exponential moving average s[i] = weight * s[i-1] + (1 - weight) * values[i], vectorised.

    `start` is the previous smoothed value (None: the series starts here, and s[0] = values[0], as
    TensorBoard's smoothing does). Works in blocks short enough that weight**-k cannot overflow.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    if len(values) == 0:
        return out
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"EMA weight must be in [0, 1), got {weight}")
    if weight == 0.0:
        out[:] = values
        return out
    block = max(1, int(math.log(_EMA_MAX_GAIN) / -math.log(weight)))
    state = float(values[0]) if start is None else float(start)
    for lo in range(0, len(values), block):
        chunk = values[lo : lo + block]
        k = np.arange(1, len(chunk) + 1, dtype=np.float64)
        decay = weight**k  # weight**i for i = 1..m
        # s_i = w^i * s_0 + (1 - w) * w^i * sum_{k<=i} w^-k * y_k
        acc = np.cumsum(chunk / decay)
        out[lo : lo + len(chunk)] = decay * (state + (1.0 - weight) * acc)
        state = float(out[lo + len(chunk) - 1])
    return out


def decimate_minmax(x: np.ndarray, y: np.ndarray, x0: float, x1: float, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a polyline to the lowest and highest value it reaches inside each of `columns` equal slices of
    [x0, x1]: the points inside a slice plus the line crossing its edges. Spikes survive, adjacent columns
    overlap where the line joins them, and a sparse series (an evaluation every 500 steps) still draws as a
    connected line. Columns the line does not reach are NaN. `x` must be sorted ascending.
    """
    lo = np.full(columns, np.nan)
    hi = np.full(columns, np.nan)
    if len(x) == 0 or columns <= 0 or not x1 > x0:
        return lo, hi
    edges = x0 + (x1 - x0) * (np.arange(columns + 1, dtype=np.float64) / columns)
    edges[-1] = x1
    # The line's value where it crosses each column edge (NaN outside the data).
    at_edges = np.interp(edges, x, y, left=np.nan, right=np.nan)
    lo = np.fmin(at_edges[:-1], at_edges[1:])
    hi = np.fmax(at_edges[:-1], at_edges[1:])
    # The points inside each column, by sorted position.
    starts = np.searchsorted(x, edges[:-1], side="left")
    stop = int(np.searchsorted(x, x1, side="right"))
    ends = np.append(starts[1:], stop)
    filled = ends > starts
    if filled.any():
        first = int(starts[filled][0])
        inner = y[first:stop]
        offsets = starts[filled] - first
        lo[filled] = np.fmin(lo[filled], np.minimum.reduceat(inner, offsets))
        hi[filled] = np.fmax(hi[filled], np.maximum.reduceat(inner, offsets))
    return lo, hi


def nice_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi], at most `max_ticks`."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or max_ticks < 1:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, max_ticks - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first + 1 <= max_ticks:
            break
    return [round(i * step, 12) for i in range(first, last + 1)]


def log_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Ticks for a log10 axis spanning [lo, hi] in log10 units: whole decades, thinned to fit, or 1-2-5 steps
    inside a single decade. Returned in log10 units."""
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    decades = list(range(first, last + 1))
    if len(decades) >= 2:
        stride = max(1, math.ceil(len(decades) / max(1, max_ticks)))
        return [float(d) for d in decades[::stride]]
    ticks = []
    for d in range(first - 1, last + 1):
        for m in (1, 2, 5):
            t = d + math.log10(m)
            if lo - 1e-9 <= t <= hi + 1e-9:
                ticks.append(t)
    if len(ticks) > max_ticks:
        ticks = ticks[:: math.ceil(len(ticks) / max_ticks)]
    return ticks


def format_ticks(ticks: Sequence[float]) -> list[str]:
    """Short labels in one style for a whole axis: 5k 10k 15k for large values, just enough decimals for the
    tick step otherwise, 1e-05-style for tiny ones."""
    if not ticks:
        return []
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(ticks[0]) or 1.0
    largest = max(abs(t) for t in ticks)
    if largest >= 10_000:
        divisor, suffix = next((d, s) for d, s in ((1e9, "G"), (1e6, "M"), (1e3, "k")) if largest >= d)
        decimals = _decimals(step / divisor)
        return [f"{t / divisor:.{decimals}f}{suffix}" if t else "0" for t in ticks]
    if largest < 1e-3:
        return [f"{t:.0e}".replace("e-0", "e-") if t else "0" for t in ticks]
    decimals = _decimals(step)
    return [f"{t:.{decimals}f}" for t in ticks]


def _decimals(step: float) -> int:
    """The fewest decimals (at most 4) that write multiples of `step` exactly."""
    for decimals in range(5):
        if abs(round(step, decimals) - step) <= 1e-9 * max(1.0, abs(step)):
            return decimals
    return 4


def format_log_tick(exponent: float) -> str:
    """A label for a tick at 10**exponent: 0.001 .. 10000 written out, 2e-5 style beyond."""
    value = 10**exponent
    if -3 <= exponent < 4.5:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    power = math.floor(exponent + 1e-9)
    return f"{round(value / 10**power)}e{power}"


# ---------------------------------------------------------------------------------------------------------------
# Drawing: a snapshot of what to draw -> a list of Strips. Pure; runs in a worker thread.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSnapshot:
    """One line to draw: sorted x, y (views, not copies), its colour and whether to mark each point."""

    x: np.ndarray
    y: np.ndarray
    color: RichColor
    markers: bool = False


@dataclass(frozen=True)
class ChartSnapshot:
    """Everything `render_chart` needs, captured on the event loop so the thread touches no widget state."""

    width: int
    height: int
    layers: tuple[LayerSnapshot, ...]
    legend: tuple[tuple[str, RichColor], ...]
    background: RichColor
    foreground: RichColor
    muted: RichColor
    log_y: bool = False
    y_limits: tuple[float | None, float | None] = (None, None)
    x_label: str = "step"
    empty_text: str = "waiting for data…"
    generation: int = 0


def _finite_layer(layer: LayerSnapshot, log_y: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = layer.x, layer.y
    if log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
        keep = np.isfinite(y)
        if not keep.all():
            x, y = x[keep], y[keep]
    return x, y


def render_chart(snap: ChartSnapshot) -> list[Strip]:
    """Draw the chart described by `snap` into `snap.height` strips of `snap.width` cells.

    Layout: a legend row on top (when there are at least 6 rows), y tick labels and an axis on the left,
    the plot in Braille cells (2 x 4 dots each), and an axis row plus a tick-label row at the bottom.
    """
    width, height = snap.width, snap.height
    base = Style(color=snap.foreground, bgcolor=snap.background)
    muted = Style(color=snap.muted, bgcolor=snap.background)
    if width <= 0 or height <= 0:
        return []
    blank = Strip.blank(width, base)

    layers = [(layer, *_finite_layer(layer, snap.log_y)) for layer in snap.layers]
    layers = [entry for entry in layers if len(entry[1])]

    show_legend = height >= 6 and bool(snap.legend)
    legend_rows = 1 if show_legend else 0
    axis_rows = 2 if height >= 4 else 0
    plot_h = height - legend_rows - axis_rows
    if plot_h < 1 or width < 12:
        return [blank] * height

    # --- ranges ---------------------------------------------------------------------------------------------
    if not layers:
        lines = [blank] * height
        text = snap.empty_text[:width]
        row = legend_rows + plot_h // 2
        pad = (width - len(text)) // 2
        lines[row] = Strip([Segment(" " * pad, base), Segment(text, muted), Segment(" " * (width - pad - len(text)), base)], width)
        return lines

    x0 = min(float(x[0]) for _, x, _ in layers)
    x1 = max(float(x[-1]) for _, x, _ in layers)
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5

    # y labels are at most 7 cells; the plot gets the rest (minus the axis column and a right margin).
    label_w = 7
    plot_w = width - label_w - 2
    columns = plot_w * 2
    spans = [decimate_minmax(x, y, x0, x1, columns) for _, x, y in layers]

    y_lo, y_hi = snap.y_limits
    if snap.log_y:
        y_lo = math.log10(y_lo) if y_lo and y_lo > 0 else None
        y_hi = math.log10(y_hi) if y_hi and y_hi > 0 else None
    with np.errstate(all="ignore"):
        data_lo = min(float(np.nanmin(lo)) for lo, _ in spans if np.isfinite(lo).any())
        data_hi = max(float(np.nanmax(hi)) for _, hi in spans if np.isfinite(hi).any())
    y0 = data_lo if y_lo is None else y_lo
    y1 = data_hi if y_hi is None else y_hi
    if y1 <= y0:
        pad = abs(y0) * 0.05 or (0.5 if not snap.log_y else 0.25)
        y0, y1 = y0 - pad, y1 + pad
    elif y_lo is None or y_hi is None:
        pad = (y1 - y0) * 0.04
        y0 = y0 - pad if y_lo is None else y0
        y1 = y1 + pad if y_hi is None else y1

    max_y_ticks = max(2, min(6, plot_h // 2 + 1))
    if snap.log_y:
        y_ticks = log_ticks(y0, y1, max_y_ticks)
        y_labels = [format_log_tick(t) for t in y_ticks]
    else:
        y_ticks = nice_ticks(y0, y1, max_y_ticks)
        y_labels = format_ticks(y_ticks)
    x_ticks = nice_ticks(x0, x1, max(2, plot_w // 9))
    x_labels = format_ticks(x_ticks)

    # --- rasterise: one Braille code and owner (topmost layer) per cell --------------------------------------
    rows_px = plot_h * 4
    pixel_rows = np.arange(rows_px)[:, None]
    codes = np.zeros((plot_h, plot_w), dtype=np.uint16)
    owner = np.full((plot_h, plot_w), -1, dtype=np.int16)
    scale = (rows_px - 1) / (y1 - y0)
    for index, ((layer, x, y), (lo, hi)) in enumerate(zip(layers, spans)):
        drawn = np.isfinite(lo) & (hi >= y0) & (lo <= y1)
        with np.errstate(invalid="ignore"):
            top = np.clip(np.rint((y1 - np.clip(hi, y0, y1)) * scale), 0, rows_px - 1)
            bottom = np.clip(np.rint((y1 - np.clip(lo, y0, y1)) * scale), 0, rows_px - 1)
        top = np.where(drawn, top, rows_px).astype(np.int64)
        bottom = np.where(drawn, bottom, -1).astype(np.int64)
        mask = (pixel_rows >= top[None, :]) & (pixel_rows <= bottom[None, :])
        if layer.markers and len(x) <= plot_w:
            px = np.clip(np.rint((x - x0) / (x1 - x0) * (columns - 1)).astype(np.int64), 0, columns - 1)
            inside = (y >= y0) & (y <= y1)
            py = np.clip(np.rint((y1 - y[inside]) * scale).astype(np.int64), 0, rows_px - 1)
            px = px[inside]
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    mask[np.clip(py + dy, 0, rows_px - 1), np.clip(px + dx, 0, columns - 1)] = True
        layer_codes = (mask.reshape(plot_h, 4, plot_w, 2) * _BRAILLE_BITS[None, :, None, :]).sum(axis=(1, 3))
        on_top = layer_codes > 0
        codes[on_top] = layer_codes[on_top]
        owner[on_top] = index

    # --- assemble strips --------------------------------------------------------------------------------------
    layer_styles = [Style(color=layer.color, bgcolor=snap.background) for layer, _, _ in layers]
    tick_rows: dict[int, str] = {}
    for tick, label in zip(y_ticks, y_labels):
        row = int(round((y1 - tick) * scale)) // 4
        if 0 <= row < plot_h and row not in tick_rows:
            tick_rows[row] = label[:label_w]
    chars = np.where(codes > 0, codes + BRAILLE_BASE, 0x20).astype("<u4")
    lines: list[Strip] = []

    if show_legend:
        lines.append(_legend_strip(snap.legend, width, base, muted, snap.background))

    for row in range(plot_h):
        text = chars[row].tobytes().decode("utf-32-le")
        label = tick_rows.get(row)
        segments = [Segment((label or "").rjust(label_w), muted), Segment("┤" if label else "│", muted)]
        row_owner = owner[row]
        cuts = np.flatnonzero(np.diff(row_owner)) + 1
        start = 0
        for stop in [*cuts.tolist(), plot_w]:
            who = int(row_owner[start])
            segments.append(Segment(text[start:stop], layer_styles[who] if who >= 0 else base))
            start = stop
        segments.append(Segment(" ", base))
        lines.append(Strip(segments, width))

    if axis_rows:
        axis = ["─"] * plot_w
        label_cells = [" "] * (plot_w + 2 + label_w)
        right_edge = -1
        for tick, label in zip(x_ticks, x_labels):
            col = int(round((tick - x0) / (x1 - x0) * (plot_w - 1)))
            if not 0 <= col < plot_w:
                continue
            axis[col] = "┬"
            at = label_w + 1 + col - len(label) // 2
            at = max(label_w + 1 - len(label) // 2, min(at, width - len(label)))
            if at > right_edge + 1 and at >= 0:
                label_cells[at : at + len(label)] = list(label)
                right_edge = at + len(label)
        x_name = snap.x_label
        if x_name and len(x_name) <= label_w - 2:
            label_cells[: len(x_name)] = list(x_name)
        lines.append(Strip([Segment(" " * label_w + "└" + "".join(axis) + " ", muted)], width))
        lines.append(Strip([Segment("".join(label_cells)[:width].ljust(width), muted)], width))
    return lines


def _legend_strip(legend: Sequence[tuple[str, RichColor]], width: int, base: Style, muted: Style,
                  background: RichColor) -> Strip:
    """`━ name` per series, names shortened evenly until the row fits."""
    names = [name for name, _ in legend]
    longest = max(len(name) for name in names)
    while longest > 3 and sum(len(name[:longest]) + 4 for name in names) > width - 1:
        longest -= 1
    segments: list[Segment] = [Segment(" ", base)]
    used = 1
    for name, color in legend:
        shown = name if len(name) <= longest else name[: longest - 1] + "…"
        piece = len(shown) + 4
        if used + piece > width:
            break
        segments += [Segment("━━", Style(color=color, bgcolor=background, bold=True)), Segment(f" {shown} ", muted)]
        used += piece
    segments.append(Segment(" " * (width - used), base))
    return Strip(segments, width)


# ---------------------------------------------------------------------------------------------------------------
# The widget.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Series:
    name: str
    color: str  # theme variable name, or any colour Textual can parse
    points: SeriesBuffer
    markers: bool = False
    smooth: float | None = None  # EMA weight; the smoothed trend is drawn over the dimmed raw points
    smooth_color: str | None = None
    smoothed: SeriesBuffer | None = None
    visible: bool = True


class CurveChart(Widget):
    """A live line chart of one quantity against step, for any number of named series.

    ```python
    chart = CurveChart(title="loss")
    chart.add_series("loss", smooth=0.9)            # raw steps dimmed, EMA trend on top
    chart.append("loss", step, value)               # or arrays of steps and values
    CurveChart(log_y=True).add_series("lr")         # learning rate on a log axis
    chart.add_series("eval acc", markers=True)      # sparse points, joined, each one marked
    ```
    Series colours are theme variables (`series-1` .. `series-4`, `series-smooth`) read again whenever the
    theme changes. Redraws happen in a thread, at most `redraw_interval` apart, only after something changed.
    """

    DEFAULT_CSS = """
    CurveChart {
        width: 1fr;
        height: 1fr;
        min-height: 5;
        min-width: 20;
        background: $surface;
        color: $foreground;
    }
    """

    log_y: reactive[bool] = reactive(False)
    """Plot log10 of the values (non-positive values are left out)."""

    y_limits: reactive[tuple[float | None, float | None]] = reactive((None, None))
    """Fixed (low, high) for the y axis; None for either end means fit the data."""

    class Redrawn(Message):
        """Posted after a new frame is on screen (tests and benchmarks wait for it)."""

        def __init__(self, chart: CurveChart, generation: int) -> None:
            super().__init__()
            self.chart = chart
            self.generation = generation

    class _FrameReady(Message):
        """From the drawing thread to the widget: finished lines for one snapshot."""

        def __init__(self, strips: list[Strip], size: tuple[int, int], generation: int) -> None:
            super().__init__()
            self.strips = strips
            self.size = size
            self.generation = generation

    def __init__(self, *, title: str = "", x_label: str = "step", log_y: bool = False,
                 redraw_interval: float = 0.25, empty_text: str = "waiting for data…",
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.border_title = title or None
        self.x_label = x_label
        self.redraw_interval = redraw_interval
        self.empty_text = empty_text
        self._series: dict[str, _Series] = {}
        self._dirty = True
        self._drawing = False
        self._generation = 0
        self._installed_generation = 0
        self._frame: list[Strip] = []
        self._frame_size: tuple[int, int] = (0, 0)
        self.frames_drawn = 0
        self.set_reactive(CurveChart.log_y, log_y)

    # --- data -------------------------------------------------------------------------------------------------

    def add_series(self, name: str, *, color: str | None = None, smooth: float | None = None,
                   smooth_color: str | None = None, markers: bool = False) -> None:
        """Declare a series. `color` defaults to the next of `series-1` .. `series-4`; `smooth` is an EMA
        weight in [0, 1) (0.9 is TensorBoard-like); `markers` marks every point (for sparse evaluations)."""
        if name in self._series:
            raise ValueError(f"series {name!r} already exists")
        if color is None:
            color = SERIES_VARIABLES[len(self._series) % len(SERIES_VARIABLES)]
        if smooth is not None and not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be an EMA weight in [0, 1), got {smooth}")
        self._series[name] = _Series(name, color, SeriesBuffer(), markers=markers, smooth=smooth,
                                     smooth_color=smooth_color,
                                     smoothed=SeriesBuffer() if smooth is not None else None)
        self._mark_dirty()

    def append(self, name: str, steps: float | Iterable[float], values: float | Iterable[float]) -> None:
        """Add one point or a batch to series `name` (created with default colours on first use).

        Steps must not go backwards within a series. Non-finite values (a NaN loss) are left out of the chart.
        """
        if name not in self._series:
            self.add_series(name)
        series = self._series[name]
        xs = np.atleast_1d(np.asarray(steps, dtype=np.float64))
        ys = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if xs.shape != ys.shape:
            raise ValueError(f"{len(xs)} steps but {len(ys)} values")
        keep = np.isfinite(xs) & np.isfinite(ys)
        if not keep.all():
            xs, ys = xs[keep], ys[keep]
        if not len(xs):
            return
        if np.any(np.diff(xs) < 0) or (len(series.points) and xs[0] < series.points.view()[0][-1]):
            raise ValueError(f"steps of series {name!r} must not go backwards")
        series.points.extend(xs, ys)
        if series.smoothed is not None:
            series.smoothed.extend(xs, ema(ys, series.smooth or 0.0, series.smoothed.last_y()))
        self._mark_dirty()

    def clear(self, name: str | None = None) -> None:
        """Drop the points of one series (or of all), keeping the series and their colours."""
        for series in self._series.values() if name is None else [self._series[name]]:
            series.points = SeriesBuffer()
            series.smoothed = SeriesBuffer() if series.smooth is not None else None
        self._mark_dirty()

    def remove_series(self, name: str) -> None:
        del self._series[name]
        self._mark_dirty()

    def set_visible(self, name: str, visible: bool) -> None:
        self._series[name].visible = visible
        self._mark_dirty()

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    def series_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of every point of series `name` (steps, values)."""
        return self._series[name].points.view()

    # --- redraw scheduling --------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._timer = self.set_interval(self.redraw_interval, self._maybe_redraw)

    def _on_theme_changed(self, _theme: object) -> None:
        self._mark_dirty()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._mark_dirty()

    def on_resize(self) -> None:
        self._mark_dirty()

    def watch_log_y(self) -> None:
        self._mark_dirty()

    def watch_y_limits(self) -> None:
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _maybe_redraw(self) -> None:
        """Timer tick: start one drawing thread if something changed and none is running."""
        if not self._dirty or self._drawing or not self.is_mounted or self.size.area == 0:
            return
        snapshot = self.snapshot()
        self._dirty = False
        self._drawing = True
        self._draw_in_thread(snapshot)

    @work(thread=True, exit_on_error=False, group="curve-redraw")
    def _draw_in_thread(self, snapshot: ChartSnapshot) -> None:
        strips = render_chart(snapshot)
        self.post_message(self._FrameReady(strips, (snapshot.width, snapshot.height), snapshot.generation))

    def on_curve_chart__frame_ready(self, message: _FrameReady) -> None:
        message.stop()
        self._drawing = False
        if message.generation > self._installed_generation:  # `refresh_now` may have drawn newer data meanwhile
            self._install(message.strips, message.size, message.generation)

    def on_worker_state_changed(self, event) -> None:  # a drawing thread that raised must not stop redraws
        if event.worker.group == "curve-redraw" and event.state.name == "ERROR":
            self._drawing = False

    def refresh_now(self) -> None:
        """Draw synchronously on the event loop (tests, screenshots); normal updates go through the timer."""
        if self.size.area == 0:
            return
        snapshot = self.snapshot()
        self._dirty = False
        self._install(render_chart(snapshot), (snapshot.width, snapshot.height), snapshot.generation)

    def _install(self, strips: list[Strip], size: tuple[int, int], generation: int) -> None:
        self._installed_generation = generation
        self._frame = strips
        self._frame_size = size
        self.frames_drawn += 1
        self.refresh()
        self.post_message(self.Redrawn(self, generation))

    def snapshot(self) -> ChartSnapshot:
        """Capture what to draw now: array views, sizes and theme colours (cheap; on the event loop)."""
        self._generation += 1
        background = self.rich_style.bgcolor or RichColor.parse("black")
        foreground = self.rich_style.color or RichColor.parse("white")
        bg = Color.from_rich_color(background)
        muted = (bg + Color.from_rich_color(foreground).with_alpha(0.6)).rich_color
        layers: list[LayerSnapshot] = []
        legend: list[tuple[str, RichColor]] = []
        for series in self._series.values():
            if not series.visible:
                continue
            color = self._resolve(series.color)
            x, y = series.points.view()
            if series.smoothed is not None:
                trend = self._resolve(series.smooth_color) if series.smooth_color else color
                layers.append(LayerSnapshot(x, y, (bg + Color.from_rich_color(color).with_alpha(0.45)).rich_color))
                sx, sy = series.smoothed.view()
                layers.append(LayerSnapshot(sx, sy, trend))
                legend.append((series.name, trend))
            else:
                layers.append(LayerSnapshot(x, y, color, markers=series.markers))
                legend.append((series.name, color))
        width, height = self.size
        return ChartSnapshot(width=width, height=height, layers=tuple(layers), legend=tuple(legend),
                             background=background, foreground=foreground, muted=muted, log_y=self.log_y,
                             y_limits=self.y_limits, x_label=self.x_label, empty_text=self.empty_text,
                             generation=self._generation)

    def _resolve(self, color: str) -> RichColor:
        try:
            return theme_color(self.app, color).rich_color
        except KeyError:
            return Color.parse(color).rich_color

    # --- Line API -----------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < len(self._frame):
            strip = self._frame[y]
            return strip if self._frame_size[0] == width else strip.crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)
