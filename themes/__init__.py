"""Textual themes shipped with TuneLab, and the app-specific colour variables its widgets paint with.

The app calls `register_themes(app)` at start-up and returns `theme_variable_defaults(self.current_theme)`
from `App.get_theme_variable_defaults()`, so `$series-1` and friends resolve in CSS under every theme,
built-in ones included. Widgets that paint outside CSS (the curve chart, the heatmaps) call `theme_color`.

App-specific variables (each TuneLab theme sets all of them in `Theme.variables`):

    series-1 .. series-4   plot series, in the order a chart hands them out (runs overlaid, or metrics)
    series-smooth          the smoothed trend drawn over a noisy series
    heatmap-low            the colour of weight 0 in an attention heatmap
    heatmap-high           the colour of weight 1
    entity-1 .. entity-6   the highlight of each entity type in tagged text (Predict), in the order a model's
                           tags name the types; a seventh type takes entity-1 again
    attribution-against    a word that pushed against the explained class (red), its strength blended in
    attribution-for        a word that pushed towards it (blue)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.color import Color
from textual.theme import Theme

from .dark import DARK
from .high_contrast import HIGH_CONTRAST
from .light import LIGHT

if TYPE_CHECKING:
    from textual.app import App

THEMES: list[Theme] = [DARK, LIGHT, HIGH_CONTRAST]
"""TuneLab's themes; the first is the default."""

DEFAULT_THEME = DARK.name

SERIES_VARIABLES = ("series-1", "series-2", "series-3", "series-4")
ENTITY_VARIABLES = ("entity-1", "entity-2", "entity-3", "entity-4", "entity-5", "entity-6")
ATTRIBUTION_VARIABLES = ("attribution-against", "attribution-for")
APP_VARIABLES = (*SERIES_VARIABLES, "series-smooth", "heatmap-low", "heatmap-high", *ENTITY_VARIABLES,
                 *ATTRIBUTION_VARIABLES)

# Where a theme that does not declare an app variable (a built-in Textual theme) takes it from.
_FALLBACKS = {
    "series-1": "primary",
    "series-2": "accent",
    "series-3": "success",
    "series-4": "secondary",
    "series-smooth": "foreground",
    "heatmap-low": "surface",
    "heatmap-high": "accent",
    "entity-1": "primary",
    "entity-2": "accent",
    "entity-3": "success",
    "entity-4": "secondary",
    "entity-5": "warning",
    "entity-6": "error",
    "attribution-against": "error",
    "attribution-for": "primary",
}


def register_themes(app: App) -> None:
    """Register every TuneLab theme with `app` (call before setting `app.theme`)."""
    for theme in THEMES:
        app.register_theme(theme)


def theme_variable_defaults(theme: Theme) -> dict[str, str]:
    """Values of the app-specific variables for a theme that does not declare them, taken from its own
    palette (primary, accent, ...). Meant to be returned from `App.get_theme_variable_defaults()`."""
    palette = theme.to_color_system().generate()
    return {name: palette[source] for name, source in _FALLBACKS.items()}


def theme_color(app: App, name: str) -> Color:
    """The opaque colour a theme variable stands for in `app`'s current theme.

    Looks in the resolved CSS variables first, then in the current theme's palette through the same
    fallbacks as `theme_variable_defaults`. Translucent values are blended onto the theme's background,
    because cells drawn outside CSS have no layer underneath to blend with.
    """
    variables = app.theme_variables or app.get_css_variables()
    value = variables.get(name)
    if value is None and name in _FALLBACKS:
        value = variables.get(_FALLBACKS[name])
    if value is None:
        raise KeyError(f"unknown theme variable {name!r}")
    color = Color.parse(value)
    if color.a < 1.0:
        background = Color.parse(variables.get("background", "#000000"))
        color = background + color
    return color


__all__ = ["THEMES", "DEFAULT_THEME", "APP_VARIABLES", "SERIES_VARIABLES", "ENTITY_VARIABLES", "register_themes",
           "theme_variable_defaults", "theme_color"]
