"""AttentionHeatmap and HeadGrid: the cursor moves with the arrow keys and reports the weight under it,
a 20-token matrix fits 80x24, larger ones scroll to the cursor, and each "▀" cell carries two rows' colours."""

from __future__ import annotations

import numpy as np

from widget_apps import run_async, TOKENS, WidgetApp, attention_matrix, head_maps, widget_text
from tunelab.tui.widgets.half_blocks import pool_max, quantize
from tunelab.tui.widgets.head_grid import HeadGrid
from tunelab.tui.widgets.heatmap import AttentionHeatmap


def test_pool_max_keeps_the_strongest_link():
    m = np.zeros((64, 64))
    m[40, 13] = 0.9
    pooled = pool_max(m, 4, 8)
    assert pooled.shape == (4, 8) and pooled.max() == 0.9 and pooled[2, 1] == 0.9
    assert pool_max(np.eye(3), 6, 6).shape == (6, 6)  # small maps are stretched


@run_async
async def test_cursor_moves_with_arrow_keys_and_reports_the_weight():
    matrix = attention_matrix()
    messages = []
    app = WidgetApp(lambda: [AttentionHeatmap(matrix, TOKENS)])

    def hook(message):
        if isinstance(message, AttentionHeatmap.CursorMoved) and message not in messages:  # seen once per node
            messages.append(message)

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        heatmap = app.query_one(AttentionHeatmap)
        heatmap.focus()
        await pilot.press("down", "down", "down", "right", "right", "up")
        await pilot.pause()
        assert heatmap.cursor == (2, 2)
        last = messages[-1]
        assert (last.row, last.col) == (2, 2)
        assert last.weight == matrix[2, 2]
        assert (last.row_label, last.col_label) == ("keys", "keys")
        assert f"{matrix[2, 2]:.3f}" in widget_text(heatmap).splitlines()[0]
        await pilot.press("up", "up", "up", "left", "left", "left")
        assert heatmap.cursor == (0, 0)  # clamped at the edges
        await pilot.press("end")
        assert heatmap.cursor == (0, 19) and messages[-1].weight == matrix[0, 19]


@run_async
async def test_twenty_tokens_fit_80x24_with_labels():
    app = WidgetApp(lambda: [AttentionHeatmap(attention_matrix(), TOKENS)])
    async with app.run_test(size=(80, 24)):
        heatmap = app.query_one(AttentionHeatmap)
        assert heatmap.max_scroll_x == 0 and heatmap.max_scroll_y == 0
        text = widget_text(heatmap)
        for token in ("[CLS]", "cabinet", "[SEP]"):
            assert token in text
        assert "18" in text.splitlines()[1]  # column indices


@run_async
async def test_half_block_cells_carry_upper_and_lower_rows():
    matrix = attention_matrix()
    app = WidgetApp(lambda: [AttentionHeatmap(matrix, TOKENS)])
    async with app.run_test(size=(80, 24)):
        heatmap = app.query_one(AttentionHeatmap)
        palette = heatmap.painter.palette
        line = heatmap.render_line(AttentionHeatmap.HEADER_LINES + 2)  # matrix rows 4 and 5
        x = heatmap.gutter_width
        cells = []
        for segment in line:
            cells += [segment] * segment.cell_length
        for col in range(3, 8):
            segment = cells[x + col * heatmap.cell_width]
            assert segment.text[0] == "▀"
            assert segment.style.color == palette[quantize(matrix[4, col])]
            assert segment.style.bgcolor == palette[quantize(matrix[5, col])]


@run_async
async def test_large_matrix_scrolls_to_keep_the_cursor_in_view():
    n = 96
    matrix = attention_matrix(n)
    app = WidgetApp(lambda: [AttentionHeatmap(matrix, [f"t{i}" for i in range(n)])])
    async with app.run_test(size=(80, 24)) as pilot:
        heatmap = app.query_one(AttentionHeatmap)
        heatmap.focus()
        await pilot.press("end", *["down"] * 60)
        await pilot.pause()
        row, col = heatmap.cursor
        assert (row, col) == (60, n - 1)
        assert heatmap.scroll_offset.x == heatmap.max_scroll_x > 0
        first_line = heatmap.scroll_offset.y
        visible_lines = heatmap.scrollable_content_region.height - AttentionHeatmap.HEADER_LINES
        assert first_line <= row // 2 < first_line + visible_lines


@run_async
async def test_head_grid_fits_6x12_and_selects_a_head():
    selected, seen = [], []
    app = WidgetApp(lambda: [HeadGrid(head_maps())])

    def hook(message):
        if isinstance(message, HeadGrid.HeadSelected) and message not in seen:  # hooks see it at every node
            seen.append(message)
            selected.append((message.layer, message.head))

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        grid = app.query_one(HeadGrid)
        grid.focus()
        await pilot.press("right", "right", "down", "enter")
        await pilot.pause()
        assert selected == [(1, 2)]
        assert grid.max_scroll_x == 0 and grid.max_scroll_y == 0
        assert grid.thumb_size[0] >= 4
        text = widget_text(grid)
        assert "L5" in text and "11" in text.splitlines()[0]


@run_async
async def test_marked_heads_get_a_star_under_their_thumbnail():
    app = WidgetApp(lambda: [HeadGrid(head_maps())])
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(HeadGrid)
        grid.set_marks({(0, 3), (2, 0)})
        await pilot.pause()
        tw, th = grid.thumb_size
        lines = widget_text(grid).splitlines()
        stars = [(y, x) for y, line in enumerate(lines) for x, ch in enumerate(line) if ch == "★"]
        # under layer 0 (line 1 + th) and layer 2; at the first cell of head 3 and head 0
        def under(layer: int, head: int) -> tuple[int, int]:      # the line below the layer, the head's first cell
            return 1 + layer * (th + 1) + th, HeadGrid.GUTTER + head * (tw + 1) + 1

        assert stars == [under(0, 3), under(2, 0)]
        grid.set_marks(())
        await pilot.pause()
        assert "★" not in widget_text(grid)
