"""`tunelab fit/eval/predict/summary/cat` on a three-output regression from a CSV (`regress: valence + arousal +
dominance ~ word`), and its bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import build_tiny_bert
from tunelab.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_regress_multi import EQN, OUTPUTS, write_vad_csv  # noqa: E402


def one_line_error(capsys, verb: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tunelab {verb}: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vad-cli")
    data = write_vad_csv(root / "data")
    base = build_tiny_bert(root / "base")
    rc = main(["fit", "--model", str(base), "--data", str(data), "--eqn", EQN, "--out", str(root / "run"),
               "--epochs", "10", "--lr", "2e-3", "--batch-size", "16", "--warmup", "0"])
    assert rc == 0
    return {"run": root / "run", "data": data, "base": base}


def test_eval_prints_one_score_row_per_output(cli_run, capsys):
    capsys.readouterr()
    assert main(["eval", "--model", str(cli_run["run"])]) == 0
    out = capsys.readouterr().out
    assert "per output" in out and "pearson" in out and "spearman" in out
    rows = [line for line in out.splitlines() if line.startswith("│") and any(f" {name} " in line for name in OUTPUTS)]
    assert len(rows) == 3, out
    assert main(["eval", "--model", str(cli_run["run"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["figure_of_merit"] == "pearson"
    assert [row["label"] for row in report["per_class"]] == list(OUTPUTS)
    assert report["value"] == pytest.approx(sum(report["scores"][f"pearson_{n}"] for n in OUTPUTS) / 3)


def test_predict_prints_every_output_by_name(cli_run, capsys):
    capsys.readouterr()
    assert main(["predict", "--model", str(cli_run["run"]), "the cat is good ."]) == 0
    out = capsys.readouterr().out
    assert "3 outputs" in out
    for name in OUTPUTS:
        assert any(line.split()[:1] == [name] for line in out.splitlines()), out
    assert main(["predict", "--model", str(cli_run["run"]), "--json", "the cat is sad ."]) == 0
    record = json.loads(capsys.readouterr().out)
    assert list(record["values"]) == list(OUTPUTS) and all(isinstance(v, float) for v in record["values"].values())


def test_summary_and_cat_show_every_output(cli_run, capsys):
    capsys.readouterr()
    assert main(["summary", "--data", str(cli_run["data"]), "--eqn", EQN, "--model", str(cli_run["base"])]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: mean" in out for name in OUTPUTS), out
    assert main(["cat", "--data", str(cli_run["data"]), "--eqn", EQN, "--split", "test", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["split", *OUTPUTS, "word"] and len(lines[1].split("\t")) == 5


@pytest.mark.parametrize("eqn, spoil, words", [
    (EQN, ("train", 4, "dominance", "lots"), "train.csv line 6: regress needs numeric values in 'dominance', got 'lots'"),
    ("regress: valence + arousal + valence ~ word", None, "output 'valence' is named twice"),
    ("regress: valence + word ~ word", None, "the output 'word' is also an input"),
])
def test_bad_outputs_are_one_line_and_nothing_is_written(tmp_path, capsys, eqn, spoil, words):
    def edit(split, rows):
        if spoil and split == spoil[0]:
            rows[spoil[1]][spoil[2]] = spoil[3]
    data = write_vad_csv(tmp_path / "data", edit)
    base = build_tiny_bert(tmp_path / "base")
    rc = main(["fit", "--model", str(base), "--data", str(data), "--eqn", eqn, "--out", str(tmp_path / "run")])
    assert rc == 2
    assert words in one_line_error(capsys, "fit")
    assert not (tmp_path / "run").exists()


def test_check_maps_each_output_and_beats_each_outputs_mean(cli_run, capsys):
    capsys.readouterr()
    main(["check", "--model", str(cli_run["run"]), "--data", str(cli_run["data"]), "--eqn", EQN, "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["label_mapping"]["status"] == "pass" and "valence, arousal, dominance" in checks["label_mapping"]["detail"]
    assert checks["predictions_vary"]["status"] == "pass"
    assert checks["beats_baseline"]["status"] == "pass" and "each output's mean" in checks["beats_baseline"]["detail"]
    assert checks["overfits_batch"]["status"] == "pass"


def test_a_model_of_other_outputs_is_refused_by_eval(cli_run, capsys):
    capsys.readouterr()
    rc = main(["eval", "--model", str(cli_run["run"]), "--data", str(cli_run["data"]), "--eqn", "regress: valence ~ word"])
    assert rc == 2 and "has 3 outputs" in one_line_error(capsys, "eval")
