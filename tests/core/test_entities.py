"""Entities from word tags (core/entities.py): grouping as conlleval/seqeval and the pipeline's "first" strategy
read it, character spans in the sentence, and the typed errors the Evaluate screen lists."""

import random

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from tunelab.core.entities import (Entity, entity_errors, group_entities, rank_mistakes, tag_spans,
                                   uses_entity_scheme, word_spans, whitespace_words)


def spans_as_seqeval(tags):
    return [(t, a, b - 1) for t, a, b in tag_spans(tags)]


@pytest.mark.parametrize("tags", [
    ["B-PER", "I-PER", "O", "B-LOC"],                     # an entity at the sentence end
    ["O", "I-PER", "I-PER", "O"],                         # I- after O starts an entity
    ["B-PER", "B-PER", "I-PER"],                          # adjacent entities of one type stay apart
    ["B-PER", "I-LOC", "I-LOC"],                          # I- of another type starts a new one
    ["I-ORG"],
    ["O", "O"],
    ["S-PER", "B-LOC", "E-LOC", "S-LOC", "I-LOC", "E-LOC"],  # IOBES
])
def test_entities_are_the_ones_seqeval_scores(tags):
    assert spans_as_seqeval(tags) == get_entities(tags)


def test_entities_match_seqeval_on_random_tag_sequences():
    rng = random.Random(0)
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-PER"]
    for _ in range(2000):
        tags = [rng.choice(names) for _ in range(rng.randint(0, 9))]
        assert spans_as_seqeval(tags) == get_entities(tags), tags


def test_grouping_gives_type_text_character_span_and_mean_score():
    text = "Angela Merkel visited  New York on Monday."
    words, spans = whitespace_words(text)
    assert spans == word_spans(text, words)
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O"]
    scores = [0.9, 0.7, 0.99, 0.6, 0.8, 0.9, 0.9]
    found = group_entities(words, tags, scores, spans, text)
    assert [(e.type, e.text, e.start, e.end, e.word_start, e.word_end) for e in found] == [
        ("PER", "Angela Merkel", 0, 13, 0, 2), ("LOC", "New York", 23, 31, 3, 5)]
    assert found[0].score == pytest.approx(0.8) and found[1].score == pytest.approx(0.7)
    assert all(text[e.start:e.end] == e.text for e in found)


def test_punctuation_words_from_a_pre_tokenizer_keep_their_place():
    text = "Paris. Then Berlin!"
    words = ["Paris", ".", "Then", "Berlin", "!"]
    assert word_spans(text, words) == [(0, 5), (5, 6), (7, 11), (12, 18), (18, 19)]
    found = group_entities(words, ["B-LOC", "O", "O", "B-LOC", "O"], None, word_spans(text, words), text)
    assert [(e.text, e.start, e.end, e.score) for e in found] == [("Paris", 0, 5, None), ("Berlin", 12, 18, None)]


def test_tags_without_a_prefix_group_as_the_pipeline_reads_them():
    assert tag_spans(["PER", "PER", "O", "LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert uses_entity_scheme(["O", "B-PER", "I-PER"]) and not uses_entity_scheme(["NN", "VBZ", "DT", "O"])


def test_without_a_sentence_the_words_are_joined_by_spaces():
    found = group_entities(["the", "New", "York", "office"], ["O", "B-LOC", "I-LOC", "O"])
    assert found == [Entity("LOC", "New York", 4, 12, 1, 3, None)]


def kinds(gold, pred):
    return [(e.kind, e.gold and (e.gold.type, e.gold.word_start, e.gold.word_end),
             e.predicted and (e.predicted.type, e.predicted.word_start, e.predicted.word_end))
            for e in entity_errors(gold, pred)]


def test_each_error_is_typed():
    assert kinds(["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]) == []
    assert kinds(["B-PER", "O", "O"], ["O", "O", "O"]) == [("missed", ("PER", 0, 1), None)]
    assert kinds(["O", "O", "O"], ["O", "B-LOC", "O"]) == [("spurious", None, ("LOC", 1, 2))]
    assert kinds(["B-PER", "I-PER", "O"], ["B-ORG", "I-ORG", "O"]) == [("wrong_type", ("PER", 0, 2), ("ORG", 0, 2))]
    assert kinds(["B-PER", "I-PER", "O"], ["B-PER", "O", "O"]) == [("wrong_boundary", ("PER", 0, 2), ("PER", 0, 1))]
    # wrong in both type and span: counted as wrong_type (documented)
    assert kinds(["B-PER", "I-PER", "O"], ["O", "B-LOC", "I-LOC"]) == [("wrong_type", ("PER", 0, 2), ("LOC", 1, 3))]


def test_a_name_cut_in_two_is_two_errors_and_an_i_after_o_is_an_entity():
    assert kinds(["B-LOC", "I-LOC", "I-LOC"], ["B-LOC", "B-LOC", "I-LOC"]) == [
        ("wrong_boundary", ("LOC", 0, 3), ("LOC", 1, 3)), ("wrong_boundary", ("LOC", 0, 3), ("LOC", 0, 1))]
    # I-PER after O in the prediction is an entity of its own: the same span as gold's B-PER I-PER is right
    assert kinds(["O", "B-PER", "I-PER"], ["O", "I-PER", "I-PER"]) == []
    # two gold entities, one merged prediction: one wrong_boundary, one missed
    assert kinds(["B-PER", "B-PER", "O"], ["B-PER", "I-PER", "O"]) == [
        ("wrong_boundary", ("PER", 0, 1), ("PER", 0, 2)), ("missed", ("PER", 1, 2), None)]


def test_errors_carry_the_words():
    (error,) = entity_errors(["O", "B-LOC", "I-LOC"], ["O", "O", "O"], ["in", "New", "York"])
    assert error.kind == "missed" and error.gold.text == "New York"


def test_mistakes_rank_the_sentences_with_most_errors_first():
    sentences = [
        (["a", "b"], ["B-PER", "O"], ["B-PER", "O"]),            # right: left out
        (["a", "b"], ["B-PER", "O"], ["O", "O"]),                # 1 error
        (["a", "b", "c"], ["B-PER", "O", "B-LOC"], ["O", "B-ORG", "B-PER"]),   # 3 errors
        (["a", "b"], ["O", "B-LOC"], ["O", "B-PER"]),            # 1 error
    ]
    ranked = rank_mistakes(sentences)
    assert [(m.index, len(m.errors)) for m in ranked] == [(2, 3), (1, 1), (3, 1)]
    assert [e.kind for e in ranked[0].errors] == ["missed", "spurious", "wrong_type"]
    assert ranked[0].words == ["a", "b", "c"]
