"""Attributions (core/explain.py) and the deletion check (core/faithfulness.py) on tiny models: IG's completeness, a
planted shortcut found first and by the deletion check, words summed over their sub-words, every task type."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from conftest import build_tiny_bert, train_tiny, write_jsonl
from tunelab.core.errors import TuneLabError
from tunelab.core.explain import METHODS, Explainer, rollout, spearman
from tunelab.core.predictor import Predictor

FILLER = "the a cat dog sat ran on mat table near boy girl big small".split()


def shortcut_rows(n: int, seed: int) -> list[dict]:
    """Sentences of filler words; the label is whether the word 'keys' is among them (nothing else decides it)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.choices(FILLER, k=rng.randint(4, 8))
        yes = rng.random() < 0.5
        if yes:
            words.insert(rng.randint(0, len(words)), "keys")
        rows.append({"sentence": " ".join(words), "label": "yes" if yes else "no"})
    return rows


@pytest.fixture(scope="module")
def shortcut_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("shortcut")
    data = root / "data"
    data.mkdir()
    for split, n, seed in (("train", 240, 1), ("validation", 40, 2), ("test", 40, 3)):
        write_jsonl(data / f"{split}.jsonl", shortcut_rows(n, seed))
    train_tiny(root, data, epochs=6, lr=2e-3)
    return root / "run", data


@pytest.fixture(scope="module")
def shortcut(shortcut_run):
    return Explainer(Predictor(str(shortcut_run[0]), backend="torch"))


def test_ig_completeness_within_the_reported_delta(shortcut):
    e = shortcut.explain("the cat sat near the keys on the mat", method="ig", steps=32)
    change = e.output - e.baseline_output
    assert abs(change) > 1e-3                      # the prediction moved from the all-[PAD] baseline
    assert sum(e.scores) == pytest.approx(change, abs=abs(e.delta) + 1e-6)
    assert abs(sum(e.scores) - change - e.delta) < 1e-4      # the delta is exactly what is missing
    assert e.warning is None and e.steps == 32 and e.signed and not e.attention_based


def test_a_large_delta_is_a_warning_the_user_sees(shortcut, monkeypatch):
    import tunelab.core.explain as explain

    monkeypatch.setattr(explain, "DELTA_WARNING", 0.0)
    e = shortcut.explain("the cat sat near the keys", method="ig", steps=1)
    assert e.warning and "raise --steps" in e.warning


def test_the_planted_shortcut_ranks_first_for_every_gradient_method(shortcut):
    for method in ("ig", "grad-input", "grad-norm"):
        e = shortcut.explain("the big dog ran near keys on the small mat", method=method)
        assert e.target == "yes"
        assert e.words[int(np.argmax(e.scores))] == "keys", (method, e.words, e.scores)


def test_the_deletion_check_finds_the_shortcut(shortcut_run, shortcut):
    from tunelab.core.faithfulness import faithfulness

    sentences = [r["sentence"] for r in shortcut_rows(30, 9) if r["label"] == "yes"]
    report = faithfulness(shortcut, sentences, k=3, steps=16)
    assert report.curves["ig"][0] > 0.2                # deleting IG's top word (keys) flips the prediction
    assert report.curves["ig"][0] > 3 * report.curves["random"][0]
    assert report.aopc["ig"] > 2 * report.aopc["random"]
    assert not report.flagged and "IG's top 3 words" in report.detail


def test_a_model_that_ignores_its_words_is_flagged(tmp_path):
    from tunelab.core.faithfulness import faithfulness

    model = build_tiny_bert(tmp_path / "random", num_labels=2)
    ex = Explainer(Predictor(str(model), backend="torch"))
    import torch

    with torch.no_grad():                      # a head that reads nothing: every input gets the same probability
        ex.model.classifier.weight.zero_()
    report = faithfulness(ex, ["the cat sat on the mat", "a dog ran near the table"], k=3, steps=4)
    assert report.flagged and "no more than" in report.detail


def test_words_sum_their_subwords(shortcut):
    # "tablex" is not in the tiny vocabulary: word pieces table ##x
    e = shortcut.explain("the keys near the tablex", method="grad-input")
    assert e.words == ["the", "keys", "near", "the", "tablex"]
    assert e.tokens[5:7] == ["table", "##x"]
    batch, words, tokens, _ = shortcut.encode("the keys near the tablex")
    per_token = shortcut._gradient(batch, shortcut.target(batch, words), times_input=True)
    assert e.scores[4] == pytest.approx(float(per_token[5] + per_token[6]), abs=1e-6)
    assert words[4].positions == (5, 6)


def test_targets_and_refusals(shortcut):
    e = shortcut.explain("the keys near the mat", method="grad-input", target="no")
    assert e.target == "no"
    assert e.scores[1] < 0                  # keys pushes against "no"
    with pytest.raises(TuneLabError, match="not one of this model's classes"):
        shortcut.explain("the keys", target="maybe")
    with pytest.raises(TuneLabError, match="--method"):
        shortcut.explain("the keys", method="lime")
    with pytest.raises(TuneLabError, match="--steps"):
        shortcut.explain("the keys", steps=0)
    with pytest.raises(TuneLabError, match="--word"):
        shortcut.explain("the keys", word=1)


def test_rollout_is_attention_based_and_rows_are_distributions(shortcut):
    e = shortcut.explain("the keys near the mat", method="rollout")
    assert e.attention_based and not e.signed and all(s >= 0 for s in e.scores)
    att = np.random.default_rng(0).random((2, 2, 4, 4))
    att /= att.sum(-1, keepdims=True)
    assert np.allclose(rollout(att).sum(-1), 1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_a_regression_output(tmp_path):
    from conftest import VAD_OUTPUTS, write_vad_csv
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    data = write_vad_csv(tmp_path / "vad")
    base = build_tiny_bert(tmp_path / "base")
    fit(FitConfig(model=str(base), data=str(data), eqn="regress: valence + arousal + dominance ~ word",
                  out=str(tmp_path / "run"), epochs=1, lr=1e-3, batch_size=16, warmup=0))
    ex = Explainer(Predictor(str(tmp_path / "run"), backend="torch"))
    e = ex.explain("the cat is good", method="ig", target="arousal")
    assert e.target == "arousal" and len(e.scores) == 4
    assert sum(e.scores) == pytest.approx(e.output - e.baseline_output, abs=abs(e.delta) + 1e-6)
    assert ex.explain("the cat is good", method="grad-norm").target == VAD_OUTPUTS[0]
    with pytest.raises(TuneLabError, match="outputs"):
        ex.explain("the cat is good", target="joy")


def test_a_token_tag_at_a_chosen_word(tmp_path):
    from conftest import NER_EQN, write_toy_ner_splits
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    data = write_toy_ner_splits(tmp_path / "ner")
    base = build_tiny_bert(tmp_path / "base")
    fit(FitConfig(model=str(base), data=str(data), eqn=NER_EQN, out=str(tmp_path / "run"), epochs=1, lr=1e-3,
                  batch_size=16, warmup=0))
    pred = Predictor(str(tmp_path / "run"), backend="torch")
    ex = Explainer(pred)
    e = ex.explain("the boy sat near the table", method="ig", word=2)
    tag = pred.predict("the boy sat near the table").tags[1]
    assert e.target == f"{tag} at word 2 ('boy')"
    assert sum(e.scores) == pytest.approx(e.output - e.baseline_output, abs=abs(e.delta) + 1e-6)
    assert ex.explain("the boy sat", method="rollout", word=1, target="O").target == "O at word 1 ('the')"
    with pytest.raises(TuneLabError, match="--word 9"):
        ex.explain("the boy sat", word=9)
    with pytest.raises(TuneLabError, match="tags"):
        ex.explain("the boy sat", word=1, target="B-XYZ")


def test_a_qa_answer_start_and_end(tiny_qa_run):
    ex = Explainer(Predictor(str(tiny_qa_run), backend="torch"))
    q, c = "where the cat sat ?", "this is good . the cat sat near the red cabinet ."
    e = ex.explain(q, c, method="ig")
    assert e.target.startswith("answer ") and "start + end" in e.target
    assert e.segments[:5] == [0] * 5 and set(e.segments[5:]) == {1}
    assert e.words[:4] == ["where", "the", "cat", "sat"]
    assert sum(e.scores) == pytest.approx(e.output - e.baseline_output, abs=abs(e.delta) + 1e-5)
    assert ex.explain(q, c, method="grad-input", target="no-answer").target.startswith("no answer")
    with pytest.raises(TuneLabError, match="no-answer"):
        ex.explain(q, c, target="yes")
    from tunelab.core.faithfulness import faithfulness

    with pytest.raises(TuneLabError, match="one predicted class per sentence"):
        faithfulness(ex, [(q, c)])


def test_every_method_runs_on_a_pair_model(tmp_path):
    rows = [{"a": f"the {w} sat", "b": "near the mat", "label": w} for w in ("cat", "dog")] * 20
    data = tmp_path / "pairs"
    data.mkdir()
    for split in ("train", "validation", "test"):
        write_jsonl(data / f"{split}.jsonl", rows)
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    base = build_tiny_bert(tmp_path / "base")
    fit(FitConfig(model=str(base), data=str(data), eqn="classify: label ~ a + b", out=str(tmp_path / "run"),
                  epochs=1, lr=1e-3, batch_size=16, warmup=0))
    ex = Explainer(Predictor(str(tmp_path / "run"), backend="torch"))
    for method in METHODS:
        e = ex.explain("the cat sat", "near the mat", method=method)
        assert e.words == ["the", "cat", "sat", "near", "the", "mat"] and e.segments == [0, 0, 0, 1, 1, 1]
