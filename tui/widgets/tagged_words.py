"""Words with their tags, and entities marked in a sentence, as Rich text for the Data and Evaluate screens.

Token-classification data and reports hold words and word tags (`B-PER`, `I-PER`, `O`, or POS tags such as `NN`).
Three views of them live here:
- `tagged_inline`: one line, `Angela/B-PER Merkel/I-PER visited Paris/B-LOC` (O tags left out, entity tags
  coloured by type), for a table cell;
- `tagged_rows`: the words over their tags, aligned and wrapped to a width, for reading one sentence whole;
- `marked_entities`: the sentence with each entity in brackets followed by its type, `[Angela Merkel]PER visited`,
  those in `wrong` underlined, for the gold and predicted readings of an Evaluate mistake.

An entity type's colour is a theme variable (`type_colors`): the types in sorted order take `entity-1` ..
`entity-6` in turn, so the same type has the same colour on every screen and under every theme. Grouping words
into entities is `tunelab.core.entities`; nothing here decides what an entity is.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.style import Style
from rich.text import Text

from tunelab.core.entities import OUTSIDE, group_entities, split_tag, uses_entity_scheme
from tunelab.themes import ENTITY_VARIABLES, theme_color


def type_colors(app, types: Iterable[str]) -> dict[str, str]:
    """A colour (hex, from the current theme) per entity type: the sorted types take $entity-1..6 in turn, as the
    Predict screen's highlights do (entity_sentence.entity_styles), so a type has one colour on every screen."""
    ordered = sorted(set(types))
    return {t: theme_color(app, ENTITY_VARIABLES[i % len(ENTITY_VARIABLES)]).hex for i, t in enumerate(ordered)}


def tag_type(tag: str) -> str:
    """The entity type a tag belongs to ("B-PER" -> "PER"), or the tag itself when it is no entity tag ("NN")."""
    prefix, kind = split_tag(tag)
    return "" if prefix == OUTSIDE else kind


def _tag_style(tag: str, colors: dict[str, str], entity_scheme: bool) -> Style:
    if entity_scheme and tag == OUTSIDE:
        return Style(dim=True)
    color = colors.get(tag_type(tag) if entity_scheme else tag)
    return Style(color=color, bold=True) if color else Style(bold=True)


def tagged_inline(words: Sequence[str], tags: Sequence[str], colors: dict[str, str]) -> Text:
    """`word/TAG` for each word, on one line; with an entity scheme (B-/I-), O words show bare."""
    scheme = uses_entity_scheme(tags) or all(t == OUTSIDE for t in tags)
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (word, tag) in enumerate(zip(words, tags)):
        if i:
            text.append(" ")
        if scheme and tag == OUTSIDE:
            text.append(str(word))
            continue
        style = _tag_style(tag, colors, scheme)
        text.append(str(word), style=Style(color=style.color))
        text.append("/" + str(tag), style=style + Style(dim=True) if not scheme else style)
    return text


def tagged_rows(words: Sequence[str], tags: Sequence[str], colors: dict[str, str], width: int) -> Text:
    """The words over their tags, each word's column as wide as the longer of the two, wrapped at `width` cells."""
    scheme = uses_entity_scheme(tags) or all(t == OUTSIDE for t in tags)
    width = max(8, width)
    lines: list[tuple[Text, Text]] = []
    top, bottom, used = Text(), Text(), 0
    for word, tag in zip(words, tags):
        word, tag = str(word), str(tag)
        cell = min(width, max(len(word), len(tag)))
        if used and used + 1 + cell > width:
            lines.append((top, bottom))
            top, bottom, used = Text(), Text(), 0
        if used:
            top.append(" ")
            bottom.append(" ")
            used += 1
        style = _tag_style(tag, colors, scheme)
        top.append(word[:cell].ljust(cell), style=Style(color=style.color) if not (scheme and tag == OUTSIDE) else "")
        bottom.append(tag[:cell].ljust(cell), style=style)
        used += cell
    if used:
        lines.append((top, bottom))
    return Text("\n").join(part for pair in lines for part in pair)


def marked_entities(words: Sequence[str], tags: Sequence[str], colors: dict[str, str],
                    wrong: set[tuple[str, int, int]] = frozenset()) -> Text:
    """The sentence with each entity as `[its words]TYPE` in its type's colour; an entity whose (type, word_start,
    word_end) is in `wrong` is underlined as well (an error of the mistake being shown)."""
    entities = {e.word_start: e for e in group_entities(list(words), list(tags))}
    text = Text()
    i = 0
    while i < len(words):
        if i:
            text.append(" ")
        entity = entities.get(i)
        if entity is None:
            text.append(str(words[i]))
            i += 1
            continue
        style = Style(color=colors.get(entity.type), bold=True)
        if (entity.type, entity.word_start, entity.word_end) in wrong:
            style += Style(underline=True)
        text.append("[" + " ".join(map(str, words[entity.word_start:entity.word_end])) + "]", style=style)
        text.append(entity.type, style=style + Style(dim=True, underline=False))
        i = entity.word_end
    return text
