"""One horizontal bar per class, longest for the most probable: the Predict screen's read-out of a prediction.

`ProbabilityBars.set_probabilities({"acceptable": 0.93, "unacceptable": 0.07})` redraws the bars; the winning
class is drawn in the accent colour and the rest in the primary colour, on a track in the panel colour
(component classes, so every colour comes from the theme). Bars have eighth-cell resolution.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

EIGHTHS = " ▏▎▍▌▋▊▉"
MAX_ROWS = 10   # classes drawn as bars; the rest are summed up in one line


def bar_cells(fraction: float, width: int) -> tuple[str, int]:
    """(bar text, cells it fills) for `fraction` of `width` cells, in eighths of a cell."""
    fraction = min(1.0, max(0.0, fraction if fraction == fraction else 0.0))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[rest] if rest and full < width else "")
    return text, len(text)


class ProbabilityBars(Widget):
    """Class probabilities as labelled bars, most probable first (or in the given order with `sort=False`)."""

    DEFAULT_CSS = """
    ProbabilityBars {
        height: auto;
        width: 1fr;
    }
    ProbabilityBars > .probability-bars--bar { color: $primary; background: $panel; }
    ProbabilityBars > .probability-bars--winner { color: $accent; background: $panel; text-style: bold; }
    ProbabilityBars > .probability-bars--label { color: $foreground; }
    ProbabilityBars > .probability-bars--muted { color: $foreground-muted; }
    """

    COMPONENT_CLASSES = {"probability-bars--bar", "probability-bars--winner", "probability-bars--label",
                         "probability-bars--muted"}

    def __init__(self, probabilities: dict[str, float] | None = None, *, sort: bool = False, max_label: int = 16,
                 max_rows: int = MAX_ROWS, placeholder: str = "", name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.sort = sort
        self.max_rows = max_rows        # more classes than this: the most probable ones, then how many more
        self.max_label = max_label
        self.placeholder = placeholder
        self._probabilities: dict[str, float] = dict(probabilities or {})
        self._stale = False

    @property
    def probabilities(self) -> dict[str, float]:
        return dict(self._probabilities)

    def set_probabilities(self, probabilities: dict[str, float], *, stale: bool = False) -> None:
        """Show these probabilities; `stale` dims them (the input changed and a new prediction is on its way)."""
        relayout = len(probabilities) != len(self._probabilities)
        self._probabilities = dict(probabilities)
        self._stale = stale
        self.refresh(layout=relayout)

    def mark_stale(self, stale: bool = True) -> None:
        if stale != self._stale:
            self._stale = stale
            self.refresh()

    def get_content_height(self, container, viewport, width: int) -> int:
        n = len(self._probabilities)
        return max(1, n if n <= self.max_rows else self.max_rows + 1)

    def render(self) -> Text:
        items = list(self._probabilities.items())
        if not items:
            return Text(self.placeholder, style=self.get_component_rich_style("probability-bars--muted"))
        hidden = 0.0, 0
        if len(items) > self.max_rows:    # thousands of classes: a line per class would fill (and stall) the screen
            items.sort(key=lambda kv: -kv[1])
            hidden = sum(p for _, p in items[self.max_rows:]), len(items) - self.max_rows
            items = items[: self.max_rows]
        elif self.sort:
            items.sort(key=lambda kv: -kv[1])
        best = max(self._probabilities.values())
        label_width = min(self.max_label, max(len(name) for name, _ in items))
        width = self.content_region.width or self.size.width
        bar_width = max(4, width - label_width - 9)
        bar_style = self.get_component_rich_style("probability-bars--bar")
        winner_style = self.get_component_rich_style("probability-bars--winner")
        label_style = self.get_component_rich_style("probability-bars--label")
        muted = self.get_component_rich_style("probability-bars--muted")
        lines = []
        for name, p in items:
            style = winner_style if p == best else bar_style
            bar, used = bar_cells(p, bar_width)
            label = name if len(name) <= label_width else name[: label_width - 1] + "…"
            line = Text()
            line.append(label.ljust(label_width) + " ", style=muted if self._stale else label_style)
            line.append(bar, style=style)
            line.append(" " * (bar_width - used), style=Style(bgcolor=bar_style.bgcolor))
            line.append(f" {p:6.1%}", style=muted if self._stale else label_style)
            lines.append(line)
        if hidden[1]:
            lines.append(Text(f"… and {hidden[1]:,} more classes ({hidden[0]:.1%} in all)",
                              style=self.get_component_rich_style("probability-bars--muted")))
        return Text("\n").join(lines)
