"""`tunelab explain` as a user sees it: a signed bar per word with the cue word's the longest, --json, JSONL for a file,
a script-free HTML page, the deletion-curve table, QA and token tags, and one-line refusals (exit 2)."""

from __future__ import annotations

import json

import pytest

from conftest import NER_EQN, build_tiny_bert, train_tiny, write_toy_ner_splits, write_toy_splits
from tunelab.cli import main

SENTENCE = "the cats were happy near the big red table ."


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny model fine-tuned on the toy task, where one cue word (good/happy vs bad/sad) decides the label."""
    root = tmp_path_factory.mktemp("explain-cli")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


def refused(capsys, argv, words: str) -> None:
    assert main(["explain", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("tunelab explain: error: ") and "\n" not in err and "Traceback" not in err, err
    assert words in err, err
    assert captured.out == ""


def test_signed_bars_put_the_cue_word_first(run_dir, capsys):
    assert main(["explain", "--model", str(run_dir), SENTENCE]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("acceptable") and "Integrated Gradients" in out[0] and "delta" in out[0]
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == set(SENTENCE.split())
    longest = max(rows, key=lambda w: rows[w].count("█"))
    assert longest == "happy" and float(rows["happy"].split()[1]) > 0
    assert "│" in rows["happy"] and rows["happy"].index("█") > rows["happy"].index("│")   # positive: right of it


def test_json_has_words_scores_method_target_delta(run_dir, capsys):
    assert main(["explain", "--model", str(run_dir), SENTENCE, "--json", "--method", "grad-input"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["words"] == SENTENCE.split() and len(record["scores"]) == len(record["words"])
    assert record["method"] == "grad-input" and record["target"] == "acceptable" and record["delta"] is None
    assert main(["explain", "--model", str(run_dir), SENTENCE, "--json", "--steps", "16", "--target",
                 "unacceptable"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["method"] == "ig" and record["steps"] == 16 and isinstance(record["delta"], float)
    assert record["target"] == "unacceptable" and min(record["scores"]) == record["scores"][3]   # happy: against


def test_input_file_writes_jsonl(run_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("the cat is sad .\n\nthe dogs were good on the mat .\n", encoding="utf-8")
    assert main(["explain", "--model", str(run_dir), "--input", str(src), "--method", "grad-norm"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in lines] == [1, 3] and lines[0]["words"][3] == "sad"
    out = tmp_path / "out.jsonl"
    assert main(["explain", "--model", str(run_dir), "--input", str(src), "--out", str(out),
                 "--method", "rollout"]) == 0
    assert "2 explanations written" in capsys.readouterr().out
    assert [json.loads(line)["method"] for line in out.read_text().splitlines()] == ["rollout", "rollout"]


def test_html_page_shows_a_script_and_has_none(run_dir, tmp_path, capsys):
    page = tmp_path / "why.html"
    text = "the cat </script><script>alert(1)</script> is happy"
    assert main(["explain", "--model", str(run_dir), text, "--html", str(page)]) == 0
    assert "page written" in capsys.readouterr().out
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "rgba(37, 99, 235" in html          # a word coloured blue (pushed towards the class)


def test_faithfulness_table(run_dir, capsys):
    from pathlib import Path

    data = Path(run_dir).parent / "toy"
    assert main(["explain", "--model", str(run_dir), "--faithfulness", "--data", str(data), "--limit", "12",
                 "--k", "3", "--steps", "8"]) == 0
    out = capsys.readouterr().out
    assert "deletion curves" in out and "AOPC" in out and "12 sentences of validation" in out
    for method in ("ig", "grad-input", "grad-norm", "rollout", "random"):
        assert f"│ {method}" in out
    assert main(["explain", "--model", str(run_dir), "--faithfulness", "--data", str(data), "--limit", "6",
                 "--k", "2", "--steps", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sentences"] == 6 and set(report["aopc"]) == {"ig", "grad-input", "grad-norm", "rollout", "random"}
    assert isinstance(report["flagged"], bool) and len(report["curves"]["ig"]) == 2


def test_mistakes_are_one_line(run_dir, capsys, tmp_path):
    m = ["--model", str(run_dir)]
    refused(capsys, [*m, SENTENCE, "--method", "lime"], "--method 'lime'")
    refused(capsys, [*m, SENTENCE, "--steps", "0"], "--steps 0")
    refused(capsys, [*m, SENTENCE, "--steps", "5000"], "--steps 5000")
    refused(capsys, [*m, SENTENCE, "--target", "maybe"], "not one of this model's classes")
    refused(capsys, [*m, SENTENCE, "--word", "2"], "--word picks a word of a token-tagging model")
    refused(capsys, [*m, SENTENCE, "--word", "0"], "count from 1")
    refused(capsys, [*m, "--faithfulness"], "needs --data")
    refused(capsys, [*m, SENTENCE, "--limit", "5"], "--limit is for --faithfulness")
    refused(capsys, [*m, "--faithfulness", "--data", "demo", "--word", "2"], "drop --word")
    refused(capsys, [*m, SENTENCE, "--out", "x.jsonl"], "--out is for --input")
    refused(capsys, [*m, "   "], "empty")
    refused(capsys, [SENTENCE], "--model is required")
    refused(capsys, [*m, SENTENCE, "--html", str(tmp_path / "no" / "such" / "p.html")], "does not exist")
    refused(capsys, [*m, SENTENCE, "--html", str(tmp_path)], "is a directory")
    refused(capsys, [*m, "--input", "-", "--out", str(tmp_path / "no" / "x.jsonl")], "does not exist")
    assert not (tmp_path / "no").exists()


def test_qa_question_and_context(tiny_qa_run, capsys):
    assert main(["explain", "--model", str(tiny_qa_run), "--question", "where the cat sat ?", "--context",
                 "this is good . the cat sat near the red cabinet .", "--json", "--method", "grad-input"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["target"].startswith("answer ") and record["pair"].startswith("this is good")
    assert record["words"][:4] == ["where", "the", "cat", "sat"]


def test_a_token_tag_by_word(tmp_path, capsys):
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    data = write_toy_ner_splits(tmp_path / "ner")
    fit(FitConfig(model=str(build_tiny_bert(tmp_path / "base")), data=str(data), eqn=NER_EQN,
                  out=str(tmp_path / "run"), epochs=1, lr=1e-3, batch_size=16, warmup=0))
    assert main(["explain", "--model", str(tmp_path / "run"), "the boy sat near the table", "--word", "2",
                 "--json", "--method", "grad-norm"]) == 0
    assert "at word 2 ('boy')" in json.loads(capsys.readouterr().out)["target"]
    refused(capsys, ["--model", str(tmp_path / "run"), "the boy sat", "--word", "7"], "--word 7")
