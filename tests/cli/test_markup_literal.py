"""User text is shown as it is, never read as Rich markup, by every verb; big outputs are capped; output that is
not a terminal is not wrapped.

Labels `[pos]`/`[/neg]`, sentences ending `[/b]` or holding `[bold]`, a base model under `base[x]` and a run under
`runs/[/x]run` (the `/` makes it the folder `[` holding `x]run`) went through Rich's markup: MarkupError
tracebacks, or brackets that silently vanished (`: 9 (45%)`). Each verb here is run on them through `main`, and
the strings must come out literally. A tiny model with 3,000 classes checks that eval, its JSON and predict
print a bounded amount.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import agreement_rows, build_tiny_bert, write_jsonl, write_toy_splits
from tunelab.cli import main

EQN = "classify: label ~ sentence"
POS, NEG = "[pos]", "[/neg]"


def bracket_rows(n: int, seed: int) -> list[dict]:
    rows = agreement_rows(n, seed)
    for i, row in enumerate(rows):
        row["label"] = POS if row["label"] == "acceptable" else NEG
        row["sentence"] += " [/b]" if i % 2 else " [bold] x"
    return rows


@pytest.fixture(scope="module")
def bracketed(tmp_path_factory) -> dict:
    """A run trained by `tunelab fit` on bracketed labels and sentences, into a bracketed run directory."""
    root = tmp_path_factory.mktemp("markup")
    data = write_toy_splits(root / "data-1", bracket_rows)   # (a folder named with brackets is read as a glob by datasets)
    base = build_tiny_bert(root / "base[x]")
    run = root / "runs" / "[" / "x]run"            # what --out runs/[/x]run makes
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["fit", "--model", str(base), "--data", str(data), "--eqn", EQN, "--out", str(root / "runs/[/x]run"),
                   "--epochs", "1", "--batch-size", "16", "--lr", "1e-3", "--warmup", "0"])
    assert rc == 0, err.getvalue()
    assert run.is_dir() and (run / "model" / "config.json").is_file()
    return {"root": root, "data": data, "base": base, "run": run, "fit_out": out.getvalue() + err.getvalue()}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "MarkupError" not in err, err
    return rc, out, err


def test_fit_prints_the_bracketed_run_directory(bracketed):
    assert "[/x]run" in bracketed["fit_out"] and "base[x]" in bracketed["fit_out"]


def test_predict_shows_bracketed_labels(bracketed, capsys):
    rc, out, _ = run_cli(capsys, "predict", "--model", bracketed["run"], "the cat is good . [/b]")
    assert rc == 0
    assert POS in out and NEG in out                   # the winner and both probability lines
    rc, out, _ = run_cli(capsys, "predict", "--model", bracketed["run"], "the cat [bold] is good", "--json")
    assert rc == 0 and set(json.loads(out)["probabilities"]) == {POS, NEG}


def test_predict_batch_with_bracketed_lines(bracketed, tmp_path, capsys):
    lines = tmp_path / "in[1].txt"
    lines.write_text("the cat is good . [/b]\n[bold] the dog is bad\n", encoding="utf-8")
    out_file = tmp_path / "out[/b].jsonl".replace("/", "_")
    rc, out, _ = run_cli(capsys, "predict", "--model", bracketed["run"], "--input", lines, "--output", out_file)
    assert rc == 0 and str(out_file) in out
    assert [json.loads(x)["label"] in (POS, NEG) for x in out_file.read_text().splitlines()] == [True, True]


def test_eval_shows_labels_sentences_and_run_literally(bracketed, capsys):
    rc, out, _ = run_cli(capsys, "eval", "--model", bracketed["run"])
    assert rc == 0
    assert "[/x]run" in out and "[/b]" in out and "[bold] x" in out
    per_class = [line for line in out.splitlines() if line.startswith("│ [")]
    assert any(POS in line for line in per_class) and any(NEG in line for line in per_class)
    rc, out, _ = run_cli(capsys, "eval", "--model", bracketed["run"], "--json")
    report = json.loads(out)
    assert rc == 0 and set(report["labels"]) == {POS, NEG} and set(report["confusion_labels"]) == {POS, NEG}


def test_summary_of_data_and_model(bracketed, capsys):
    rc, out, _ = run_cli(capsys, "summary", "--data", bracketed["data"], "--eqn", EQN)
    assert rc == 0
    assert f"{POS}: " in out and f"{NEG}: " in out and "data-1" in out   # not ': 79 (49%)'
    rc, out, _ = run_cli(capsys, "summary", "--model", bracketed["run"])
    assert rc == 0 and "[/x]run" in out and f"labels: {NEG}, {POS}" in out


def test_cat_and_check(bracketed, capsys):
    rc, out, _ = run_cli(capsys, "cat", "--data", bracketed["data"], "--eqn", EQN, "--limit", "2")
    assert rc == 0 and ("[/b]" in out or "[bold]" in out)
    rc, out, _ = run_cli(capsys, "check", "--model", bracketed["run"], "--data", bracketed["data"], "--eqn", EQN,
                         "--limit", "40")
    assert rc in (0, 1) and "[/x]run" in out and f"{NEG}, {POS}" in out


def test_a_bracketed_run_in_the_history_lists_in_runs_and_models(bracketed, capsys, tmp_path, monkeypatch):
    from tunelab.core.run_dir import remember_run

    remember_run(bracketed["run"])
    monkeypatch.chdir(tmp_path)                         # "from any directory"
    rc, out, _ = run_cli(capsys, "runs")
    assert rc == 0 and "[/x]run" in out and "base[x]" in out and "data-1" in out
    rc, out, _ = run_cli(capsys, "runs", "--json")
    assert rc == 0 and any(r["run_dir"].endswith("[/x]run") for r in json.loads(out))
    rc, out, _ = run_cli(capsys, "models")
    assert rc == 0 and "[/x]run" in out


def test_watch_and_stop_name_the_run_literally(bracketed, capsys):
    rc, out, err = run_cli(capsys, "watch", bracketed["run"])
    assert rc == 0 and "[/x]run" in out + err and "base[x]" in out + err
    rc, out, err = run_cli(capsys, "stop", bracketed["run"])   # it has finished: refused in one line
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "[/x]run" in err


def test_attention_and_heads(bracketed, capsys, tmp_path):
    rc, out, _ = run_cli(capsys, "attention", "--model", bracketed["run"], "the cat [/b]", "--out", tmp_path / "att[/b]")
    assert rc == 0 and "[/x]run" in out and "att[/b]" in out
    rc, out, _ = run_cli(capsys, "heads", "--model", bracketed["run"], "--data", bracketed["data"], "--eqn", EQN,
                         "--limit", "4", "--out", tmp_path / "h[x].csv")
    assert rc == 0 and "[/x]run" in out and "data-1" in out and "h[x].csv" in out


# --- output to a file or a pager is not wrapped ---------------------------------------------------------------------


def test_runs_piped_does_not_wrap_long_names(tmp_path):
    """`tunelab runs | less` from an 80-column terminal: stdout is a pipe, stdin and stderr the terminal. Rich took
    the terminal's width from stdin/stderr and wrapped the run's name at 80 columns."""
    import os
    import pty
    import struct
    import termios
    from fcntl import ioctl

    recorded = Path(__file__).parents[1] / "tui" / "fixtures" / "completed"
    name = "a-run-with-a-long-descriptive-name-" + "x" * 70
    run = tmp_path / "runs" / name
    run.mkdir(parents=True)
    for file in ("events.jsonl", "run.json"):
        shutil.copy(recorded / file, run / file)
    main_fd, terminal = pty.openpty()
    ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    try:
        done = subprocess.run([sys.executable, "-m", "tunelab", "runs", str(tmp_path / "runs")], stdin=terminal,
                              stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120, cwd=tmp_path, env=env)
    finally:
        os.close(terminal)
        os.close(main_fd)
    assert done.returncode == 0
    lines = [line for line in done.stdout.splitlines() if "completed" in line]
    assert len(lines) == 1 and name in lines[0] and lines[0].rstrip().endswith("ago"), done.stdout


# --- 3,000 classes --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_classes(tmp_path_factory) -> dict:
    """A tiny classifier with 3,000 named classes and a test split with one example of each (c0000 twice)."""
    from transformers import AutoConfig

    from conftest import WORDS

    root = tmp_path_factory.mktemp("classes")
    n = 3000
    model = build_tiny_bert(root / "model", num_labels=n, hidden=16, layers=1, heads=2)
    config = AutoConfig.from_pretrained(model)
    config.id2label = {i: f"c{i:04d}" for i in range(n)}
    config.label2id = {name: i for i, name in config.id2label.items()}
    config.save_pretrained(model)
    rows = [{"sentence": f"{WORDS[i % len(WORDS)]} {WORDS[(i // 7) % len(WORDS)]} cat", "label": f"c{i:04d}"}
            for i in range(n)] + [{"sentence": "the cat", "label": "c0000"}]
    (root / "data").mkdir()
    write_jsonl(root / "data" / "test.jsonl", rows)
    write_jsonl(root / "data" / "train.jsonl", rows)
    return {"model": model, "data": root / "data"}


def test_eval_of_3000_classes_prints_the_top_ones(many_classes, capsys):
    rc, out, _ = run_cli(capsys, "eval", "--model", many_classes["model"], "--data", many_classes["data"],
                         "--eqn", EQN, "--mistakes", "3")
    assert rc == 0
    assert len(out.splitlines()) < 100                        # not a 3,000 x 3,000 table
    assert "… and 2,980 more classes" in out and "c0000" in out
    rc, out, _ = run_cli(capsys, "eval", "--model", many_classes["model"], "--data", many_classes["data"],
                         "--eqn", EQN, "--json")
    report = json.loads(out)
    assert rc == 0 and len(out) < 2_000_000                   # was 81 MB
    assert len(report["labels"]) == len(report["per_class"]) == 3000
    assert len(report["confusion"]) == len(report["confusion_labels"]) == 100
    assert report["confusion_labels"][0] == "c0000"           # the class with the most examples is kept
    assert "--full-confusion" in report["confusion_note"]


def test_eval_full_confusion_on_request(bracketed, capsys):
    rc, out, _ = run_cli(capsys, "eval", "--model", bracketed["run"], "--json", "--full-confusion")
    report = json.loads(out)
    assert rc == 0 and len(report["confusion"]) == 2 and "confusion_note" not in report


def test_predict_of_3000_classes_prints_the_top_k(many_classes, capsys):
    rc, out, _ = run_cli(capsys, "predict", "--model", many_classes["model"], "the cat")
    assert rc == 0 and len(out.splitlines()) == 1 + 5 + 1 and "… and 2,995 more classes" in out
    rc, out, _ = run_cli(capsys, "predict", "--model", many_classes["model"], "the cat", "--top-k", "2")
    assert rc == 0 and len(out.splitlines()) == 1 + 2 + 1
    rc, out, _ = run_cli(capsys, "predict", "--model", many_classes["model"], "the cat", "--json")
    assert rc == 0 and len(json.loads(out)["probabilities"]) == 3000


def test_a_label_outside_3000_is_named_in_one_short_line(many_classes, tmp_path, capsys):
    data = tmp_path / "odd"
    data.mkdir()
    write_jsonl(data / "test.jsonl", [{"sentence": "the cat", "label": "zzz"}, {"sentence": "a dog", "label": "c0001"}])
    rc = main(["eval", "--model", str(many_classes["model"]), "--data", str(data), "--eqn", EQN])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and len(err) < 400 and "2,995 more" in err, err
