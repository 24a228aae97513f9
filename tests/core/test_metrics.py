import math

import numpy as np
import pytest

from tunelab.core.errors import TuneLabError
from tunelab.core.metrics import classification_scores, default_figure_of_merit, evaluate_metric, is_better, regression_scores


def test_mcc_matches_the_formula():
    refs = [1, 1, 1, 0, 0, 1, 0, 1, 1, 0]
    preds = [1, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    tp = sum(p == r == 1 for p, r in zip(preds, refs))
    tn = sum(p == r == 0 for p, r in zip(preds, refs))
    fp = sum(p == 1 and r == 0 for p, r in zip(preds, refs))
    fn = sum(p == 0 and r == 1 for p, r in zip(preds, refs))
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    s = classification_scores(preds, refs, 2)
    assert s["mcc"] == pytest.approx(expected)
    assert s["accuracy"] == pytest.approx(0.7)


def test_constant_guess_scores_zero_mcc_and_chance_macro_f1():
    s = classification_scores([1] * 10, [1] * 7 + [0] * 3, 2)
    assert s["mcc"] == 0.0 and s["accuracy"] == pytest.approx(0.7)
    assert s["macro_f1"] == pytest.approx((2 * 0.7 / 1.7) / 2)


def test_regression_correlations_and_constant_prediction():
    refs = np.arange(10, dtype=float)
    assert regression_scores(refs * 2 + 1, refs)["pearson"] == pytest.approx(1.0)
    assert regression_scores(refs ** 3, refs)["spearman"] == pytest.approx(1.0)
    assert regression_scores(np.ones(10), refs)["pearson"] == 0.0


def test_figure_of_merit_follows_glue():
    assert default_figure_of_merit("classify", 2, ["acceptable", "unacceptable"], "demo", False) == "mcc"
    assert default_figure_of_merit("classify", 2, ["0", "1"], "data/cola/in_domain_train.tsv", False) == "mcc"
    assert default_figure_of_merit("classify", 2, ["0", "1"], "H:glue,mrpc", True) == "f1"
    assert default_figure_of_merit("classify", 2, ["neg", "pos"], "sst2.csv", False) == "accuracy"
    assert default_figure_of_merit("regress", 0, [], "stsb", True) == "pearson"
    assert is_better("mse", 0.1, 0.2) and not is_better("accuracy", 0.1, 0.2)


def test_unknown_metric_offline_is_refused_at_once_in_one_line():
    import os
    import time

    from tunelab.core.metrics import check_metric_name

    assert os.environ["HF_EVALUATE_OFFLINE"] == "1"       # conftest: evaluate must not reach the network
    started = time.monotonic()
    for call in (lambda: check_metric_name("no_such_metric_xyz", "classify"),
                 lambda: evaluate_metric("no_such_metric_xyz", [0, 1], [0, 1])):
        with pytest.raises(TuneLabError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith("unknown metric 'no_such_metric_xyz'; TuneLab knows accuracy, f1, macro_f1, mcc, "
                                  "pearson, spearman")
        assert "evaluate.load, which needs the network or a cached copy" in message and "\n" not in message
    assert time.monotonic() - started < 30                 # no retries against the network
    check_metric_name("macro_f1", "classify")              # built-in names need neither network nor evaluate
    check_metric_name("spearman", "regress")


@pytest.mark.parametrize("num_labels", [2, 3])
def test_weighted_scores_equal_the_expanded_rows(num_labels):
    """classification_scores with sample_weight (how the majority baseline is scored from counts) equals the
    scores of the same pairs repeated row by row."""
    rng = np.random.default_rng(num_labels)
    pairs = rng.integers(0, num_labels, size=(12, 2))
    counts = rng.integers(1, 50, size=12)
    weighted = classification_scores(pairs[:, 0], pairs[:, 1], num_labels, sample_weight=counts)
    expanded = classification_scores(np.repeat(pairs[:, 0], counts), np.repeat(pairs[:, 1], counts), num_labels)
    assert weighted == pytest.approx(expanded)


from metric_scripts import plant_metric  # noqa: E402


def test_a_bare_metric_name_never_runs_a_script_in_the_working_directory(tmp_path, monkeypatch):
    """evaluate.load("precision") would run ./precision/precision.py if there is one: refused, in one line."""
    from tunelab.core.metrics import check_metric_name

    marker = plant_metric(tmp_path, "precision")
    monkeypatch.chdir(tmp_path)
    for call in (lambda: check_metric_name("precision", "classify"),
                 lambda: evaluate_metric("precision", [0, 1], [0, 1])):
        with pytest.raises(TuneLabError, match=r"names a hub metric, but the working directory holds "
                                               r"precision/precision.py.*--metric ./precision/precision.py"):
            call()
    assert not marker.exists()


def test_a_local_metric_script_runs_when_named_as_a_path_and_never_from_a_run_json(tmp_path, monkeypatch):
    from tunelab.core.metrics import check_metric_name

    marker = plant_metric(tmp_path, "mymetric")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TuneLabError, match="the run's saved metric './mymetric/mymetric.py' is a metric script"):
        check_metric_name("./mymetric/mymetric.py", "classify", named_by_user=False)
    assert not marker.exists()
    check_metric_name("./mymetric/mymetric.py", "classify")        # the user named it: it runs
    assert marker.exists()
    assert evaluate_metric("./mymetric/mymetric.py", [0, 1], [0, 1]) == 0.25


def test_fit_and_eval_help_say_a_local_metric_needs_a_path(capsys):
    from tunelab.cli import main

    for verb in ("fit", "eval"):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "a local metric script only as a path, e.g. ./mymetric/mymetric.py" in text


@pytest.mark.parametrize("num_labels", [2, 3, 5])
def test_classification_scores_equal_scikit_learns_without_importing_it(num_labels):
    """The numpy confusion-matrix scores are scikit-learn's (absent classes, constant guesses, weights included),
    and scoring does not import scikit-learn (70 MB of a fine-tuning run's memory)."""
    import subprocess
    import sys

    from sklearn.metrics import f1_score, matthews_corrcoef

    rng = np.random.default_rng(num_labels)
    cases = [(rng.integers(0, num_labels, 200), rng.integers(0, num_labels, 200), None),
             (np.zeros(50, int), rng.integers(0, num_labels, 50), None),                  # a constant guess
             (rng.integers(0, num_labels, 80), np.full(80, num_labels - 1), None),        # one gold class
             (rng.integers(0, max(1, num_labels - 1), 60), rng.integers(0, max(1, num_labels - 1), 60), None),
             (rng.integers(0, num_labels, 40), rng.integers(0, num_labels, 40), rng.integers(1, 9, 40))]
    for preds, refs, weight in cases:
        got = classification_scores(preds, refs, num_labels, sample_weight=weight)
        labels = list(range(num_labels))
        macro = f1_score(refs, preds, labels=labels, average="macro", zero_division=0, sample_weight=weight)
        f1 = f1_score(refs, preds, pos_label=1, average="binary", zero_division=0,
                      sample_weight=weight) if num_labels == 2 else macro
        assert got["macro_f1"] == pytest.approx(macro, abs=1e-12)
        assert got["f1"] == pytest.approx(f1, abs=1e-12)
        assert got["mcc"] == pytest.approx(matthews_corrcoef(refs, preds, sample_weight=weight), abs=1e-12)
        assert got["accuracy"] == pytest.approx(np.average(preds == refs, weights=weight), abs=1e-12)
    code = ("import sys; from tunelab.core.metrics import classification_scores as s; s([0, 1], [1, 1], 2); "
            "print('sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
