"""Layer-wise probing: a model fine-tuned on a task knows it at its top layer where a random encoder does not;
the sample, the baseline and the pooling behave."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import agreement_rows, train_tiny, write_jsonl, write_toy_splits
from tunelab.core.errors import TuneLabError
from tunelab.core.probe import layer_features, probe

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
    with pytest.raises(TuneLabError, match="classify"):
        probe(str(tiny_bert), str(tmp_path / "train.jsonl"), "regress: score ~ sentence")


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
