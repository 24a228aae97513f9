"""Layer-wise probing: a model fine-tuned on a task knows it at its top layer where a random encoder does not;
the sample, the baseline and the pooling behave."""

from __future__ import annotations

import numpy as np
import pytest

import torch
from transformers import AutoModel, AutoTokenizer

from conftest import agreement_rows, build_tiny_bert, train_tiny, write_jsonl, write_toy_splits
from tunelab.core.errors import TuneLabError
from tunelab.core.probe import layer_features, probe, word_features
from tunelab.core.tasks.tokens import encode_words

EQN = "classify: label ~ sentence"


def agreement_xor_rows(n: int, seed: int) -> list[dict]:
    """Subject-verb agreement ('the cats is' is unacceptable): the label is the XOR of two words' number, so no
    bag of words (a random encoder's mean vector) predicts it; a model has to learn it."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        plural, good = rng.random() < 0.5, rng.random() < 0.5
        verb = ("are" if plural else "is") if good else ("is" if plural else "are")
        place = rng.choice(["on the mat", "near the table", "happy", "sad", "big", "small"])
        rows.append({"sentence": f"the {'cats' if plural else 'cat'} {verb} {place} .", "label": "acceptable" if good else "unacceptable"})
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BERT fine-tuned on the agreement task until it solves it: (run directory, data directory)."""
    root = tmp_path_factory.mktemp("probe-trained")
    data = write_toy_splits(root / "toy", agreement_xor_rows)
    return train_tiny(root, data, epochs=30).run_dir, data


def test_trained_model_beats_the_majority_baseline_at_the_top_layer(trained):
    run, data = trained
    report = probe(run, str(data), EQN)
    curve, = report.curves
    assert [s.layer for s in curve.layers] == [0, 1, 2]        # embeddings + 2 layers
    assert report.train_examples == 160 and report.eval_examples == 40 and report.eval_split == "validation"
    assert curve.layers[-1].best > report.majority_accuracy + 0.2
    assert curve.best_layer.layer > 0


def test_compare_shows_what_fine_tuning_added(trained, tiny_bert):
    run, data = trained
    report = probe(run, str(data), EQN, compare=str(tiny_bert))
    tuned, bare = report.curves
    assert tuned.model == run and bare.model == str(tiny_bert)
    assert len(tuned.layers) == len(bare.layers)
    assert tuned.layers[-1].best >= 0.9
    assert bare.best_layer.best < 0.75                         # the random encoder's vectors do not hold the label


def test_limit_caps_the_sample_and_baseline_is_the_majority_share(tiny_bert, toy_data):
    report = probe(str(tiny_bert), str(toy_data), EQN, limit=50)
    assert report.train_examples == 50 and report.eval_examples == 40
    labels = [r["label"] for r in agreement_rows(40, 2)]
    assert report.majority_accuracy == pytest.approx(labels.count(report.majority_label) / 40)
    assert all(0 <= s.cls <= 1 and 0 <= s.mean <= 1 for s in report.curves[0].layers)


def test_mean_pooling_ignores_padding(tiny_bert):
    alone = layer_features(str(tiny_bert), ["the cat"])
    padded = layer_features(str(tiny_bert), ["the cat", "the big red dogs were near the table ."])
    for pooling in ("cls", "mean"):
        assert alone[pooling].shape == (3, 1, 32)
        np.testing.assert_allclose(alone[pooling][:, 0], padded[pooling][:, 0], atol=1e-5)


def test_regression_equation_is_refused(tiny_bert, tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"sentence": f"the cat {i}", "score": float(i)} for i in range(20)])
    with pytest.raises(TuneLabError, match="classify") as err:
        probe(str(tiny_bert), str(tmp_path / "train.jsonl"), "regress: score ~ sentence")
    assert "classify_tokens" in str(err.value) and "\n" not in str(err.value)


def test_limit_below_two_is_refused(tiny_bert, toy_data):
    with pytest.raises(TuneLabError, match="--limit"):
        probe(str(tiny_bert), str(toy_data), EQN, limit=1)


@pytest.mark.slow
def test_bundled_model_probe_on_the_demo_set():
    report = probe("minilm-l6", "demo", limit=200)
    curve, = report.curves
    assert len(curve.layers) == 7                              # embeddings + 6 layers of MiniLM-L6
    assert report.train_examples == 200 and report.eval_examples == 200
    assert curve.best_layer.best >= report.majority_accuracy


@pytest.mark.slow
def test_bundled_model_probe_on_the_demo_ner_set():
    report = probe("minilm-l6", "demo-ner", limit=100)
    curve, = report.curves
    assert report.poolings == ("word",) and len(curve.layers) == 7
    assert report.majority_label == "O"
    assert max(s.word for s in curve.layers[1:]) > report.majority_accuracy + 0.2     # the encoder knows names


def test_progress_counts_every_batch_and_layer_and_can_stop_the_work(tiny_bert, toy_data):
    heard = []
    probe(str(tiny_bert), str(toy_data), EQN, compare=str(tiny_bert), limit=100, batch_size=32,
          progress=lambda done, total: heard.append((done, total)))
    per_model = -(-(100 + 40) // 32) + 2 + 1            # feature batches of 140 texts, then layers 0..2
    assert heard == [(i, 2 * per_model) for i in range(1, 2 * per_model + 1)]

    class Stop(Exception):
        pass

    def stop_at_three(done, total):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        probe(str(tiny_bert), str(toy_data), EQN, limit=100, batch_size=32, progress=stop_at_three)


# ---------------------------------------------------------------- token tasks: each word's vector against its tag

NER = "classify_tokens: ner_tags ~ tokens"
ANIMALS, PLACES = ("cat", "cats", "dog", "dogs"), ("mat", "table", "cabinet")


def tagged_rows(n: int, seed: int) -> list[dict]:
    """Sentences of random words whose tag follows the word alone (an animal is B-ANI, a place B-LOC, the rest O),
    with a multi-piece word now and then ("zzq" has no entry in the tiny vocabulary)."""
    import random

    rng = random.Random(seed)
    vocab = list(ANIMALS) + list(PLACES) + ["the", "a", "is", "on", "near", "big", "red", "sat", "zzq"]
    rows = []
    for _ in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(3, 9))]
        tags = ["B-ANI" if w in ANIMALS else "B-LOC" if w in PLACES else "O" for w in words]
        rows.append({"tokens": words, "ner_tags": tags})
    return rows


@pytest.fixture
def token_data(tmp_path):
    return write_toy_splits(tmp_path / "ner", tagged_rows)


def test_token_task_probes_each_word_against_its_tag(tiny_bert, token_data):
    report = probe(str(tiny_bert), str(token_data), NER, limit=60)
    curve, = report.curves
    assert report.poolings == ("word",)
    assert [s.layer for s in curve.layers] == [0, 1, 2]                    # one score per layer
    assert all(s.word is not None and s.cls is None and s.mean is None for s in curve.layers)
    assert report.train_examples == 60 and report.eval_examples == 40
    rows = tagged_rows(40, 2)                                              # the validation split, every word
    assert report.eval_words == sum(len(r["tokens"]) for r in rows) and report.words_cut == 0
    assert report.majority_label == "O"
    tags = [t for r in rows for t in r["ner_tags"]]
    assert report.majority_accuracy == pytest.approx(tags.count("O") / len(tags))
    assert curve.layers[-1].word > report.majority_accuracy + 0.2          # the word decides the tag: the probe reads it
    assert curve.best_layer.best_pooling == "word"


def test_token_probe_reads_each_word_at_its_first_subword(tiny_bert):
    """A word's feature is the hidden state at its first sub-word, the same when its sentence is padded in a batch
    as when it runs alone."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    words = [["zzq", "cat"], ["the", "big", "red", "dogs", "were", "near", "the", "table"]]
    encoded = encode_words(tokenizer, words, max_length=32)
    x = word_features(str(tiny_bert), encoded)                             # both sentences in one padded batch
    assert x.shape == (3, 10, 32)                                          # embeddings + 2 layers, 10 words
    encoder = AutoModel.from_pretrained(tiny_bert).eval()
    with torch.inference_mode():
        states = torch.stack(encoder(input_ids=torch.tensor(encoded.input_ids[0][None].astype("int64")),
                                     output_hidden_states=True).hidden_states)
    wid = encoded.word_ids[0].tolist()
    assert wid.count(0) > 1                                                # "zzq" is several sub-words
    np.testing.assert_allclose(x[:, 0], states[:, 0, wid.index(0)].numpy(), atol=1e-5)
    np.testing.assert_allclose(x[:, 1], states[:, 0, wid.index(1)].numpy(), atol=1e-5)


def test_token_probe_with_compare_probes_the_same_words(tiny_bert, token_data, tmp_path):
    other = build_tiny_bert(tmp_path / "other", seed=1)
    report = probe(str(tiny_bert), str(token_data), NER, compare=str(other), limit=30)
    first, second = report.curves
    assert first.model == str(tiny_bert) and second.model == str(other)
    assert len(first.layers) == len(second.layers) == 3
    assert all(s.word is not None for curve in report.curves for s in curve.layers)


def test_words_beyond_max_length_are_left_out_and_counted(tiny_bert, tmp_path):
    rows = [{"tokens": ["the", "cat", "sat", "on", "the", "mat"] * 3, "ner_tags": ["O", "B-ANI", "O", "O", "O", "B-LOC"] * 3}
            for _ in range(8)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "validation.jsonl", rows[:4])
    report = probe(str(tiny_bert), str(tmp_path), NER, max_length=8)       # [CLS] + 6 words + [SEP]
    assert report.train_words == 8 * 6 and report.eval_words == 4 * 6 and report.words_cut == 12 * 12


def test_token_probe_progress_counts_batches_and_layers(tiny_bert, token_data):
    heard = []
    probe(str(tiny_bert), str(token_data), NER, limit=100, batch_size=32,
          progress=lambda done, total: heard.append((done, total)))
    per_model = -(-(100 + 40) // 32) + 2 + 1
    assert heard == [(i, per_model) for i in range(1, per_model + 1)]
