"""Extractive QA mistakes a user makes from the CLI, through every verb that reads them: one line, exit 2, nothing
written (no run directory after a refused `fit`, no --output file after a refused `predict`)."""

from __future__ import annotations

import json

import pytest

from conftest import QA_EQN, build_tiny_bert, toy_qa_rows, write_jsonl
from tunelab.cli import main


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("qa-base") / "m", max_positions=128)


@pytest.fixture(scope="module")
def run(tmp_path_factory, base):
    """A QA run trained for one epoch (its head and settings are what matter here)."""
    root = tmp_path_factory.mktemp("qa-sweep")
    write_jsonl(root / "train.jsonl", toy_qa_rows(32))
    assert main(["fit", "--model", str(base), "--data", str(root / "train.jsonl"), "--eqn", QA_EQN, "--epochs", "1",
                 "--max-length", "64", "--out", str(root / "run")]) == 0
    return str(root / "run")


def _refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _row(**kw):
    return {"id": "r1", "question": "where ?", "context": "the cat sat on the mat .",
            "answers": {"text": ["mat"], "answer_start": [19]}} | kw


GOOD = [_row(id=f"g{i}") for i in range(4)]


def _fit_refused(capsys, tmp_path, base, rows, *flags, eqn=QA_EQN, name="data.jsonl") -> str:
    path = tmp_path / name
    if isinstance(rows, (dict, str)):
        path.write_text(rows if isinstance(rows, str) else json.dumps(rows))
    else:
        write_jsonl(path, rows)
    err = _refused(capsys, ["fit", "--model", str(base), "--data", str(path), "--eqn", eqn, "--epochs", "1",
                            "--max-length", "64", "--out", str(tmp_path / "out"), *flags])
    assert not (tmp_path / "out").exists()
    return err


@pytest.mark.parametrize("start, shown", [(18, "(+1)"), (20, "(-1)"), (17, "(+2)"), (21, "(-2)")])
def test_an_answer_start_off_by_one_or_two_names_the_id_and_the_right_offset(tmp_path, base, capsys, start, shown):
    err = _fit_refused(capsys, tmp_path, base, GOOD + [_row(id="q-17", answers={"text": ["mat"], "answer_start": [start]})])
    assert "id 'q-17'" in err and f"answer_start {start}" in err and f"at 19 {shown}" in err


@pytest.mark.parametrize("row, said", [
    (_row(id="q-5", answers={"text": ["mat"], "answer_start": [40]}), "outside the context"),
    (_row(id="q-5", answers={"text": ["dog"], "answer_start": [3]}), "is not in the context"),
    (_row(id="q-5", context=""), "the context is empty"),
    (_row(id="q-5", context=" \u200b\u00a0\t"), "the context is empty"),         # before: 'answer not in the context'
    (_row(id="q-5", question=""), "the question is empty"),
    (_row(id="q-5", question="\u200b\u200b"), "the question is empty"),           # before: trained on
    (_row(id="q-5", answers=None), "no answers (null)"),
    (_row(id="q-5", answers={"text": ["mat", "the mat"], "answer_start": [19]}), "2 text(s) but 1 answer_start"),
])
def test_bad_answers_and_empty_texts_name_the_id(tmp_path, base, capsys, row, said):
    err = _fit_refused(capsys, tmp_path, base, GOOD + [row])
    assert said in err and "id 'q-5'" in err


def test_duplicate_ids_are_refused_in_flat_and_nested_files(tmp_path, base, capsys):
    assert "id 'g1' is used twice" in _fit_refused(capsys, tmp_path, base, GOOD + [_row(id="g1")])
    nested = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": "the cat sat on the mat .", "qas": [
        {"id": "a", "question": "where ?", "answers": [{"text": "mat", "answer_start": 19}]},
        {"id": "a", "question": "who ?", "answers": [{"text": "cat", "answer_start": 4}]}]}]}]}
    assert "id 'a' is used twice" in _fit_refused(capsys, tmp_path, base, nested, name="squad.json")


@pytest.mark.parametrize("doc, said", [
    ({"data": [{"title": "t", "qas": [{"id": "a", "question": "q", "answers": []}]}]}, 'no "paragraphs" list'),
    ({"data": [{"title": "t", "paragraphs": [{"qas": [{"id": "a", "question": "q", "answers": []}]}]}]},
     'no "context" string'),
    ({"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": []}]}]}]},
     'no "id"'),
])
def test_squad_json_with_a_missing_level_names_the_place(tmp_path, base, capsys, doc, said):
    err = _fit_refused(capsys, tmp_path, base, doc, name="squad.json")
    assert said in err and "data[0]" in err


@pytest.mark.parametrize("eqn, said", [
    ("classify_spans: answers ~ context", "reads a question and a context"),
    ("classify_spans: question ~ id + context", "not answers"),
    ("classify_spans: answers + id ~ question + context", "one output column"),
])
def test_an_equation_of_the_wrong_shape_is_refused(tmp_path, base, capsys, eqn, said):
    assert said in _fit_refused(capsys, tmp_path, base, GOOD, eqn=eqn)


def test_answers_that_are_not_an_answers_structure_are_refused(tmp_path, base, capsys):
    err = _fit_refused(capsys, tmp_path, base, [_row(id=f"g{i}", answers="mat") for i in range(3)])
    assert "not answers" in err and "answer_start" in err


@pytest.mark.parametrize("flags, said", [
    (["--doc-stride", "60"], "--doc-stride 60 is not below --max-length 64 minus the longest question"),
    (["--n-best", "0"], "--n-best 0 is out of range"),
    (["--max-answer-length", "0"], "--max-answer-length 0 is out of range"),
    (["--null-threshold", "nan"], "--null-threshold must be a finite number"),
])
def test_settings_out_of_range_are_refused(tmp_path, base, capsys, flags, said):
    assert said in _fit_refused(capsys, tmp_path, base, GOOD, *flags)


def test_a_question_longer_than_max_length_is_named_by_every_data_verb(tmp_path, base, run, capsys):
    """Before: '--doc-stride 21 is not below ... minus the longest question (400 tokens), -339'."""
    rows = GOOD + [_row(id="long", question=" ".join(["where"] * 80))]
    err = _fit_refused(capsys, tmp_path, base, rows)
    assert "the question (id 'long') is 400 tokens" in err and "no room for the context" in err
    data = str(tmp_path / "data.jsonl")
    for argv in (["eval", "--model", run, "--data", data, "--eqn", QA_EQN],
                 ["summary", "--model", str(base), "--data", data, "--eqn", QA_EQN, "--max-length", "64"]):
        assert "the question (id 'long') is 400 tokens" in _refused(capsys, argv)


# ---------------------------------------------------------------- predict

@pytest.mark.parametrize("args, said", [
    (["--question", "where ?"], "give the context too (--pair or --context, or one question<TAB>context line"),
    (["--question", "where ?", "--context", " \u200b\u00a0 "], "the context (--context) is empty"),
    (["--question", "\u200b", "--context", "the cat sat"], "the question (--question) is empty"),
    (["--question", " ".join(["where"] * 80), "--context", "the cat sat"], "is 400 tokens: with 3 special tokens it "
                                                                           "leaves no room for the context"),
    (["--question", "where ?", "where ?", "--context", "c"], "give the question once"),
    (["--question", "where ?", "--context", "c", "--n-best", "0"], "--n-best 0 is out of range"),
    (["--question", "where ?", "--context", "c", "--max-answer-length", "0"], "--max-answer-length 0 is out of range"),
    (["--question", "where ?", "--context", "c", "--null-threshold", "nan"], "--null-threshold must be a finite"),
])
def test_predict_refuses_a_missing_or_empty_context_and_a_question_too_long(run, capsys, args, said):
    assert said in _refused(capsys, ["predict", "--model", run, *args])


def test_predict_input_refuses_lines_without_a_context_and_writes_nothing(run, capsys, tmp_path):
    (tmp_path / "single.txt").write_text("where the cat sat ?\n")
    err = _refused(capsys, ["predict", "--model", run, "--input", str(tmp_path / "single.txt"),
                            "--output", str(tmp_path / "out.jsonl")])
    assert "write each pair on one line, tab-separated: question<TAB>context" in err
    (tmp_path / "long.txt").write_text("where the cat sat ?\tthe cat sat .\n" + " ".join(["where"] * 80) + "\tthe cat\n")
    err = _refused(capsys, ["predict", "--model", run, "--input", str(tmp_path / "long.txt"),
                            "--output", str(tmp_path / "out.jsonl")])
    assert "no room for the context" in err
    assert not (tmp_path / "out.jsonl").exists()


def test_the_onnx_backend_is_refused_for_a_qa_model(run):
    """ONNX Runtime runs sentence and token heads; a QA model is refused in one line (the CLI has no --backend: the
    Predictor picks PyTorch for a QA model by itself)."""
    from tunelab.core.errors import TuneLabError
    from tunelab.core.predictor import Predictor

    with pytest.raises(TuneLabError, match="PyTorch only") as err:
        Predictor(run, backend="onnx")
    assert "\n" not in str(err.value)
    assert Predictor(run).backend == "torch"


@pytest.mark.parametrize("flag, value", [("--doc-stride", "10"), ("--n-best", "5"), ("--max-answer-length", "3"),
                                         ("--null-threshold", "1.5")])
def test_a_qa_setting_on_another_task_is_refused_not_ignored(tmp_path, base, capsys, flag, value):
    """Before: `fit --data demo --doc-stride 10` trained a sentence classifier and ignored the flag."""
    from conftest import write_toy_splits

    data = write_toy_splits(tmp_path / "cls")
    err = _refused(capsys, ["fit", "--model", str(base), "--data", str(data), "--eqn", "classify: label ~ sentence",
                            "--epochs", "1", flag, value, "--out", str(tmp_path / "out")])
    assert f"{flag} is a setting of classify_spans, but this is a classify task" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags, said", [
    (["--null-threshold", "nan"], "--null-threshold must be a finite number"),
    (["--n-best", "0"], "--n-best 0 is out of range"),
    (["--max-answer-length", "0"], "--max-answer-length 0 is out of range"),
    (["--doc-stride", "60"], "--doc-stride 60 is not below --max-length 64"),
])
def test_eval_refuses_qa_settings_out_of_range(run, capsys, flags, said):
    assert said in _refused(capsys, ["eval", "--model", run, *flags])


def test_a_qa_setting_given_to_a_predictor_of_another_task_is_refused(tmp_path):
    from conftest import train_tiny, write_toy_splits
    from tunelab.core.errors import TuneLabError
    from tunelab.core.predictor import Predictor

    run = train_tiny(tmp_path, write_toy_splits(tmp_path / "toy"), epochs=1).run_dir
    with pytest.raises(TuneLabError, match="--null-threshold is a setting of classify_spans, but this is a classify"):
        Predictor(str(run), settings={"null_threshold": 1.0})
