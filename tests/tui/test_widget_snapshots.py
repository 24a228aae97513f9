"""SVG snapshots (pytest-textual-snapshot) of the curve chart, the attention heatmap and the head grid at
80x24 with fixed data. Regenerate with `pytest tests/tui --snapshot-update` after a deliberate change, and look
at the report before committing the new SVGs."""

from __future__ import annotations

import numpy as np
from widget_apps import TOKENS, WidgetApp, attention_matrix, eval_accuracy, head_maps, training_loss
from tunelab.tui.widgets.curve import CurveChart
from tunelab.tui.widgets.head_grid import HeadGrid
from tunelab.tui.widgets.heatmap import AttentionHeatmap


async def draw_charts(pilot) -> None:
    await pilot.pause()
    for chart in pilot.app.query(CurveChart):
        chart.refresh_now()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def loss_and_eval() -> list:
    chart = CurveChart()
    chart.add_series("train loss", smooth=0.95, smooth_color="series-smooth")
    chart.append("train loss", *training_loss())
    chart.add_series("eval loss", color="series-2", markers=True)
    steps, acc = eval_accuracy()
    chart.append("eval loss", steps, 1.5 - acc)
    return [chart]


def test_curve_chart_dark(snap_compare):
    assert snap_compare(WidgetApp(loss_and_eval), terminal_size=(80, 24), run_before=draw_charts)


def test_curve_chart_log_lr_light(snap_compare):
    def make():
        chart = CurveChart(log_y=True)
        steps, _ = training_loss()
        warmup = 300
        lr = 5e-5 * np.minimum(steps / warmup, (steps[-1] - steps) / (steps[-1] - warmup) + 1e-3)
        chart.append("learning rate", steps, lr)
        return [chart]

    assert snap_compare(WidgetApp(make, theme="tunelab-light"), terminal_size=(80, 24), run_before=draw_charts)


def test_attention_heatmap(snap_compare):
    app = WidgetApp(lambda: [AttentionHeatmap(attention_matrix(), TOKENS)])
    assert snap_compare(app, terminal_size=(80, 24), press=["down", "down", "down", "right", "right"])


def test_head_grid_high_contrast(snap_compare):
    app = WidgetApp(lambda: [HeadGrid(head_maps())], theme="tunelab-high-contrast")
    assert snap_compare(app, terminal_size=(80, 24), press=["right", "down"])

