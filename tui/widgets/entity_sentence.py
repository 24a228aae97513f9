"""`EntitySentence`: a token model's prediction read as text: the sentence with each entity highlighted in its
type's colour and named after it, over a legend of the model's entity types.

The Predict screen calls `set_tags(labels)` once a model is loaded (the legend follows the model's own tags, so a
type keeps its colour from one sentence to the next) and `show(prediction)` with a `TokenPrediction`
(tunelab.core.predictor); `mark_stale()` dims it while a newer prediction is on its way. Tags that name no entities
(POS tags: `uses_entity_scheme` says so) are shown word by word as `word/TAG`, with no colours.

Colours come only from the theme: entity type i (in the order the model's tags name the types) is painted with
the app variable `$entity-{i % 6 + 1}` (tunelab.themes), as a background under black or white text, whichever
reads better on it. `entity_styles` gives those styles to other widgets (the word/tag table).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.widget import Widget

from tunelab.core.entities import split_tag, uses_entity_scheme
from tunelab.themes import ENTITY_VARIABLES, theme_color


def entity_types(tag_names: Iterable[str]) -> list[str]:
    """The entity types a model's tags name, in the order they first appear (O, B-PER, I-PER, B-LOC -> PER, LOC)."""
    types: dict[str, None] = {}
    for tag in tag_names:
        prefix, type_ = split_tag(tag)
        if prefix != "O" and type_:
            types.setdefault(type_)
    return list(types)


def entity_styles(app: App, types: Sequence[str]) -> dict[str, Style]:
    """A highlight per entity type from the app's theme: `$entity-N` as background, contrasting text on it; the
    sorted types take N = 1, 2, ... in turn, as every screen colours them (tagged_words.type_colors)."""
    styles = {}
    for i, type_ in enumerate(sorted(set(types))):
        background = theme_color(app, ENTITY_VARIABLES[i % len(ENTITY_VARIABLES)])
        text = background.get_contrast_text(1.0)
        styles[type_] = Style(color=text.rich_color, bgcolor=background.rich_color, bold=True)
    return styles


class EntitySentence(Widget):
    """The sentence with its entities highlighted by type and a legend; or `word/TAG` for tags without entities."""

    DEFAULT_CSS = """
    EntitySentence { height: auto; width: 1fr; }
    EntitySentence.-stale { text-opacity: 55%; }
    EntitySentence > .entity-sentence--muted { color: $foreground-muted; }
    """

    COMPONENT_CLASSES = {"entity-sentence--muted"}

    def __init__(self, *, placeholder: str = "", name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.placeholder = placeholder
        self.types: list[str] = []          # the model's entity types, in legend order
        self.groups_entities = True         # False: the tags name no entities (POS), shown per word
        self.prediction = None              # the TokenPrediction shown (None: the placeholder)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def set_tags(self, tag_names: Sequence[str]) -> None:
        """The model's tags: they fix the legend, each type's colour, and whether tags make entities at all."""
        self.types = entity_types(tag_names)
        self.groups_entities = uses_entity_scheme(tag_names)
        self.refresh(layout=True)

    def show(self, prediction) -> None:
        """Show a TokenPrediction (None: the placeholder), no longer stale."""
        self.prediction = prediction
        self.remove_class("-stale")
        self.refresh(layout=True)

    def mark_stale(self, stale: bool = True) -> None:
        self.set_class(stale, "-stale")

    @property
    def is_stale(self) -> bool:
        return self.has_class("-stale")

    # --- drawing --------------------------------------------------------------------------------------------

    def render(self) -> Text:
        muted = self.get_component_rich_style("entity-sentence--muted", partial=True)
        styles = entity_styles(self.app, self.types)
        p = self.prediction
        if p is None:
            body = Text(self.placeholder, style=muted + Style(italic=True))
        elif self.groups_entities:
            body = self._highlighted(p, styles, muted)
        else:
            body = self._word_tags(p, muted)
        lines = [body]
        if self.groups_entities and self.types:
            lines.append(self._legend(styles, muted))
        return Text("\n").join(lines)

    @staticmethod
    def _highlighted(p, styles: dict[str, Style], muted: Style) -> Text:
        """The sentence's own characters, each entity highlighted in its type's colour with its type inside the
        highlight (`Angela Merkel PER`), so an entity reads without colour too."""
        out, at = Text(), 0
        for entity in p.entities:
            out.append(p.text[at:entity.start])
            style = styles.get(entity.type, Style(reverse=True))
            out.append(p.text[entity.start:entity.end], style=style)
            out.append(f" {entity.type}", style=style + Style(bold=False, italic=True))   # one block: text and type
            at = entity.end
        out.append(p.text[at:])
        return out

    @staticmethod
    def _word_tags(p, muted: Style) -> Text:
        """Tags that name no entities: `word/TAG` for every word."""
        out = Text()
        for i, (word, tag) in enumerate(zip(p.words, p.tags)):
            if i:
                out.append(" ")
            out.append(word)
            out.append(f"/{tag}", style=muted)
        return out

    def _legend(self, styles: dict[str, Style], muted: Style) -> Text:
        legend = Text("entities ", style=muted)
        for type_ in self.types:
            legend.append(f" {type_} ", style=styles[type_])
            legend.append(" ")
        return legend
