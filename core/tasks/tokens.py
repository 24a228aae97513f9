"""Token tagging: `classify_tokens` (named entities, part-of-speech tags): one tag per word.

An example is a sentence given as words: a list of strings (the hub's conll2003 `tokens`), or a string split on
whitespace (gft's form). Its tags are a list of the same length: strings, ints, a `Sequence(ClassLabel)` (read by
name), or a whitespace string. The head is AutoModelForTokenClassification.

Alignment: words go through the tokenizer with `is_split_into_words=True`; the FIRST sub-word of each word carries
the word's tag and the rest are -100 (ignored by the loss), or, with `label_all_tokens`, carry it too (B-X becoming
I-X after the first). A word the tokenizer turns into no sub-word at all (a control character) is read as the
tokenizer's unknown token, so it keeps its place and later tags are not shifted. Predictions are per word: the
argmax at each word's first sub-word. Words beyond max_length are never dropped from scoring: they are scored as
predicted "O" (missed entities).

Scores (`seqeval`, conlleval's default mode: IOB2, and an I-X after O or after another type starts an entity):
entity precision, recall and F1 (micro), per-type P/R/F1 (`per_type_scores`), and token accuracy over words.
Registered with the task registry in `base`; called through it by fit, evaluation, summary, check and predict.
"""

from __future__ import annotations

import re

import numpy as np

from ..data import column_values, json_kind, shorten
from ..entities import OUTSIDE
from ..errors import TuneLabError
from .base import ExplainTarget, Task, pick_label, register

TOKEN_METRICS = ("entity_f1", "entity_precision", "entity_recall", "token_accuracy")
IGNORE = -100                 # label of a sub-word the loss skips (PyTorch's cross-entropy ignore_index)
_SCHEME_TAG = re.compile(r"^[BIESLU]-.+$")


class TokenTagging(Task):
    keyword = "classify_tokens"
    aliases = ("ner", "pos_tagging", "token-classification", "token_classification")
    title = "a tag per word"
    metrics = TOKEN_METRICS
    per_token = True
    settings = ("label_all_tokens",)
    max_inputs = 1

    # ---- the equation and its columns

    def check_columns(self, ds, equation, split, name, where, columns=None) -> None:
        words = equation.inputs[0]
        if not _is_list(ds.features[words]) and not _is_text(ds.features[words]) and not _is_json(ds.features[words]):
            raise TuneLabError(f"input column {words!r} in split {split!r} of {name} holds {_kind(ds.features[words])}, "
                               "not words: give a list of words per row, or a string of words separated by spaces")
        tags = equation.label
        if tags not in ds.column_names:
            return
        feature = ds.features[tags]
        if _is_text(feature) and columns and len(ds) and str(ds[0][tags]).strip().lower() in {c.lower() for c in columns}:
            raise TuneLabError(f"{where(split, 0)} looks like a header row ({shorten(ds[0][tags])} in column {tags!r}), "
                               "but --columns says the file has none; drop --columns and use the file's own column names")
        if _is_list(feature) or _is_text(feature) or _is_json(feature) or _is_null(feature):
            return                  # null in every row (a JSON test file written with "ner_tags": null): unlabelled
        if type(feature).__name__ in ("Value", "ClassLabel"):
            raise TuneLabError(f"column {tags!r} of {name} holds one label per row, not a tag per word: use "
                               f"classify: {tags} ~ {words}")
        raise TuneLabError(f"tag column {tags!r} in split {split!r} of {name} holds {_kind(feature)}: give a list of "
                           "tags per row (one per word), or a string of tags separated by spaces")

    def check_split(self, ds, equation, split, where, labelled) -> None:
        word_col, tag_col = equation.inputs[0], equation.label
        words = _read_words(ds, word_col, split, where)
        if not labelled:
            return
        tags = _read_tags(ds, tag_col, split, where)
        scalar_labels = _is_text(ds.features[tag_col]) and not any(t and len(t) > 1 for t in tags)
        for row, (w, t) in enumerate(zip(words, tags)):
            if t is None:
                raise TuneLabError(f"{where(split, row)}: no tags in column {tag_col!r} (null); give one tag per word")
            if len(w) != len(t):
                if scalar_labels and any(len(x) > 1 for x in words):
                    raise TuneLabError(f"column {tag_col!r} holds one label per row, not a tag per word: use "
                                       f"classify: {tag_col} ~ {word_col}")
                raise TuneLabError(f"{where(split, row)}: {len(w)} words in {word_col!r} but {len(t)} tags in "
                                   f"{tag_col!r}; give one tag per word")

    def labelled_splits(self, splits, equation, minus_one_is_a_label=False):
        import pyarrow.compute as pc

        out = {}
        for split, ds in splits.items():
            col = equation.label
            out[split] = col in ds.column_names and len(ds) > 0 and pc.all(pc.is_null(ds.data.column(col))).as_py() is False
        return out

    def label_names(self, splits, labeled, equation, name):
        """The tag vocabulary: a `Sequence(ClassLabel)`'s names in their own order; else the tags seen in every
        labelled split, "O" first and the rest sorted (ints numerically)."""
        col = equation.label
        seen: set = set()
        for split, ds in sorted(splits.items(), key=lambda item: item[0] != "train"):
            if not labeled.get(split):
                continue
            names = _class_label_names(ds.features[col])
            if names is not None:
                return tuple(names)
            for tags in _read_tags(ds, col, split, None):
                seen.update(tags or ())
        _check_one_scheme(seen, col, name)
        return tag_order(seen)

    def check_trainable(self, data, label2id, train) -> None:
        if len(data.label_names) < 2:
            raise TuneLabError(f"column {data.equation.label!r} of {data.name} has a single tag value "
                               f"({', '.join(data.label_names) or 'none'}); tagging needs at least 2")
        seen = {int(t) for labels in train.word_labels for t in labels} if train.word_labels is not None else set()
        for split in data.splits:
            if split == "train" or not data.labeled.get(split) or (split == "validation" and data.held_out_validation):
                continue
            lacking = sorted({t for tags in self.tags(data, split) for t in tags} - {data.label_names[i] for i in seen})
            if lacking:
                names = ", ".join(repr(t) for t in lacking[:5]) + (", ..." if len(lacking) > 5 else "")
                raise TuneLabError(f"split {split!r} of {data.name} has tags that train never has ({names}); a model "
                                   "trained on train cannot predict them: fix the tags or the split files")

    def check_metric(self, name: str, *, named_by_user: bool = True, label_names=None) -> None:
        if name not in self.metrics:
            raise TuneLabError(f"metric {name!r} does not apply to a {self.keyword} task; use one of: "
                               f"{', '.join(self.metrics)}")
        if label_names is not None and name.startswith("entity_") and not follows_scheme(label_names):
            raise TuneLabError(_needs_entities(name, list(label_names)))

    # ---- reading a TaskData

    def words(self, data, split: str) -> list[list[str]]:
        """The words of every row of `split`."""
        return _read_words(data.split(split), data.equation.inputs[0], split, None)

    def tags(self, data, split: str) -> list[list[str]]:
        """The gold tag names of every word of every row of a labelled `split`."""
        ds = data.split(split)
        return [list(t or ()) for t in _read_tags(ds, data.equation.label, split, None)]

    # ---- encoding

    def encode(self, data, split, tokenizer, max_length, label2id, *, label_all_tokens: bool = False, **options):
        tags = None
        if label2id is not None and data.labeled.get(split):
            tags = [tag_ids(t, label2id, data.equation.label, f"split {split!r} of {data.name}")
                    for t in self.tags(data, split)]
        return encode_words(tokenizer, self.words(data, split), tags, max_length=max_length,
                            label_all_tokens=label_all_tokens, label2id=label2id)

    def head_class(self):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def explain_target(self, predictor, logits, words, target, word):
        """The probability of one word's tag (the predicted one unless `target` names another), read at the word's
        first sub-word; `word` is 1-based, and without it the first word tagged other than O (else the first)."""
        labels = list(predictor.labels)
        if not words:
            raise TuneLabError("the sentence has no words to explain")
        tags = [int(logits[0, w.positions[0]].argmax()) for w in words]
        if word is None:
            word = next((n for n, t in enumerate(tags, 1) if labels[t] != OUTSIDE), 1)
        if not 1 <= word <= len(words):
            raise TuneLabError(f"--word {word}: the sentence has {len(words)} word(s) read by the model; give 1 to "
                               f"{len(words)}")
        w = words[word - 1]
        i = pick_label(labels, target, tags[word - 1], "tag")
        at = w.positions[0]
        return ExplainTarget(f"{labels[i]} at word {word} ({w.text!r})",
                             lambda lg, at=at, i=i: lg[:, at].float().softmax(-1)[:, i], (at,), probability=True)

    # ---- predictions and scores

    def word_predictions(self, outputs, encoded) -> list[np.ndarray]:
        return word_predictions(outputs, encoded)

    def word_probabilities(self, outputs, encoded) -> list[np.ndarray]:
        return word_probabilities(outputs, encoded)

    def score(self, outputs, encoded, label_names, metric):
        if encoded.word_labels is None:
            raise TuneLabError("these examples carry no tags to score against")
        names = list(label_names)
        gold = [[names[i] for i in row] for row in encoded.word_labels]
        pred = [[names[i] if i >= 0 else OUTSIDE for i in row] for row in word_predictions(outputs, encoded)]
        scores = tag_scores(gold, pred, entities=follows_scheme(names))
        if metric not in scores:
            raise TuneLabError(_needs_entities(metric, names))
        return scores

    # ---- what `tunelab eval` reports beyond the scores

    def details(self, data, split, outputs, encoded, label_names, metric, mistakes):
        from ..entities import rank_mistakes

        names = list(label_names)
        words = self.words(data, split)
        gold = [[names[i] for i in row] for row in encoded.word_labels]
        pred = [[names[i] if i >= 0 else OUTSIDE for i in row] for row in word_predictions(outputs, encoded)]
        o_words = sum(t == OUTSIDE for row in gold for t in row)
        total = sum(len(row) for row in gold)
        baseline = {"majority_label": OUTSIDE, "majority_accuracy": o_words / total if total else 0.0,
                    "majority_baseline": tag_scores(gold, [[OUTSIDE] * len(row) for row in gold],
                                                    entities=follows_scheme(names)).get(metric)}
        ranked = rank_mistakes(zip(words, gold, pred))[:mistakes]
        if follows_scheme(names):
            per_type = per_type_scores(gold, pred)
            types = sorted(per_type)
            return {"labels": types, "per_class": [{"label": t, **per_type[t]} for t in types],
                    "entity_confusion": entity_type_confusion(gold, pred, types),
                    "per_class_title": "per entity type", "mistakes_title": "sentences with the most entity errors",
                    "mistakes": [_entity_mistake(m) for m in ranked], **baseline}
        return {"labels": names, **_tag_details(gold, pred, names), "per_class_title": "per tag",
                "mistakes_title": "sentences with the most wrong tags",
                "mistakes": [_tag_mistake(words[i], gold[i], pred[i]) for i in _most_wrong(gold, pred, mistakes)],
                **baseline}

    # ---- what `tunelab summary --data` reports

    def describe(self, data, tokenizer, max_length, say):
        from ..entities import tag_spans
        from ..summary import DataSummary, percentile_of_counts

        names = list(data.label_names)
        scheme = follows_scheme(names)
        rows, balance, lengths, truncated, details, baseline = {}, {}, {}, {}, {}, {}
        metric = self.default_metric(names, data.name, False)
        for split in data.splits:
            say(f"tokenizing {split}")
            words = self.words(data, split)
            rows[split] = len(words)
            pieces = _subword_counts(tokenizer, words)
            word_counts = np.bincount([len(w) for w in words])
            piece_counts = np.bincount(pieces)
            lengths[split] = {f"p{q}": int(percentile_of_counts(piece_counts, q)) for q in (50, 90, 95, 99)} | {
                "max": int(len(piece_counts) - 1)}
            truncated[split] = float(np.mean(pieces > max_length)) if len(pieces) else 0.0
            cut = sum(_words_beyond(tokenizer, w, max_length) for w, n in zip(words, pieces) if n > max_length)
            info = {"words_per_sentence": {f"p{q}": int(percentile_of_counts(word_counts, q)) for q in (50, 90, 99)}
                    | {"max": int(len(word_counts) - 1)},
                    "words_beyond_max_length": cut, "words": int(sum(len(w) for w in words))}
            if data.labeled.get(split):
                tags = self.tags(data, split)
                counts: dict = {}
                for row in tags:
                    for t in row:
                        counts[t] = counts.get(t, 0) + 1
                balance[split] = {t: counts.get(t, 0) for t in names}
                baseline[split] = tag_scores(tags, [[OUTSIDE] * len(row) for row in tags], entities=scheme)[metric]
                if scheme:
                    entities: dict = {}
                    empty = broken = 0
                    broken_examples = []
                    for i, row in enumerate(tags):
                        spans = tag_spans(row)
                        empty += not spans
                        for kind, _, _ in spans:
                            entities[kind] = entities.get(kind, 0) + 1
                        bad = scheme_breaks(row)
                        if bad:
                            broken += 1
                            if len(broken_examples) < 3:
                                broken_examples.append(f"row {i + 1}: {bad}")
                    info |= {"entities": dict(sorted(entities.items())), "sentences_without_entity": empty,
                             "scheme_breaks": broken, "scheme_break_examples": broken_examples}
            details[split] = info
        return DataSummary(data.name, str(data.equation), rows, balance, lengths, truncated, max_length, metric,
                           baseline, data.held_out_validation, OUTSIDE if OUTSIDE in names else None,
                           token_details=details)

    def input_texts(self, data, split):
        """Each sentence's words joined by spaces, as a user types it."""
        return [" ".join(words) for words in self.words(data, split)]

    # ---- what `tunelab check` tries

    def example_texts(self, data, split, n):
        """Up to n sentences of `split`, their words joined by spaces (as a user types them)."""
        return self.input_texts(data.sample(split, n, 0), split)

    def baseline_outputs(self, data, encoded, label2id, outputs):
        """No entity anywhere: every word tagged O (the most frequent tag in any NER data)."""
        guesses = []
        for logits in outputs:
            guess = np.zeros_like(np.asarray(logits))
            guess[:, label2id.get(OUTSIDE, 0)] = 1.0
            guesses.append(guess)
        return guesses, f"always {OUTSIDE!r}"

    def shown_beside(self, metric):
        return tuple(dict.fromkeys((metric, "token_accuracy")))

    # ---- what `tunelab cat` prints: CoNLL-style word<TAB>tag lines, a blank line between sentences

    def cat_header(self, equation):
        return None

    def cat_rows(self, data, split, limit):
        import dataclasses

        ds = data.split(split)
        if limit and limit < len(ds):
            data = dataclasses.replace(data, splits={split: ds.select(range(limit))})
        eq = data.equation
        words = self.words(data, split)
        tags = self.tags(data, split) if data.labeled.get(split) else None
        for i, row in enumerate(words):
            record = {eq.inputs[0]: row, **({eq.label: tags[i]} if tags is not None else {})}
            lines = [[w, t] for w, t in zip(row, tags[i])] if tags is not None else [[w] for w in row]
            yield record, [*lines, []]

    def default_metric(self, label_names, data_name, is_pair):
        """Entity F1 for tags in a B-/I- scheme (NER, chunks), token accuracy otherwise (POS tags)."""
        return "entity_f1" if follows_scheme(label_names) else "token_accuracy"


TOKENS = register(TokenTagging())


# ---------------------------------------------------------------- what eval and summary report

def entity_type_confusion(gold: list[list[str]], pred: list[list[str]], types: list[str]) -> list[list[int]]:
    """Rows: a gold entity's type (then O: a predicted entity where gold has none); columns: the type of the
    predicted entity on the same words (overlapping, the largest overlap), O when none. A (len+1)^2 matrix."""
    from ..entities import tag_spans

    index = {t: i for i, t in enumerate(types)}
    none = len(types)
    matrix = [[0] * (none + 1) for _ in range(none + 1)]
    for g_row, p_row in zip(gold, pred):
        g_spans, p_spans = tag_spans(g_row), tag_spans(p_row)
        matched = set()
        for kind, start, end in g_spans:
            best, best_overlap = None, 0
            for j, (p_kind, p_start, p_end) in enumerate(p_spans):
                overlap = min(end, p_end) - max(start, p_start)
                if overlap > best_overlap:
                    best, best_overlap = j, overlap
            if best is None:
                matrix[index.get(kind, none)][none] += 1
            else:
                matched.add(best)
                matrix[index.get(kind, none)][index.get(p_spans[best][0], none)] += 1
        for j, (p_kind, _, _) in enumerate(p_spans):
            if j not in matched and not any(min(e, p_spans[j][2]) > max(s, p_spans[j][1]) for _, s, e in g_spans):
                matrix[none][index.get(p_kind, none)] += 1
    return matrix


def _entity_mistake(m) -> dict:
    """One sentence of `tunelab eval`'s mistakes: the count, the typed errors in words, and (for --json and the
    Evaluate screen) the words with both tag rows."""
    def said(e) -> str:
        g, p = e.gold, e.predicted
        if e.kind == "missed":
            return f"missed {g.type} {g.text!r}"
        if e.kind == "spurious":
            return f"spurious {p.type} {p.text!r}"
        if e.kind == "wrong_type":
            return f"{g.text!r} {g.type} read as {p.type}"
        return f"boundary {g.type} {g.text!r} read as {p.text!r}"

    return {"errors": len(m.errors), "row": m.index + 1, "what": "; ".join(said(e) for e in m.errors),
            "text": " ".join(m.words), "words": list(m.words), "gold_tags": list(m.gold_tags), "pred_tags": list(m.pred_tags),
            "kinds": [e.kind for e in m.errors]}


def _most_wrong(gold: list[list[str]], pred: list[list[str]], top: int) -> list[int]:
    wrong = [sum(a != b for a, b in zip(g, p)) for g, p in zip(gold, pred)]
    order = sorted((i for i, n in enumerate(wrong) if n), key=lambda i: -wrong[i])
    return order[:top]


def _tag_mistake(words: list[str], gold: list[str], pred: list[str]) -> dict:
    wrong = [(w, g, p) for w, g, p in zip(words, gold, pred) if g != p]
    return {"errors": len(wrong), "what": "; ".join(f"{w!r} {g} read as {p}" for w, g, p in wrong[:6])
            + ("; ..." if len(wrong) > 6 else ""), "text": " ".join(words), "words": list(words),
            "gold_tags": list(gold), "pred_tags": list(pred)}


def _tag_details(gold: list[list[str]], pred: list[list[str]], names: list[str]) -> dict:
    """Per-tag precision/recall/F1 over words and the tag confusion matrix (tags without an entity scheme)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    g = [t for row in gold for t in row]
    p = [t for row in pred for t in row]
    pr, rc, f1, sup = precision_recall_fscore_support(g, p, labels=names, zero_division=0)
    return {"per_class": [{"label": n, "precision": float(pr[i]), "recall": float(rc[i]), "f1": float(f1[i]),
                           "support": int(sup[i])} for i, n in enumerate(names)],
            "confusion": confusion_matrix(g, p, labels=names).tolist()}


def scheme_breaks(tags: list[str]) -> str:
    """'' for a tag row that keeps IOB2, else the first break in words: an I-X that follows O or another type."""
    prev = OUTSIDE
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (prev == OUTSIDE or prev[2:] != tag[2:]):
            return f"word {i + 1} is {tag} after {prev}"
        prev = tag
    return ""


def _subword_counts(tokenizer, words: list[list[str]], chunk: int = 2000) -> np.ndarray:
    """Sub-words per sentence, special tokens included (what --max-length counts)."""
    counts = []
    for start in range(0, len(words), chunk):
        enc = tokenizer(words[start:start + chunk], is_split_into_words=True, return_length=True,
                        return_attention_mask=False, return_token_type_ids=False)
        counts.extend(enc["length"])
    return np.asarray(counts, dtype=np.int64)


def _words_beyond(tokenizer, words: list[str], max_length: int) -> int:
    """How many of a sentence's words start beyond max_length sub-words (they are scored as missed)."""
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    kept = {w for w in enc.word_ids() if w is not None}
    return len(words) - len(kept)


# ---------------------------------------------------------------- the tag vocabulary and scheme

def tag_order(tags) -> tuple[str, ...]:
    """Tags as label names: "O" first, then sorted (by entity type, then B before I); ints numerically."""
    tags = {str(t) for t in tags}
    if tags and all(re.fullmatch(r"-?\d+", t) for t in tags):
        return tuple(sorted(tags, key=int))
    rest = sorted(tags - {OUTSIDE}, key=lambda t: (t[2:], t[:2]) if _SCHEME_TAG.match(t) else (t, ""))
    return ((OUTSIDE,) if OUTSIDE in tags else ()) + tuple(rest)


def _needs_entities(metric: str, names: list[str]) -> str:
    return (f"metric {metric!r} needs entity tags (B-X, I-X, O), but these tags are "
            f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}; use token_accuracy")


def _check_one_scheme(tags, column: str, name: str) -> None:
    """Refuse entity tags (B-X, I-X, ...) mixed with tags that follow no scheme ('0' for 'O', 'PER' for 'B-PER'):
    one such tag would silently turn entity scoring off for the whole dataset (it is scored as plain tags then)."""
    from ..entities import is_entity_tag
    from ..errors import some_of

    prefixed = sorted(t for t in tags if is_entity_tag(t))
    other = sorted(t for t in tags if t != OUTSIDE and not _SCHEME_TAG.match(t))    # BILOU's L-/U- stay plain tags
    if prefixed and other:
        raise TuneLabError(f"column {column!r} of {name} mixes entity tags ({some_of(prefixed, 3, quote=True)}) with "
                           f"tags that follow no entity scheme ({some_of(other, 3, quote=True)}), so entities could "
                           f"not be scored; give every tag as O or B-/I-/E-/S- and a type (a typo?), or none")


def follows_scheme(label_names) -> bool:
    """Whether the tags name entities (O and B-/I-/E-/S- tags): then they are scored as entities."""
    from ..entities import uses_entity_scheme

    return uses_entity_scheme(label_names)


def tag_ids(tags, label2id: dict[str, int], column: str, where: str) -> np.ndarray:
    ids = np.empty(len(tags), dtype=np.int64)
    for i, tag in enumerate(tags):
        found = label2id.get(tag)
        if found is None:
            from ..errors import some_of

            raise TuneLabError(f"tag {tag!r} in column {column!r} of {where} is not one of the model's tags: "
                               f"{some_of(label2id)}")
        ids[i] = found
    return ids


def _b_to_i(label2id: dict[str, int]) -> np.ndarray:
    """id -> the id of the same entity's inside tag (B-X -> I-X), itself where there is none."""
    out = np.arange(max(label2id.values()) + 1 if label2id else 0)
    for name, i in label2id.items():
        if name.startswith("B-") and "I-" + name[2:] in label2id:
            out[i] = label2id["I-" + name[2:]]
    return out


# ---------------------------------------------------------------- encoding

def encode_words(tokenizer, words: list[list[str]], tags: list[np.ndarray] | None = None, *, max_length: int,
                 label_all_tokens: bool = False, label2id: dict[str, int] | None = None, chunk: int = 4096):
    """Tokenise sentences given as words, with truncation at max_length; the first sub-word of each word carries its
    tag (the rest -100, or the tag with B-X -> I-X under `label_all_tokens`). Returns an EncodedSplit with
    `word_ids` (sub-word position -> word index, -1 for special tokens), `word_labels` (every word's tag id, cut
    words too) and `words_cut` (words beyond max_length)."""
    from ..batching import EncodedSplit

    words = [list(w) for w in words]
    if not words:
        raise TuneLabError("nothing to encode: the input is empty")
    if not getattr(tokenizer, "is_fast", False):
        raise TuneLabError(f"token tagging needs a fast tokenizer, which says which word each sub-word comes from; "
                           f"{type(tokenizer).__name__} is a slow one (save the model's tokenizer.json beside it)")
    ids, word_ids, truncated, cut = [], [], 0, 0
    unk = tokenizer.unk_token
    for start in range(0, len(words), chunk):
        part = words[start:start + chunk]
        enc = tokenizer(part, is_split_into_words=True, truncation=True, max_length=max_length)
        for i, sentence in enumerate(part):
            wid = enc.word_ids(i)
            seq = enc["input_ids"][i]
            present = {w for w in wid if w is not None}
            full = len(seq) >= max_length
            last = max(present, default=-1)
            # a word with no sub-word (a control character): read as the unknown token so it keeps its place
            empty = [w for w in range(len(sentence)) if w not in present and (w < last or not full)]
            if empty and unk is not None:
                fixed = [unk if w in set(empty) else x for w, x in enumerate(sentence)]
                one = tokenizer([fixed], is_split_into_words=True, truncation=True, max_length=max_length)
                seq, wid = one["input_ids"][0], one.word_ids(0)
                present = {w for w in wid if w is not None}
                full = len(seq) >= max_length
            ids.append(np.asarray(seq, dtype=np.int32))
            word_ids.append(np.asarray([-1 if w is None else w for w in wid], dtype=np.int32))
            truncated += full
            cut += len(sentence) - len(present)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int32, count=len(ids))
    labels = word_labels = None
    if tags is not None:
        b_to_i = _b_to_i(label2id) if label_all_tokens and label2id else None
        word_labels = [np.asarray(t, dtype=np.int64) for t in tags]
        labels = [_align(wid, t, b_to_i, label_all_tokens) for wid, t in zip(word_ids, word_labels)]
    counts = np.fromiter((len(w) for w in words), dtype=np.int32, count=len(words))
    return EncodedSplit(ids, None, labels, lengths, truncated, word_ids=word_ids, word_labels=word_labels,
                        words_cut=cut, word_counts=counts)


def _align(wid: np.ndarray, tags: np.ndarray, b_to_i, label_all_tokens: bool) -> np.ndarray:
    labels = np.full(len(wid), IGNORE, dtype=np.int64)
    known = wid >= 0
    first = known & np.concatenate(([True], wid[1:] != wid[:-1]))
    labels[first] = tags[wid[first]]
    if label_all_tokens:
        rest = known & ~first
        inner = tags[wid[rest]]
        labels[rest] = b_to_i[inner] if b_to_i is not None else inner
    return labels


def first_subwords(wid: np.ndarray) -> np.ndarray:
    """Per word present in `wid`: the position of its first sub-word, in word order."""
    known = wid >= 0
    first = np.flatnonzero(known & np.concatenate(([True], wid[1:] != wid[:-1])))
    return first[np.argsort(wid[first], kind="stable")]


# ---------------------------------------------------------------- predictions per word

def _word_count(encoded, i: int) -> int:
    return int(encoded.word_counts[i])


def word_predictions(outputs, encoded) -> list[np.ndarray]:
    """Per example: the predicted tag id of every word (argmax at its first sub-word), -1 for a word beyond
    max_length (read as "O")."""
    out = []
    for i, logits in enumerate(outputs):
        wid = encoded.word_ids[i]
        n = _word_count(encoded, i)
        pred = np.full(n, -1, dtype=np.int64)
        first = first_subwords(wid)
        pred[wid[first]] = np.asarray(logits)[first].argmax(-1)
        out.append(pred)
    return out


def word_probabilities(outputs, encoded) -> list[np.ndarray]:
    """Per example: (words, tags) softmax probabilities at each word's first sub-word; a cut word's row is NaN."""
    from ..inference import softmax

    out = []
    for i, logits in enumerate(outputs):
        logits = np.asarray(logits)
        wid = encoded.word_ids[i]
        probs = np.full((_word_count(encoded, i), logits.shape[-1]), np.nan, dtype=np.float32)
        first = first_subwords(wid)
        probs[wid[first]] = softmax(logits[first])
        out.append(probs)
    return out


# ---------------------------------------------------------------- scores

def tag_scores(gold: list[list[str]], pred: list[list[str]], *, entities: bool = True) -> dict[str, float]:
    """Entity precision/recall/F1 (micro, seqeval's default conlleval mode) when `entities`, and token accuracy."""
    total = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    scores = {"token_accuracy": right / total if total else 0.0}
    if entities:
        import warnings

        from seqeval.metrics import f1_score, precision_score, recall_score

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = {"entity_f1": float(f1_score(gold, pred, zero_division=0)),
                      "entity_precision": float(precision_score(gold, pred, zero_division=0)),
                      "entity_recall": float(recall_score(gold, pred, zero_division=0)), **scores}
    return scores


def per_type_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict]:
    """{entity type: {precision, recall, f1, support}} as seqeval (and conlleval) count them."""
    import warnings

    from seqeval.metrics import classification_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
    return {kind: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                   "support": int(v["support"])}
            for kind, v in report.items() if not kind.endswith(" avg")}


# ---------------------------------------------------------------- reading the columns

def _is_list(feature) -> bool:
    return type(feature).__name__ in ("List", "Sequence", "LargeList")


def _is_text(feature) -> bool:
    return type(feature).__name__ == "Value" and feature.dtype in ("string", "large_string")


def _is_null(feature) -> bool:
    return type(feature).__name__ == "Value" and feature.dtype == "null"


def _is_json(feature) -> bool:
    return type(feature).__name__ == "Json"


def _kind(feature) -> str:
    if type(feature).__name__ == "ClassLabel":
        return "one class per row"
    dtype = getattr(feature, "dtype", None)
    return f"{dtype} values" if dtype else f"{type(feature).__name__} values"


def _class_label_names(feature) -> list[str] | None:
    inner = getattr(feature, "feature", None)
    if _is_list(feature) and type(inner).__name__ == "ClassLabel":
        return list(inner.names)
    return None


def _cells(ds, col: str) -> list:
    return column_values(ds, col)     # Json columns (rows of mixed types) come back decoded


def _read_words(ds, col: str, split: str, where) -> list[list[str]]:
    """Every row's words: a list as it is, a string split on whitespace; an empty sentence or a cell of another
    kind is refused, naming its row."""
    out = []
    for row, cell in enumerate(_cells(ds, col)):
        if isinstance(cell, str):
            words = cell.split()
        elif isinstance(cell, (list, tuple)):
            words = list(cell)
            bad = next((w for w in words if not isinstance(w, str)), None)
            if bad is not None or any(w is None for w in words):
                raise TuneLabError(f"{_row(where, split, row, ds)}: column {col!r} holds {json_kind(bad)} "
                                   f"({shorten(bad)}) among its words; give each word as text")
        elif cell is None:
            words = []
        else:
            raise TuneLabError(f"{_row(where, split, row, ds)}: column {col!r} holds {json_kind(cell)} "
                               f"({shorten(cell)}), not words")
        if not words:
            raise TuneLabError(f"{_row(where, split, row, ds)}: empty sentence in column {col!r}; give it words "
                               "or remove it")
        out.append(words)
    return out


def _read_tags(ds, col: str, split: str, where) -> list[list[str] | None]:
    """Every row's tags as names (None where the cell is null): a `Sequence(ClassLabel)` by name, ints by their
    string form, a string split on whitespace."""
    names = _class_label_names(ds.features[col])
    out: list = []
    first_name = first_number = None        # (row, tag): a column of tag names or of tag numbers, never both
    for row, cell in enumerate(_cells(ds, col)):
        if cell is None:
            out.append(None)
        elif isinstance(cell, str):
            out.append(cell.split())
        elif isinstance(cell, (list, tuple)):
            tags = []
            for tag in cell:
                if names is not None and isinstance(tag, int) and not isinstance(tag, bool):
                    if not 0 <= tag < len(names):
                        from ..errors import some_of

                        raise TuneLabError(f"{_row(where, split, row, ds)}: tag id {tag} in column {col!r} is not "
                                           f"one of its {len(names)} tag names (ids 0 to {len(names) - 1}: "
                                           f"{some_of(names)})")
                    tags.append(names[tag])
                elif isinstance(tag, str) and tag.strip() and not any(c.isspace() for c in tag.strip()):
                    tags.append(tag.strip())
                    first_name = first_name or (row, tag.strip())
                elif isinstance(tag, int) and not isinstance(tag, bool) and names is None:
                    tags.append(str(tag))
                    first_number = first_number or (row, tag)
                elif isinstance(tag, float) and tag.is_integer() and names is None:
                    tags.append(str(int(tag)))
                    first_number = first_number or (row, tag)
                else:
                    raise TuneLabError(f"{_row(where, split, row, ds)}: tag {shorten(tag)} in column {col!r} is "
                                       "not a tag (give each tag as text or a whole number)")
                if first_name and first_number:
                    later = max(first_name, first_number)
                    raise TuneLabError(f"{_row(where, split, later[0], ds)}: column {col!r} holds tag names and tag "
                                       f"numbers together ({shorten(first_name[1])} and {shorten(first_number[1])}); "
                                       "give every tag as a name, or every tag as a number")
            out.append(tags)
        else:
            raise TuneLabError(f"{_row(where, split, row, ds)}: column {col!r} holds {json_kind(cell)} "
                               f"({shorten(cell)}), not tags: give a list of tags or a string of tags separated "
                               "by spaces")
    _check_tag_names(out, ds, col, split, where)
    return out


def _check_tag_names(rows: list, ds, col: str, split: str, where) -> None:
    """Refuse a tag a reader cannot tell from another: one holding invisible or control characters (a zero-width
    space, a BEL, a decomposed accent: 'O\u200b' prints as 'O' but would be a tag of its own, and would turn entity
    scoring off), and a scheme prefix with no entity type ('B-' alone). Checked once per distinct tag; the first
    row holding a bad one is named."""
    from ..data import visible_label

    distinct = {t for tags in rows if tags for t in tags}
    bad = {t: why for t in distinct if (why := _tag_problem(t, visible_label))}
    if not bad:
        return
    row = next(i for i, tags in enumerate(rows) if tags and any(t in bad for t in tags))
    tag = next(t for t in rows[row] if t in bad)
    raise TuneLabError(f"{_row(where, split, row, ds)}: tag {ascii(tag)} in column {col!r} {bad[tag]}; clean the "
                       "tag column")


def _tag_problem(tag: str, visible_label) -> str:
    if visible_label(tag) != tag:
        return ("holds invisible or control characters (or an accent in decomposed form), so it prints like another "
                "tag but would be one of its own")
    if len(tag) == 2 and tag[0] in "BIESLU" and tag[1] == "-":
        return "has a scheme prefix but no entity type after it (B-PER, I-LOC, ...)"
    return ""


def _row(where, split: str, row: int, ds) -> str:
    return where(split, row) if where is not None else f"row {row + 1} of split {split!r}"
