"""Attention heatmaps drawn with Textual's Line API: `AttentionHeatmap` shows one token x token matrix with
a cursor that reports the weight under it; `HeadGrid` shows a layer x head grid of thumbnails to pick from.

The Attention screen owns one of each: it passes matrices from `tunelab.core` (numpy arrays, values 0..1)
to `set_matrix` / `set_maps` and listens for `AttentionHeatmap.CursorMoved` and `HeadGrid.HeadSelected`.
Each text cell is "▀" with the foreground as the upper matrix cell and the background as the lower one, so a
line holds two matrix rows. Colours come from a `textual.color.Gradient` between the theme variables
`heatmap-low` and `heatmap-high`, quantised to a few dozen steps so styles are shared, and finished lines are
kept in a `textual.cache.LRUCache` until the data, the cursor on that line, the size or the theme changes.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.color import Color, Gradient
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tunelab.themes import theme_color

UPPER_HALF = "▀"
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
                 levels: int = LEVELS) -> None:
        gradient = Gradient((0.0, low), (1.0, high), quality=levels)
        self.palette: list[RichColor] = [color.rich_color for color in gradient.colors]
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
        return cls(low, high, background, foreground, cursor)

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


def _distance(a: Color, b: Color) -> float:
    return math.dist(a.rgb, b.rgb)


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis, padded on the right."""
    if width <= 0:
        return ""
    if len(text) > width:
        text = text[: width - 1] + "…" if width > 1 else text[:1]
    return text.ljust(width)


class AttentionHeatmap(ScrollView, can_focus=True):
    """A token x token attention matrix with labelled axes and a cursor cell.

    Line 0 reads out the cell under the cursor (`row token → column token  weight`) beside a colour bar;
    line 1 numbers the columns; below, each line holds two matrix rows and a gutter naming both tokens
    (`▀ 2 cat  ▄ 3 sat`: upper half, lower half). Both stay in place while the matrix scrolls under them.
    Arrow keys (and home/end, or a click) move the cursor; every move posts `CursorMoved`.
    """

    DEFAULT_CSS = """
    AttentionHeatmap {
        width: 1fr;
        height: 1fr;
        background: $surface;
        color: $foreground;
    }
    """

    BINDINGS = [
        Binding("up", "cursor(-1, 0)", "Up", show=False),
        Binding("down", "cursor(1, 0)", "Down", show=False),
        Binding("left", "cursor(0, -1)", "Left", show=False),
        Binding("right", "cursor(0, 1)", "Right", show=False),
        Binding("home", "cursor_home", "First column", show=False),
        Binding("end", "cursor_end", "Last column", show=False),
    ]

    HEADER_LINES = 2

    class CursorMoved(Message):
        """The cursor is on matrix cell (row, col), whose weight is `weight`."""

        def __init__(self, heatmap: AttentionHeatmap, row: int, col: int, weight: float,
                     row_label: str, col_label: str) -> None:
            super().__init__()
            self.heatmap = heatmap
            self.row = row
            self.col = col
            self.weight = weight
            self.row_label = row_label
            self.col_label = col_label

        @property
        def control(self) -> AttentionHeatmap:
            return self.heatmap

    def __init__(self, matrix: np.ndarray | None = None, row_labels: Sequence[str] | None = None,
                 col_labels: Sequence[str] | None = None, *, cell_width: int = 2, max_label: int = 8,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.cell_width = cell_width
        self.max_label = max_label
        self._matrix = np.zeros((0, 0))
        self._levels = np.zeros((0, 0), dtype=np.int16)
        self._row_labels: list[str] = []
        self._col_labels: list[str] = []
        self._cursor = (0, 0)
        self._generation = 0
        self._painter: HalfBlockPainter | None = None
        self._line_cache: LRUCache[tuple, Strip] = LRUCache(1024)
        if matrix is not None:
            self.set_matrix(matrix, row_labels, col_labels)

    # --- data -------------------------------------------------------------------------------------------------

    def set_matrix(self, matrix: np.ndarray, row_labels: Sequence[str] | None = None,
                   col_labels: Sequence[str] | None = None) -> None:
        """Show `matrix` (rows attend to columns; values 0..1). Labels default to the row labels, then to
        indices. The cursor stays where it was if it still fits."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"an attention matrix is 2-D, got shape {matrix.shape}")
        n, m = matrix.shape
        rows = [str(t) for t in row_labels] if row_labels is not None else [str(i) for i in range(n)]
        cols = [str(t) for t in col_labels] if col_labels is not None else (rows if m == n else [str(j) for j in range(m)])
        if len(rows) != n or len(cols) != m:
            raise ValueError(f"{len(rows)} row and {len(cols)} column labels for a {n}x{m} matrix")
        self._matrix = matrix
        self._levels = quantize(matrix)
        self._row_labels, self._col_labels = rows, cols
        self._cursor = (min(self._cursor[0], max(0, n - 1)), min(self._cursor[1], max(0, m - 1)))
        self._invalidate()
        self.virtual_size = Size(self.gutter_width + m * self.cell_width, self.HEADER_LINES + (n + 1) // 2)
        if self.is_mounted:
            self._post_cursor()

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix

    @property
    def cursor(self) -> tuple[int, int]:
        """(row, col) of the cursor cell."""
        return self._cursor

    @property
    def weight_under_cursor(self) -> float:
        row, col = self._cursor
        return float(self._matrix[row, col]) if self._matrix.size else math.nan

    def move_cursor(self, row: int, col: int, *, scroll: bool = True) -> None:
        """Put the cursor on (row, col), clamped to the matrix, and report it."""
        n, m = self._matrix.shape
        if n == 0 or m == 0:
            return
        new = (max(0, min(n - 1, row)), max(0, min(m - 1, col)))
        if new == self._cursor:
            return
        self._cursor = new
        self.refresh()
        if scroll:
            self._scroll_to_cursor()
        self._post_cursor()

    def action_cursor(self, d_row: int, d_col: int) -> None:
        self.move_cursor(self._cursor[0] + d_row, self._cursor[1] + d_col)

    def action_cursor_home(self) -> None:
        self.move_cursor(self._cursor[0], 0)

    def action_cursor_end(self) -> None:
        self.move_cursor(self._cursor[0], self._matrix.shape[1] - 1)

    def _post_cursor(self) -> None:
        if not self._matrix.size:
            return
        row, col = self._cursor
        self.post_message(self.CursorMoved(self, row, col, self.weight_under_cursor,
                                           self._row_labels[row], self._col_labels[col]))

    def _scroll_to_cursor(self) -> None:
        row, col = self._cursor
        region = Region(self.gutter_width + col * self.cell_width, self.HEADER_LINES + row // 2, self.cell_width, 1)
        self.scroll_to_region(region, spacing=Spacing(self.HEADER_LINES, 0, 0, self.gutter_width), animate=False,
                              force=True, immediate=True)

    def on_click(self, event: events.Click) -> None:
        x, y = event.x, event.y
        scroll_x, scroll_y = self.scroll_offset
        if x < self.gutter_width or y < self.HEADER_LINES:
            return
        col = (x - self.gutter_width + scroll_x) // self.cell_width
        line = y - self.HEADER_LINES + scroll_y
        # Which half of the cell was clicked cannot be known; keep the cursor's half when on its line.
        row = 2 * line + (self._cursor[0] % 2 if self._cursor[0] // 2 == line else 0)
        self.move_cursor(row, col, scroll=False)

    # --- theme ----------------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._invalidate())
        self._post_cursor()

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

    # --- layout ---------------------------------------------------------------------------------------------

    @property
    def label_width(self) -> int:
        longest = max((len(label) for label in self._row_labels), default=1)
        return max(3, min(self.max_label, longest))

    @property
    def index_width(self) -> int:
        return len(str(max(0, len(self._row_labels) - 1)))

    @property
    def gutter_width(self) -> int:
        """`▀ 12 label··· ▄ 13 label··· ` : two (marker, index, label) groups and a space."""
        return 2 * (1 + self.index_width + 1 + self.label_width + 1) + 1

    # --- Line API -------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        painter = self.painter
        if not self._matrix.size:
            return Strip.blank(width, painter.base) if y else Strip([Segment(_fit(" no attention to show", width), painter.muted)], width)
        if y == 0:
            key = ("readout", width, self._cursor, self._generation)
            strip = self._line_cache.get(key)
            if strip is None:
                strip = self._line_cache[key] = self._readout(width)
            return strip
        if y == 1:
            key = ("header", self._cursor[1], self._generation)
            matrix_part = self._line_cache.get(key)
            if matrix_part is None:
                matrix_part = self._line_cache[key] = self._column_header()
        else:
            line = y - self.HEADER_LINES + scroll_y
            if line >= (self._matrix.shape[0] + 1) // 2:
                return Strip.blank(width, painter.base)
            cursor_row, cursor_col = self._cursor
            on_line = cursor_row // 2 == line
            key = ("line", line, cursor_row if on_line else -1, cursor_col if on_line else -1, self._generation)
            matrix_part = self._line_cache.get(key)
            if matrix_part is None:
                matrix_part = self._line_cache[key] = self._matrix_line(line)
        gutter_line = None if y == 1 else y - self.HEADER_LINES + scroll_y
        gutter_key = ("gutter", gutter_line, self._cursor[0], self._generation)
        gutter = self._line_cache.get(gutter_key)
        if gutter is None:
            gutter = self._line_cache[gutter_key] = self._gutter(gutter_line)
        visible = max(0, width - self.gutter_width)
        body = matrix_part.crop_extend(scroll_x, scroll_x + visible, painter.base)
        return Strip.join([gutter, body]).crop_extend(0, width, painter.base)

    def _readout(self, width: int) -> Strip:
        painter = self.painter
        row, col = self._cursor
        text = f" {self._row_labels[row]} [{row}] → {self._col_labels[col]} [{col}]  {self.weight_under_cursor:.3f}"
        bar = 12 if width - len(text) >= 12 + 8 else 0
        segments = [Segment(_fit(text, width - (bar + 6 if bar else 0)), painter.base)]
        if bar:
            segments += [Segment(" 0 ", painter.muted), *painter.legend(bar), Segment(" 1 ", painter.muted)]
        return Strip(segments).crop_extend(0, width, painter.base)

    def _column_header(self) -> Strip:
        """Column indices. When an index needs as many cells as a column has, only every few columns are
        numbered (`0   2   4 ... 10  12`); the cursor's column always is, highlighted (its last digits)."""
        painter = self.painter
        m, cw = self._matrix.shape[1], self.cell_width
        digits = len(str(max(0, m - 1)))
        every = 1 if digits < cw else math.ceil((digits + 1) / cw)
        col = self._cursor[1]
        keep_clear = range(col * cw - 1, (col + 1) * cw + 1)  # the cursor's label needs a gap on both sides
        cells = [" "] * (m * cw)
        for j in range(0, m, every):
            text = str(j)
            start = j * cw + max(0, cw - len(text))
            if j != col and not (start < keep_clear.stop and start + len(text) > keep_clear.start):
                cells[start : start + len(text)] = text
        before, after = "".join(cells[: col * cw]), "".join(cells[(col + 1) * cw :])
        return Strip([Segment(before, painter.muted),
                      Segment(str(col)[-cw:].rjust(cw), painter.highlight),
                      Segment(after, painter.muted)])

    def _gutter(self, line: int | None) -> Strip:
        painter = self.painter
        width = self.gutter_width
        if line is None:
            text = next(t for t in ("  row ▀/▄ → col", "row → col", "") if len(t) <= width)
            return Strip([Segment(_fit(text, width), painter.muted)], width)
        segments = []
        for half, marker in ((0, "▀"), (1, "▄")):
            row = 2 * line + half
            if row >= len(self._row_labels):
                segments.append(Segment(" " * (width - sum(s.cell_length for s in segments)), painter.base))
                break
            label_style = painter.highlight if row == self._cursor[0] else painter.base
            segments += [Segment(marker, painter.muted),
                         Segment(f"{row:>{self.index_width}} ", painter.muted),
                         Segment(_fit(self._row_labels[row], self.label_width), label_style),
                         Segment(" ", painter.base)]
        return Strip(segments).crop_extend(0, width, painter.base)

    def _matrix_line(self, line: int) -> Strip:
        n = self._levels.shape[0]
        upper = self._levels[2 * line].copy()
        lower = self._levels[2 * line + 1].copy() if 2 * line + 1 < n else np.full_like(upper, -2)
        cursor_row, cursor_col = self._cursor
        if cursor_row // 2 == line:
            (upper if cursor_row % 2 == 0 else lower)[cursor_col] = -1
        return Strip(self.painter.cells(upper, lower, self.cell_width))


class HeadGrid(ScrollView, can_focus=True):
    """A layer x head grid of attention thumbnails (e.g. 6 x 12), each pooled to fit the widget.

    `set_maps(maps)` takes an array shaped (layers, heads, rows, cols). Each thumbnail is max-pooled and, by
    default, scaled to its own largest weight so its pattern shows. Arrow keys move a bracketed selection and
    post `HeadHighlighted`; enter (or a click) posts `HeadSelected`.
    """

    DEFAULT_CSS = """
    HeadGrid {
        width: 1fr;
        height: 1fr;
        background: $surface;
        color: $foreground;
    }
    """

    BINDINGS = [
        Binding("up", "cursor(-1, 0)", "Up", show=False),
        Binding("down", "cursor(1, 0)", "Down", show=False),
        Binding("left", "cursor(0, -1)", "Left", show=False),
        Binding("right", "cursor(0, 1)", "Right", show=False),
        Binding("enter", "select", "Open head", show=False),
    ]

    GUTTER = 4  # "L11 "

    class HeadHighlighted(Message):
        def __init__(self, grid: HeadGrid, layer: int, head: int) -> None:
            super().__init__()
            self.grid = grid
            self.layer = layer
            self.head = head

        @property
        def control(self) -> HeadGrid:
            return self.grid

    class HeadSelected(HeadHighlighted):
        """The user chose this (layer, head) to look at in full."""

    def __init__(self, maps: np.ndarray | None = None, *, normalize: bool = True, max_thumb: tuple[int, int] = (12, 6),
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.normalize = normalize
        self.max_thumb = max_thumb
        self._maps = np.zeros((0, 0, 0, 0))
        self._cursor = (0, 0)
        self._generation = 0
        self._painter: HalfBlockPainter | None = None
        self._thumb: tuple[int, int] = (0, 0)
        self._pooled = np.zeros((0, 0, 0, 0), dtype=np.int16)
        self._line_cache: LRUCache[tuple, Strip] = LRUCache(512)
        if maps is not None:
            self.set_maps(maps)

    def set_maps(self, maps: np.ndarray) -> None:
        maps = np.asarray(maps, dtype=np.float64)
        if maps.ndim != 4:
            raise ValueError(f"expected (layers, heads, rows, cols), got shape {maps.shape}")
        self._maps = maps
        layers, heads = maps.shape[:2]
        self._cursor = (min(self._cursor[0], max(0, layers - 1)), min(self._cursor[1], max(0, heads - 1)))
        self._thumb = (0, 0)
        self._invalidate()

    @property
    def cursor(self) -> tuple[int, int]:
        """(layer, head) of the selection."""
        return self._cursor

    @property
    def thumb_size(self) -> tuple[int, int]:
        """(width in cells, height in lines) of each thumbnail at the current size."""
        self._fit()
        return self._thumb

    def move_cursor(self, layer: int, head: int) -> None:
        layers, heads = self._maps.shape[:2]
        if not layers or not heads:
            return
        new = (max(0, min(layers - 1, layer)), max(0, min(heads - 1, head)))
        if new != self._cursor:
            self._cursor = new
            self.refresh()
            tw, th = self.thumb_size
            region = Region(self.GUTTER + new[1] * (tw + 1) - 1, 1 + new[0] * (th + 1), tw + 2, th)
            self.scroll_to_region(region, spacing=Spacing(1, 0, 0, self.GUTTER), animate=False, force=True,
                                  immediate=True)
            self.post_message(self.HeadHighlighted(self, *new))

    def action_cursor(self, d_layer: int, d_head: int) -> None:
        self.move_cursor(self._cursor[0] + d_layer, self._cursor[1] + d_head)

    def action_select(self) -> None:
        if self._maps.size:
            self.post_message(self.HeadSelected(self, *self._cursor))

    def on_click(self, event: events.Click) -> None:
        tw, th = self.thumb_size
        scroll_x, scroll_y = self.scroll_offset
        x, y = event.x + scroll_x - self.GUTTER, event.y + scroll_y - 1
        if x < 0 or y < 0 or not tw:
            return
        self.move_cursor(y // (th + 1), x // (tw + 1))
        self.action_select()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._invalidate())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._invalidate()

    def on_resize(self) -> None:
        self._fit()
        self._line_cache.clear()
        self.refresh()

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

    def _fit(self) -> None:
        """Size thumbnails to fill the widget (within `max_thumb`, at least 3 x 1) and pool the maps to it."""
        layers, heads = self._maps.shape[:2]
        if not layers or not heads:
            return
        size = self.size if self.size.area else Size(80, 24)
        tw = max(3, min(self.max_thumb[0], (size.width - self.GUTTER) // heads - 1))
        th = max(1, min(self.max_thumb[1], (size.height - 1) // layers - 1))
        if (tw, th) == self._thumb and self._pooled.shape[:2] == (layers, heads):
            return
        self._thumb = (tw, th)
        pooled = np.empty((layers, heads, 2 * th, tw))
        for layer in range(layers):
            for head in range(heads):
                block = pool_max(self._maps[layer, head], 2 * th, tw)
                if self.normalize:
                    top = block.max()
                    block = block / top if top > 0 else block
                pooled[layer, head] = block
        self._pooled = quantize(pooled)
        self._generation += 1
        self.virtual_size = Size(self.GUTTER + heads * (tw + 1) + 1, 1 + layers * (th + 1))

    def render_line(self, y: int) -> Strip:
        self._fit()
        width = self.scrollable_content_region.width
        painter = self.painter
        if not self._maps.size:
            return Strip.blank(width, painter.base)
        scroll_x, scroll_y = self.scroll_offset
        tw, th = self._thumb
        line = y if y == 0 else y + scroll_y
        layer, within = divmod(line - 1, th + 1)
        on_cursor = y == 0 or layer == self._cursor[0]
        key = (line, width, self._cursor if on_cursor else None, self._generation)
        full = self._line_cache.get(key)
        if full is None:
            full = self._line_cache[key] = self._grid_line(line)
        gutter = full.crop(0, self.GUTTER)
        body = full.crop_extend(self.GUTTER + scroll_x, self.GUTTER + scroll_x + max(0, width - self.GUTTER), painter.base)
        return Strip.join([gutter, body]).crop_extend(0, width, painter.base)

    def _grid_line(self, line: int) -> Strip:
        painter = self.painter
        layers, heads = self._maps.shape[:2]
        tw, th = self._thumb
        if line == 0:
            segments = [Segment("head", painter.muted)]
            for head in range(heads):
                style = painter.highlight if head == self._cursor[1] else painter.muted
                segments += [Segment(" ", painter.base), Segment(_fit(str(head), tw), style)]
            return Strip(segments)
        layer, within = divmod(line - 1, th + 1)
        if layer >= layers or within == th:
            return Strip.blank(self.GUTTER + heads * (tw + 1) + 1, painter.base)
        label = f"L{layer}" if within == 0 else ""
        label_style = painter.highlight if within == 0 and layer == self._cursor[0] else painter.muted
        segments = [Segment(label, label_style), Segment(" " * (self.GUTTER - len(label)), painter.base)]
        bracket = Style(color=painter.cursor, bgcolor=painter.background)
        for head in range(heads):
            selected = (layer, head) == self._cursor
            left_selected = (layer, head - 1) == self._cursor
            edge = "▐" if selected else ("▌" if left_selected else " ")
            segments.append(Segment(edge, bracket if (selected or left_selected) else painter.base))
            cells = self._pooled[layer, head]
            segments += painter.cells(cells[2 * within], cells[2 * within + 1], 1)
        last_selected = (layer, heads - 1) == self._cursor
        segments.append(Segment("▌" if last_selected else " ", bracket if last_selected else painter.base))
        return Strip(segments)
