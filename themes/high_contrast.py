"""TuneLab's high-contrast theme: pure black ground, white text and saturated, widely spaced plot colours
for low-vision use and for terminals limited to 256 (or fewer) colours. Registered at start-up by
`tunelab.themes.register_themes`."""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="tunelab-high-contrast",
    primary="#00D7FF",
    secondary="#D7D7FF",
    accent="#FFFF00",
    warning="#FFFF00",
    error="#FF0000",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#303030",
    boost="#FFFFFF1A",
    dark=True,
    luminosity_spread=0.25,
    text_alpha=1.0,
    variables={
        "series-1": "#00D7FF",
        "series-2": "#FFFF00",
        "series-3": "#00FF00",
        "series-4": "#FF5FFF",
        "series-smooth": "#FFFFFF",
        "heatmap-low": "#000000",
        "heatmap-high": "#FFFFFF",
        # Entity types in tagged text (Predict), highlighted as a background under contrasting text.
        "entity-1": "#00D7FF",
        "entity-2": "#FFFF00",
        "entity-3": "#00FF00",
        "entity-4": "#FF5FFF",
        "entity-5": "#FF8700",
        "entity-6": "#D7D7FF",
        # Word attributions (Predict, Evaluate, Attention): against the explained class, and for it (xterm-256 colours).
        "attribution-against": "#FF5F5F",
        "attribution-for": "#5FAFFF",
        # Keep text muted only slightly: muted grey on black is the first thing that becomes unreadable.
        "foreground-muted": "#D0D0D0",
        "text-muted": "#D0D0D0",
    },
)
