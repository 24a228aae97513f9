import json

import pytest

from tunelab.core.data import load_task_data
from tunelab.core.errors import TuneLabError

EQN = "classify: label ~ sentence"


def test_demo_data_is_shipped_balanced_and_split():
    task = load_task_data("demo", None)
    assert {k: len(v) for k, v in task.splits.items()} == {"train": 2400, "validation": 300, "test": 300}
    assert task.label_names == ("acceptable", "unacceptable")
    assert task.labels("train").count("acceptable") == 1200
    assert not set(task.texts("train")) & set(task.texts("test"))


def test_demo_files_regenerate_byte_for_byte(tmp_path):
    from tunelab.core import demo_data
    from tunelab.core.data import demo_dir

    demo_data.write(tmp_path)
    for split in ("train", "validation", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (demo_dir() / f"{split}.jsonl").read_bytes()


def test_headerless_cola_style_tsv_with_given_column_names(tmp_path):
    rows = ["gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.",
            "gj04\t0\t*\tThey drank the pub \"dry\".", "clc95\t1\t\tThe sailors rode the breeze clear of the rocks."] * 5
    f = tmp_path / "in_domain_train.tsv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    task = load_task_data(str(f), EQN, columns=["source", "label", "mark", "sentence"])
    assert task.label_names == ("0", "1")
    assert task.held_out_validation and len(task.split("train")) + len(task.split("validation")) == 15
    assert 'They drank the pub "dry".' in task.texts("train") + task.texts("validation")


def test_held_out_validation_is_seeded(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("sentence,label\n" + "".join(f"s {i},{i % 2}\n" for i in range(50)), encoding="utf-8")
    a = load_task_data(str(f), EQN, seed=1).texts("validation")
    b = load_task_data(str(f), EQN, seed=1).texts("validation")
    c = load_task_data(str(f), EQN, seed=2).texts("validation")
    assert a == b and a != c and len(a) == 5


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_formats_and_a_directory_of_splits(tmp_path, fmt):
    import pandas as pd

    for split, n in (("train", 20), ("validation", 6), ("test", 6)):
        df = pd.DataFrame({"sentence1": [f"a {i}" for i in range(n)], "sentence2": [f"b {i}" for i in range(n)],
                           "label": ["yes" if i % 2 else "no" for i in range(n)]})
        path = tmp_path / f"{split}.{fmt}"
        {"csv": lambda: df.to_csv(path, index=False), "json": lambda: df.to_json(path, orient="records"),
         "jsonl": lambda: df.to_json(path, orient="records", lines=True), "parquet": lambda: df.to_parquet(path)}[fmt]()
    task = load_task_data(str(tmp_path), "classify: label ~ sentence1 + sentence2")
    assert {k: len(v) for k, v in task.splits.items()} == {"train": 20, "validation": 6, "test": 6}
    assert task.texts("test")[1] == ("a 1", "b 1")
    explicit = load_task_data(f"train={tmp_path}/train.{fmt},validation={tmp_path}/test.{fmt}", "classify: label ~ sentence1 + sentence2")
    assert set(explicit.splits) == {"train", "validation"}


def _write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("make, eqn, fragment", [
    (lambda t: str(t / "missing.csv"), EQN, "does not exist"),
    (lambda t: _write(t, "latin.csv", "sentence,label\ncaf\xe9,1\n".encode("latin-1"), "wb"), EQN, "not UTF-8"),
    (lambda t: _write(t, "cols.csv", "text,label\nhi,1\nho,0\n"), EQN, "column 'sentence' named in the equation is not in split"),
    (lambda t: _write(t, "empty.csv", ""), EQN, "is empty"),
    (lambda t: _write(t, "header_only.csv", "sentence,label\n"), EQN, "is empty"),
    (lambda t: _write(t, "floats.csv", "sentence,label\na,0.5\nb,1.25\n"), EQN, "fractional"),
    (lambda t: _write(t, "lists.jsonl", '{"sentence": "a", "label": [1]}\n{"sentence": "b", "label": [0]}\n'), EQN, "neither ints nor strings"),
    (lambda t: _write(t, "words.csv", "sentence,score\na,good\nb,bad\n"), "regress: score ~ sentence", "regress needs numeric"),
    (lambda t: _write(t, "notes.txt", "hello"), EQN, "unknown format"),
    (lambda t: _write(t, "ok.csv", "sentence,label\na,1\n"), "classfy: label ~ sentence", "unknown task keyword"),
])
def test_bad_data_gets_one_clear_message(tmp_path, make, eqn, fragment):
    with pytest.raises(TuneLabError, match=fragment) as info:
        load_task_data(make(tmp_path), eqn)
    assert "\n" not in str(info.value)


def test_json_labels_may_be_ints_or_strings(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"sentence": f"s{i}", "label": i % 3}) + "\n" for i in range(30)), encoding="utf-8")
    assert load_task_data(str(p), EQN).label_names == ("0", "1", "2")


def test_headerless_file_hints_at_columns_and_a_short_columns_list_is_refused(tmp_path):
    f = tmp_path / "raw.tsv"
    f.write_text("gj04\t1\t\tOur friends will buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n" * 5, encoding="utf-8")
    with pytest.raises(TuneLabError, match="no header row, name its columns with --columns"):
        load_task_data(str(f), EQN)
    with pytest.raises(TuneLabError, match="--columns names 2 columns but .* has 4 fields"):
        load_task_data(str(f), EQN, columns=["source", "label"])
