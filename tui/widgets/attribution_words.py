"""`AttributionWords`: a sentence with each word's background coloured by its attribution score (core/explain.py).

Red (`$attribution-against`) for a word that pushed against the explained class, blue (`$attribution-for`) for one
that pushed towards it (unsigned methods, such as rollout: blue only), blended onto `$surface` in four steps of
|score| / the largest |score|, so that the colours stay apart in a 256-colour terminal; the text on each is black or
white, whichever reads better. A caption says what is explained and by which method. Used by the Predict screen
(the typed sentence), the Evaluate screen (a mistake, for the predicted and for the gold class) and the Attention
screen (rollout beside IG). `attribution_text` gives the coloured words alone to other widgets.
"""

from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.widget import Widget

from tunelab.themes import theme_color

STEPS = 4   # strength levels: fewer, further-apart colours survive the 256-colour palette


def strength(score: float, largest: float) -> float:
    """|score| / largest rounded up to a quarter (0 for a zero score)."""
    if largest <= 0 or score == 0 or not math.isfinite(score):
        return 0.0
    return math.ceil(min(1.0, abs(score) / largest) * STEPS) / STEPS


def attribution_text(app: App, words, scores, segments=None) -> Text:
    """The words, space-separated, each on its colour; a pair's second input after a ` ‖ `."""
    surface = theme_color(app, "surface")
    against, towards = theme_color(app, "attribution-against"), theme_color(app, "attribution-for")
    largest = max((abs(s) for s in scores if math.isfinite(s)), default=0.0)
    text = Text()
    segment = 0
    for i, (word, score) in enumerate(zip(words, scores)):
        seg = segments[i] if segments else 0
        if i:
            text.append(" ‖ " if seg != segment else " ")
        segment = seg
        level = strength(score, largest)
        if level == 0:
            text.append(word)
            continue
        background = surface.blend(against if score < 0 else towards, level)
        style = Style(color=background.get_contrast_text(1.0).rich_color, bgcolor=background.rich_color,
                      bold=level >= 0.75)
        text.append(word, style=style)
    return text


def caption(e) -> Text:
    from tunelab.core.explain import METHOD_TITLES

    kind = "attention-based" if e.attention_based else ("red against · blue for" if e.signed else "unsigned")
    line = Text.assemble(("why ", "dim"), (e.target, "bold"), (f"  {METHOD_TITLES[e.method]} · {kind}", "dim"))
    if e.warning:
        line.append(f"  ! {e.warning}", style="italic")
    return line


class AttributionWords(Widget):
    """A caption and the sentence coloured by an Explanation's scores; a placeholder when there is none."""

    DEFAULT_CSS = """
    AttributionWords { height: auto; width: 1fr; }
    AttributionWords.-stale { text-opacity: 55%; }
    """

    def __init__(self, *, placeholder: str = "", name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.placeholder = placeholder
        self.explanation = None
        self.title: Text | None = None      # a caption of the caller's in place of the explanation's own

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def show(self, explanation, placeholder: str | None = None, title: Text | None = None) -> None:
        """Show an Explanation (None: the placeholder, or `placeholder` given here) under `title` (None: its own
        caption), no longer stale."""
        self.explanation = explanation
        self.title = title
        if placeholder is not None:
            self.placeholder = placeholder
        self.remove_class("-stale")
        self.refresh(layout=True)

    def mark_stale(self) -> None:
        self.add_class("-stale")

    def render(self) -> Text:
        e = self.explanation
        if e is None:
            return Text(self.placeholder, style="italic dim")
        out = caption(e) if self.title is None else self.title.copy()
        out.append("\n")
        out.append_text(attribution_text(self.app, e.words, e.scores, e.segments))
        return out
