"""`AttentionRow`: one query token's row of the chosen head, read as the sentence: each token painted by how much
the query token attends to it.

For a token-tagging model the row of a word is what decides its tag, so the Attention screen keeps one row chosen
(`,` and `.` step from word to word; the heat map's cursor row is the same row) and shows it here in both views:
`set_row(tokens, weights, row)`. The brightest token is the one the row attends to most (colours run from the
theme's `heatmap-low` to `heatmap-high`, scaled to the row's largest weight), and it is also underlined with its
weight written out, so the row reads without colour too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.color import Gradient
from textual.widget import Widget

from tunelab.themes import theme_color

STEPS = 16   # colour steps between heatmap-low and heatmap-high


class AttentionRow(Widget):
    """`row token [i] →` then the sentence's tokens, each on the colour of the weight it gets from token i."""

    DEFAULT_CSS = """
    AttentionRow { height: auto; max-height: 4; padding: 0 1; background: $surface; }
    AttentionRow > .attention-row--muted { color: $foreground-muted; }
    """

    COMPONENT_CLASSES = {"attention-row--muted"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.tokens: list[str] = []
        self.weights = np.zeros(0)
        self.row = 0

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def set_row(self, tokens: Sequence[str], weights, row: int) -> None:
        """Show how token `row` of `tokens` attends to each of them (`weights`: that row of one head)."""
        self.tokens, self.weights, self.row = list(tokens), np.asarray(weights, dtype=float), row
        self.refresh(layout=True)

    @property
    def strongest(self) -> int | None:
        """The index of the token the row attends to most (None when nothing is shown)."""
        return int(self.weights.argmax()) if self.weights.size else None

    def render(self) -> Text:
        muted = self.get_component_rich_style("attention-row--muted", partial=True)
        if not self.weights.size:
            return Text("the chosen word's row shows here", style=muted)
        ramp = Gradient((0.0, theme_color(self.app, "heatmap-low")), (1.0, theme_color(self.app, "heatmap-high")),
                        quality=STEPS).colors
        top = float(self.weights.max()) or 1.0
        best = self.strongest
        out = Text.assemble(("row ", muted), (f"{self.tokens[self.row]} [{self.row}]", "bold"), (" → ", muted))
        for j, (token, weight) in enumerate(zip(self.tokens, self.weights)):
            background = ramp[min(STEPS - 1, round(float(weight) / top * (STEPS - 1)))]
            style = Style(color=background.get_contrast_text(1.0).rich_color, bgcolor=background.rich_color,
                          underline=j == best, bold=j == best)
            out.append(token, style=style)
            if j == best:
                out.append(f" {weight:.2f}", style=muted)
            out.append(" ")
        return out
