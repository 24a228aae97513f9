"""TuneLab's themes: every theme declares the app variables, plot colours stay distinct in 256 colours, and
built-in Textual themes still get usable values."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rich.color import Color as RichColor, ColorSystem

from widget_apps import run_async, WidgetApp
from tunelab.themes import APP_VARIABLES, SERIES_VARIABLES, THEMES, theme_color


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_theme_declares_every_app_variable(theme):
    assert set(APP_VARIABLES) <= set(theme.variables)


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_plot_colours_stay_distinct_in_256_colours(theme):
    def xterm(value: str) -> int:
        return RichColor.parse(value).downgrade(ColorSystem.EIGHT_BIT).number

    lines = [xterm(theme.variables[name]) for name in (*SERIES_VARIABLES, "series-smooth")]
    grounds = {xterm(theme.background), xterm(theme.surface)}
    assert len(set(lines)) == len(lines)
    assert not set(lines) & grounds
    assert xterm(theme.variables["heatmap-low"]) != xterm(theme.variables["heatmap-high"])


@run_async
async def test_app_variables_resolve_under_tunelab_and_builtin_themes():
    app = WidgetApp(lambda: [])
    async with app.run_test(size=(40, 10)) as pilot:
        assert app.theme == "tunelab-dark"
        assert theme_color(app, "series-2").hex == THEMES[0].variables["series-2"]
        app.theme = "textual-light"
        await pilot.pause()
        assert theme_color(app, "series-1") == theme_color(app, "primary")
        assert theme_color(app, "heatmap-high").a == 1.0


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_the_heatmap_ramp_in_256_colours_never_turns_back(theme):
    """A heavier weight is never drawn darker (on a rising ramp) than a lighter one, as the terminal's own
    nearest-colour downgrade did in the dark theme (grey 28, then red 20)."""
    from rich.color import EIGHT_BIT_PALETTE
    from textual.color import Color

    from tunelab.tui.widgets.half_blocks import HalfBlockPainter

    def light(color) -> float:
        r, g, b = EIGHT_BIT_PALETTE[color.number]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    low, high = (Color.parse(theme.variables[name]) for name in ("heatmap-low", "heatmap-high"))
    grey = Color.parse("#808080")
    painter = HalfBlockPainter(low, high, grey, grey, grey, eight_bit=True)
    shades = [light(c) for c in painter.palette]
    assert all(c.number >= 16 for c in painter.palette)
    assert shades == sorted(shades) or shades == sorted(shades, reverse=True)
    assert len(set(shades)) >= 8


def test_widgets_and_themes_import_no_torch():
    code = ("import sys, tunelab.themes, tunelab.tui.widgets.curve, tunelab.tui.widgets.heatmap, tunelab.tui.widgets.head_grid; "
            "bad = {'torch', 'transformers'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
