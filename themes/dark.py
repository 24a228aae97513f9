"""TuneLab's dark theme (the default): a near-black blue-grey ground with four plot series chosen to stay
distinct when a terminal only has 256 colours. Registered at start-up by `tunelab.themes.register_themes`."""

from __future__ import annotations

from textual.theme import Theme

DARK = Theme(
    name="tunelab-dark",
    primary="#5FAFFF",
    secondary="#8787D7",
    accent="#FFAF5F",
    warning="#FFD75F",
    error="#FF5F5F",
    success="#87D787",
    foreground="#DADADA",
    background="#121212",
    surface="#1C1C1C",
    panel="#262626",
    dark=True,
    variables={
        # Plot series, in the order a chart hands them out (runs overlaid, or metrics).
        # Each sits on (or next to) an entry of the xterm 256-colour cube, so nothing shifts when downgraded.
        "series-1": "#5FAFFF",
        "series-2": "#FFAF5F",
        "series-3": "#87D787",
        "series-4": "#D787D7",
        # The smoothed trend drawn over a noisy series (raw steps are drawn dimmed under it).
        "series-smooth": "#EEEEEE",
        # Attention heatmaps blend from low (weight 0, close to the background) to high (weight 1).
        "heatmap-low": "#1C1C1C",
        "heatmap-high": "#FFD75F",
        # Entity types in tagged text (Predict), highlighted as a background under contrasting text.
        "entity-1": "#5FAFFF",
        "entity-2": "#FFAF5F",
        "entity-3": "#87D787",
        "entity-4": "#D787D7",
        "entity-5": "#FFD75F",
        "entity-6": "#5FD7D7",
        # Word attributions (Predict, Evaluate, Attention): against the explained class, and for it (xterm-256 colours).
        "attribution-against": "#D75F5F",
        "attribution-for": "#5F87D7",
    },
)
