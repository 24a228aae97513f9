"""Per-head statistics (core.head_stats) and what fine-tuning changed (core.attention_diff), on hand-made
attention where the answer is known and on tiny random BERTs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from conftest import build_tiny_bert, write_jsonl
from tunelab.core.attention import ExampleAttention, load_attention_model
from tunelab.core.attention_diff import attention_diff
from tunelab.core.errors import TuneLabError
from tunelab.core.head_stats import STATISTICS, HeadStatsAccumulator, head_stats, sample_texts

CLS, SEP = 2, 3
SENTENCES = ["the cat sat on the mat .", "the dogs are happy", "a boy ran near the table .", "this is good"]


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return load_attention_model(str(tiny_bert))


def known_example(t: int = 5) -> ExampleAttention:
    """Head 0 attends to the previous token ([CLS] to itself); head 1 spreads evenly over all tokens."""
    prev = np.zeros((t, t), dtype=np.float32)
    prev[0, 0] = 1
    prev[np.arange(1, t), np.arange(t - 1)] = 1
    uniform = np.full((t, t), 1 / t, dtype=np.float32)
    ids = np.array([CLS] + [10] * (t - 2) + [SEP])
    return ExampleAttention(ids, np.stack([prev, uniform])[None])


def test_statistics_of_known_heads():
    acc = HeadStatsAccumulator(CLS, SEP)
    acc.add(known_example())
    stats = acc.result()
    v = {s: stats.values[s][0] for s in STATISTICS}  # [heads] for layer 0
    assert stats.shape == (1, 2) and stats.n_sentences == 1 and stats.n_tokens == 5
    np.testing.assert_allclose(v["prev"], [1.0, 0.2], atol=1e-6)  # every token after [CLS] looks back
    np.testing.assert_allclose(v["next"], [0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(v["self"], [0.2, 0.2], atol=1e-6)  # only [CLS] attends to itself
    np.testing.assert_allclose(v["cls"], [0.4, 0.2], atol=1e-6)  # [CLS] itself and the first word
    np.testing.assert_allclose(v["sep"], [0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(v["entropy"], [0.0, math.log(5)], atol=1e-5)
    prev_heads = [(s.layer, s.head) for s in stats.standouts() if s.statistic == "prev"]
    assert prev_heads == [(0, 0)]
    assert "previous token" in next(s for s in stats.standouts() if s.statistic == "prev").describe()


def test_averages_weigh_every_token_equally():
    acc = HeadStatsAccumulator(CLS, SEP)
    acc.add(known_example(5))
    acc.add(known_example(10))
    assert acc.result().values["self"][0, 0] == pytest.approx(2 / 15)  # 2 of the 15 tokens are [CLS]


def test_head_stats_on_a_tiny_bert_and_csv(tiny, tmp_path):
    stats = head_stats(*tiny, SENTENCES)
    assert stats.shape == (2, 2) and stats.n_sentences == len(SENTENCES)
    for stat in STATISTICS[1:]:
        assert ((stats.values[stat] >= 0) & (stats.values[stat] <= 1)).all()
    assert (stats.values["entropy"] > 0).all() and (stats.values["entropy"] < math.log(12)).all()
    rows = stats.to_rows()
    assert [(r["layer"], r["head"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    path = stats.write_csv(tmp_path / "out" / "heads.csv")
    with open(path, newline="") as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == ["layer", "head", *STATISTICS] and len(read) == 4
    assert float(read[3]["prev"]) == pytest.approx(rows[3]["prev"], rel=1e-5)


def test_sample_texts_reads_a_split_and_pairs(tmp_path, toy_data):
    texts, split = sample_texts(str(toy_data), "classify: label ~ sentence", limit=10)
    assert split == "validation" and len(texts) == 10 and all(isinstance(t, str) for t in texts)
    assert sample_texts(str(toy_data), "classify: label ~ sentence", limit=10) == (texts, split)  # seeded
    rows = [{"a": "the cat", "b": "is happy", "label": i % 2} for i in range(12)]
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    pairs, split = sample_texts(str(tmp_path / "pairs.jsonl"), "classify: label ~ a + b", split="train", limit=100)
    assert split == "train" and pairs[0] == ("the cat", "is happy")
    with pytest.raises(TuneLabError, match="split 'nope'"):
        sample_texts(str(toy_data), "classify: label ~ sentence", split="nope")
    with pytest.raises(TuneLabError, match="--limit"):
        sample_texts(str(toy_data), "classify: label ~ sentence", limit=0)


def test_pairs_count_both_separators(tiny):
    stats = head_stats(*tiny, [("the cat", "is happy")] * 2)
    single = head_stats(*tiny, ["the cat is happy"] * 2)
    assert stats.shape == single.shape and stats.n_tokens == 2 * 7 and single.n_tokens == 2 * 6


# ---------------------------------------------------------------- attention_diff

def test_a_model_against_itself_changed_nothing(tiny):
    diff = attention_diff(tiny, tiny, SENTENCES)
    assert diff.mean_abs_change.shape == (2, 2) and np.abs(diff.mean_abs_change).max() < 1e-6
    assert all(abs(r[f"delta_{s}"]) < 1e-5 for r in diff.to_rows() for s in STATISTICS)


def test_a_changed_model_shows_its_most_changed_heads(tiny, tmp_path):
    other = load_attention_model(str(build_tiny_bert(tmp_path / "other", seed=1)))
    diff = attention_diff(tiny, other, SENTENCES)
    changes = diff.most_changed(10)
    assert len(changes) == 4  # a tiny model has only 4 heads
    moved = [c.mean_abs_change for c in changes]
    assert moved == sorted(moved, reverse=True) and 0 < moved[-1] <= 1
    top = changes[0]
    np.testing.assert_allclose(diff.tuned.values[top.statistic][top.layer, top.head] - top.base_value,
                               diff.change(top.statistic)[top.layer, top.head], atol=1e-6)
    assert "moved" in top.describe()
    path = diff.write_csv(tmp_path / "diff.csv")
    assert path.read_text().splitlines()[0] == "layer,head,mean_abs_change," + ",".join(f"delta_{s}" for s in STATISTICS)


def test_different_tokenizers_cannot_be_compared(tiny, tmp_path):
    from transformers import AutoTokenizer

    model, _ = tiny
    other_tokenizer = AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path / "t"))
    other_tokenizer.add_tokens(["zebra"])
    with pytest.raises(TuneLabError, match="different tokenizers"):
        attention_diff(tiny, (model, other_tokenizer), SENTENCES)


def test_models_of_different_shapes_cannot_be_compared(tiny, tmp_path):
    deeper = load_attention_model(str(build_tiny_bert(tmp_path / "deep", layers=3)))
    with pytest.raises(TuneLabError, match="differ in shape"):
        attention_diff(tiny, deeper, SENTENCES)
