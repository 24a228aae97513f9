"""The attention verbs through `tunelab.cli.main`: `attention`, `heads`, `attention-diff` on tiny models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import build_tiny_bert
from tunelab.cli import main

EQN = "classify: label ~ sentence"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_attention_writes_the_export(tiny_bert, tmp_path, capsys):
    code, out, err = run(capsys, "attention", "--model", tiny_bert, "the cat sat", "--pair", "on the mat",
                         "--out", tmp_path / "att", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["tokens"][0] == "[CLS]" and report["tokens"][report["sentence_b_start"]] == "on"
    assert report["layers"] == [0, 1] and report["warnings"] == []
    assert {"head_view.html", "model_view.html", "attention.npz", "tokens.json"} == {
        p.name for p in (tmp_path / "att").iterdir()}
    meta = json.loads((tmp_path / "att" / "tokens.json").read_text())
    assert meta["meta"]["sentence"] == "the cat sat" and meta["meta"]["pair"] == "on the mat"


def test_attention_filters(tiny_bert, tmp_path, capsys):
    code, out, _ = run(capsys, "attention", "--model", tiny_bert, "the cat sat", "--out", tmp_path,
                       "--layers", "1", "--heads", "0-1")
    assert code == 0 and "1 layer x 2 heads" in out and "head_view.html" in out
    assert np.load(tmp_path / "attention.npz")["attention"].shape[:2] == (1, 2)


@pytest.mark.parametrize("args, message", [
    (["", "--out", "OUT"], "the sentence is empty"),
    (["the cat", "--pair", " ", "--out", "OUT"], "--pair"),
    (["the cat", "--layers", "99", "--out", "OUT"], "layer 99 is out of range: this model's layers are 0-1"),
    (["the cat", "--heads", "x", "--out", "OUT"], "--heads 'x'"),
])
def test_attention_bad_input_is_one_line_and_exit_2(tiny_bert, tmp_path, capsys, args, message):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    code, out, err = run(capsys, "attention", "--model", tiny_bert, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tunelab attention: error:") and message in err
    assert not (tmp_path / "out").exists()


def test_heads_prints_a_table_and_saves_csv(tiny_bert, toy_data, tmp_path, capsys):
    csv_path = tmp_path / "heads.csv"
    code, out, err = run(capsys, "heads", "--model", tiny_bert, "--data", toy_data, "--eqn", EQN,
                         "--limit", 12, "--out", csv_path)
    assert code == 0, err
    assert "12 sentences" in out and "entropy" in out and f"saved {csv_path}" in out.replace("\n", "")
    with open(csv_path, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4
    code, out, _ = run(capsys, "heads", "--model", tiny_bert, "--data", toy_data, "--eqn", EQN, "--limit", 12,
                       "--out", csv_path, "--json")
    report = json.loads(out)
    assert code == 0 and report["n_sentences"] == 12 and report["split"] == "validation" and len(report["rows"]) == 4


def test_heads_bad_split_is_exit_2(tiny_bert, toy_data, tmp_path, capsys):
    code, _, err = run(capsys, "heads", "--model", tiny_bert, "--data", toy_data, "--eqn", EQN, "--split", "nope",
                       "--out", tmp_path / "h.csv")
    assert code == 2 and "split 'nope'" in err and not (tmp_path / "h.csv").exists()


def test_attention_diff_lists_the_most_changed_heads(tiny_bert, toy_data, tmp_path, capsys):
    tuned = build_tiny_bert(tmp_path / "tuned", seed=3)
    code, out, err = run(capsys, "attention-diff", "--base", tiny_bert, "--tuned", tuned, "--data", toy_data,
                         "--eqn", EQN, "--limit", 8, "--out", tmp_path / "diff.csv")
    assert code == 0, err
    assert "most changed heads" in out and "attention moved" in out and (tmp_path / "diff.csv").is_file()
    code, out, _ = run(capsys, "attention-diff", "--base", tiny_bert, "--tuned", tuned, "--data", toy_data,
                       "--eqn", EQN, "--limit", 8, "--json")
    report = json.loads(out)
    assert code == 0 and len(report["most_changed"]) == 4 and report["csv"] is None


def test_attention_diff_needs_a_tuned_model(tiny_bert, capsys):
    code, _, err = run(capsys, "attention-diff", "--base", tiny_bert)
    assert code == 2 and "--tuned is required" in err
