"""The README's main job, for real: `tunelab fit` with no model/data flags trains the bundled MiniLM on the
bundled demo set (offline) to at least 0.9 test accuracy, and the result works everywhere it should."""

import json

import pytest

from tunelab.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    assert main(["fit", "--out", str(out)]) == 0
    return out


def test_default_fit_reaches_the_bar(default_run):
    metrics = json.loads((default_run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9
    assert metrics["figure_of_merit"] == "mcc"
    run = json.loads((default_run / "run.json").read_text())
    assert run["new_head"] is True and run["config"]["model"] == "minilm-l6"


def test_the_run_is_usable_by_transformers_eval_and_predict(default_run, capsys):
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(default_run / "model"), device=-1)
    assert pipe("The keys to the cabinet are on the table.")[0]["label"] == "acceptable"
    assert pipe("The keys to the cabinet is on the table.")[0]["label"] == "unacceptable"
    capsys.readouterr()
    assert main(["eval", "--model", str(default_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scores"]["accuracy"] >= 0.9
    # the majority baseline a user can read: a most common training label and its accuracy on the test split
    # (under MCC any constant guess scores 0, so that number alone says nothing)
    from tunelab.core.data import load_task_data

    task = load_task_data("demo", None, hold_out=False)
    train, test = list(task.labels("train")), list(task.labels("test"))
    assert train.count(report["majority_label"]) == max(map(train.count, set(train)))
    assert report["majority_accuracy"] == pytest.approx(test.count(report["majority_label"]) / len(test))
    assert report["scores"]["accuracy"] >= report["majority_accuracy"] + 0.3
    assert main(["predict", "--model", str(default_run), "These dogs were barking.", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "acceptable"
