"""`summarize_data` walks the data in chunks (token lengths, label ids in Arrow, a tokenizer loaded without
torch): its figures must equal the plain recipe's, computed row by row with AutoTokenizer over whole lists, on a
file several chunks long whose validation split is held out of train (so rows come through an indices mapping)."""

from __future__ import annotations

import csv
import random
import subprocess
import sys

import numpy as np
import pytest

from tunelab.core import summary as summary_module
from tunelab.core.data import load_task_data
from tunelab.core.summary import summarize_data

EQN = "classify: label ~ sentence"
WORDS = "the a cat dog sat ran on under mat table quickly slowly big small red über naïve 東京 😀".split()


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "data.csv"
    rng = random.Random(7)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sentence", "label"])
        for i in range(5_321):                                     # 2.7 chunks of 2,000, a ragged last one
            label = rng.choices(["pos", "neg", "neutral"], weights=[5, 3, 1])[0]
            out.writerow([" ".join(rng.choices(WORDS, k=rng.randint(1, 40 if i % 97 else 400))), label])
    return path


def test_streamed_summary_equals_the_row_by_row_recipe(big_csv, monkeypatch):
    from transformers import AutoTokenizer

    from tunelab.core.metrics import classification_scores
    from tunelab.core.models import resolve_model

    phases = []
    s = summarize_data(str(big_csv), EQN, max_length=64, on_phase=phases.append)

    task = load_task_data(str(big_csv), EQN)          # the same seeded held-out validation split
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(None).path)
    ids = {name: i for i, name in enumerate(task.label_names)}
    train_gold = np.array([ids[v] for v in task.labels("train")])
    for split in ("train", "validation"):
        texts = task.texts(split)
        n = np.array([len(x) for x in tokenizer(texts)["input_ids"]])
        assert s.rows[split] == len(texts)
        assert s.token_lengths[split] == {f"p{q}": int(np.percentile(n, q)) for q in (50, 90, 95, 99)} | {"max": int(n.max())}
        assert s.truncated_share[split] == pytest.approx(float((n > 64).mean()))
        assert sum(s.length_histogram[split]["counts"]) == len(texts)
        gold = np.array([ids[v] for v in task.labels(split)])
        assert s.label_balance[split] == {name: int((gold == i).sum()) for name, i in ids.items()}
        constant = np.full_like(gold, np.bincount(train_gold).argmax())      # the guess, row by row
        expected = classification_scores(constant, gold, len(ids))[s.figure_of_merit]
        assert s.majority_baseline[split] == pytest.approx(expected)
    assert s.majority_label == "pos"
    assert "tokenizing train: 2,000 of 4,788 rows" in phases and phases[-1] == "tokenizing validation: 533 of 533 rows"


def test_arrow_class_ids_equal_the_row_by_row_mapping(big_csv):
    from tunelab.core.data import label_ids

    task = load_task_data(str(big_csv), EQN)
    label2id = {"neutral": 0, "pos": 1, "neg": 2}                  # a model's own order, not the sorted names
    for split in ("train", "validation"):
        expected = label_ids(task.labels(split), label2id, split, "label")
        assert task.class_ids(split, label2id, chunk=1_000).tolist() == expected


def test_counted_percentiles_and_histogram_equal_numpy_on_the_values():
    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 10, 999):
        values = rng.integers(0, 60, size) ** rng.integers(1, 3)
        counts = np.bincount(values)
        for q in (0, 1, 50, 90, 95, 99, 100):
            assert summary_module.percentile_of_counts(counts, q) == pytest.approx(np.percentile(values, q), abs=1e-9)
        for bins in (1, 7, 20):
            hist, edges = summary_module.histogram_of_counts(counts, bins)
            want_hist, want_edges = np.histogram(values, bins=bins)
            assert hist.tolist() == want_hist.tolist() and edges.tolist() == want_edges.tolist()


def test_a_data_summary_loads_neither_torch_nor_model_configs(big_csv):
    code = ("import sys; from tunelab.core.summary import summarize_data; "
            f"summarize_data({str(big_csv)!r}, {EQN!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_a_numeric_label_is_summarised_chunk_by_chunk_as_numpy_would_whole(tmp_path):
    """regress: mean, std, min and max of each split, and the MSE of always guessing train's mean, merged over
    chunks; values far from zero with a small spread, where a sum-of-squares shortcut would lose the variance."""
    rng = random.Random(3)
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sentence", "score"])
        for _ in range(4_500):
            out.writerow([" ".join(rng.choices(WORDS, k=5)), f"{1e6 + rng.gauss(0, 0.5):.6f}"])
    s = summarize_data(str(path), "regress: score ~ sentence")
    task = load_task_data(str(path), "regress: score ~ sentence")
    train_mean = np.asarray(task.labels("train"), dtype=float).mean()
    for split in ("train", "validation"):
        y = np.asarray(task.labels(split), dtype=float)
        assert s.label_balance[split] == pytest.approx({"mean": y.mean(), "std": y.std(), "min": y.min(), "max": y.max()},
                                                       rel=1e-9, abs=1e-9)
        assert s.majority_baseline[split] == pytest.approx(float(np.mean((train_mean - y) ** 2)), rel=1e-6)
    assert s.figure_of_merit == "mse" and 0.2 < s.label_balance["train"]["std"] < 0.8
