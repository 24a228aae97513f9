"""`tunelab summary`, `models` and `cat` as a user sees them: the human output carries the facts the JSON
holds (at an 80-column terminal, nothing cropped), and bad numbers or splits are one line and exit 2."""

import json

import pytest

from conftest import train_tiny, write_toy_splits
from tunelab.cli import main

EQN = "classify: label ~ sentence"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model fine-tuned once for this file, and its data."""
    root = tmp_path_factory.mktemp("summary")
    data = write_toy_splits(root / "toy")
    return {"run": train_tiny(root, data, epochs=1, lr=1e-3).run_dir, "data": str(data), "base": str(root / "base")}


def body_rows(text: str) -> list[list[str]]:
    """The cells of every body row of the rich tables in `text` (continuation lines included)."""
    return [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines() if line.startswith("│")]


def test_model_summary_reads_as_its_json(trained, capsys):
    assert main(["summary", "--model", trained["run"], "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert main(["summary", "--model", trained["run"]]) == 0
    out = capsys.readouterr().out
    assert "BertForSequenceClassification (bert)" in " ".join(out.split())    # a long run path may wrap the line
    assert "layers 2  heads 2  hidden 32  intermediate 64" in out and "max positions 64" in out
    assert f"parameters {m['total_parameters']:,} total, {m['trainable_parameters']:,} trainable" in out
    assert "labels: acceptable, unacceptable" in out
    rows = {r[0]: r[1:] for r in body_rows(out)}
    assert rows == {r["name"]: [f"{r['parameters']:,}", f"{r['trainable']:,}"] for r in m["per_layer"]}
    assert main(["summary", "--model", trained["base"], "--freeze-layers", "1"]) == 0
    out = capsys.readouterr().out
    assert "(no task head: fit adds one)" in out
    assert {r[0]: r[2] for r in body_rows(out)}["encoder.layer.0"] == "0"            # frozen
    assert {r[0]: r[2] for r in body_rows(out)}["encoder.layer.1"] != "0"


def test_data_summary_shows_every_column_at_80_columns(trained, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")      # as on an 80-column terminal (output that is not one is not wrapped)
    argv = ["summary", "--data", trained["data"], "--eqn", EQN, "--model", trained["run"]]
    assert main(argv + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "majority" in out and f">{d['max_length']}" in out                          # the last columns are not cropped
    text = " ".join(" ".join(r) for r in body_rows(out))
    first_cells = [r[0] for r in body_rows(out) if r[0]]
    assert first_cells == list(d["rows"])                                               # every split, by its full name
    for split, n in d["rows"].items():
        row = next(r for r in body_rows(out) if r[0] == split)
        assert row[1] == str(n)
        t = d["token_lengths"][split]
        assert row[3] == f"{t['p50']}/{t['p90']}/{t['p99']}/{t['max']}"
        assert row[4] == f"{d['truncated_share'][split]:.1%}" and row[5] == f"{d['majority_baseline'][split]:.3f}"
        for label, count in d["label_balance"][split].items():
            assert f"{label}: {count}" in text


def test_models_lists_the_bundled_model_and_the_run(trained, capsys):
    from pathlib import Path

    from tunelab.core.run_dir import remember_run

    remember_run(Path(trained["run"]))   # this test's own TUNELAB_HOME: the fixture's run, remembered
    assert main(["models", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = [r for r in body_rows(out) if r[0]]                                          # one first line per entry
    assert [(r[0], r[1]) for r in rows] == [(e["name"], e["source"]) for e in entries]
    assert rows[0][:2] == ["minilm-l6", "bundled"]
    assert any(r[1] == "run" and r[2].startswith("finished") for r in rows)


BAD = [
    (["summary", "--model", "M", "--max-length", "0"], "--max-length 0 is out of range: it must be from 8"),
    (["summary", "--model", "M", "--max-length", "16"], "--max-length is for describing a dataset"),
    (["summary", "--model", "M", "--freeze-layers", "-2"], "--freeze-layers -2 is out of range: it must be from -1"),
    (["summary", "--model", "M", "--freeze-layers", "9"], "has only 2 layers"),
    (["summary", "--data", "D", "--eqn", EQN, "--freeze-layers", "1"], "--freeze-layers is for describing a model"),
    (["summary", "--data", "D", "--eqn", EQN, "--model", "M", "--max-length", "100"], "beyond"),
    (["cat", "--data", "D", "--eqn", EQN, "--limit", "-1"], "--limit -1 is out of range: it must be from 0"),
    (["cat", "--data", "D", "--eqn", EQN, "--split", "nosuch"], "there is no split 'nosuch'"),
]


@pytest.mark.parametrize("argv, fragment", BAD)
def test_bad_numbers_and_splits_are_one_line_and_exit_2(trained, argv, fragment, capsys):
    argv = [{"M": trained["run"], "D": trained["data"]}.get(a, a) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith(f"tunelab {argv[0]}: error: ") and "\n" not in err and "Traceback" not in err
    assert fragment in err and captured.out == ""                                      # nothing half-written (no header)


def test_cat_takes_a_split_by_another_name(trained, capsys):
    assert main(["cat", "--data", trained["data"], "--eqn", EQN, "--split", "dev", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "split\tlabel\tsentence" and len(lines) == 3
    assert all(line.startswith("validation\t") for line in lines[1:])
