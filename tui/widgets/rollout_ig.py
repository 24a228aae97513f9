"""`RolloutVsIG`: the Attention screen's side view of one sentence explained by attention rollout and by Integrated
Gradients (tui/workers/explain.py): their Spearman rank correlation, then a line per word with rollout's share as a
bar and IG's signed score in the theme's attribution colours (blue: for the predicted class, red: against). Attention
is what the model looked at; IG is what its output depends on; a low correlation says the two disagree.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from tunelab.themes import theme_color

BAR = "▏▎▍▌▋▊▉█"
BAR_CELLS = 5
WORD = 9


def bar(value: float, largest: float, cells: int = BAR_CELLS) -> str:
    """A left-aligned bar of `cells` characters, eighths included, for value / largest."""
    if largest <= 0 or value <= 0:
        return " " * cells
    eighths = round(min(1.0, value / largest) * cells * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BAR[part - 1] if part else "")).ljust(cells)


class RolloutVsIG(Widget):
    DEFAULT_CSS = """
    RolloutVsIG { height: auto; width: 1fr; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.found = None       # a RolloutBesideIG

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def show(self, found) -> None:
        self.found = found
        self.refresh(layout=True)

    def render(self) -> Text:
        f = self.found
        if f is None:
            return Text("w: rollout beside IG", style="italic dim")
        rho = "n/a" if math.isnan(f.spearman) else f"{f.spearman:+.2f}"
        out = Text.assemble(("ρ ", "bold"), (rho, "bold"), (" Spearman", "dim"), "\n",
                            (f"IG: {f.ig.target}", "dim"), "\n")
        if f.untrained:
            out.append("head untrained: IG reads a random head\n", style="italic")
        if f.ig.warning:
            out.append("! IG did not converge\n", style="italic")
        out.append(f"{'word':<{WORD}} {'roll':<{BAR_CELLS}}    IG\n", style="dim")
        towards, against = theme_color(self.app, "attribution-for"), theme_color(self.app, "attribution-against")
        largest = max(f.rollout.scores, default=0.0)
        for word, r, g in zip(f.rollout.words, f.rollout.scores, f.ig.scores):
            shown = word if len(word) <= WORD else word[:WORD - 1] + "…"
            out.append(f"{shown:<{WORD}} ")
            out.append(bar(r, largest))
            out.append(f" {g:+.2f}\n", style=(towards if g >= 0 else against).hex)
        out.rstrip()
        return out
