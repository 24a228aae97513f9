"""Every verb on a token-tagging run, end to end through the CLI: fit a tiny random BERT on toy NER data, then
eval, summary, cat, check, predict, heads and attention read it as a user would. (Predict's own details are in
test_predict_tokens_cli.py; the task's alignment and scores in tests/core/test_tokens_task.py.)"""

from __future__ import annotations

import json

import pytest

from conftest import NER_EQN, build_tiny_bert, write_toy_ner_splits
from tunelab.cli import main


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    data = write_toy_ner_splits(root / "data")
    base = build_tiny_bert(root / "base")
    code = main(["fit", "--model", str(base), "--data", str(data), "--eqn", "ner: ner_tags ~ tokens", "--epochs", "8",
                 "--lr", "3e-3", "--batch-size", "16", "--warmup", "0", "--out", str(root / "run")])
    assert code == 0
    return {"run": str(root / "run"), "data": str(data), "base": str(base)}


def test_fit_trains_a_token_head_and_scores_entities(ner_run):
    run = json.loads((__import__("pathlib").Path(ner_run["run"]) / "run.json").read_text())
    metrics = json.loads((__import__("pathlib").Path(ner_run["run"]) / "metrics.json").read_text())
    assert run["equation"] == NER_EQN                      # gft's alias is saved as the task's own keyword
    assert run["figure_of_merit"] == "entity_f1"
    assert run["label_names"][0] == "O" and "B-PER" in run["label_names"]
    assert metrics["test"]["entity_f1"] >= 0.8 and 0 <= metrics["test"]["token_accuracy"] <= 1


def test_eval_reports_entity_types_their_confusion_and_typed_mistakes(ner_run, capsys):
    assert main(["eval", "--model", ner_run["run"], "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["figure_of_merit"] == "entity_f1" and r["value"] == r["scores"]["entity_f1"]
    assert [c["label"] for c in r["per_class"]] == ["LOC", "PER"] == r["labels"]
    assert r["entity_confusion_labels"] == ["LOC", "PER", "O"]
    gold_entities = sum(c["support"] for c in r["per_class"])
    assert sum(map(sum, r["entity_confusion"][:2])) == gold_entities     # each gold entity counted once
    assert r["majority_label"] == "O" and r["majority_baseline"] == 0.0
    for m in r["mistakes"]:
        assert m["errors"] == len(m["kinds"]) > 0 and set(m["kinds"]) <= {"missed", "spurious", "wrong_type", "wrong_boundary"}
    assert [m["errors"] for m in r["mistakes"]] == sorted((m["errors"] for m in r["mistakes"]), reverse=True)
    rows = [json.loads(line) for line in open(f"{ner_run['data']}/test.jsonl")]
    for m in r["mistakes"]:                                # "row" is the sentence's line in the scored file
        assert rows[m["row"] - 1]["tokens"] == m["words"]
    assert main(["eval", "--model", ner_run["run"]]) == 0
    out = capsys.readouterr().out
    assert "per entity type" in out and "entity types (rows: gold, columns: predicted; O: no entity there)" in out
    assert f"entity_f1 {r['value']:.4f}" in out


def test_eval_and_predict_on_the_onnx_graphs_of_a_token_model(ner_run, capsys, tmp_path):
    """The fused graph scores as PyTorch does; --int8 reports its agreement with fp32 over the words read."""
    assert main(["eval", "--model", ner_run["run"], "--json", "--backend", "torch"]) == 0
    torch_report = json.loads(capsys.readouterr().out)
    assert main(["eval", "--model", ner_run["run"], "--json", "--backend", "onnx"]) == 0
    onnx_report = json.loads(capsys.readouterr().out)
    assert onnx_report["entity_confusion"] == torch_report["entity_confusion"]
    assert onnx_report["scores"] == pytest.approx(torch_report["scores"])
    assert main(["eval", "--model", ner_run["run"], "--json", "--int8"]) == 0
    agreement = json.loads(capsys.readouterr().out)["int8_agreement"]
    words = sum(len(json.loads(line)["tokens"]) for line in open(f"{ner_run['data']}/test.jsonl"))
    assert agreement["unit"] == "words" and agreement["compared"] == words and agreement["label_agreement"] >= 0.9
    source = tmp_path / "in.txt"
    source.write_text("".join(" ".join(json.loads(line)["tokens"]) + "\n"
                              for line in open(f"{ner_run['data']}/test.jsonl")))
    assert main(["predict", "--model", ner_run["run"], "--input", str(source), "--int8", "--json"]) == 0
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["int8_agreement"]
    assert record["unit"] == "words" and record["label_agreement"] >= 0.9


def test_summary_counts_tags_entities_and_words(ner_run, capsys):
    assert main(["summary", "--data", ner_run["data"], "--eqn", NER_EQN, "--model", ner_run["base"], "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    train = s["token_details"]["train"]
    assert sum(s["label_balance"]["train"].values()) == train["words"]
    assert set(train["entities"]) == {"PER", "LOC"} and train["scheme_breaks"] == 0
    assert s["figure_of_merit"] == "entity_f1" and s["majority_baseline"]["test"] == 0.0
    assert main(["summary", "--data", ner_run["data"], "--eqn", NER_EQN, "--model", ner_run["base"]]) == 0
    out = capsys.readouterr().out
    assert "entities LOC" in out and "beyond --max-length" in out


def test_cat_prints_word_tab_tag_with_a_blank_line_between_sentences(ner_run, capsys):
    assert main(["cat", "--data", ner_run["data"], "--eqn", NER_EQN, "--split", "test", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.split("\n")
    first = json.loads(open(f"{ner_run['data']}/test.jsonl").readline())
    n = len(first["tokens"])
    assert lines[:n] == [f"{w}\t{t}" for w, t in zip(first["tokens"], first["ner_tags"])]
    assert lines[n] == "" and lines[n + 1] != ""


def test_check_runs_its_battery_on_a_token_model(ner_run, capsys):
    assert main(["check", "--model", ner_run["run"], "--data", ner_run["data"], "--eqn", NER_EQN, "--json"]) in (0, 1)
    r = json.loads(capsys.readouterr().out)
    status = {c["name"]: c["status"] for c in r["checks"]}
    assert status["loads"] == status["label_mapping"] == status["probabilities"] == "pass"
    assert status["beats_baseline"] == "pass" and status["overfits_batch"] == "pass"
    assert r["figures"]["figure_of_merit"] == "entity_f1"


def test_heads_and_attention_read_a_token_run(ner_run, capsys, tmp_path):
    assert main(["heads", "--model", ner_run["run"], "--data", ner_run["data"], "--eqn", NER_EQN, "--limit", "8",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["attention", "--model", ner_run["run"], "the big boy sat near the mat", "--out", str(tmp_path)]) == 0
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    assert "boy" in json.dumps(tokens)
