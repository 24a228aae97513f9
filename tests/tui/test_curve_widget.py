"""CurveChart and its numerics: decimation keeps spikes, smoothing matches the textbook EMA, and the widget
shows what was appended, under any theme, at 80x24 and in a 40x10 box."""

from __future__ import annotations

import numpy as np
import pytest
from textual.color import Color

from widget_apps import run_async, WidgetApp, eval_accuracy, training_loss, widget_text
from tunelab.themes import THEMES
from tunelab.tui.widgets.curve import CurveChart, SeriesBuffer, decimate_minmax, ema


# --- numerics ------------------------------------------------------------------------------------------------

def test_decimation_keeps_a_single_spike_in_100k_points():
    rng = np.random.default_rng(0)
    x = np.arange(100_000, dtype=np.float64)
    y = 1.0 + 0.01 * rng.standard_normal(100_000)
    y[54_321] = 50.0
    lo, hi = decimate_minmax(x, y, 0.0, 99_999.0, 160)
    spike_column = int(54_321 / 99_999 * 160)
    assert hi[spike_column] == 50.0
    others = np.delete(hi, [spike_column - 1, spike_column, spike_column + 1])
    assert others.max() < 1.1 and lo.min() > 0.9


def test_decimation_joins_sparse_points_and_leaves_gaps_outside_the_data():
    x = np.array([100.0, 200.0, 300.0])
    y = np.array([0.0, 1.0, 0.5])
    lo, hi = decimate_minmax(x, y, 0.0, 400.0, 40)
    inside = (np.arange(40) >= 10) & (np.arange(40) < 30)
    assert np.isfinite(lo[inside]).all()          # one connected line from the first to the last point
    assert np.isnan(lo[:9]).all() and np.isnan(lo[31:]).all()
    assert hi[inside].max() == 1.0 and lo[inside].min() == 0.0


def test_ema_matches_the_recurrence_and_continues_across_batches():
    values = np.random.default_rng(1).random(5000) * 3
    for weight in (0.0, 0.6, 0.9, 0.999):
        expected = np.empty_like(values)
        state = values[0]
        for i, v in enumerate(values):
            state = weight * state + (1 - weight) * v
            expected[i] = state
        np.testing.assert_allclose(ema(values, weight), expected, rtol=1e-9, atol=1e-12)
        first = ema(values[:1234], weight)
        np.testing.assert_allclose(np.concatenate([first, ema(values[1234:], weight, first[-1])]), expected, rtol=1e-9)


def test_series_buffer_grows_and_earlier_views_stay_unchanged():
    buffer = SeriesBuffer(capacity=4)
    buffer.extend(np.arange(3.0), np.arange(3.0) * 2)
    x_before, _ = buffer.view()
    for start in range(3, 1000, 7):
        buffer.extend(np.arange(start, start + 7.0), np.zeros(7))
    assert len(buffer) == 1004 and list(x_before) == [0.0, 1.0, 2.0]
    x, y = buffer.view()
    assert x[-1] == 1003.0 and not x.flags.writeable


# --- the widget ------------------------------------------------------------------------------------------------

async def wait_for_frame(pilot, chart: CurveChart, after: int) -> None:
    """Let the 4 Hz timer and the drawing thread deliver a frame newer than `after`."""
    for _ in range(100):
        if chart.frames_drawn > after:
            return
        await pilot.pause(0.05)
    raise AssertionError("the chart never redrew")


@run_async
async def test_chart_shows_points_after_they_are_appended():
    app = WidgetApp(lambda: [CurveChart(id="chart")])
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CurveChart)
        await wait_for_frame(pilot, chart, 0)
        assert "waiting for data" in widget_text(chart)
        frames = chart.frames_drawn
        steps, loss = training_loss()
        chart.add_series("train loss", smooth=0.9)
        chart.append("train loss", steps, loss)
        await wait_for_frame(pilot, chart, frames)
        lines = widget_text(chart).splitlines()
        assert "train loss" in lines[0]                                    # legend
        assert any(line.strip().startswith("3┤") for line in lines[1:-2])   # y ticks reach the spike at 3.5
        assert sum("\u2800" < ch <= "\u28ff" for ch in "".join(lines)) > 100  # Braille dots drawn
        assert lines[-1].split() == ["step", "500", "1000", "1500", "2000", "2500", "3000"]


@run_async
async def test_spike_in_100k_points_is_drawn():
    app = WidgetApp(lambda: [CurveChart()])
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CurveChart)
        x = np.arange(100_000, dtype=np.float64)
        y = np.ones(100_000)
        y[70_000] = 10.0
        chart.append("loss", x, y)
        chart.refresh_now()
        lines = widget_text(chart).splitlines()
        plot_rows = lines[1:-2]
        assert plot_rows[0].split("│")[-1].strip() or plot_rows[0].split("┤")[-1].strip(), "the spike reaches the top"
        assert any(label in "\n".join(plot_rows) for label in ("10┤", " 10"))


@run_async
async def test_many_appends_between_ticks_cost_one_redraw():
    app = WidgetApp(lambda: [CurveChart()])
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CurveChart)
        await wait_for_frame(pilot, chart, 0)
        frames = chart.frames_drawn
        for step in range(500):  # no awaits: the event loop never runs in between
            chart.append("loss", step, 1.0 / (step + 1))
        await wait_for_frame(pilot, chart, frames)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert chart.frames_drawn == frames + 1
        assert len(chart.series_data("loss")[0]) == 500


@run_async
async def test_log_axis_labels_decades():
    app = WidgetApp(lambda: [CurveChart(log_y=True)])
    async with app.run_test(size=(80, 24)):
        chart = app.query_one(CurveChart)
        steps = np.arange(1, 2001, dtype=np.float64)
        chart.append("lr", steps, 1e-3 * 10 ** (-3 * steps / 2000))
        chart.refresh_now()
        text = widget_text(chart)
        assert "0.001" in text and "1e-5" in text


@run_async
async def test_theme_change_repaints_series_in_the_new_colours():
    app = WidgetApp(lambda: [CurveChart()])
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CurveChart)
        chart.append("accuracy", *eval_accuracy())
        chart.refresh_now()
        for theme in THEMES[1:]:
            frames = chart.frames_drawn
            app.theme = theme.name
            await wait_for_frame(pilot, chart, frames)
            braille = [seg for y in range(chart.size.height) for seg in chart.render_line(y)
                       if any("\u2800" < ch <= "\u28ff" for ch in seg.text)]
            want = Color.parse(theme.variables["series-1"]).rich_color
            assert {seg.style.color for seg in braille} == {want}


@run_async
async def test_chart_is_legible_in_a_40x10_box():
    def make():
        chart = CurveChart()
        chart.add_series("loss", smooth=0.9)
        chart.append("loss", *training_loss())
        chart.add_series("eval", markers=True)
        chart.append("eval", *eval_accuracy())
        return [chart]

    app = WidgetApp(make, box=(40, 10))
    async with app.run_test(size=(80, 24)):
        chart = app.query_one(CurveChart)
        chart.refresh_now()
        lines = widget_text(chart).splitlines()
        assert chart.size == (40, 10) and len(lines) == 10
        assert "loss" in lines[0] and "eval" in lines[0]
        assert lines[-1].split() == ["step", "1000", "2000", "3000"]
        assert sum("┤" in line for line in lines) >= 2


def test_steps_going_backwards_are_refused():
    chart = CurveChart()
    chart.append("loss", [1, 2, 3], [1.0, 0.9, 0.8])
    with pytest.raises(ValueError):
        chart.append("loss", 2, 0.7)
