"""Drawing numbers in [0, 1] as coloured half blocks, for the attention widgets (`heatmap.AttentionHeatmap`,
`head_grid.HeadGrid`) and anything else that paints a matrix with Textual's Line API.

Each text cell is "▀" with the foreground as the upper matrix cell and the background as the lower one, so a
line holds two matrix rows. Colours come from a `textual.color.Gradient` between the theme variables
`heatmap-low` and `heatmap-high`, quantised to a few dozen steps so styles are shared. `HalfBlockView` gives a
widget the painter for its theme and background, and a line cache cleared when the theme or style changes.
"""

from __future__ import annotations

import math

import numpy as np
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.color import Color, Gradient
from textual.strip import Strip

from tunelab.themes import theme_color

UPPER_HALF = "▀"
ARROW_BINDINGS = [  # the cursor keys of a painted matrix: action_cursor(d_row, d_col)
    Binding("up", "cursor(-1, 0)", "Up", show=False),
    Binding("down", "cursor(1, 0)", "Down", show=False),
    Binding("left", "cursor(0, -1)", "Left", show=False),
    Binding("right", "cursor(0, 1)", "Right", show=False),
]
LEVELS = 32  # colour steps between heatmap-low and heatmap-high


def quantize(values: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Map weights in [0, 1] to colour indices 0 .. levels-1 (NaN and anything below 0 -> 0)."""
    clean = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.rint(clean * (levels - 1)), 0, levels - 1).astype(np.int16)


def pool_max(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Shrink (or, by repetition, stretch) a 2-D array to rows x cols, keeping the largest value of each
    block, so one strong attention link still shows in a thumbnail."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n, m = matrix.shape
    if n == 0 or m == 0:
        return np.zeros((rows, cols))
    row_starts = (np.arange(rows) * n) // rows
    col_starts = (np.arange(cols) * m) // cols
    # reduceat with a start not below the next one yields the element at that start: nearest-neighbour stretch.
    return np.maximum.reduceat(np.maximum.reduceat(matrix, row_starts, axis=0), col_starts, axis=1)


class HalfBlockPainter:
    """Turns pairs of colour indices (upper, lower) into "▀" segments, sharing one Style per pair."""

    def __init__(self, low: Color, high: Color, background: Color, foreground: Color, cursor: Color,
                 levels: int = LEVELS, *, eight_bit: bool = False) -> None:
        gradient = Gradient((0.0, low), (1.0, high), quality=levels)
        colors = [color.rich_color for color in gradient.colors]
        self.palette: list[RichColor] = monotonic_256(colors) if eight_bit else colors
        self.background = background.rich_color
        self.foreground = foreground.rich_color
        self.cursor = cursor.rich_color
        self.levels = levels
        self.base = Style(color=self.foreground, bgcolor=self.background)
        self.muted = Style(color=(background + foreground.with_alpha(0.6)).rich_color, bgcolor=self.background)
        self.highlight = Style(color=self.background, bgcolor=self.cursor, bold=True)
        self._styles: dict[tuple[int, int], Style] = {}

    @classmethod
    def from_app(cls, app, widget_background: Color | None = None) -> HalfBlockPainter:
        low = theme_color(app, "heatmap-low")
        high = theme_color(app, "heatmap-high")
        background = widget_background if widget_background is not None else theme_color(app, "surface")
        foreground = theme_color(app, "foreground")
        ramp = Gradient((0.0, low), (1.0, high), quality=8).colors
        # The cursor colour is whichever theme colour stands furthest from every colour of the ramp.
        candidates = [theme_color(app, name) for name in ("accent", "primary", "error", "success")]
        cursor = max(candidates, key=lambda c: min(_distance(c, r) for r in ramp))
        return cls(low, high, background, foreground, cursor, eight_bit=app.console.color_system == "256")

    def style(self, upper: int, lower: int) -> Style:
        """-1 stands for the cursor colour, -2 for the widget background (an odd last row)."""
        key = (upper, lower)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style(color=self._color(upper), bgcolor=self._color(lower))
        return style

    def _color(self, index: int) -> RichColor:
        if index == -1:
            return self.cursor
        if index == -2:
            return self.background
        return self.palette[index]

    def cells(self, upper: np.ndarray, lower: np.ndarray, cell_width: int) -> list[Segment]:
        """Segments for one line: run-length merged (upper, lower) pairs, `cell_width` characters each."""
        pairs = upper.astype(np.int32) * 4096 + lower.astype(np.int32)
        cuts = np.flatnonzero(np.diff(pairs)) + 1
        segments = []
        start = 0
        for stop in [*cuts.tolist(), len(pairs)]:
            segments.append(Segment(UPPER_HALF * (cell_width * (stop - start)),
                                    self.style(int(upper[start]), int(lower[start]))))
            start = stop
        return segments

    def legend(self, width: int) -> list[Segment]:
        """A low-to-high colour bar `width` cells wide."""
        steps = quantize(np.linspace(0.0, 1.0, max(1, width)), self.levels)
        return self.cells(steps, steps, 1)


def _luminance(rgb) -> float:
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def monotonic_256(ramp: list[RichColor]) -> list[RichColor]:
    """The ramp in the xterm 256-colour palette, its brightness never turning back. Left to the terminal's
    nearest-colour downgrade, a dark-to-yellow ramp goes grey 28, red 20, olive 88 (a darker step above a
    lighter one reads as a weaker weight). Each step takes the palette colour nearest to it among those no
    darker (rising ramp) or no lighter (falling) than the step before; the 16 system colours are left out, as
    terminals redefine them."""
    from rich.color import EIGHT_BIT_PALETTE

    candidates = [(number, EIGHT_BIT_PALETTE[number], _luminance(EIGHT_BIT_PALETTE[number])) for number in range(16, 256)]
    rising = _luminance(ramp[-1].get_truecolor()) >= _luminance(ramp[0].get_truecolor())
    chosen, floor = [], None
    for color in ramp:
        target = color.get_truecolor()
        allowed = [c for c in candidates if floor is None or (c[2] >= floor if rising else c[2] <= floor)]
        number, _, light = min(allowed, key=lambda c: math.dist(c[1], target))
        chosen.append(RichColor.from_ansi(number))
        floor = light
    return chosen


def _distance(a: Color, b: Color) -> float:
    return math.dist(a.rgb, b.rgb)


def fit_text(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis, padded on the right."""
    if width <= 0:
        return ""
    if len(text) > width:
        text = text[: width - 1] + "…" if width > 1 else text[:1]
    return text.ljust(width)


class HalfBlockView:
    """For a widget that paints with a `HalfBlockPainter`: the painter for the current theme and background,
    and `_invalidate` (new data, theme or style: drop the painter and the cached lines, repaint). The widget
    sets `_painter`, `_generation` and `_line_cache` in its __init__ (`init_painting`)."""

    def init_painting(self, cache_size: int) -> None:
        self._painter: HalfBlockPainter | None = None
        self._generation = 0
        self._line_cache: LRUCache[tuple, Strip] = LRUCache(cache_size)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._invalidate())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._invalidate()

    def _invalidate(self) -> None:
        self._painter = None
        self._generation += 1
        self._line_cache.clear()
        self.refresh()

    @property
    def painter(self) -> HalfBlockPainter:
        if self._painter is None:
            background = Color.from_rich_color(self.rich_style.bgcolor) if self.rich_style.bgcolor else None
            self._painter = HalfBlockPainter.from_app(self.app, background)
        return self._painter
