"""Answer spans marked in a context, as Rich text: the Predict screen's answer and the Evaluate screen's predicted and
gold answers of an extractive QA model (`classify_spans`).

`marked_context(context, marks, styles, around)` paints character spans of a context: `marks` maps a role
("answer", "predicted", "gold") to its (start, end) spans; characters inside two roles' spans take the "both" style,
so an answer that overlaps the gold one partly reads as such. With `around`, only that many characters either side
of the marks are kept, with "…" where the context was cut. `span_styles(app)` gives each role its highlight from
the theme (a background under contrasting text): the answer `$accent`, gold `$success`, predicted `$error`, and
both `$warning`; `legend(...)` names them. Nothing here decides what an answer is (core/tasks/spans.py does).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from rich.style import Style
from rich.text import Text

from tunelab.themes import theme_color

ROLE_COLORS = {"answer": "accent", "gold": "success", "predicted": "error", "both": "warning"}
ROLE_WORDS = {"answer": "answer", "gold": "gold", "predicted": "predicted", "both": "both"}


def span_styles(app) -> dict[str, Style]:
    """A highlight per role from the app's current theme: the colour as background, contrasting bold text on it."""
    styles = {}
    for role, variable in ROLE_COLORS.items():
        background = theme_color(app, variable)
        styles[role] = Style(color=background.get_contrast_text(1.0).rich_color, bgcolor=background.rich_color,
                             bold=True)
    return styles


def _bounds(marks: Mapping[str, Sequence[Sequence[int]]], length: int) -> list[tuple[str, int, int]]:
    out = []
    for role, spans in marks.items():
        for span in spans or ():
            start, end = max(0, int(span[0])), min(length, int(span[1]))
            if end > start:
                out.append((role, start, end))
    return out


def marked_context(context: str, marks: Mapping[str, Sequence[Sequence[int]]], styles: Mapping[str, Style],
                   around: int | None = None, whole_words: bool = True) -> Text:
    """The context with each role's spans highlighted (characters in two roles' spans: "both"), cut to `around`
    characters either side of the marks when given (the first 2 x `around` characters when nothing is marked), at
    word boundaries unless `whole_words` is False (a one-line cell, where every character counts)."""
    bounds = _bounds(marks, len(context))
    lo, hi = 0, len(context)
    if around is not None:
        if bounds:
            lo = max(0, min(b[1] for b in bounds) - around)
            hi = min(len(context), max(b[2] for b in bounds) + around)
        else:
            hi = min(len(context), 2 * around)
        if whole_words:
            lo, hi = _word_start(context, lo), _word_end(context, hi)
    roles: list[set] = [set() for _ in range(hi - lo)]
    for role, start, end in bounds:
        for i in range(max(start, lo), min(end, hi)):
            roles[i - lo].add(role)
    text = Text("…" if lo else "")
    run_start = 0
    for i in range(1, len(roles) + 1):
        if i == len(roles) or roles[i] != roles[run_start]:
            chunk = context[lo + run_start:lo + i]
            held = roles[run_start]
            role = "both" if len(held) > 1 else next(iter(held), None)
            text.append(chunk, style=styles.get(role) if role else None)
            run_start = i
    if hi < len(context):
        text.append("…")
    return text


def _word_start(context: str, at: int) -> int:
    """`at` moved back to the start of the word it falls in (a cut context starts on a whole word)."""
    while 0 < at < len(context) and not context[at - 1].isspace():
        at -= 1
    return at


def _word_end(context: str, at: int) -> int:
    while 0 < at < len(context) and not context[at].isspace():
        at += 1
    return at


def legend(styles: Mapping[str, Style], roles: Iterable[str]) -> Text:
    """The roles as coloured chips (` gold `, ` predicted `), a space after each."""
    text = Text()
    for role in roles:
        if text:
            text.append(" ")
        text.append(f" {ROLE_WORDS.get(role, role)} ", style=styles[role])
    return text + Text(" ")
