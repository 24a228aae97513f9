"""Odd token-tag data a new user brings, read through the task: tags a reader cannot tell apart, a scheme prefix
without a type, tag names mixed with tag numbers, entity tags mixed with tags of no scheme, and Sequence(ClassLabel)
ids out of range. Each is one line naming what is wrong, never a silent switch of what is scored."""

from __future__ import annotations

import json

import pytest

from tunelab.core.data import load_task_data
from tunelab.core.errors import TuneLabError

NER = "classify_tokens: ner_tags ~ tokens"
GOOD = [{"tokens": ["the", "boy", "sat"], "ner_tags": ["O", "B-PER", "O"]},
        {"tokens": ["a", "big", "girl"], "ner_tags": ["O", "B-PER", "I-PER"]}]


def _jsonl(tmp_path, odd: dict):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in GOOD + [odd]), encoding="utf-8")
    return str(path)


def _refusal(data) -> str:
    with pytest.raises(TuneLabError) as err:
        load_task_data(data, NER, hold_out=False)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("tag, shown", [("O\u200b", r"'O\u200b'"), ("B-PER\x07", r"'B-PER\x07'"),
                                        ("B-PE\u0301R", r"'B-PE\u0301R'"), ("\ufeffO", r"'\ufeffO'")])
def test_a_tag_with_invisible_characters_is_refused_naming_its_line(tmp_path, tag, shown):
    # before: 'O\u200b' was a tag of its own that printed as 'O', and turned entity scoring off for all the data
    msg = _refusal(_jsonl(tmp_path, {"tokens": ["the", "boy"], "ner_tags": [tag, "B-PER"]}))
    assert "line 3" in msg and shown in msg and "invisible or control characters" in msg


def test_a_tag_with_spaces_at_its_ends_is_the_same_tag(tmp_path):
    # 'O ' and 'O' print alike and are read as one tag (never two classes that look the same)
    data = load_task_data(_jsonl(tmp_path, {"tokens": ["the", "boy"], "ner_tags": ["O ", " B-PER"]}), NER,
                          hold_out=False)
    assert data.label_names == ("O", "B-PER", "I-PER")


@pytest.mark.parametrize("tag", ["B-", "I-"])
def test_a_scheme_prefix_without_a_type_is_refused(tmp_path, tag):
    msg = _refusal(_jsonl(tmp_path, {"tokens": ["the", "boy"], "ner_tags": ["O", tag]}))
    assert "line 3" in msg and f"'{tag}'" in msg and "no entity type" in msg


def test_tag_names_and_tag_numbers_in_one_column_are_refused(tmp_path):
    # before: [0, "B-PER"] made a tag '0' beside 'O' and entity scoring silently stopped
    msg = _refusal(_jsonl(tmp_path, {"tokens": ["the", "boy"], "ner_tags": [0, "B-PER"]}))
    assert "line 3" in msg and "tag names and tag numbers together" in msg


@pytest.mark.parametrize("odd", ["0", "PER"])
def test_entity_tags_mixed_with_tags_of_no_scheme_are_refused(tmp_path, odd):
    msg = _refusal(_jsonl(tmp_path, {"tokens": ["the", "boy"], "ner_tags": [odd, "B-PER"]}))
    assert f"'{odd}'" in msg and "'B-PER'" in msg and "no entity scheme" in msg


def test_plain_tags_and_bilou_tags_still_read_as_plain_tags(tmp_path):
    pos = [{"tokens": ["the", "boy", "sat"], "pos": ["DT", "NN", "VBD"]}]
    (tmp_path / "pos.jsonl").write_text(json.dumps(pos[0]) + "\n", encoding="utf-8")
    assert load_task_data(str(tmp_path / "pos.jsonl"), "pos_tagging: pos ~ tokens", hold_out=False).label_names == \
        ("DT", "NN", "VBD")
    bilou = {"tokens": ["a", "big", "boy", "and", "girl"], "ner_tags": ["O", "B-PER", "L-PER", "O", "U-PER"]}
    (tmp_path / "bilou.jsonl").write_text(json.dumps(bilou) + "\n", encoding="utf-8")
    assert "U-PER" in load_task_data(str(tmp_path / "bilou.jsonl"), NER, hold_out=False).label_names


@pytest.mark.parametrize("bad", [7, -1])
def test_a_class_label_id_out_of_range_names_the_tag_names(tmp_path, bad):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    table = datasets.Dataset.from_dict({"tokens": [["the", "boy"], ["a", "girl"]], "ner_tags": [[0, 1], [0, 1]]},
                                       features=features).data.table
    odd = pa.table({"tokens": table.column("tokens"),
                    "ner_tags": pa.array([[0, 1], [0, bad]], type=table.schema.field("ner_tags").type)})
    pq.write_table(odd.replace_schema_metadata(table.schema.metadata), tmp_path / "train.parquet")
    msg = _refusal(str(tmp_path / "train.parquet"))
    # before: "tag 7 ... is not a tag (give each tag as text or a whole number)": 7 is a whole number
    assert "row 2" in msg and f"tag id {bad}" in msg and "3 tag names (ids 0 to 2: O, B-PER, I-PER)" in msg


def test_a_split_whose_tags_are_null_in_every_row_is_unlabelled(tmp_path):
    # before: "column 'ner_tags' holds one label per row, not a tag per word: use classify: ..." (a JSON test file
    # written with "ner_tags": null has type null, not a list)
    for split, rows in (("train", GOOD * 3), ("test", [{"tokens": ["a", "boy"], "ner_tags": None}] * 2)):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_task_data(str(tmp_path), NER, hold_out=False)
    assert data.labeled == {"train": True, "test": False}
    assert data.label_names == ("O", "B-PER", "I-PER")


@pytest.mark.parametrize("name, text, says", [
    ("test.conll", "EU B-ORG\nrejects O\n\nPeter B-PER\n", "a CoNLL data file"),
    ("test.jsonl", '{"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]}\n', "JSON records"),
    ("test.txt", '\ufeff\n{"sentence": "a cat", "label": "good"}\n', "JSON records")])
def test_a_data_file_given_to_predict_input_is_refused(tmp_path, name, text, says):
    # before: each CoNLL line (or JSON record) was labelled as a sentence of its syntax, without a word
    from tunelab.core.predict_input import read_predict_input

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TuneLabError) as err:
        read_predict_input(str(path))
    assert says in str(err.value) and f"tunelab eval --data {path}" in str(err.value)


def test_plain_sentences_with_braces_still_read_as_sentences(tmp_path):
    from tunelab.core.predict_input import read_predict_input

    path = tmp_path / "in.txt"
    path.write_text('the boy {sat}\n{"a": 1} is text\n[1, 2]\n', encoding="utf-8")
    assert read_predict_input(str(path)).texts == ["the boy {sat}", '{"a": 1} is text', "[1, 2]"]


@pytest.mark.parametrize("columns", [None, ["tokens", "ner_tags"]])
def test_a_conll_word_with_a_no_break_space_is_named(tmp_path, columns):
    # before: "line 2: 2 columns, but train.conll line 1 has 3", with line 1 showing two columns on screen
    path = tmp_path / "train.conll"
    path.write_text("New\u00a0York B-LOC\nis O\n\nthe O\nboy B-PER\n", encoding="utf-8")
    with pytest.raises(TuneLabError) as err:
        load_task_data(str(path), "classify_tokens: ner_tags ~ tokens", columns=columns, hold_out=False)
    assert "line 1 holds a no-break space U+00A0, which separates columns too" in str(err.value)
