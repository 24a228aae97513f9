"""The sanity check: a trained model passes the data checks, a bare encoder's random head is flagged, broken
models fail the right check, and user mistakes are errors."""

from __future__ import annotations

import shutil

import pytest
import torch

from conftest import agreement_rows, build_tiny_bert, train_tiny, write_jsonl, write_toy_splits
from tunelab.core import check as check_module
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
    assert tuple(checks) == ALWAYS + ("faithfulness", "train_overlap", "beats_baseline", "overfits_batch")
    for name in ("loads", "label_mapping", "probabilities", "predictions_vary", "attention_rows", "beats_baseline", "overfits_batch",
                 "faithfulness"):
        assert checks[name].status == "pass", checks[name]
    figures = report.figures
    assert figures["figure_of_merit"] == "mcc" and figures["examples"] == 40
    assert figures["scores"]["accuracy"] > figures["baseline_scores"]["accuracy"]
    assert figures["overfit_losses"][-1] <= 0.5 * figures["overfit_losses"][0]
    assert "batch accuracy 100%" in checks["overfits_batch"].detail
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
    assert checks["predictions_vary"].status == "fail"
    assert "the model ignores its input" in checks["predictions_vary"].detail


def test_user_mistakes_are_errors(tiny_bert, tmp_path):
    with pytest.raises(TuneLabError, match="does not exist"):
        run_checks(str(tmp_path / "nowhere"))
    with pytest.raises(TuneLabError, match="--eqn goes with --data"):
        run_checks(str(tiny_bert), eqn=EQN)
    with pytest.raises(TuneLabError, match="--eqn is required"):
        run_checks(str(tiny_bert), str(tmp_path))


# ---------------------------------------------------------------- overfitting one batch: healthy models pass

def overfit(report):
    """The overfit check, after asserting that it is the last check and that nothing before it failed."""
    assert report.checks[-1].name == "overfits_batch"
    assert all(c.status != "fail" for c in report.checks[:-1]), report.checks
    return report.checks[-1]


@pytest.mark.parametrize("size", [dict(layers=2, heads=2, hidden=32), dict(layers=4, heads=4, hidden=64),
                                  dict(layers=4, heads=4, hidden=128)], ids=lambda s: f"{s['layers']}x{s['hidden']}")
def test_untrained_encoders_of_several_sizes_overfit_a_batch(tmp_path, toy_data, size):
    model = build_tiny_bert(tmp_path / "bert", **size)
    report = run_checks(str(model), str(toy_data), EQN, limit=16)
    check = overfit(report)
    assert check.status == "pass", check
    losses = report.figures["overfit_losses"]
    assert losses[-1] <= 0.5 * losses[0] and "batch accuracy 100%" in check.detail
    assert len(losses) - 1 <= check_module.OVERFIT_STEPS


def _sharpened(run, tmp_path, factor: float):
    """The trained model with its classifier scaled: the same predictions, far more confident."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(f"{run}/model")
    with torch.no_grad():
        model.classifier.weight.mul_(factor)
        model.classifier.bias.mul_(factor)
    model.save_pretrained(tmp_path / "sharp")
    AutoTokenizer.from_pretrained(f"{run}/model").save_pretrained(tmp_path / "sharp")
    return tmp_path / "sharp"


def test_a_model_that_already_fits_the_batch_with_a_tiny_loss_passes(trained, tmp_path):
    """Halving a near-zero loss (judged in float64) shows it trains; flipping its labels would stall it at chance."""
    run, data = trained
    report = run_checks(str(_sharpened(run, tmp_path, 3000.0)), str(data), EQN, limit=16)
    check = overfit(report)
    losses = report.figures["overfit_losses"]
    assert losses[0] < 1e-6, losses                  # below what a float32 loss can resolve
    assert check.status == "pass" and losses[-1] <= 0.5 * losses[0], check


def test_saturated_logits_are_a_warning_not_a_failure(trained, tmp_path):
    run, data = trained
    check = overfit(run_checks(str(_sharpened(run, tmp_path, 1e5)), str(data), EQN, limit=16))
    assert check.status == "warn" and "saturated" in check.detail


def test_the_sweep_falls_back_to_a_higher_rate_for_a_small_encoder(tmp_path, toy_data, monkeypatch):
    """A rate far too low for a tiny random encoder falls short; the sweep then tries the next one and says so."""
    monkeypatch.setattr(check_module, "OVERFIT_LRS", (1e-6, 1e-3))
    model = build_tiny_bert(tmp_path / "bert")
    report = run_checks(str(model), str(toy_data), EQN, limit=16)
    check = overfit(report)
    assert check.status == "pass" and "lr 0.001" in check.detail and "lr 1e-06 fell short" in check.detail
    assert [t["lr"] for t in report.figures["overfit_tries"]] == [1e-6, 1e-3]


# ---------------------------------------------------------------- overfitting one batch: broken models fail

def _frozen(model):
    model.requires_grad_(False)


def _constant_loss(model):
    forward = model.forward

    def constant(*args, **kwargs):
        out = forward(*args, **kwargs)
        if out.loss is not None:
            out.loss = out.loss * 0 + 0.6931        # the same loss whatever the weights: no gradient
        return out
    model.forward = constant


def _detached_loss(model):
    forward = model.forward

    def detached(*args, **kwargs):
        out = forward(*args, **kwargs)
        if out.loss is not None:
            out.loss = out.loss.detach()            # a loss cut off from the weights
        return out
    model.forward = detached


def _blind_head(model):
    with torch.no_grad():
        model.classifier.weight.zero_()             # the head ignores the encoder, and cannot learn to look
    model.classifier.weight.requires_grad_(False)


@pytest.mark.parametrize("breakage, reason", [
    (_frozen, "no weight is trainable"),
    (_constant_loss, "the gradient of the loss (0.6931) is zero"),
    (_detached_loss, "depends on no trainable weight"),
    (_blind_head, ""),
], ids=["frozen", "constant-loss", "detached-loss", "blind-head"])
def test_a_model_that_cannot_learn_fails_to_overfit(trained, monkeypatch, breakage, reason):
    run, data = trained
    load = check_module.load_classifier

    def load_broken(*args, **kwargs):
        model, new_head = load(*args, **kwargs)
        breakage(model)
        return model, new_head
    monkeypatch.setattr(check_module, "load_classifier", load_broken)
    report = run_checks(run, str(data), EQN, limit=16)
    check = by_name(report)["overfits_batch"]
    assert check.status == "fail", check
    assert reason in check.detail
    assert report.failed


def test_a_learning_rate_of_zero_fails_to_overfit(trained):
    run, data = trained
    report = run_checks(run, str(data), EQN, limit=16, overfit_lr=0.0, overfit_steps=10)
    check = by_name(report)["overfits_batch"]
    assert check.status == "fail" and "never fell to 0.5× its start" in check.detail, check
    losses = report.figures["overfit_losses"]
    assert len(losses) == 11 and losses[-1] == pytest.approx(losses[0])
    assert report.failed


@pytest.mark.slow
def test_bundled_model_head_is_flagged_and_nothing_fails():
    report = run_checks("minilm-l6")
    checks = by_name(report)
    assert checks["label_mapping"].status == "warn" and "randomly initialised" in checks["label_mapping"].detail
    assert checks["tokenizer_round_trip"].status == "pass"
    assert checks["attention_rows"].status == "pass" and "6 layers × 12 heads" in checks["attention_rows"].detail
    assert not report.failed


@pytest.mark.slow
def test_bundled_model_overfits_a_batch_at_a_bert_rate_in_a_few_steps():
    """The fresh head on the pretrained MiniLM fits the demo batch at lr 1e-4, the first rate tried."""
    report = run_checks("minilm-l6", "demo", limit=16)
    check = by_name(report)["overfits_batch"]
    assert check.status == "pass" and "lr 0.0001" in check.detail, check
    tries = report.figures["overfit_tries"]
    assert len(tries) == 1 and tries[0]["steps"] <= 30 and tries[0]["accuracy"] == 1.0
    assert not report.failed


def test_the_faithfulness_row_reads_the_deletion_check(trained, monkeypatch):
    run, data = trained
    checks = by_name(run_checks(run))                  # no data: the varied sentences
    assert checks["faithfulness"].status in ("pass", "warn") and "IG's top 3 words" in checks["faithfulness"].detail
    report = run_checks(run, str(data), EQN, limit=12)
    faithful = by_name(report)["faithfulness"]
    assert faithful.status == "pass" and "(12 sentences)" in faithful.detail
    assert report.figures["faithfulness"]["aopc"]["ig"] > report.figures["faithfulness"]["aopc"]["random"]
    import tunelab.core.faithfulness as faithfulness

    real = faithfulness.deletion_curves

    def as_if_random(*args, **kwargs):          # IG's words move the probability no more than random ones
        curves, used = real(*args, **kwargs)
        curves["ig"] = list(curves["random"])
        return curves, used

    monkeypatch.setattr(faithfulness, "deletion_curves", as_if_random)
    flagged = by_name(run_checks(run, str(data), EQN, limit=12))["faithfulness"]
    assert flagged.status == "warn" and "no more than" in flagged.detail
