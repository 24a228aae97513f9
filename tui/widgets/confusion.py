"""A confusion matrix as a coloured grid: rows are the true class, columns the predicted one.

The Evaluate screen feeds it `EvalReport.confusion` and `EvalReport.labels` (for a model that tags entities,
`EvalReport.entity_confusion` with the entity types and O, "no entity there"). Each cell shows its count on a
background blended from the theme's surface towards `success` (the diagonal: right answers) or `error` (off the
diagonal: mistakes), by the cell's share of its row, so a weak class shows at a glance. Arrow keys move a cursor
cell; enter posts `CellSelected`, which the Evaluate screen uses to filter its mistakes browser.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from tunelab.themes import theme_color


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


class ConfusionGrid(Widget, can_focus=True):
    """Counts of (true, predicted) pairs, coloured by their share of the row, with a movable cursor cell."""

    DEFAULT_CSS = """
    ConfusionGrid {
        height: auto;
        width: auto;
        max-width: 100%;
        background: $surface;
        text-wrap: nowrap;        /* a row wider than the widget (many classes, a narrow screen) is cut at the */
        text-overflow: clip;      /* edge, not wrapped into the rows below */
    }
    ConfusionGrid > .confusion-grid--label { color: $foreground; }
    ConfusionGrid > .confusion-grid--muted { color: $foreground-muted; }
    ConfusionGrid:focus > .confusion-grid--label { color: $accent; }
    """

    COMPONENT_CLASSES = {"confusion-grid--label", "confusion-grid--muted"}

    BINDINGS = [
        Binding("up", "cursor(-1, 0)", "Up", show=False),
        Binding("down", "cursor(1, 0)", "Down", show=False),
        Binding("left", "cursor(0, -1)", "Left", show=False),
        Binding("right", "cursor(0, 1)", "Right", show=False),
        Binding("enter", "select", "Filter mistakes"),
    ]

    class CellSelected(Message):
        """The user picked the cell (true class `gold`, predicted class `predicted`)."""

        def __init__(self, grid: ConfusionGrid, gold: str, predicted: str, count: int) -> None:
            super().__init__()
            self.grid = grid
            self.gold = gold
            self.predicted = predicted
            self.count = count

        @property
        def control(self) -> ConfusionGrid:
            return self.grid

    def __init__(self, confusion: list[list[int]] | None = None, labels: list[str] | None = None, *,
                 max_label: int = 12, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_label = max_label
        self._counts: list[list[int]] = []
        self._labels: list[str] = []
        self._cursor = (0, 0)
        if confusion is not None:
            self.set_matrix(confusion, labels or [str(i) for i in range(len(confusion))])

    def set_matrix(self, confusion: list[list[int]], labels: list[str]) -> None:
        if len(confusion) != len(labels) or any(len(row) != len(labels) for row in confusion):
            raise ValueError(f"a confusion matrix for {len(labels)} labels must be {len(labels)}x{len(labels)}")
        self._counts = [[int(c) for c in row] for row in confusion]
        self._labels = [str(label) for label in labels]
        n = len(labels)
        self._cursor = (min(self._cursor[0], max(0, n - 1)), min(self._cursor[1], max(0, n - 1)))
        self.refresh(layout=True)

    @property
    def cursor(self) -> tuple[int, int]:
        """(true class index, predicted class index) of the cursor cell."""
        return self._cursor

    def move_cursor(self, row: int, col: int) -> None:
        n = len(self._labels)
        if n:
            self._cursor = (max(0, min(n - 1, row)), max(0, min(n - 1, col)))
            self.refresh()

    def action_cursor(self, d_row: int, d_col: int) -> None:
        self.move_cursor(self._cursor[0] + d_row, self._cursor[1] + d_col)

    def action_select(self) -> None:
        if self._labels:
            row, col = self._cursor
            self.post_message(self.CellSelected(self, self._labels[row], self._labels[col], self._counts[row][col]))

    # --- layout -----------------------------------------------------------------------------------------------

    @property
    def _label_width(self) -> int:
        return max(4, min(self.max_label, max((len(label) for label in self._labels), default=4)))

    @property
    def _min_cell_width(self) -> int:
        biggest = max((c for row in self._counts for c in row), default=0)
        return max(len(str(biggest)) + 2, 5)

    @property
    def _cell_width(self) -> int:
        """Wide enough for the column labels (up to max_label) when the widget has the room, else narrower."""
        longest = max((len(label) for label in self._labels), default=1)
        wanted = max(self._min_cell_width, min(self.max_label, longest) + 1)
        room = self.size.width - self._label_width - 1
        if self.size.width and self._labels and room // len(self._labels) < wanted:
            return max(self._min_cell_width, room // len(self._labels))
        return wanted

    def get_content_width(self, container, viewport) -> int:
        longest = max((len(label) for label in self._labels), default=1)
        wanted = max(self._min_cell_width, min(self.max_label, longest) + 1)
        return self._label_width + 1 + len(self._labels) * wanted

    def get_content_height(self, container, viewport, width: int) -> int:
        return 1 + max(1, len(self._labels))

    def render(self) -> Text:
        if not self._labels:
            return Text("no confusion matrix yet", style=self.get_component_rich_style("confusion-grid--muted"))
        label_style = self.get_component_rich_style("confusion-grid--label")
        muted = self.get_component_rich_style("confusion-grid--muted")
        lw, cw = self._label_width, self._cell_width
        surface = theme_color(self.app, "surface")
        right, wrong = theme_color(self.app, "success"), theme_color(self.app, "error")
        focused = self.has_focus
        lines = []
        header = Text("true╲pred".ljust(lw + 1)[: lw + 1], style=muted)
        for j, label in enumerate(self._labels):
            style = label_style if j == self._cursor[1] else muted
            header.append(_fit(label, cw - 1).rjust(cw - 1) + " ", style=style)
        lines.append(header)
        for i, row in enumerate(self._counts):
            line = Text(_fit(self._labels[i], lw).ljust(lw) + " ", style=label_style if i == self._cursor[0] else muted)
            total = sum(row) or 1
            for j, count in enumerate(row):
                share = count / total
                # Even a single count tints its cell a little, so no mistake hides in the background.
                strength = 0.0 if count == 0 else 0.2 + 0.8 * share
                background = surface.blend(right if i == j else wrong, strength)
                text = background + background.get_contrast_text(0.9)
                style = Style(color=text.rich_color, bgcolor=background.rich_color)
                if (i, j) == self._cursor:
                    style += Style(bold=True, reverse=focused, underline=not focused)
                line.append(f"{count:>{cw - 1}} ", style=style)
            lines.append(line)
        return Text("\n").join(lines)
