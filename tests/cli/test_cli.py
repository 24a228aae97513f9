"""The `tunelab` verbs on tiny models: real runs, JSON output, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from tunelab.cli import main

EQN = "classify: label ~ sentence"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny model fine-tuned through the CLI once for the whole module."""
    from conftest import build_tiny_bert, write_toy_splits

    root = tmp_path_factory.mktemp("cli")
    model = build_tiny_bert(root / "model")
    data = write_toy_splits(root / "toy")
    assert main(["fit", "--model", str(model), "--data", str(data), "--eqn", EQN, "--epochs", "6", "--lr", "2e-3",
                 "--batch-size", "16", "--out", str(root / "run")]) == 0
    return {"run": root / "run", "data": data, "model": model, "root": root}


def test_fit_json_eval_and_predict(trained_run, capsys, tmp_path):
    run = trained_run["run"]
    capsys.readouterr()
    assert main(["eval", "--model", str(run), "--json"]) == 0          # data and equation come from the run
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["figure_of_merit"] == "mcc" and report["value"] > 0.8
    assert sum(map(sum, report["confusion"])) == 40 and len(report["per_class"]) == 2
    holdout = tmp_path / "holdout.tsv"                                # a headerless file with named columns
    holdout.write_text("x\t1\tthe cat is good .\nx\t0\tthe dogs were sad near the table .\n", encoding="utf-8")
    # labels 0/1 are not the run's labels: a clear error, not a crash
    assert main(["eval", "--model", str(run), "--data", str(holdout), "--columns", "src,label,sentence"]) == 2
    assert "is not one of the model's labels" in capsys.readouterr().err
    assert main(["predict", "--model", str(run), "the cats are happy .", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["label"] == "acceptable" and abs(sum(pred["probabilities"].values()) - 1) < 1e-5
    batch = tmp_path / "in.txt"
    batch.write_text("the cat is good .\nthe dog was sad .\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(run), "--input", str(batch), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["acceptable", "unacceptable"]


def test_predict_reads_stdin_and_writes_jsonl(trained_run):
    proc = subprocess.run([sys.executable, "-m", "tunelab", "predict", "--model", str(trained_run["run"]), "--input", "-"],
                          input="the cat is happy .\nthe dogs are bad .\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["label"] for line in proc.stdout.splitlines()] == ["acceptable", "unacceptable"]


def test_summary_cat_and_models(trained_run, capsys):
    assert main(["summary", "--model", str(trained_run["run"]), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["layers"], s["heads"], s["hidden_size"], s["max_positions"]) == (2, 2, 32, 64)
    assert s["labels"] == ["acceptable", "unacceptable"]
    from transformers import AutoModelForSequenceClassification

    loaded = AutoModelForSequenceClassification.from_pretrained(trained_run["run"] / "model")
    assert s["total_parameters"] == sum(p.numel() for p in loaded.parameters()) > 0   # counted independently
    assert main(["summary", "--model", str(trained_run["model"]), "--freeze-layers", "1", "--json"]) == 0
    frozen = json.loads(capsys.readouterr().out)
    assert 0 < frozen["trainable_parameters"] < frozen["total_parameters"]
    assert main(["summary", "--data", str(trained_run["data"]), "--eqn", EQN, "--model", str(trained_run["model"]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rows"] == {"train": 160, "validation": 40, "test": 40}
    assert sum(d["label_balance"]["train"].values()) == 160
    # MCC scores any constant guess 0, so the baseline that tells a user something is the class and its accuracy
    train = [json.loads(line)["label"] for line in (trained_run["data"] / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line)["label"] for line in (trained_run["data"] / "test.jsonl").read_text().splitlines()]
    majority = max(set(train), key=train.count)
    assert train.count(majority) > len(train) / 2                  # the toy data has a strict majority class
    assert d["majority_label"] == majority
    assert d["majority_accuracy"]["test"] == pytest.approx(test.count(majority) / len(test))
    assert d["majority_baseline"]["test"] == 0.0                   # MCC of a constant guess
    assert main(["cat", "--data", str(trained_run["data"]), "--eqn", EQN, "--split", "test", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "split\tlabel\tsentence" and len(lines) == 4 and lines[1].startswith("test\t")
    from tunelab.core.run_dir import remember_run

    remember_run(trained_run["run"])     # this test's own TUNELAB_HOME: the fixture's run, remembered
    assert main(["models", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["source"] == "bundled"
    assert any(e["source"] == "run" and e["path"] == str(trained_run["run"].resolve()) for e in entries)


BAD = [
    (["fit", "--data", "/nope/train.csv", "--eqn", EQN], "does not exist"),
    (["fit", "--eqn", "classifyy: label ~ sentence"], "unknown task keyword"),
    (["fit", "--eqn", "classify: label ~ text"], "column 'text'"),
    (["fit", "--max-length", "4096"], "beyond minilm-l6's limit of 512"),
    (["fit", "--model", "bert-base-uncased-not-cached-xyz"], "cannot be reached"),
    (["eval", "--model", "/tmp"], "holds no model"),
    (["eval", "--model", "minilm-l6", "--data", "demo"], "no trained classification head"),
    (["predict", "--model", "/tmp", "hi"], "holds no model"),
    (["predict", "--model", "minilm-l6"], "give a sentence"),
    (["summary"], "give --model"),
    (["cat", "--data", "demo", "--eqn", "classify: label ~ nope"], "column 'nope'"),
]


@pytest.mark.parametrize("argv, fragment", BAD)
def test_bad_input_is_one_line_and_exit_2(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv + (["--out", str(tmp_path / "run")] if argv[0] == "fit" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_an_empty_sentence_and_a_non_utf8_batch(trained_run, capsys, tmp_path):
    assert main(["predict", "--model", str(trained_run["run"]), "   "]) == 2
    assert "empty" in capsys.readouterr().err
    bad = tmp_path / "latin.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    assert main(["predict", "--model", str(trained_run["run"]), "--input", str(bad), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "not UTF-8" in capsys.readouterr().err and not (tmp_path / "o.jsonl").exists()
