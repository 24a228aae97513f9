"""Odd label values and leaky splits that used to give silently wrong results: -1 beside 1 read as "unlabelled",
labels that differ only by invisible characters trained as separate classes, test inputs that are also train
inputs going unnoticed, and regression labels beyond float32 printed as inf and NaN."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from conftest import write_jsonl
from tunelab.core.data import load_task_data
from tunelab.core.errors import TuneLabError

EQN = "classify: label ~ sentence"
REGRESS = "regress: score ~ sentence"


def _rows(labels, n=20, key="label", text="text number"):
    return [{"sentence": f"{text} {i}", key: labels[i % len(labels)]} for i in range(n)]


def _refused(data, eqn=EQN) -> str:
    with pytest.raises(TuneLabError) as info:
        load_task_data(str(data), eqn)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- -1 is a label unless a whole split is -1

@pytest.mark.parametrize("labels", [[-1, 1], [-1.0, 1.0], [1, -1, -1]])
def test_minus_one_beside_one_is_two_classes(tmp_path, labels):
    task = load_task_data(str(write_jsonl(tmp_path / "pm.jsonl", _rows(labels))), EQN)
    assert task.label_names == ("-1", "1") and task.labeled == {"train": True, "validation": True}
    ids = task.class_ids("train", {"-1": 0, "1": 1}).tolist() + task.class_ids("validation", {"-1": 0, "1": 1}).tolist()
    assert sorted(ids) == sorted(0 if float(v) == -1 else 1 for v in (r["label"] for r in _rows(labels)))


def test_minus_one_beside_one_in_a_csv_file(tmp_path):
    path = tmp_path / "pm.csv"
    path.write_text("sentence,label\n" + "".join(f"text {i},{(-1, 1)[i % 2]}\n" for i in range(20)), encoding="utf-8")
    task = load_task_data(str(path), EQN)
    assert task.label_names == ("-1", "1")


def test_a_test_split_that_happens_to_be_all_minus_one_is_labelled_in_a_minus_one_one_task(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", _rows([-1, 1]))
    write_jsonl(tmp_path / "test.jsonl", _rows([-1], n=3))
    task = load_task_data(str(tmp_path), EQN)
    assert task.labeled["test"] is True and task.label_names == ("-1", "1")
    assert task.class_ids("test", {"-1": 0, "1": 1}).tolist() == [0, 0, 0]


def test_glue_style_hidden_test_labels_stay_unlabelled_and_eval_says_why(tmp_path, tiny_bert):
    from tunelab.core.evaluation import evaluate_model

    write_jsonl(tmp_path / "train.jsonl", _rows([0, 1]))
    write_jsonl(tmp_path / "test.jsonl", _rows([-1], n=4))
    task = load_task_data(str(tmp_path), EQN)
    assert task.labeled["test"] is False and task.label_names == ("0", "1")
    with pytest.raises(TuneLabError, match=r"every label in split 'test' is -1, which marks hidden labels"):
        evaluate_model(str(tiny_bert), str(tmp_path), EQN, split="test")


def test_fit_on_a_train_split_of_only_minus_one_says_that_minus_one_means_unlabelled(tmp_path, tiny_bert):
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    data = write_jsonl(tmp_path / "all.jsonl", _rows([-1]))
    with pytest.raises(TuneLabError, match=r"no labelled train split.*every label in split 'train' is -1"):
        fit(FitConfig(model=str(tiny_bert), data=str(data), eqn=EQN, out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


def test_regression_labels_of_minus_one_are_numbers(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", _rows([-1, 0.5, 2], key="score"))
    write_jsonl(tmp_path / "test.jsonl", _rows([-1], n=3, key="score"))
    task = load_task_data(str(tmp_path), REGRESS)
    assert task.labeled == {"train": True, "test": True, "validation": True}
    # STS-B's hidden test scores are -1.0 in every row, beside a train split without -1: unlabelled
    write_jsonl(tmp_path / "train.jsonl", _rows([0.0, 2.5, 5.0], key="score"))
    assert load_task_data(str(tmp_path), REGRESS).labeled["test"] is False


def test_summary_counts_both_classes_of_a_minus_one_one_task(tmp_path):
    from tunelab.core.summary import summarize_data

    s = summarize_data(str(write_jsonl(tmp_path / "pm.jsonl", _rows([-1, 1, 1], n=30))), EQN)
    assert {split: sum(b.values()) for split, b in s.label_balance.items()} == s.rows
    assert sum(b["-1"] for b in s.label_balance.values()) == 10
    assert sum(b["1"] for b in s.label_balance.values()) == 20


# ---------------------------------------------------------------- labels that look alike are refused

@pytest.mark.parametrize("odd, shown, how", [
    ("pos\u200b", "'pos\\u200b'", "invisible characters"),          # zero-width space
    ("\ufeffpos", "'\\ufeffpos'", "invisible characters"),          # a BOM
    ("pos\u200e", "'pos\\u200e'", "invisible characters"),          # left-to-right mark
    ("p\u200fos", "'p\\u200fos'", "invisible characters"),          # right-to-left mark
    ("p\u00ados", "'p\\xados'", "invisible characters"),            # soft hyphen (Cf)
    ("pos\u2060", "'pos\\u2060'", "invisible characters"),          # word joiner
    ("pos\x07", "'pos\\x07'", "invisible characters"),              # a control character
    ("pos\u00a0", "'pos\\xa0'", "spaces"),                          # a no-break space
])
def test_labels_that_differ_only_by_invisible_characters_are_refused_naming_both(tmp_path, odd, shown, how):
    message = _refused(write_jsonl(tmp_path / "odd.jsonl", _rows(["pos", "neg", odd], n=30)))
    assert "'pos'" in message and shown in message and f"differ only by {how}" in message


def test_labels_that_differ_only_in_unicode_normalisation_are_refused(tmp_path):
    message = _refused(write_jsonl(tmp_path / "nfd.jsonl", _rows(["caf\u00e9", "cafe\u0301", "the"], n=30)))
    assert "'caf\\xe9'" in message and "'cafe\\u0301'" in message and "Unicode normalisation" in message


def test_lookalike_labels_in_different_split_files_are_refused(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", _rows(["1", "0"]))
    write_jsonl(tmp_path / "test.jsonl", _rows(["1\u200b", "0"], n=4))
    assert "'1\\u200b'" in _refused(tmp_path)


def test_one_spelling_of_a_label_throughout_is_kept(tmp_path):
    task = load_task_data(str(write_jsonl(tmp_path / "ok.jsonl", _rows(["pos\u200b", "neg", "pos!"], n=30))), EQN)
    assert task.label_names == ("neg", "pos!", "pos\u200b")


def test_json_labels_written_as_1_0_and_as_quoted_1_are_one_class(tmp_path):
    task = load_task_data(str(write_jsonl(tmp_path / "mixed.jsonl", _rows([1.0, "1", 0, "0"]))), EQN)
    assert task.label_names == ("0", "1")
    assert sorted(task.class_ids("train", {"0": 0, "1": 1}).tolist() + task.class_ids("validation", {"0": 0, "1": 1}).tolist()) \
        == [0] * 10 + [1] * 10
    assert "fractional" in _refused(write_jsonl(tmp_path / "frac.jsonl", _rows([1.5, "2", 3])))


def test_json_regression_labels_written_as_ints_floats_and_quoted_numbers_load(tmp_path):
    task = load_task_data(str(write_jsonl(tmp_path / "mixed.jsonl", _rows([1.5, "2", 3], key="score", n=30))), REGRESS)
    assert sorted(task.labels("train") + task.labels("validation")) == [1.5] * 10 + [2] * 10 + [3] * 10


# ---------------------------------------------------------------- test inputs that are also train inputs

def _leaky(tmp_path):
    """train: texts 0..39; test: 30..59 (10 in train); validation: 5 train texts and one new one."""
    rows = _rows([0, 1], n=60)
    write_jsonl(tmp_path / "train.jsonl", rows[:40])
    write_jsonl(tmp_path / "test.jsonl", rows[30:60])
    write_jsonl(tmp_path / "validation.jsonl", rows[:5] + [{"sentence": "a fresh one", "label": 0}])
    return tmp_path


def test_summary_counts_test_and_validation_inputs_that_occur_in_train(tmp_path):
    from tunelab.core.summary import summarize_data

    s = summarize_data(str(_leaky(tmp_path)), EQN)
    assert s.in_train == {"test": 10, "validation": 5}
    lines = {o.split: o for o in s.overlaps()}
    assert (lines["test"].in_train, lines["test"].rows) == (10, 30)


def test_summary_counts_the_same_pair_only(tmp_path):
    from tunelab.core.summary import summarize_data

    train = [{"a": f"first {i}", "b": f"second {i}", "label": i % 2} for i in range(20)]
    test = [{"a": "first 1", "b": "second 1", "label": 1},          # the same pair: counted
            {"a": "second 2", "b": "first 2", "label": 0},          # swapped: another input
            {"a": "first 3", "b": "second 4", "label": 1}]          # each half from a different train pair
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "test.jsonl", test)
    write_jsonl(tmp_path / "validation.jsonl", train[:2])
    s = summarize_data(str(tmp_path), "classify: label ~ a + b")
    assert s.in_train == {"test": 1, "validation": 2}


def test_summary_of_data_held_out_of_one_file_counts_its_duplicated_rows(tmp_path):
    from tunelab.core.summary import summarize_data

    distinct = summarize_data(str(write_jsonl(tmp_path / "a.jsonl", _rows([0, 1], n=40))), EQN)
    assert distinct.in_train == {"validation": 0}
    doubled = summarize_data(str(write_jsonl(tmp_path / "b.jsonl", _rows([0, 1], n=40) * 2)), EQN)
    assert doubled.in_train["validation"] > 0


def test_the_input_index_streams_and_finds_only_what_it_holds():
    from tunelab.core.overlap import InputIndex

    index = InputIndex(5)
    index.add(["a", "b"])
    index.add(["c", ("a", "b")])
    assert index.count_in(["a", "x", "c", "c"]) == 3
    assert index.count_in([("a", "b"), ("b", "a"), "ab"]) == 1
    assert InputIndex(0).count_in(["a"]) == 0


def test_check_warns_of_held_out_inputs_in_train(tmp_path, tiny_bert):
    from tunelab.core.check import run_checks

    report = run_checks(str(tiny_bert), str(_leaky(tmp_path)), EQN, limit=8, overfit_steps=1, overfit_lr=1e-3)
    check = {c.name: c for c in report.checks}["train_overlap"]
    assert check.status == "warn"
    assert "test: 10 of 30 inputs (33.3%) also occur in train" in check.detail
    assert "validation: 5 of 6 inputs (83.3%) also occur in train" in check.detail


# ---------------------------------------------------------------- regression labels beyond float32

def _huge(tmp_path):
    return write_jsonl(tmp_path / "huge.jsonl", _rows([1e308, -1e308, 1.5, 2.5], key="score", n=40))


def test_summary_of_labels_beyond_float32_has_finite_stats_strict_json_and_a_note(tmp_path):
    from tunelab.core.summary import summarize_data

    s = summarize_data(str(_huge(tmp_path)), REGRESS)
    json.dumps(asdict(s), allow_nan=False)                              # strict JSON: no NaN, no Infinity
    train = s.label_balance["train"]
    assert train["min"] == -1e308 and train["max"] == 1e308
    assert all(abs(train[k]) < float("inf") for k in ("mean", "std")) and train["std"] > 1e307
    assert any("beyond float32's range" in note and "1e+308" in note for note in s.warnings)
    assert "train" not in s.majority_baseline                          # its mse is beyond float64: left out, not inf


def test_summary_stats_of_huge_labels_equal_the_exact_ones(tmp_path):
    """The scaled sums give what exact arithmetic gives (fractions): mean and spread of values near 1e308."""
    from fractions import Fraction

    import numpy as np

    from tunelab.core.summary import _Moments

    values = [1.5e308, -1e308, 3.0, 1.25e308, 7.0e307]
    m = _Moments()
    for chunk in (values[:1], values[1:3], values[3:]):
        m.add(np.asarray(chunk))
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    var = sum((v - mean) ** 2 for v in exact) / len(exact)
    assert m.average == pytest.approx(float(mean), rel=1e-12)
    scale = Fraction(2) ** 1023                        # var is near 1e616, beyond float64: take its root in units
    assert m.std == pytest.approx(float(var / scale**2) ** 0.5 * float(scale), rel=1e-12)
    assert m.mse_of(m.average) == float("inf")         # that mse is beyond float64: summary leaves the baseline out


def test_check_and_eval_refuse_labels_beyond_float32_in_one_line(tmp_path, tiny_bert):
    from tunelab.core.check import run_checks
    from tunelab.core.evaluation import evaluate_model

    data = str(_huge(tmp_path))
    for call in (lambda: run_checks(str(tiny_bert), data, REGRESS),
                 lambda: evaluate_model(str(tiny_bert), data, REGRESS, split="train")):
        with pytest.raises(TuneLabError, match=r"label -?1e\+308 in column 'score' .* beyond float32's range") as info:
            call()
        assert "\n" not in str(info.value)


def test_true_false_in_one_split_and_1_0_in_another_are_not_merged_silently(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", _rows([True, False]))
    write_jsonl(tmp_path / "test.jsonl", _rows([1, 0], n=4))
    task = load_task_data(str(tmp_path), EQN)
    assert task.label_names == ("0", "1", "False", "True")       # as the files spell them: fit then refuses test's
    assert task.class_ids("test", {n: i for i, n in enumerate(task.label_names)}).tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("header", ["label\u200b", "label ", "\u200elabel"])
def test_a_column_named_like_the_equation_s_but_for_invisible_characters_is_named(tmp_path, header):
    (tmp_path / "train.csv").write_text(f"sentence,label\n" + "".join(f"t {i},{i % 2}\n" for i in range(20)), encoding="utf-8")
    (tmp_path / "test.csv").write_text(f"sentence,{header}\n" + "".join(f"u {i},{i % 2}\n" for i in range(4)), encoding="utf-8")
    message = _refused(tmp_path)                  # not a test split quietly read as unlabelled
    assert f"its column {ascii(header)} differs from it only by spaces or invisible characters" in message


def test_labels_whose_squared_error_passes_float32_are_noted_and_check_refuses_them(tmp_path, tiny_bert):
    from tunelab.core.check import run_checks
    from tunelab.core.summary import summarize_data

    data = str(write_jsonl(tmp_path / "big.jsonl", _rows([1e20, 2.0, -3.0], key="score", n=30)))
    s = summarize_data(data, REGRESS)
    assert any("squared errors pass float32's range" in note for note in s.warnings)
    with pytest.raises(TuneLabError, match=r"label 1e\+20 .* too large to train on: its squared error"):
        run_checks(str(tiny_bert), data, REGRESS)
    assert not any("float32" in note for note in summarize_data(
        str(write_jsonl(tmp_path / "fine.jsonl", _rows([1e9, 2.0, -3.0], key="score", n=30))), REGRESS).warnings)


def test_eval_of_a_model_with_nan_weights_is_refused_rather_than_scored(tmp_path):
    import torch
    from transformers import BertForSequenceClassification

    from conftest import build_tiny_bert
    from tunelab.core.evaluation import evaluate_model

    path = build_tiny_bert(tmp_path / "nan", num_labels=2)
    model = BertForSequenceClassification.from_pretrained(path)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    model.save_pretrained(path)
    data = write_jsonl(tmp_path / "d.jsonl", _rows(["LABEL_0", "LABEL_1"]))
    with pytest.raises(TuneLabError, match=r"outputs NaN or infinite values for 20 of 20 examples"):
        evaluate_model(str(path), str(data), EQN)


def test_a_label_column_empty_in_train_is_named_as_the_reason_fit_refuses(tmp_path, tiny_bert):
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit
    from tunelab.core.summary import summarize_data

    data = write_jsonl(tmp_path / "empty.jsonl", _rows([None]))
    with pytest.raises(TuneLabError, match=r"no labelled train split.*every label in split 'train' is empty"):
        fit(FitConfig(model=str(tiny_bert), data=str(data), eqn=EQN, out=str(tmp_path / "run")))
    assert "read as unlabelled (every label in split 'train' is empty)" in summarize_data(str(data), EQN).notes


def test_check_json_of_a_model_with_nan_weights_is_strict(tmp_path):
    import torch
    from transformers import BertForSequenceClassification

    from conftest import build_tiny_bert
    from tunelab.core.check import run_checks

    path = build_tiny_bert(tmp_path / "nan", num_labels=2)
    model = BertForSequenceClassification.from_pretrained(path)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    model.save_pretrained(path)
    data = write_jsonl(tmp_path / "d.jsonl", _rows(["LABEL_0", "LABEL_1"]))
    report = run_checks(str(path), str(data), EQN, limit=8, overfit_steps=2)
    assert report.failed and {c.name: c.status for c in report.checks}["probabilities"] == "fail"
    json.dumps(report.to_dict(), allow_nan=False)            # NaN losses become null


def test_a_test_input_that_differs_from_a_train_input_only_by_spaces_or_invisible_characters_is_counted():
    from tunelab.core.overlap import InputIndex

    index = InputIndex(2)
    index.add(["the cat sat .", ("caf\u00e9 is open", "yes")])
    assert index.count_in(["the cat sat . ", "the  cat\u200b sat .", "\ufeffthe cat sat .", "the cat sat",
                           ("cafe\u0301 is open", " yes"), ("yes", "caf\u00e9 is open")]) == 4
