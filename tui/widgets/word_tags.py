"""`WordTagTable`: each word of a token model's prediction with its tag and the tag's probability.

The Predict screen fills it with `show(prediction)` (a `TokenPrediction` from tunelab.core.predictor) under the
highlighted sentence (`entity_sentence.EntitySentence`), and calls `set_tags(labels)` once per model so each
entity tag is written in its type's theme colour, as the sentence highlights it. A word past the model's maximum
length was not read: its tag is O and its probability is shown as `not read`. `mark_stale()` dims the table
while a newer prediction is on its way.
"""

from __future__ import annotations

from typing import Sequence

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from tunelab.core.entities import split_tag, uses_entity_scheme
from tunelab.tui.widgets.entity_sentence import entity_styles, entity_types


class WordTagTable(DataTable):
    """Word, tag, probability: one row per word of the sentence."""

    DEFAULT_CSS = """
    WordTagTable { height: 1fr; }
    WordTagTable.-stale { text-opacity: 55%; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self.types: list[str] = []
        self.groups_entities = True
        self.prediction = None

    def on_mount(self) -> None:
        self.add_column("#", width=3, key="index")
        self.add_column("word", width=18, key="word")
        self.add_column("tag", width=10, key="tag")
        self.add_column("p", width=9, key="p")
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._fill())
        self._fill()

    def set_tags(self, tag_names: Sequence[str]) -> None:
        self.types = entity_types(tag_names)
        self.groups_entities = uses_entity_scheme(tag_names)
        self._fill()

    def show(self, prediction) -> None:
        """Show a TokenPrediction's words (None: empty), no longer stale."""
        self.prediction = prediction
        self.remove_class("-stale")
        self._fill()

    def mark_stale(self, stale: bool = True) -> None:
        self.set_class(stale, "-stale")

    @property
    def rows_shown(self) -> list[tuple[str, str, str]]:
        """(word, tag, probability) as the table shows them, top to bottom."""
        return [(str(r[1]), str(r[2]), str(r[3])) for r in (self.get_row_at(i) for i in range(self.row_count))]

    def _fill(self) -> None:
        if not self.columns or not self.is_mounted:
            return
        cursor = self.cursor_row
        self.clear()
        p = self.prediction
        if p is None:
            return
        styles = entity_styles(self.app, self.types) if self.groups_entities else {}
        for i, (word, tag, score) in enumerate(zip(p.words, p.tags, p.scores)):
            _, type_ = split_tag(tag)
            style = styles.get(type_)
            tag_text = Text(tag, style=Style(color=style.bgcolor, bold=True) if style is not None else "")
            shown = Text("not read", style="italic") if score is None else Text(f"{score:.3f}", justify="right")
            self.add_row(Text(str(i), justify="right"), Text(word), tag_text, shown)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), animate=False)
