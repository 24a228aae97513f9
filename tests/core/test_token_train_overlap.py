"""A token task's inputs are lists of words: eval's "also in train" count reads them as sentences (it raised
AttributeError: 'list' object has no attribute 'isascii' for any labelled token file with a train split)."""

from __future__ import annotations

from crafted_tagger import build_tagger
from conftest import write_jsonl

from tunelab.core.overlap import input_hashes

ROWS = [(["a", "m", "sat", "on", "the", "mat"], ["B-PER", "I-PER", "O", "O", "O", "B-LOC"]),
        (["the", "cat", "sat", "near", "p"], ["O", "B-PER", "O", "O", "B-LOC"]),
        (["the", "dog", "ran", "near", "the", "table"], ["O", "B-LOC", "O", "O", "O", "B-LOC"])]


def test_words_hash_as_their_sentence():
    assert input_hashes([["the", "cat"]])[0] == input_hashes(["the  cat "])[0]
    assert input_hashes([["the", "cat"]])[0] != input_hashes([["the", "dog"]])[0]


def test_eval_of_a_token_model_counts_test_sentences_also_in_train(tmp_path):
    from tunelab.core.evaluation import evaluate_model

    tagger = build_tagger(tmp_path / "tagger")
    data = tmp_path / "ner"
    data.mkdir()
    write_jsonl(data / "train.jsonl", [{"tokens": w, "ner_tags": t} for w, t in ROWS[:2]])
    write_jsonl(data / "test.jsonl", [{"tokens": w, "ner_tags": t} for w, t in ROWS])
    report = evaluate_model(str(tagger), str(data), "classify_tokens: ner_tags ~ tokens", split="test")
    assert report.examples == 3 and report.in_train == 2 and report.train_data == "train"
