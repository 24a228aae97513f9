"""The sanity check: a trained model passes the data checks, a bare encoder's random head is flagged, broken
models fail the right check, and user mistakes are errors."""

from __future__ import annotations

import shutil

import pytest

from conftest import agreement_rows, build_tiny_bert, train_tiny, write_jsonl, write_toy_splits
from tunelab.core.check import run_checks
from tunelab.core.errors import TuneLabError

EQN = "classify: label ~ sentence"
ALWAYS = ("loads", "tokenizer_round_trip", "label_mapping", "probabilities", "predictions_vary", "attention_rows")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BERT fine-tuned on the toy task until it solves it: (run directory, data directory)."""
    root = tmp_path_factory.mktemp("check-trained")
    data = write_toy_splits(root / "toy")
    return train_tiny(root, data, epochs=5).run_dir, data


def by_name(report) -> dict:
    return {c.name: c for c in report.checks}


def test_bare_encoder_is_reported_as_having_a_random_head(tiny_bert):
    report = run_checks(str(tiny_bert))
    checks = by_name(report)
    assert tuple(checks) == ALWAYS
    assert checks["label_mapping"].status == "warn"
    assert "randomly initialised: fine-tune first" in checks["label_mapping"].detail
    for name in ("loads", "probabilities", "attention_rows"):
        assert checks[name].status == "pass", checks[name]
    assert report.status == "warn" and not report.failed


def test_trained_model_passes_the_data_checks(trained):
    run, data = trained
    report = run_checks(run, str(data), EQN)
    checks = by_name(report)
    assert tuple(checks) == ALWAYS + ("beats_baseline", "overfits_batch")
    for name in ("loads", "label_mapping", "probabilities", "predictions_vary", "attention_rows", "beats_baseline", "overfits_batch"):
        assert checks[name].status == "pass", checks[name]
    figures = report.figures
    assert figures["figure_of_merit"] == "mcc" and figures["examples"] == 40
    assert figures["scores"]["accuracy"] > figures["baseline_scores"]["accuracy"]
    assert figures["overfit_losses"][-1] <= figures["overfit_losses"][0]
    assert not report.failed


def test_tiny_vocabulary_loses_characters_a_warning_not_a_failure(tiny_bert):
    check = by_name(run_checks(str(tiny_bert)))["tokenizer_round_trip"]
    assert check.status == "warn" and "decodes as" in check.detail


def test_labels_that_do_not_match_the_data_fail(trained, tmp_path):
    run, _ = trained
    rows = [{"sentence": r["sentence"], "label": "yes" if r["label"] == "acceptable" else "no"} for r in agreement_rows(40)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    report = run_checks(run, str(tmp_path / "train.jsonl"), EQN)
    checks = by_name(report)
    assert checks["label_mapping"].status == "fail" and "not the data's" in checks["label_mapping"].detail
    assert checks["beats_baseline"].status == "fail"
    assert report.failed


def test_a_tokenizer_bigger_than_the_embeddings_fails_to_load(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    model = shutil.copytree(tiny_bert, tmp_path / "mismatch")
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.add_tokens([f"word{i}" for i in range(10)])
    tokenizer.save_pretrained(model)
    report = run_checks(str(model))
    check, = report.checks
    assert check.name == "loads" and check.status == "fail" and "not this model's" in check.detail
    assert report.failed


def test_random_classifier_that_ignores_its_input_fails(tmp_path):
    model = build_tiny_bert(tmp_path / "clf", num_labels=2)      # a saved head that was never trained
    checks = by_name(run_checks(str(model)))
    assert checks["label_mapping"].status == "warn" and "generic" in checks["label_mapping"].detail
    assert checks["predictions_vary"].status in ("warn", "fail")


def test_user_mistakes_are_errors(tiny_bert, tmp_path):
    with pytest.raises(TuneLabError, match="does not exist"):
        run_checks(str(tmp_path / "nowhere"))
    with pytest.raises(TuneLabError, match="--eqn goes with --data"):
        run_checks(str(tiny_bert), eqn=EQN)
    with pytest.raises(TuneLabError, match="--eqn is required"):
        run_checks(str(tiny_bert), str(tmp_path))


@pytest.mark.slow
def test_bundled_model_head_is_flagged_and_nothing_fails():
    report = run_checks("minilm-l6")
    checks = by_name(report)
    assert checks["label_mapping"].status == "warn" and "randomly initialised" in checks["label_mapping"].detail
    assert checks["tokenizer_round_trip"].status == "pass"
    assert checks["attention_rows"].status == "pass" and "6 layers × 12 heads" in checks["attention_rows"].detail
    assert not report.failed
