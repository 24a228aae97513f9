"""TuneLab's light theme: dark ink on an off-white ground, with deeper plot colours so thin Braille lines
stay visible on a light background. Registered at start-up by `tunelab.themes.register_themes`."""

from __future__ import annotations

from textual.theme import Theme

LIGHT = Theme(
    name="tunelab-light",
    primary="#005FAF",
    secondary="#5F5FAF",
    accent="#AF5F00",
    warning="#AF8700",
    error="#D70000",
    success="#008700",
    foreground="#1C1C1C",
    background="#EEEEEE",
    surface="#E4E4E4",
    panel="#D0D0D0",
    dark=False,
    variables={
        "series-1": "#005FD7",
        "series-2": "#D75F00",
        "series-3": "#008700",
        "series-4": "#AF00AF",
        "series-smooth": "#1C1C1C",
        "heatmap-low": "#EEEEEE",
        "heatmap-high": "#00005F",
        # Entity types in tagged text (Predict), highlighted as a background under contrasting text.
        "entity-1": "#005FD7",
        "entity-2": "#D75F00",
        "entity-3": "#008700",
        "entity-4": "#AF00AF",
        "entity-5": "#AF8700",
        "entity-6": "#008787",
        # Word attributions (Predict, Evaluate, Attention): against the explained class, and for it (xterm-256 colours).
        "attribution-against": "#AF0000",
        "attribution-for": "#005FD7",
    },
)
