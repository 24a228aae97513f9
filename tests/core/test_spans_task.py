"""The classify_spans task: windows over long contexts and their labels, post-processing across windows, the null
threshold, scores, the data it refuses, and a tiny model through fit, eval and predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import QA_EQN, build_tiny_bert, toy_qa_rows, write_jsonl, write_toy_qa_splits

from tunelab.core.data import load_task_data
from tunelab.core.errors import TuneLabError
from tunelab.core.tasks.base import task_for
from tunelab.core.tasks.spans import Candidate, SpanSettings, Windows, pick_answers


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path_factory.mktemp("qa-tok") / "m", max_positions=128))


def _data(tmp_path, rows, split="train"):
    write_jsonl(tmp_path / f"{split}.jsonl", rows)
    return load_task_data(str(tmp_path / f"{split}.jsonl"), QA_EQN, hold_out=False)


def _decode(enc, w):
    """Each labelled window's answer text, read back through its offsets ('' for a no-answer window)."""
    out = []
    for i, (s, e) in enumerate(enc.labels):
        if s == 0:
            out.append("")
            continue
        cs, offs = w.context_start[i], w.offsets[i]
        out.append(w.contexts[w.example_of[i]][offs[s - cs, 0]:offs[e - cs, 1]])
    return out


LONG = " ".join(["the cat sat on the mat ."] * 6 + ["the red cabinet is near the table ."] + ["the dog ran ."] * 6)


@pytest.mark.parametrize("answer", ["the cat", "red cabinet", "dog ran ."])
def test_windows_hold_the_answer_whole_or_say_no_answer(tmp_path, tokenizer, answer):
    """A context three times the window: every window that holds the whole answer is labelled with it (read back
    through the offsets, it is the answer's text), every other window is labelled no answer at [CLS]."""
    start = LONG.index(answer) if answer != "dog ran ." else LONG.rindex(answer)
    data = _data(tmp_path, [{"id": "a", "question": "where ?", "context": LONG,
                             "answers": {"text": [answer], "answer_start": [start]}}])
    enc = task_for(data).encode(data, "train", tokenizer, 32, None, doc_stride=8)
    w = enc.task_state
    assert len(enc) > 3 and set(w.example_of) == {0}            # one example, several windows
    assert max(enc.lengths) <= 32
    texts = _decode(enc, w)
    assert answer in texts and set(texts) <= {answer, ""}
    for i, text in enumerate(texts):                             # labelled exactly where the window holds it all
        lo, hi = w.offsets[i][0, 0], w.offsets[i][-1, 1]
        assert (text == answer) == (lo <= start and start + len(answer) <= hi)


def test_an_answer_across_a_window_boundary_is_no_answer_there(tmp_path, tokenizer):
    """With no overlap, an answer cut by a window boundary is whole in no window: every window says no answer and
    it is counted as crossing (what summary reports)."""
    data = _data(tmp_path, [{"id": "a", "question": "where ?", "context": LONG,
                             "answers": {"text": [LONG[:400]], "answer_start": [0]}}])
    enc = task_for(data).encode(data, "train", tokenizer, 32, None, doc_stride=0)
    assert (enc.labels == 0).all()
    assert enc.task_state.crossing == 1


def _windows(contexts, example_of, context_start, offsets, allow_null=True, **settings):
    return Windows(np.asarray(example_of), np.asarray(context_start), [np.asarray(o) for o in offsets],
                   [str(i) for i in range(len(contexts))], ["q"] * len(contexts), contexts, None, None,
                   SpanSettings(**settings), allow_null)


def test_the_best_span_is_taken_across_windows():
    """Two windows of one context: the second's span scores higher, so it wins; its characters are the context's."""
    context = "aa bb cc dd"
    offsets = [[[0, 2], [3, 5]], [[3, 5], [6, 8], [9, 11]]]
    w = _windows([context], [0, 0], [1, 1], offsets)
    first = np.array([[0, 0], [2, 1], [1, 2], [0, 0]], dtype=float)        # [CLS], aa, bb, [SEP]
    second = np.array([[0, 0], [0, 0], [5, 1], [1, 6], [0, 0]], dtype=float)  # [CLS], bb, cc, dd, [SEP]
    (cands, null), = pick_answers([first, second], w)
    assert cands[0] == Candidate(11.0, 6, 11, "cc dd")
    assert null == 0.0
    assert all(c.end > c.start for c in cands)


def test_spans_that_end_before_they_start_or_run_too_long_are_never_taken():
    context = "aa bb cc"
    w = _windows([context], [0], [1], [[[0, 2], [3, 5], [6, 8]]], max_answer_length=2)
    logits = np.array([[0, 0], [9, 0], [0, 0], [0, 9], [0, 0]], dtype=float)   # best start aa, best end cc: 3 long
    (cands, _), = pick_answers([logits], w)
    assert all(c.text in ("aa", "bb", "cc", "aa bb", "bb cc") for c in cands)
    assert "aa bb cc" not in [c.text for c in cands]
    logits = np.array([[0, 0], [0, 0], [0, 9], [9, 0], [0, 0]], dtype=float)   # end before start
    (cands, _), = pick_answers([logits], w)
    assert ("cc", "bb") not in [(c.text[:2], c.text[-2:]) for c in cands if len(c.text) > 2]


def _scored(tmp_path, tokenizer, rows, threshold):
    data = _data(tmp_path, rows)
    kind = task_for(data)
    enc = kind.encode(data, "train", tokenizer, 64, None, null_threshold=threshold)
    outputs = []
    for i, (s, e) in enumerate(enc.labels):        # span 'mat' scores 4, the null 3 everywhere
        o = np.zeros((enc.lengths[i], 2))
        o[0] = 1.5
        cs = enc.task_state.context_start[i]
        o[cs, 0] = o[cs, 1] = 2.0
        outputs.append(o)
    return kind.score(outputs, enc, (), "f1")


def test_the_null_threshold_decides_no_answer(tmp_path, tokenizer):
    """v2 data: the best span beats the null by 1. At threshold 0 the span is answered (right for the answerable
    question, wrong for the other); at -2 'no answer' wins everywhere. Eval reports the threshold that scores best."""
    rows = [{"id": "a", "question": "where ?", "context": "mat is here .", "answers": {"text": ["mat"], "answer_start": [0]}},
            {"id": "b", "question": "where ?", "context": "mat is there .", "answers": {"text": [], "answer_start": []}}]
    answered = _scored(tmp_path, tokenizer, rows, 0.0)
    assert answered["HasAns_f1"] == 1.0 and answered["NoAns_f1"] == 0.0 and answered["f1"] == 0.5
    silent = _scored(tmp_path, tokenizer, rows, -2.0)
    assert silent["HasAns_f1"] == 0.0 and silent["NoAns_f1"] == 1.0
    assert answered["best_f1"] == 0.5


# ---------------------------------------------------------------- data it refuses, in one line naming the row

def _refused(tmp_path, rows, eqn=QA_EQN) -> str:
    write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(TuneLabError) as err:
        load_task_data(str(tmp_path / "bad.jsonl"), eqn, hold_out=False)
    assert "\n" not in str(err.value)
    return str(err.value)


def _row(**kw):
    return {"id": "r1", "question": "where ?", "context": "the cat sat on the mat .",
            "answers": {"text": ["mat"], "answer_start": [19]}} | kw


def test_an_answer_start_off_by_two_is_refused_naming_the_id(tmp_path):
    msg = _refused(tmp_path, [_row(), _row(id="q-17", answers={"text": ["mat"], "answer_start": [17]})])
    assert "q-17" in msg and "answer_start 17" in msg and "19" in msg


@pytest.mark.parametrize("row, said", [
    (_row(answers={"text": ["dog"], "answer_start": [3]}), "not in the context"),
    (_row(context="   "), "context is empty"),
    (_row(question=""), "question is empty"),
    (_row(answers={"text": ["mat"], "answer_start": [99]}), "outside the context"),
])
def test_bad_answers_and_empty_texts_are_refused(tmp_path, row, said):
    assert said in _refused(tmp_path, [row])


def test_duplicate_ids_are_refused(tmp_path):
    msg = _refused(tmp_path, [_row(id="x"), _row(id="y"), _row(id="x")])
    assert "'x'" in msg and "twice" in msg


def test_one_input_or_an_output_that_is_not_answers_is_refused(tmp_path):
    assert "question and a context" in _refused(tmp_path, [_row()], "classify_spans: answers ~ context")
    assert "not answers" in _refused(tmp_path, [_row()], "classify_spans: question ~ id + context")


def test_a_doc_stride_too_large_for_the_longest_question_is_refused(tmp_path, tokenizer):
    data = _data(tmp_path, [_row(question="where is the cat that sat on the mat near the table ?")])
    with pytest.raises(TuneLabError, match=r"--doc-stride 50 is not below --max-length 64 minus the longest question"):
        task_for(data).encode(data, "train", tokenizer, 64, None, doc_stride=50)


def test_nested_squad_json_and_the_flat_hub_shape_read_the_same(tmp_path):
    rows = toy_qa_rows(6)
    write_jsonl(tmp_path / "flat.jsonl", rows)
    nested = {"version": "v2.0", "data": [{"title": "toy", "paragraphs": [
        {"context": r["context"], "qas": [{"id": r["id"], "question": r["question"], "is_impossible": not r["answers"]["text"],
                                          "answers": [{"text": t, "answer_start": s} for t, s in
                                                      zip(r["answers"]["text"], r["answers"]["answer_start"])]}]}
        for r in rows]}]}
    (tmp_path / "nested.json").write_text(json.dumps(nested))
    flat = load_task_data(str(tmp_path / "flat.jsonl"), QA_EQN, hold_out=False)
    squad = load_task_data(str(tmp_path / "nested.json"), QA_EQN, hold_out=False)
    for col in ("id", "question", "context", "answers"):
        assert list(flat.splits["train"][col]) == list(squad.splits["train"][col])


# ---------------------------------------------------------------- a tiny model through fit, eval and predict

@pytest.fixture(scope="module")
def qa_run(tmp_path_factory):
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("qa-run")
    data = write_toy_qa_splits(root / "data")
    base = build_tiny_bert(root / "base", max_positions=128)
    result = fit(FitConfig(model=str(base), data=str(data), eqn=QA_EQN, out=str(root / "run"), epochs=12, lr=3e-3,
                           batch_size=16, warmup=0, max_length=64))
    return root, result


def test_a_tiny_model_learns_the_toy_questions(qa_run):
    """F1 well above the 'always no answer' baseline (a quarter of the questions are unanswerable), with every
    SQuAD v2 score reported."""
    _, result = qa_run
    scores = result.metrics["test"]
    assert {"exact_match", "f1", "HasAns_f1", "NoAns_f1", "best_null_threshold"} <= set(scores)
    assert scores["f1"] > 0.6


def test_eval_reports_squad_scores_and_confident_wrong_answers(qa_run):
    from tunelab.core.evaluation import evaluate_model

    root, _ = qa_run
    report = evaluate_model(str(root / "run"), split="test", mistakes=50)
    assert report.figure_of_merit == "f1" and 0 <= report.value <= 1
    unanswerable = sum(1 for r in toy_qa_rows(40, 2) if not r["answers"]["text"]) / 40
    assert report.majority_baseline == pytest.approx(unanswerable)        # "no answer" everywhere
    probs = [m["probability"] for m in report.mistakes]
    assert probs == sorted(probs, reverse=True)
    for m in report.mistakes:
        assert m["predicted"] != m["gold"]
        assert m["spans"]["context"][m["spans"]["predicted"][0]:m["spans"]["predicted"][1]] == m["predicted"] \
            if m["spans"]["predicted"] else m["predicted"] == "(no answer)"


def test_predict_answers_with_a_span_of_the_context_and_alternatives(qa_run):
    from tunelab.core.predictor import Predictor

    root, _ = qa_run
    p = Predictor(str(root / "run"))
    context = "this is good . the dog sat near the red cabinet . those were small ."
    pred = p.predict("where the dog sat ?", context)
    assert pred.answer == context[pred.start:pred.end] if pred.start is not None else pred.answer == ""
    assert 0 <= pred.no_answer_probability <= 1 and 0 <= pred.score <= 1
    assert all(context[a["start"]:a["end"]] == a["answer"] for a in pred.alternatives)
    long = " . ".join(["this is good"] * 30) + " . the dog sat near the big table ."      # far past 64 tokens
    far = p.predict("where the dog sat ?", long)
    assert far.windows > 1
    assert far.answer == "" or far.answer == long[far.start:far.end]


def test_answers_under_a_sentence_equation_point_to_classify_spans(tmp_path):
    """SQuAD-shaped answers under `classify:` are named as answer spans, with the equation that reads them."""
    msg = _refused(tmp_path, [_row(), _row(id="r2")], "classify: answers ~ question + context")
    assert "answer spans" in msg and "classify_spans: answers ~ question + context" in msg
