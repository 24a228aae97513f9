"""Every verb on an extractive QA run, end to end through the CLI: fit a tiny random BERT on the toy SQuAD v2-style
questions (conftest.toy_qa_rows), then eval, predict, summary, cat, check, heads and attention read it as a user
would, at 80 columns. (The task's windows, post-processing and scores are in tests/core/test_spans_task.py; the
bad input of every verb in test_qa_sweep.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import QA_EQN, build_tiny_bert, write_toy_qa_splits
from tunelab.cli import main

CONTEXT = "this is good . the dog sat near the red cabinet . those were small ."


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    data = write_toy_qa_splits(root / "data")
    base = build_tiny_bert(root / "base", max_positions=128)
    argv = ["fit", "--model", str(base), "--data", str(data), "--eqn", QA_EQN, "--epochs", "12", "--lr", "3e-3",
            "--batch-size", "16", "--warmup", "0", "--max-length", "64", "--out", str(root / "run")]
    return {"run": str(root / "run"), "data": str(data), "base": str(base), "argv": argv}


@pytest.fixture(scope="module")
def fitted(qa_run):
    """The run, fitted once; what fit printed (stdout and stderr) is kept for the fit test."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(qa_run["argv"])
    assert code == 0, err.getvalue()
    return qa_run | {"printed": out.getvalue() + err.getvalue()}


@pytest.fixture
def columns80(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")      # as on an 80-column terminal (output that is not one is not wrapped)


def _narrow(text: str, width: int = 80) -> None:
    assert all(len(line) <= width for line in text.splitlines()), max(text.splitlines(), key=len)


def test_fit_prints_progress_and_squad_scores_f1_first(fitted):
    printed = fitted["printed"]
    assert "classify_spans: answers ~ question + context" in printed
    evals = [line for line in printed.splitlines() if line.startswith("epoch ") and " validation " in line]
    assert len(evals) == 12
    assert evals[0].split(" validation ", 1)[1].startswith("f1 ")           # the figure of merit first
    final = [line for line in printed.splitlines() if line.strip().startswith("test: ")][-1]
    for name in ("f1", "exact_match", "HasAns_f1", "HasAns_exact_match", "NoAns_f1", "NoAns_exact_match",
                 "best_null_threshold"):
        assert f" {name} " in final
    metrics = json.loads((Path(fitted["run"]) / "metrics.json").read_text())
    assert metrics["test"]["f1"] > 0.5
    assert json.loads((Path(fitted["run"]) / "run.json").read_text())["figure_of_merit"] == "f1"


def test_eval_reports_em_f1_hasans_noans_and_readable_mistakes(fitted, capsys, columns80):
    assert main(["eval", "--model", fitted["run"], "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["figure_of_merit"] == "f1" and r["value"] == r["scores"]["f1"]
    assert {"exact_match", "HasAns_f1", "NoAns_f1", "best_f1", "best_null_threshold"} <= set(r["scores"])
    assert r["majority_label"] == "(no answer)" and r["majority_accuracy"] is None
    m = r["mistakes"][0]                          # --json keeps everything: whole context and character spans
    assert {"id", "question", "predicted", "gold", "probability", "context", "spans"} <= set(m)
    assert m["spans"]["context"] and "gold_answers" in m["spans"]

    assert main(["eval", "--model", fitted["run"], "--mistakes", "3"]) == 0
    out = capsys.readouterr().out
    _narrow(out)
    s = r["scores"]
    assert f"f1 {r['value']:.4f}  (majority-class baseline {r['majority_baseline']:.4f}: always '(no answer)')" in out
    assert "accuracy" not in out                  # "no answer" everywhere is scored by F1, not an accuracy
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()[:3] in ("all", "Has", "NoA")}
    assert ["f1", "exact", "match", "count"] in [line.split() for line in out.splitlines()]
    assert rows["all"][:2] == [f"{s['f1']:.4f}", f"{s['exact_match']:.4f}"]
    assert rows["HasAns"][:2] == [f"{s['HasAns_f1']:.4f}", f"{s['HasAns_exact_match']:.4f}"]
    assert rows["NoAns"][:2] == [f"{s['NoAns_f1']:.4f}", f"{s['NoAns_exact_match']:.4f}"]
    assert int(rows["HasAns"][2]) + int(rows["NoAns"][2]) == int(rows["all"][2]) == r["examples"]
    assert f"best_null_threshold {s['best_null_threshold']:.4f}" in out
    # each mistake a block: its probability, then question, predicted, gold and context each on its own line
    assert "most confident wrong answers" in out
    for n, m in enumerate(r["mistakes"][:3], 1):
        assert f"{n:>2}. probability {m['probability']:.3f}" in out
    first = out[out.index(" 1. probability"):]
    for field in ("id", "question", "predicted", "gold"):
        line = next(line for line in first.splitlines() if line.strip().startswith(field + " "))
        assert line.split(None, 1)[1].strip() == str(r["mistakes"][0][field])
    assert "│" not in first                        # not a table folded to a word a line


def test_eval_with_the_reported_best_null_threshold_scores_the_best_f1(fitted, capsys):
    assert main(["eval", "--model", fitted["run"], "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    assert main(["eval", "--model", fitted["run"], "--null-threshold", repr(scores["best_null_threshold"]), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["scores"]
    assert again["f1"] == pytest.approx(scores["best_f1"]) and again["f1"] >= scores["f1"]


def test_predict_a_question_about_a_context(fitted, capsys, columns80):
    assert main(["predict", "--model", fitted["run"], "--question", "where the dog sat ?", "--context", CONTEXT,
                 "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["answer"] == CONTEXT[p["start"]:p["end"]] if p["start"] is not None else p["answer"] == ""
    assert 0 <= p["score"] <= 1 and 0 <= p["no_answer_probability"] <= 1
    assert p["alternatives"] and all(CONTEXT[a["start"]:a["end"]] == a["answer"] for a in p["alternatives"])
    assert main(["predict", "--model", fitted["run"], "--question", "where the dog sat ?", "--context", CONTEXT]) == 0
    out = capsys.readouterr().out
    _narrow(out)
    lines = out.splitlines()
    if p["start"] is not None:
        assert lines[0].startswith(f"{p['answer']}  {p['score']:.4f}  characters {p['start']}-{p['end']}")
    alt = p["alternatives"][0]
    assert f"{alt['score']:.4f}  {alt['answer']!r}  characters {alt['start']}-{alt['end']}" in out
    assert f"no answer: {p['no_answer_probability']:.4f}" in lines[-1]


def test_predict_takes_the_null_threshold(fitted, capsys):
    """--null-threshold (default: the run's own) decides no answer at predict time as at eval."""
    answers = []
    for threshold in ("-1000000", "1000000"):
        assert main(["predict", "--model", fitted["run"], "--question", "where the dog sat ?", "--context", CONTEXT,
                     "--null-threshold", threshold, "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0]["answer"] == "" and answers[0]["start"] is None
    assert answers[1]["answer"] == CONTEXT[answers[1]["start"]:answers[1]["end"]] != ""


def test_predict_a_long_question_narrows_the_stride_instead_of_failing(fitted, capsys):
    """A 50-token question leaves 11 tokens of a 64-token window for the context, less than the run's stride (21):
    the stride narrows for it (fit refuses such data; a typed question is answered)."""
    question = " ".join(["where"] * 9) + " the dog sat ?"
    long = " . ".join(["this is good"] * 12) + " . the dog sat near the mat ."
    assert main(["predict", "--model", fitted["run"], "--question", question, "--context", long, "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["windows"] > 3
    assert p["answer"] == "" or p["answer"] == long[p["start"]:p["end"]]


def test_predict_a_file_of_question_tab_context_lines(fitted, capsys, tmp_path):
    lines = ["where the dog sat ?\t" + CONTEXT, "where the cat sat ?\tthe cat sat near the mat ."]
    (tmp_path / "qs.tsv").write_text("\n".join(lines) + "\n")
    assert main(["predict", "--model", fitted["run"], "--input", str(tmp_path / "qs.tsv")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["question"], r["context"]) for r in records] == [tuple(line.split("\t")) for line in lines]
    for r in records:
        assert {"answer", "score", "start", "end", "alternatives", "no_answer_probability"} <= set(r)
    assert main(["predict", "--model", fitted["run"], "--input", str(tmp_path / "qs.tsv"), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


def test_summary_reports_lengths_windows_answers_in_a_table(fitted, capsys, columns80):
    argv = ["summary", "--data", fitted["data"], "--eqn", QA_EQN, "--model", fitted["base"], "--max-length", "24"]
    assert main([*argv, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    test = s["task_details"]["test"]
    assert test["windows"] > s["rows"]["test"] and test["windows_per_example"]["max"] > 1   # 24 tokens: windows
    assert test["unanswerable_share"] == pytest.approx(s["label_balance"]["test"]["unanswerable"] / s["rows"]["test"])
    assert {"question_tokens", "context_tokens", "answer_tokens", "answers_across_windows", "doc_stride"} <= set(test)
    assert s["notes"] == []
    assert main(argv) == 0
    out = capsys.readouterr().out
    _narrow(out)
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    splits = list(s["task_details"])
    q = s["task_details"][splits[0]]["question_tokens"]
    assert rows["question tokens"][0] == f"{q['p50']}/{q['p90']}/{q['max']}"
    assert rows["windows"] == [f"{s['task_details'][x]['windows']:,}" for x in splits]
    assert rows["unanswerable"] == [f"{s['task_details'][x]['unanswerable_share']:.1%}" for x in splits]
    assert rows["answers across windows"] == [str(s["task_details"][x]["answers_across_windows"]) for x in splits]


def test_cat_prints_question_tab_context_tab_answer(fitted, capsys):
    assert main(["cat", "--data", fitted["data"], "--eqn", QA_EQN, "--split", "test", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "question\tcontext\tanswers"
    rows = [json.loads(line) for line in open(Path(fitted["data"]) / "test.jsonl")][:5]
    for line, row in zip(lines[1:], rows):
        answer = " | ".join(row["answers"]["text"]) or "(no answer)"
        assert line == f"{row['question']}\t{row['context']}\t{answer}"


def test_check_judges_a_span_head(fitted, capsys):
    """Before: AttributeError ('QuestionAnsweringModelOutput' has no 'logits'). Now every check runs on the start
    and end logits, without data (its own question-context pairs) and with it (baseline, overfitting a batch)."""
    assert main(["check", "--model", fitted["run"], "--json"]) == 0
    status = {c["name"]: c["status"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert status["loads"] == status["label_mapping"] == status["probabilities"] == status["attention_rows"] == "pass"
    assert status["predictions_vary"] in ("pass", "warn")
    assert main(["check", "--model", fitted["run"], "--data", fitted["data"], "--eqn", QA_EQN, "--json"]) in (0, 1)
    r = json.loads(capsys.readouterr().out)
    status = {c["name"]: c["status"] for c in r["checks"]}
    assert status["beats_baseline"] == "pass" and status["overfits_batch"] == "pass"
    assert r["figures"]["figure_of_merit"] == "f1" and r["figures"]["baseline"] == "always no answer"
    detail = next(c["detail"] for c in r["checks"] if c["name"] == "predictions_vary")
    assert "question–context pairs" in detail


def test_check_on_a_bare_encoder_with_qa_data_gives_it_a_span_head(fitted, capsys):
    assert main(["check", "--model", fitted["base"], "--data", fitted["data"], "--eqn", QA_EQN, "--json"]) in (0, 1)
    r = json.loads(capsys.readouterr().out)
    status = {c["name"]: c["status"] for c in r["checks"]}
    assert status["label_mapping"] == "warn" and "BertForQuestionAnswering" in r["checks"][0]["detail"]
    assert status["overfits_batch"] in ("pass", "fail")          # it ran: the span labels were read


def test_attention_on_the_question_context_pair_with_bertviz_export(fitted, capsys, tmp_path):
    assert main(["attention", "--model", fitted["run"], "--question", "where the dog sat ?", "--context", CONTEXT,
                 "--out", str(tmp_path / "att"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    tokens = r["tokens"]
    assert tokens[0] == "[CLS]" and tokens[r["sentence_b_start"] - 1] == "[SEP]"
    assert tokens[r["sentence_b_start"]:r["sentence_b_start"] + 3] == ["this", "is", "good"]   # the context second
    for name in ("head_view.html", "model_view.html", "attention.npz", "tokens.json"):
        assert (tmp_path / "att" / name).is_file()
    assert "cabinet" in (tmp_path / "att" / "head_view.html").read_text()
    assert main(["heads", "--model", fitted["run"], "--data", fitted["data"], "--eqn", QA_EQN, "--limit", "8",
                 "--out", str(tmp_path / "heads.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
