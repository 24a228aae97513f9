"""Entities from word tags: grouping, character spans, and the typed errors of predicted entities against gold.

A token-classification model tags words (`B-PER`, `I-PER`, `O`, ...); users read entities ("Angela Merkel", PER,
characters 0-13, score 0.97). Here lives that one step, for the Predictor (what `tunelab predict` and the Predict
screen show) and for evaluation's mistakes (what the Evaluate screen browses). No UI imports.

Grouping follows conlleval (and seqeval's default mode, which scores entities): B-X and S-X start an entity; I-X
and E-X continue one of type X, and start a new one after O or after another type (an I-X after O is an entity of
its own); E-X and S-X end one. A tag with no prefix (`PER`) reads as I-PER, as transformers'
TokenClassificationPipeline reads it. For word tags this is the pipeline's `aggregation_strategy="first"`: a
word's tag is its first sub-word's argmax (the Predictor does that part), and an entity's score is the mean of its
words' scores (the probability of each word's chosen tag). An entity's text is the sentence's own characters
between its first word's start and its last word's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

OUTSIDE = "O"


@dataclass(frozen=True)
class Entity:
    type: str                   # PER, LOC, ...
    text: str                   # the sentence's characters from start to end
    start: int                  # character span in the sentence: text == sentence[start:end]
    end: int
    word_start: int             # word span: words[word_start:word_end]
    word_end: int
    score: float | None = None  # mean probability of its words' tags (None for gold entities)


# ---------------------------------------------------------------- tags to word spans

def split_tag(tag: str) -> tuple[str, str]:
    """(prefix, type) of a tag: "B-PER" -> ("B", "PER"), "O" -> ("O", ""), "PER" -> ("I", "PER") (no prefix reads as
    I-, as the pipeline reads it)."""
    if tag == OUTSIDE or not tag:
        return OUTSIDE, ""
    if is_entity_tag(tag):
        return tag[0], tag[2:]
    return "I", tag


def uses_entity_scheme(tag_names: Iterable[str]) -> bool:
    """Whether tags name entities (IOB1/IOB2/IOBES: every tag "O" or B-X / I-X / E-X / S-X, and at least one such):
    POS tags (NN, VBZ) do not, and are neither grouped nor scored as entities."""
    names = [str(t) for t in tag_names]
    return any(is_entity_tag(t) for t in names) and all(t == OUTSIDE or is_entity_tag(t) for t in names)


def is_entity_tag(tag: str) -> bool:
    """B-X, I-X, E-X or S-X with a type X (not O, not 'B-' alone)."""
    return len(tag) > 2 and tag[0] in "BIES" and tag[1] == "-"


def _ends(prev: str, prev_type: str, tag: str, type_: str) -> bool:
    """conlleval's end_of_chunk: the entity open before this word ends here."""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", OUTSIDE):
        return True
    return prev != OUTSIDE and prev_type != type_


def _starts(prev: str, prev_type: str, tag: str, type_: str) -> bool:
    """conlleval's start_of_chunk: an entity starts at this word."""
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev in ("E", "S", OUTSIDE):
        return True
    return tag != OUTSIDE and prev_type != type_


def tag_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of a tag sequence as (type, word_start, word_end), word_end exclusive, in order."""
    spans: list[tuple[str, int, int]] = []
    prev, prev_type, begin = OUTSIDE, "", None
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        bio, type_ = split_tag(tag)
        if begin is not None and _ends(prev, prev_type, bio, type_):
            spans.append((prev_type, begin, i))
            begin = None
        if _starts(prev, prev_type, bio, type_):
            begin = i
        prev, prev_type = bio, type_
    return spans


# ---------------------------------------------------------------- words in a sentence

def word_spans(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Each word's (start, end) in `text`, found left to right (the words in order, as a whitespace split or a
    tokenizer's pre-tokenizer gives them). A word not found where expected (text normalised away) gets an empty
    span at the current position, so later words still line up."""
    spans, at = [], 0
    for word in words:
        found = text.find(word, at) if word else -1
        if found < 0:
            spans.append((at, at))
            continue
        spans.append((found, found + len(word)))
        at = found + len(word)
    return spans


def whitespace_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The whitespace-separated words of `text` with their character spans."""
    found = [(m.group(), (m.start(), m.end())) for m in re.finditer(r"\S+", text)]
    return [w for w, _ in found], [s for _, s in found]


def _joined(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """A sentence made of words joined by single spaces, and their spans in it (for tags with no sentence text)."""
    spans, at = [], 0
    for w in words:
        spans.append((at, at + len(w)))
        at += len(w) + 1
    return " ".join(words), spans


# ---------------------------------------------------------------- grouping

def group_entities(words: Sequence[str], tags: Sequence[str], scores: Sequence[float] | None = None,
                   spans: Sequence[tuple[int, int]] | None = None, text: str | None = None) -> list[Entity]:
    """The entities of a tagged sentence. `scores`: each word's probability of its tag (an entity's score is their
    mean; None: no scores). `spans`: each word's (start, end) in `text` (None: the words joined by spaces). The
    entity's text is `text[start:end]` when the sentence is given, else rebuilt from the words and their gaps."""
    if len(tags) != len(words):
        raise ValueError(f"{len(words)} words but {len(tags)} tags")
    if spans is None:
        joined, spans = _joined(words)
        text = joined if text is None else text
    out = []
    for type_, a, b in tag_spans(tags):
        start, end = spans[a][0], spans[b - 1][1]
        if text is not None:
            shown = text[start:end]
        else:
            shown = words[a] + "".join(" " * max(0, spans[i][0] - spans[i - 1][1]) + words[i] for i in range(a + 1, b))
        score = None
        if scores is not None:
            known = [float(s) for s in scores[a:b] if s is not None]
            score = sum(known) / len(known) if known else None
        out.append(Entity(type_, shown, start, end, a, b, score))
    return out


# ---------------------------------------------------------------- errors against gold

ERROR_KINDS = ("missed", "spurious", "wrong_type", "wrong_boundary")


@dataclass(frozen=True)
class EntityError:
    """One mistake of a tagged sentence. `gold`/`predicted`: the entities involved (None for missed/spurious)."""
    kind: str                        # one of ERROR_KINDS
    gold: Entity | None
    predicted: Entity | None


def _overlap(a: Entity, b: Entity) -> int:
    return max(0, min(a.word_end, b.word_end) - max(a.word_start, b.word_start))


def _kind(gold: Entity, pred: Entity) -> str:
    return "wrong_type" if gold.type != pred.type else "wrong_boundary"


def entity_errors(gold_tags: Sequence[str], pred_tags: Sequence[str], words: Sequence[str] | None = None) -> list[EntityError]:
    """The typed errors of predicted tags against gold tags for one sentence (an entity found exactly, type and
    span, is no error):
    - missed: a gold entity that no predicted entity overlaps;
    - spurious: a predicted entity that overlaps no gold entity;
    - wrong_type: a predicted entity overlapping a gold one with another type, whatever its span (the type is
      the bigger mistake, so an overlap that is wrong in both type and span counts here);
    - wrong_boundary: a predicted entity overlapping a gold one of the same type, with a different span.
    Each gold entity pairs with the overlapping prediction that matches it best (same span, then same type, then
    the widest overlap) for one error; a further prediction inside the same gold entity (a name cut in two) is an
    error of its own, typed against the gold entity it overlaps most. Errors come in sentence order."""
    if len(gold_tags) != len(pred_tags):
        raise ValueError(f"{len(gold_tags)} gold tags but {len(pred_tags)} predicted tags")
    words = list(words) if words is not None else [f"w{i}" for i in range(len(gold_tags))]
    gold = group_entities(words, gold_tags)
    pred = group_entities(words, pred_tags)
    exact = {(e.type, e.word_start, e.word_end) for e in gold} & {(e.type, e.word_start, e.word_end) for e in pred}
    gold = [e for e in gold if (e.type, e.word_start, e.word_end) not in exact]
    pred = [e for e in pred if (e.type, e.word_start, e.word_end) not in exact]
    errors: list[tuple[int, EntityError]] = []
    used: set[int] = set()
    for g in gold:
        touching = [i for i, p in enumerate(pred) if i not in used and _overlap(g, p)]
        if not touching:
            errors.append((g.word_start, EntityError("missed", g, None)))
            continue
        best = max(touching, key=lambda i: ((pred[i].word_start, pred[i].word_end) == (g.word_start, g.word_end),
                                            pred[i].type == g.type, _overlap(g, pred[i]), -i))
        used.add(best)
        errors.append((g.word_start, EntityError(_kind(g, pred[best]), g, pred[best])))
    for i, p in enumerate(pred):
        if i in used:
            continue
        touching = [g for g in gold if _overlap(g, p)]
        if not touching:
            errors.append((p.word_start, EntityError("spurious", None, p)))
        else:
            g = max(touching, key=lambda g: _overlap(g, p))
            errors.append((p.word_start, EntityError(_kind(g, p), g, p)))
    return [e for _, e in sorted(errors, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class SentenceMistakes:
    """A sentence with its entity errors: `index` is its position in the list given to `rank_mistakes`."""
    index: int
    words: list
    gold_tags: list
    pred_tags: list
    errors: list = field(default_factory=list)


def rank_mistakes(sentences: Iterable[tuple[Sequence[str], Sequence[str], Sequence[str]]]) -> list[SentenceMistakes]:
    """Sentences given as (words, gold_tags, pred_tags), those with entity errors only, the most errors first (ties
    in the order given)."""
    found = []
    for i, (words, gold, pred) in enumerate(sentences):
        errors = entity_errors(gold, pred, words)
        if errors:
            found.append(SentenceMistakes(i, list(words), list(gold), list(pred), errors))
    return sorted(found, key=lambda m: (-len(m.errors), m.index))
