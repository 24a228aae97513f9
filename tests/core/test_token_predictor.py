"""The Predictor on token-classification models: words split as the pre-tokenizer splits them, each word read at
its first sub-word, entities grouped as transformers' pipeline (aggregation_strategy="first") groups them, words
past max_length tagged O and counted, ONNX Runtime agreeing with PyTorch, and sentence models untouched."""

from __future__ import annotations

import numpy as np
import pytest

from crafted_tagger import SENTENCE, TAGS, build_tagger
from tunelab.core.errors import TuneLabError
from tunelab.core.predictor import Predictor, TokenPrediction
from tunelab.core.tasks.base import task_of_model

SENTENCES = [SENTENCE, "the cats sat on the mat.", "Paris, near the big red table: a dog ran!", "xyz qrs the cat"]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    return build_tagger(tmp_path_factory.mktemp("crafted-tagger"))


@pytest.fixture(scope="module")
def random_tagger(tmp_path_factory):
    return build_tagger(tmp_path_factory.mktemp("random-tagger"), crafted=False)


def test_a_sentence_gives_its_entities_with_type_text_span_and_score(crafted):
    pred = Predictor(str(crafted), backend="torch").predict(SENTENCE)
    assert isinstance(pred, TokenPrediction)
    assert pred.words == ["Angela", "Merkel", "visited", "Paris", "near", "the", "table", "."]   # "." is a word
    assert pred.tags == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "I-LOC", "O"]   # first sub-word of each word
    assert [(e.type, e.text, e.start, e.end) for e in pred.entities] == [
        ("PER", "Angela Merkel", 0, 13), ("LOC", "Paris", 22, 27), ("LOC", "table", 37, 42)]   # I- after O: its own
    assert all(e.score > 0.9 for e in pred.entities)
    assert set(pred.probabilities[0]) == set(TAGS) and pred.scores[0] == pred.probabilities[0]["B-PER"]
    assert not pred.truncated and pred.words_cut == 0


@pytest.mark.parametrize("which", ["crafted", "random_tagger"])
def test_entities_are_the_pipelines_first_strategy(which, request):
    from transformers import pipeline

    model = request.getfixturevalue(which)
    predictor = Predictor(str(model), backend="torch")
    tagger = pipeline("token-classification", model=str(model), aggregation_strategy="first", device="cpu")
    for text in SENTENCES:
        ours = [(e.type, e.start, e.end, round(e.score, 4)) for e in predictor.predict(text).entities]
        theirs = [(g["entity_group"], g["start"], g["end"], round(float(g["score"]), 4)) for g in tagger(text)]
        assert ours == theirs, text


def test_words_past_max_length_are_tagged_o_and_counted(crafted):
    text = "Angela " + "the cat " * 20 + "Paris"
    pred = Predictor(str(crafted), backend="torch", max_length=12).predict(text)
    assert len(pred.tags) == len(pred.words) == 42
    assert pred.truncated and pred.words_cut == 42 - 5   # 10 tokens: "Angela" (6 pieces) and "the cat the cat"
    assert pred.tags[-1] == "O" and pred.scores[-1] is None and pred.probabilities[-1] == {}
    assert pred.entities[0].text == "Angela" and "Paris" not in [e.text for e in pred.entities]


def test_a_word_with_no_subword_keeps_its_place(crafted):
    pred = Predictor(str(crafted), backend="torch").predict("the \x07 cat sat")
    assert pred.words == ["the", "\x07", "cat", "sat"]
    assert pred.tags == ["O", "O", "B-PER", "O"] and None not in pred.scores and not pred.truncated


def test_onnx_agrees_with_torch_and_batch_with_one_by_one(random_tagger):
    torch_side = Predictor(str(random_tagger), backend="torch")
    onnx_side = Predictor(str(random_tagger), backend="onnx")
    assert onnx_side.backend == "onnx"
    batch = torch_side.predict_batch(SENTENCES, batch_size=2)
    for text, together in zip(SENTENCES, batch):
        a, b = torch_side.predict(text), onnx_side.predict(text)
        assert a.tags == b.tags == together.tags and a.words == b.words == together.words
        for p, q, r in zip(a.probabilities, b.probabilities, together.probabilities):
            assert np.allclose([p[t] for t in TAGS], [q[t] for t in TAGS], atol=1e-4)
            assert np.allclose([p[t] for t in TAGS], [r[t] for t in TAGS], atol=1e-4)


def test_a_sentence_classifiers_graph_is_never_used_for_a_token_head(tiny_bert):
    """The same files under two heads: each gets its own export (a token head's logits are per token)."""
    from transformers import AutoModelForTokenClassification

    from tunelab.core import onnx_runtime
    from tunelab.core.models import load_classifier, load_tokenizer, resolve_model

    resolved = resolve_model(str(tiny_bert))
    tokenizer = load_tokenizer(resolved)
    sequence, _ = load_classifier(resolved, num_labels=5)
    tokens, _ = load_classifier(resolved, num_labels=5, head_class=AutoModelForTokenClassification)
    sequence_graph = onnx_runtime.export(sequence, tokenizer, resolved.path)
    token_graph = onnx_runtime.export(tokens, tokenizer, resolved.path, per_token=True)
    assert token_graph != sequence_graph
    enc = tokenizer(["the cat sat on the mat ."], return_tensors="np")
    assert onnx_runtime.OnnxClassifier(token_graph, num_labels=5, per_token=True).logits(enc).shape == (1, 9, 5)
    with pytest.raises(ValueError):
        onnx_runtime.OnnxClassifier(sequence_graph, num_labels=5, per_token=True)
    assert onnx_runtime.export(sequence, tokenizer, resolved.path) == sequence_graph   # each from its own cache
    # the classifier's graph and its export.json planted in the token head's folder: exported again, per token
    import shutil

    from tunelab.core.run_dir import state_dir

    folders = [f for f in (state_dir() / "onnx").iterdir() if f.is_dir()]
    assert len(folders) == 2
    token_folder = next(f for f in folders if (f / "model.onnx").read_bytes() == token_graph)
    sequence_folder = next(f for f in folders if f != token_folder)
    for name in ("model.onnx", "export.json"):
        shutil.copy(sequence_folder / name, token_folder / name)
    again = onnx_runtime.export(tokens, tokenizer, resolved.path, per_token=True)
    assert onnx_runtime.OnnxClassifier(again, num_labels=5, per_token=True).logits(enc).shape == (1, 9, 5)


def test_the_task_of_a_model_comes_from_its_run_else_its_architecture():
    assert task_of_model({"architectures": ["BertForTokenClassification"]}) == "classify_tokens"
    assert task_of_model({"architectures": ["BertForSequenceClassification"]}) == "classify"
    assert task_of_model({"architectures": ["BertModel"], "problem_type": "regression"}) == "regress"
    assert task_of_model({"architectures": ["BertForTokenClassification"]},
                         {"equation": "classify: label ~ sentence"}) == "classify"


def test_a_token_model_refuses_a_pair_and_a_sentence_of_no_words(crafted):
    predictor = Predictor(str(crafted), backend="torch")
    with pytest.raises(TuneLabError, match="tags the words of one sentence"):
        predictor.predict("the cat", "the dog")
    with pytest.raises(TuneLabError, match="empty"):
        predictor.predict(" \u200b ")


def test_words_of_a_byte_level_pre_tokenizer_do_not_hold_the_space_before_them():
    """RoBERTa-style pre-tokenizers give " cat" spans with the space; a word's span is the word alone."""
    from types import SimpleNamespace

    from tokenizers.pre_tokenizers import BertPreTokenizer, ByteLevel

    text = "Angela  Merkel visited Paris."
    for pre in (ByteLevel(add_prefix_space=False), BertPreTokenizer()):
        fake = SimpleNamespace(tokenizer=SimpleNamespace(backend_tokenizer=SimpleNamespace(pre_tokenizer=pre)))
        words, spans = Predictor.words_of(fake, text)
        assert words == ["Angela", "Merkel", "visited", "Paris", "."]
        assert [text[a:b] for a, b in spans] == words
