"""SQuAD's scores for extractive question answering, offline: exact match, token F1, v2's HasAns/NoAns split and
the no-answer threshold that scores best. Also `check_answers`, which says whether a row's answers are spans of
its context.

The definitions are those of the official evaluation scripts (evaluate-v1.1.py and evaluate-v2.0.py, the ones
`evaluate.load("squad")` and `"squad_v2"` wrap, which need the network). Differences, on purpose:

- Scores are 0-1 fractions, like every other TuneLab score (the official scripts print 0-100).
- v2.0's rules are used for v1.1 data too. They agree on every v1.1 question; v2.0 adds that a gold answer which
  normalises to nothing is dropped, and an empty gold list means "unanswerable": the empty prediction scores 1.
- A reference id with no prediction is refused (ValueError: a bug in the caller), where v1.1 scored 0 and
  v2.0 scored it as "".

Called by the classify_spans task (core/tasks/spans.py, coming) to score, pick the null threshold and check data.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)      # ASCII punctuation only, as the official scripts


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    """The normalised words of an answer ([] for "" or an answer that normalises to nothing)."""
    return normalize_answer(text).split() if text else []


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when prediction and gold normalise to the same string, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the normalised words (a bag of words: repeats count as often as both hold them). When either side is
    empty, 1.0 if both are, else 0.0."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    same = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: Sequence[str]) -> list[str]:
    """The gold answers that count: those that normalise to something; [""] when none does (unanswerable)."""
    kept = [a for a in answers if normalize_answer(a)]
    return kept or [""]


def best_over_gold(prediction: str, answers: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction: the best of each over the gold answers (taken separately)."""
    golds = gold_answers(answers)
    return max(exact_match(prediction, g) for g in golds), max(token_f1(prediction, g) for g in golds)


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict:
    """SQuAD's scores of `predictions` (id -> answer text, "" for no answer) against `references` (id -> gold answer
    texts, [] for an unanswerable question), as 0-1 fractions:

    `exact_match`, `f1`, `total`; and when any reference is unanswerable (v2 data), `HasAns_exact_match`,
    `HasAns_f1`, `HasAns_total`, `NoAns_exact_match`, `NoAns_f1`, `NoAns_total` (the parts with none are left out,
    as the official script does). Predictions for ids not in `references` are ignored.
    """
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise ValueError(f"no prediction for {len(missing)} question(s), e.g. id {missing[0]!r}")
    em: dict[str, float] = {}
    f1: dict[str, float] = {}
    has_answer: dict[str, bool] = {}
    for qid, answers in references.items():
        em[qid], f1[qid] = best_over_gold(predictions[qid], answers)
        has_answer[qid] = gold_answers(answers) != [""]

    def part(ids: list[str]) -> tuple[float, float, int]:
        n = len(ids)
        return (sum(em[i] for i in ids) / n if n else 0.0, sum(f1[i] for i in ids) / n if n else 0.0, n)

    out: dict = {}
    out["exact_match"], out["f1"], out["total"] = part(list(references))
    if not all(has_answer.values()):
        for prefix, ids in (("HasAns", [q for q, h in has_answer.items() if h]),
                            ("NoAns", [q for q, h in has_answer.items() if not h])):
            if ids:
                out[f"{prefix}_exact_match"], out[f"{prefix}_f1"], out[f"{prefix}_total"] = part(ids)
    return out


def best_null_threshold(margins: Sequence[float], span_scores: Sequence[float],
                        null_scores: Sequence[float]) -> tuple[float, float]:
    """The no-answer threshold that scores best, and that mean score: v2.0's `find_best_thresh`, on margins.

    For each question: `margins[i]` is its best span's score minus its null ("no answer") score; the model answers
    with the span when `margin > threshold` and says "no answer" otherwise. `span_scores[i]` is what answering with
    the span scores (its F1 or EM, or True/False for right/wrong) and `null_scores[i]` what "no answer" scores (1
    for an unanswerable question, else 0). Returns (threshold, mean score at it).

    Thresholds are tried from "no answer everywhere" (the largest margin) down, answering the questions in order of
    margin (tied margins together); a lower threshold is taken only when it scores strictly better, so ties go to
    the higher threshold (fewer answers), as in the official script. "Answer everything" is `min(margins) - 1`.
    """
    n = len(margins)
    if not (n == len(span_scores) == len(null_scores)):
        raise ValueError("margins, span_scores and null_scores must have one value per question")
    if n == 0:
        return 0.0, 0.0
    order = sorted(range(n), key=lambda i: -margins[i])
    score = best = float(sum(null_scores))
    threshold = float(margins[order[0]])
    k = 0
    while k < n:
        level = margins[order[k]]
        while k < n and margins[order[k]] == level:       # a tied group flips together
            i = order[k]
            score += float(span_scores[i]) - float(null_scores[i])
            k += 1
        if score > best:
            best = score
            threshold = float(margins[order[k]]) if k < n else float(margins[order[-1]]) - 1.0
    return threshold, best / n


def check_answers(context: str, answers: Mapping) -> str | None:
    """What is wrong with one row's `answers` ({"text": [...], "answer_start": [...]}, the hub's shape) against its
    `context`, in words for a one-line message (the caller names the row); None when every answer's text is at
    its answer_start. An empty list is an unanswerable question (v2). Hand-made data is often off by a character
    or two: the message then says where the text is."""
    if not isinstance(answers, Mapping) or set(answers) < {"text", "answer_start"}:
        return "answers must be a structure with 'text' and 'answer_start' lists"
    texts, starts = answers["text"], answers["answer_start"]
    if not isinstance(texts, (list, tuple)) or not isinstance(starts, (list, tuple)):
        return "answers' 'text' and 'answer_start' must be lists"
    if len(texts) != len(starts):
        return f"answers have {len(texts)} text(s) but {len(starts)} answer_start(s)"
    if not isinstance(context, str) or not context.strip():
        return "the context is empty"
    for n, (text, start) in enumerate(zip(texts, starts), 1):
        which = f"answer {n}" if len(texts) > 1 else "the answer"
        if not isinstance(text, str) or not text.strip():
            return f"{which} has an empty text"
        if isinstance(start, bool) or not isinstance(start, int):
            return f"{which} {text!r} has answer_start {start!r}, not a character offset"
        if context[start:start + len(text)] == text and start >= 0:
            continue
        if text not in context:
            return f"{which} {text!r} is not in the context"
        near = _nearest(context, text, start)
        if start < 0 or start >= len(context):
            return (f"{which} {text!r} has answer_start {start}, outside the context ({len(context)} characters); "
                    f"the text is at {near}")
        return (f"{which} {text!r} has answer_start {start}, where the context reads "
                f"{context[start:start + len(text)]!r}; the text is at {near} ({near - start:+d})")
    return None


def _nearest(context: str, text: str, start: int) -> int:
    """The offset of the occurrence of `text` in `context` nearest to `start` (text is in context)."""
    found, at = [], context.find(text)
    while at != -1:
        found.append(at)
        at = context.find(text, at + 1)
    return min(found, key=lambda a: (abs(a - start), a))
