"""Reading question-answering data: SQuAD's nested JSON (v1.1, v2.0) and the hub's flat shape, into the same rows."""

import json

import pytest

from tunelab.core.data import load_raw_splits
from tunelab.core.errors import TuneLabError

CTX = "Ada Lovelace was born in London in 1815. She wrote the first program."


def squad(version="v2.0"):
    qas = [{"id": "q1", "question": "Where was Ada born?", "answers": [{"text": "London", "answer_start": 25}]},
           {"id": "q2", "question": "When?", "answers": [{"text": "1815", "answer_start": 35},
                                                       {"text": "in 1815", "answer_start": 32}]}]
    if version == "v2.0":
        qas.append({"id": "q3", "question": "Who was her brother?", "answers": [], "is_impossible": True,
                    "plausible_answers": [{"text": "Ada", "answer_start": 0}]})
    return {"version": version, "data": [
        {"title": "Ada_Lovelace", "paragraphs": [{"context": CTX, "qas": qas}]},
        {"title": "Other", "paragraphs": [{"context": "Paris is big.", "qas": [
            {"id": "q4", "question": "What is big?", "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}


def write(tmp_path, doc, name="train.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def rows(ds):
    return [ds[i] for i in range(len(ds))]


@pytest.mark.parametrize("version", ["v1.1", "v2.0"])
def test_nested_squad_json_reads_as_the_hubs_flat_rows(tmp_path, version):
    ds = load_raw_splits(str(write(tmp_path, squad(version))))["train"]
    assert set(ds.column_names) == {"id", "title", "question", "context", "answers"}
    got = {r["id"]: r for r in rows(ds)}
    assert got["q1"] == {"id": "q1", "title": "Ada_Lovelace", "context": CTX, "question": "Where was Ada born?",
                         "answers": {"text": ["London"], "answer_start": [25]}}
    assert got["q2"]["answers"] == {"text": ["1815", "in 1815"], "answer_start": [35, 32]}
    assert got["q4"]["title"] == "Other" and got["q4"]["context"] == "Paris is big."
    if version == "v2.0":
        assert got["q3"]["answers"] == {"text": [], "answer_start": []}    # unanswerable: empty lists
    assert len(ds) == (4 if version == "v2.0" else 3)


def test_a_directory_of_squad_splits_and_the_flat_shape_in_every_format(tmp_path):
    (tmp_path / "d").mkdir()
    write(tmp_path / "d", squad(), "train.json")
    write(tmp_path / "d", squad("v1.1"), "dev.json")
    splits = load_raw_splits(str(tmp_path / "d"))
    assert {k: len(v) for k, v in splits.items()} == {"validation": 3, "train": 4}
    flat = rows(splits["train"])
    (tmp_path / "flat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flat))
    (tmp_path / "flat.json").write_text(json.dumps(flat))
    splits["train"].to_parquet(str(tmp_path / "flat.parquet"))
    for name in ("flat.jsonl", "flat.json", "flat.parquet"):
        ds = load_raw_splits(str(tmp_path / name))["train"]
        assert rows(ds) == flat, name                                       # the answers structure survives
        assert set(ds.features["answers"]) == {"text", "answer_start"}


@pytest.mark.parametrize("change, message", [
    (lambda d: d["data"][1].pop("paragraphs"), "flat.json: data[1] has no \"paragraphs\" list"),
    (lambda d: d["data"][0]["paragraphs"][0].pop("context"), "data[0].paragraphs[0] has no \"context\" string"),
    (lambda d: d["data"][0]["paragraphs"][0].pop("qas"), "data[0].paragraphs[0] has no \"qas\" list"),
    (lambda d: d["data"][0]["paragraphs"][0].update(context=["x"]),
     "data[0].paragraphs[0] has a \"context\" of JSON type array, where SQuAD has a string"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].pop("question"),
     "data[0].paragraphs[0].qas[1] (id 'q2') has no \"question\" string"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].pop("id"), "data[0].paragraphs[0].qas[1] has no \"id\" string"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].pop("answers"), "(id 'q1') has no \"answers\" list"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].pop("answer_start"),
     "(id 'q1') answers[0] has no \"answer_start\" character offset"),
    (lambda d: d["data"][1]["paragraphs"][0]["qas"][0].update(id="q2"),
     "id 'q2' is used twice, at data[0].paragraphs[0].qas[1] and data[1].paragraphs[0].qas[0]"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(is_impossible=True), "(id 'q1') is_impossible but has 1"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"].clear() or d["data"][1]["paragraphs"][0]["qas"].clear(),
     "holds no questions"),
])
def test_squad_json_with_a_missing_level_or_a_duplicate_id_is_one_line_naming_file_and_place(tmp_path, change, message):
    doc = squad()
    change(doc)
    path = write(tmp_path, doc, "flat.json")
    with pytest.raises(TuneLabError) as err:
        load_raw_splits(str(path))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_questions_one_level_too_high_are_a_missing_paragraph_level(tmp_path):
    doc = {"version": "v2.0", "data": [{"title": "T", "qas": [{"id": "a", "question": "q", "answers": []}]}]}
    with pytest.raises(TuneLabError, match=r"data\[0\] has no \"paragraphs\" list \(its questions sit one level up"):
        load_raw_splits(str(write(tmp_path, doc)))


def test_other_json_objects_and_json_lines_are_not_taken_for_squad(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text("".join(json.dumps({"sentence": f"s{i}", "label": i % 2}) + "\n" for i in range(4)))
    assert load_raw_splits(str(path))["train"].column_names == ["sentence", "label"]


@pytest.mark.parametrize("name", ["only_unanswerable.jsonl", "only_unanswerable.json"])
def test_a_flat_split_of_unanswerable_questions_only_keeps_typed_answer_lists(tmp_path, name):
    rows_in = [{"id": f"n{i}", "question": "Who?", "context": "Nobody here.", "answers": {"text": [], "answer_start": []}}
               for i in range(3)]
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows_in) if name.endswith("l") else json.dumps(rows_in))
    ds = load_raw_splits(str(path))["train"]
    assert ds.features["answers"]["text"].feature.dtype == "string"          # JSON alone gives lists of null
    assert ds.features["answers"]["answer_start"].feature.dtype == "int64"
    assert rows(ds) == rows_in
