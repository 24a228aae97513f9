"""Regression on several outputs: `regress: valence + arousal + dominance ~ word` trains one head with an output per
named column, scores each output on its own (the mean Pearson the figure of merit), and predicts every output by
name; a single-output regress stays exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import VAD_OUTPUTS as OUTPUTS, build_tiny_bert, write_vad_csv
from tunelab.core.equation import parse_equation
from tunelab.core.errors import TuneLabError

EQN = "regress: valence + arousal + dominance ~ word"
# ---------------------------------------------------------------- the equation

def test_regress_takes_several_outputs_in_their_order():
    eq = parse_equation(EQN)
    assert eq.outputs == OUTPUTS and eq.inputs == ("word",)
    assert str(eq) == EQN


@pytest.mark.parametrize("eqn, words", [
    ("regress: valence + arousal + valence ~ word", "output 'valence' is named twice"),
    ("regress: valence + word ~ word", "the output 'word' is also an input"),
    ("classify: a + b ~ word", "exactly one label column"),
])
def test_bad_output_lists_are_refused_naming_the_column(eqn, words):
    with pytest.raises(TuneLabError, match=words):
        parse_equation(eqn)


# ---------------------------------------------------------------- the columns

@pytest.mark.parametrize("bad, words", [
    ("high", "regress needs numeric values in 'arousal', got 'high'"),
    ("inf", "label inf in column 'arousal' is not a finite number"),
])
def test_a_bad_value_in_any_output_column_names_the_column_and_row(tmp_path, bad, words):
    from tunelab.core.data import load_task_data

    def spoil(split, rows):
        if split == "validation":
            rows[6]["arousal"] = bad
    data = write_vad_csv(tmp_path / "data", spoil)
    with pytest.raises(TuneLabError, match=words) as err:
        load_task_data(str(data), EQN)
    assert "validation.csv" in str(err.value) and "line 8" in str(err.value)   # the header is line 1


def test_an_empty_value_in_the_last_output_column_names_it(tmp_path):
    from tunelab.core.data import load_task_data

    def spoil(split, rows):
        if split == "train":
            rows[3]["dominance"] = ""
    with pytest.raises(TuneLabError, match="line 5.*empty label in column 'dominance'"):
        load_task_data(str(write_vad_csv(tmp_path / "data", spoil)), EQN)


def test_the_head_has_one_output_per_column_named_by_it(tmp_path):
    from tunelab.core.data import load_task_data
    from tunelab.core.tasks.base import task_for

    task = load_task_data(str(write_vad_csv(tmp_path / "data")), EQN)
    kind = task_for(task)
    assert task.label_names == OUTPUTS
    assert kind.num_outputs(task.label_names) == 3
    kwargs = kind.model_kwargs(task.label_names)
    assert kwargs["num_labels"] == 3 and kwargs["problem_type"] == "regression"
    assert kwargs["id2label"] == {0: "valence", 1: "arousal", 2: "dominance"}


# ---------------------------------------------------------------- scores

class _Encoded:
    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=np.float32)

    def __len__(self):
        return len(self.labels)


def test_each_output_is_scored_on_its_own_and_the_mean_pearson_is_the_figure_of_merit():
    from scipy.stats import pearsonr, spearmanr

    from tunelab.core.tasks.base import task_for

    rng = np.random.default_rng(0)
    gold = rng.normal(size=(50, 3)).astype(np.float32)
    preds = np.stack([gold[:, 0],                      # perfect
                      -gold[:, 1],                     # perfectly wrong
                      gold[:, 2] + rng.normal(size=50)], axis=1)   # noisy
    scores = task_for("regress").score(preds, _Encoded(gold), OUTPUTS, "pearson")
    assert scores["pearson_valence"] == pytest.approx(1.0) and scores["mse_valence"] == pytest.approx(0.0, abs=1e-9)
    assert scores["pearson_arousal"] == pytest.approx(-1.0)
    noisy = pearsonr(preds[:, 2], gold[:, 2])[0]
    assert scores["pearson_dominance"] == pytest.approx(noisy, abs=1e-6)
    assert scores["spearman_dominance"] == pytest.approx(spearmanr(preds[:, 2], gold[:, 2])[0], abs=1e-6)
    assert scores["mse_arousal"] == pytest.approx(float(np.mean((2 * gold[:, 1]) ** 2)), rel=1e-5)
    assert scores["pearson"] == pytest.approx((1.0 - 1.0 + noisy) / 3, abs=1e-6)
    assert scores["mse"] == pytest.approx(np.mean([scores[f"mse_{n}"] for n in OUTPUTS]))
    assert scores["spearman"] == pytest.approx(np.mean([scores[f"spearman_{n}"] for n in OUTPUTS]))


def test_eval_details_give_one_score_row_per_output():
    from tunelab.core.tasks.base import task_for

    gold = np.arange(30, dtype=np.float32).reshape(10, 3)
    details = task_for("regress").details(None, "test", gold.copy(), _Encoded(gold), OUTPUTS, "pearson", 5)
    assert details["per_class_title"] == "per output"
    assert [row["label"] for row in details["per_class"]] == list(OUTPUTS)
    assert details["per_class"][0] == {"label": "valence", "pearson": pytest.approx(1.0),
                                       "spearman": pytest.approx(1.0), "mse": 0.0, "support": 10}


def test_a_single_output_regress_keeps_its_scores_head_and_details():
    from tunelab.core.tasks.base import task_for

    kind = task_for("regress")
    gold = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
    scores = kind.score(np.array([[0.1], [0.9], [2.2], [2.9]]), _Encoded(gold), ("LABEL_0",), "pearson")
    assert list(scores) == ["pearson", "spearman", "mse"]
    assert kind.model_kwargs(()) == {"num_labels": 1, "problem_type": "regression"}
    assert kind.num_outputs(()) == 1
    assert kind.details(None, "test", np.zeros((4, 1)), _Encoded(gold), ("LABEL_0",), "pearson", 5) == {}
    assert parse_equation("regress: score ~ a").label == "score"
    assert kind.run_record(_Encoded(gold), ()) == {}          # run.json of a single-output run: as it was


def test_the_run_record_keeps_each_outputs_train_range():
    from tunelab.core.tasks.base import task_for

    gold = np.array([[0.0, -2.0], [1.5, 4.0], [0.5, 1.0]], dtype=np.float32)
    assert task_for("regress").run_record(_Encoded(gold), ("valence", "arousal")) == {
        "output_ranges": {"valence": [0.0, 1.5], "arousal": [-2.0, 4.0]}}
    assert task_for("classify").run_record(_Encoded(np.array([0, 1])), ("a", "b")) == {}


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def vad_run(tmp_path_factory):
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("vad")
    data = write_vad_csv(root / "data")
    base = build_tiny_bert(root / "base")
    result = fit(FitConfig(model=str(base), data=str(data), eqn=EQN, out=str(root / "run"), epochs=10, lr=2e-3,
                           batch_size=16, warmup=0))
    return {"run": Path(result.run_dir), "data": data}


def test_fit_trains_one_head_that_learns_every_output(vad_run):
    config = json.loads((vad_run["run"] / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "valence", "1": "arousal", "2": "dominance"}
    assert config["problem_type"] == "regression"
    metrics = json.loads((vad_run["run"] / "metrics.json").read_text())
    assert metrics["figure_of_merit"] == "pearson"
    test = metrics["test"]
    assert {f"pearson_{n}" for n in OUTPUTS} <= set(test)
    assert all(test[f"pearson_{n}"] > 0.8 for n in OUTPUTS), test
    assert test["pearson"] == pytest.approx(np.mean([test[f"pearson_{n}"] for n in OUTPUTS]))


def test_eval_and_predict_name_every_output(vad_run):
    from tunelab.core.evaluation import evaluate_model
    from tunelab.core.predictor import Predictor, prediction_record

    report = evaluate_model(str(vad_run["run"]))
    assert report.figure_of_merit == "pearson" and report.value > 0.8
    assert [row["label"] for row in report.per_class] == list(OUTPUTS)
    predictor = Predictor(str(vad_run["run"]), backend="torch")
    good, sad = predictor.predict("the cat is good ."), predictor.predict("the cat is sad .")
    assert list(good.values) == list(OUTPUTS)
    assert good.values["valence"] > sad.values["valence"] and good.values["arousal"] > sad.values["arousal"]
    assert good.values["dominance"] < sad.values["dominance"]
    assert prediction_record(good)["values"] == good.values


def test_the_run_and_its_predictor_know_each_outputs_range_in_training(vad_run, tmp_path):
    """What the Predict screen scales each output's bar by: the lowest and highest train value of each output."""
    import shutil

    from conftest import VAD_CUES
    from tunelab.core.predictor import Predictor

    expected = {name: [min(cue[i] for cue in VAD_CUES.values()), max(cue[i] for cue in VAD_CUES.values())]
                for i, name in enumerate(OUTPUTS)}
    run = json.loads((vad_run["run"] / "run.json").read_text())
    assert run["output_ranges"] == expected
    assert Predictor(str(vad_run["run"]), backend="torch").output_ranges == {n: tuple(r) for n, r in expected.items()}
    older = shutil.copytree(vad_run["run"], tmp_path / "older")       # a run from before, or a spoilt entry
    for ranges in (None, {"valence": [1.0, -1.0], "arousal": ["a", 1], "dominance": [0.0, float("inf")]}):
        if ranges is None:
            run.pop("output_ranges")
        else:
            run["output_ranges"] = ranges
        (older / "run.json").write_text(json.dumps(run))
        assert Predictor(str(older), backend="torch").output_ranges == {}
