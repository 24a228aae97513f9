"""`AttentionHeatmap`: one token x token attention matrix drawn with Textual's Line API, with labelled axes and
a cursor that reports the weight under it.

The Attention screen passes it matrices from `tunelab.core` (numpy arrays, values 0..1) through `set_matrix` and
listens for `CursorMoved`. Cells are half blocks (`half_blocks.HalfBlockPainter`: two matrix rows a line);
finished lines stay in an LRU cache until the data, the cursor on that line, the size or the theme changes.
`head_grid.HeadGrid` is the layer x head overview beside it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tunelab.tui.widgets.half_blocks import ARROW_BINDINGS, HalfBlockView, fit_text, quantize


class AttentionHeatmap(HalfBlockView, ScrollView, can_focus=True):
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
        *ARROW_BINDINGS,
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
        self.init_painting(1024)
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

    def on_mount(self) -> None:   # HalfBlockView.on_mount (theme changes) runs as well
        self._post_cursor()

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
            return Strip.blank(width, painter.base) if y else Strip([Segment(fit_text(" no attention to show", width), painter.muted)], width)
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
        segments = [Segment(fit_text(text, width - (bar + 6 if bar else 0)), painter.base)]
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
            return Strip([Segment(fit_text(text, width), painter.muted)], width)
        segments = []
        for half, marker in ((0, "▀"), (1, "▄")):
            row = 2 * line + half
            if row >= len(self._row_labels):
                segments.append(Segment(" " * (width - sum(s.cell_length for s in segments)), painter.base))
                break
            label_style = painter.highlight if row == self._cursor[0] else painter.base
            segments += [Segment(marker, painter.muted),
                         Segment(f"{row:>{self.index_width}} ", painter.muted),
                         Segment(fit_text(self._row_labels[row], self.label_width), label_style),
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
