"""`HeadGrid`: a layer x head grid of attention thumbnails to pick a head from, drawn with Textual's Line API.

The Attention screen passes it every head's matrix at once (`set_maps`, shaped (layers, heads, rows, cols)) and
listens for `HeadHighlighted` (arrow keys) and `HeadSelected` (enter or a click), then opens the head in
`heatmap.AttentionHeatmap`. Thumbnails are max-pooled so one strong link still shows, and painted with
`half_blocks.HalfBlockPainter`.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tunelab.tui.widgets.half_blocks import ARROW_BINDINGS, HalfBlockView, fit_text, pool_max, quantize


class HeadGrid(HalfBlockView, ScrollView, can_focus=True):
    """A layer x head grid of attention thumbnails (e.g. 6 x 12), each pooled to fit the widget.

    `set_maps(maps)` takes an array shaped (layers, heads, rows, cols). Each thumbnail is max-pooled and, by
    default, scaled to its own largest weight so its pattern shows. Arrow keys move a bracketed selection and
    post `HeadHighlighted`; enter (or a click) posts `HeadSelected`. `set_marks` puts a ★ under chosen heads.
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
        *ARROW_BINDINGS,
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
        self._marks: frozenset = frozenset()
        self._cursor = (0, 0)
        self._thumb: tuple[int, int] = (0, 0)
        self._pooled = np.zeros((0, 0, 0, 0), dtype=np.int16)
        self.init_painting(512)
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

    def set_marks(self, marks) -> None:
        """Mark these (layer, head) positions with a ★ under their thumbnails (the heads that stand out)."""
        marks = frozenset(marks)
        if marks != self._marks:
            self._marks = marks
            self._invalidate()

    @property
    def marks(self) -> frozenset:
        return self._marks

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

    def on_resize(self) -> None:
        self._fit()
        self._line_cache.clear()
        self.refresh()

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
                segments += [Segment(" ", painter.base), Segment(fit_text(str(head), tw), style)]
            return Strip(segments)
        layer, within = divmod(line - 1, th + 1)
        if layer >= layers:
            return Strip.blank(self.GUTTER + heads * (tw + 1) + 1, painter.base)
        if within == th:            # the line under a layer: ★ under each head that stands out
            star = Style(color=painter.cursor, bgcolor=painter.background)
            segments = [Segment(" " * self.GUTTER, painter.base)]
            for head in range(heads):
                if (layer, head) in self._marks:
                    segments += [Segment(" ", painter.base), Segment("★", star), Segment(" " * (tw - 1), painter.base)]
                else:
                    segments.append(Segment(" " * (tw + 1), painter.base))
            return Strip(segments + [Segment(" ", painter.base)])
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
