"""Hub datasets such as GLUE's store a classification label as a ClassLabel: ids 0..k-1 in the column, the names
in the features, and -1 in the hidden test split. A Parquet file written by `datasets` keeps that shape, so these
tests read it offline. Every verb used to refuse it ("label '0' ... is not one of the model's labels")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import agreement_rows, build_tiny_bert
from tunelab.core.data import load_task_data

EQN = "classify: label ~ sentence"
NAMES = ["unacceptable", "acceptable"]          # GLUE CoLA's order: id 0 is "unacceptable"


def _write_glue_like(directory: Path) -> Path:
    from datasets import ClassLabel, Dataset, Features, Value

    directory.mkdir(parents=True, exist_ok=True)
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=NAMES), "idx": Value("int32")})
    for split, n, seed in (("train", 160, 1), ("validation", 40, 2), ("test", 40, 3)):
        rows = agreement_rows(n, seed)
        labels = [-1] * n if split == "test" else [NAMES.index(r["label"]) for r in rows]
        Dataset.from_dict({"sentence": [r["sentence"] for r in rows], "label": labels, "idx": list(range(n))},
                          features=features).to_parquet(str(directory / f"{split}.parquet"))
    return directory


@pytest.fixture(scope="module")
def glue_like(tmp_path_factory) -> Path:
    return _write_glue_like(tmp_path_factory.mktemp("glue-like"))


def test_class_names_come_from_the_features_and_ids_keep_their_meaning(glue_like):
    task = load_task_data(str(glue_like), EQN)
    assert task.label_names == tuple(NAMES)
    assert task.labeled == {"train": True, "validation": True, "test": False}
    expected = [r["label"] for r in agreement_rows(40, 2)]
    assert task.labels("validation") == expected
    assert task.class_ids("validation", {"acceptable": 0, "unacceptable": 1}).tolist() == [
        0 if name == "acceptable" else 1 for name in expected]


def test_summary_counts_classes_by_name(glue_like):
    from tunelab.core.summary import summarize_data

    s = summarize_data(str(glue_like), EQN)
    for split, n, seed in (("train", 160, 1), ("validation", 40, 2)):
        names = [r["label"] for r in agreement_rows(n, seed)]
        assert s.label_balance[split] == {name: names.count(name) for name in NAMES}
    assert "test" not in s.label_balance and s.rows["test"] == 40


def test_fit_then_eval_on_a_class_label_dataset(glue_like, tmp_path):
    from tunelab.core.config import FitConfig
    from tunelab.core.evaluation import evaluate_model
    from tunelab.core.fit import fit

    base = build_tiny_bert(tmp_path / "base")
    fit(FitConfig(model=str(base), data=str(glue_like), eqn=EQN, out=str(tmp_path / "run"), epochs=1, lr=1e-3,
                  batch_size=16, warmup=0))
    report = evaluate_model(str(tmp_path / "run"), split="validation")
    assert report.labels == NAMES
    gold = [r["label"] for r in agreement_rows(40, 2)]
    assert [sum(row) for row in report.confusion] == [gold.count(name) for name in NAMES]


def test_a_hidden_label_inside_a_labelled_split_is_named(tmp_path):
    from tunelab.core.errors import TuneLabError

    directory = _write_glue_like(tmp_path / "d")
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=str(directory / "validation.parquet"), split="train")
    ds = ds.map(lambda row, i: {"label": -1 if i == 3 else row["label"]}, with_indices=True)
    ds.to_parquet(str(directory / "validation.parquet"))
    task = load_task_data(str(directory), EQN)
    with pytest.raises(TuneLabError, match="label '-1' .* not one of"):
        task.class_ids("validation", {name: i for i, name in enumerate(NAMES)})
    assert np.bincount(task.class_ids("train", {name: i for i, name in enumerate(NAMES)})).sum() == 160
