"""`OutputBars`, the Predict screen's read-out of a several-output regression: each bar runs from zero (or the
track's nearer end) to the value on that output's training range, values beyond it fill to the end, and outputs
with no known range share a symmetric scale that holds still while the values move a little."""

from __future__ import annotations

import pytest
from widget_apps import WidgetApp, run_async

from tunelab.tui.widgets.output_bars import OutputBars, nice_bound, output_bar


def test_a_bar_runs_from_zero_to_the_value_in_half_cells():
    assert output_bar(0.5, -1.0, 1.0, 8) == ("    ██  ", 4)           # zero mid-track, right of it
    assert output_bar(-0.85, -1.0, 1.0, 8) == ("▐███    ", 4)          # left of zero, to the half cell
    assert output_bar(0.3, 0.0, 1.0, 10) == ("███       ", None)       # from the track's start: zero is its end
    assert output_bar(-4.0, -3.0, -1.0, 4) == ("████", None)           # beyond the range: clamped to its end
    assert output_bar(5.0, 2.0, 2.0, 4) == ("    ", None)              # a constant output: nothing to place
    assert output_bar(float("nan"), -1.0, 1.0, 4) == ("    ", 2)


@pytest.mark.parametrize("largest, bound", [(0.0, 1.0), (0.3, 0.5), (0.5, 0.5), (0.51, 1.0), (1.7, 2.0), (42, 50),
                                            (7e-4, 1e-3)])
def test_a_shared_scale_is_rounded_up_to_1_2_or_5(largest, bound):
    assert nice_bound(largest) == pytest.approx(bound)


@run_async
async def test_each_output_gets_a_row_with_its_name_value_and_range():
    app = WidgetApp(lambda: [OutputBars(id="bars")], box=(60, 5))
    async with app.run_test(size=(60, 5)) as pilot:
        bars = app.query_one(OutputBars)
        bars.set_outputs(["valence", "arousal"], {"valence": (-1.0, 1.0)})
        await pilot.pause()
        assert [line.split() for line in str(bars.render()).splitlines()] == [["valence", "┊", "-1…1"],
                                                                           ["arousal", "┊", "-1…1"]]
        bars.set_values({"valence": 0.25, "arousal": -3.2})
        await pilot.pause()
        valence, arousal = str(bars.render()).splitlines()
        assert valence.split()[0] == "valence" and valence.split()[-2:] == ["0.250", "-1…1"]
        assert arousal.split()[-2:] == ["-3.200", "-5…5"]             # no training range: ± the largest, rounded up
        assert bars.shared_scale() == (-5.0, 5.0)
        assert valence.index("█") > arousal.index("█")                 # above zero vs below it


@run_async
async def test_more_outputs_than_rows_are_listed_below_the_bars():
    app = WidgetApp(lambda: [OutputBars(id="bars", max_rows=2)], box=(70, 4))
    async with app.run_test(size=(70, 4)) as pilot:
        bars = app.query_one(OutputBars)
        bars.set_outputs(["a", "b", "c", "d"])
        bars.set_values({"a": 0.1, "b": 0.2, "c": 0.3, "d": -0.4})
        await pilot.pause()
        lines = str(bars.render()).splitlines()
        assert [line.split()[0] for line in lines[:2]] == ["a", "b"] and len(lines) == 3
        assert lines[2] == "… and 2 more: c 0.300 · d -0.400"
        assert bars.size.height == 3
