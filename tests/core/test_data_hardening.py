"""Data mistakes a user can make, each refused with one line that names the file and line: an equation whose label
is an input, missing labels and blank texts, a header read as data, splits given twice, --columns where it means
nothing, and malformed files that used to leak pandas/Arrow text onto stderr."""

import json
import subprocess
import sys

import pytest

from tunelab.core.data import load_task_data
from tunelab.core.equation import parse_equation
from tunelab.core.errors import TuneLabError

EQN = "classify: label ~ sentence"


def _file(tmp_path, name, content) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def _refused(data, eqn=EQN, **kwargs) -> str:
    with pytest.raises(TuneLabError) as info:
        load_task_data(data, eqn, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def _csv_rows(n=20):
    return "".join(f"sentence {i},{i % 2}\n" for i in range(n))


# ---------------------------------------------------------------- 1. the label may not also be an input

@pytest.mark.parametrize("text, fragment", [
    ("classify: label ~ label", "the label 'label' is also an input"),
    ("classify: y ~ a + y", "the label 'y' is also an input"),
    ("regress: score ~ score", "the label 'score' is also an input"),
    ("classify: label ~ a + a", "input 'a' is named twice"),
])
def test_equation_whose_label_is_an_input_or_with_a_repeated_input_is_refused(text, fragment):
    with pytest.raises(TuneLabError, match=fragment):
        parse_equation(text)


def test_training_on_the_label_itself_is_refused_before_any_data_is_read(tmp_path):
    data = _file(tmp_path, "d.csv", "sentence,label\n" + _csv_rows())
    assert "also an input" in _refused(data, "classify: label ~ label")


# ---------------------------------------------------------------- 2. missing or non-numeric labels

@pytest.mark.parametrize("name, content, eqn, expected", [
    ("train.csv", "sentence,label\n" + _csv_rows(15) + "oops,\n" + _csv_rows(3),
     EQN, "train.csv line 17: empty label in column 'label'"),
    ("train.tsv", "sentence\tlabel\n" + "".join(f"s {i}\t{i % 2}\n" for i in range(15)) + "no tab here\n" + "x\t1\n",
     EQN, "train.tsv line 17: empty label in column 'label' (the line has 1 of 2 fields)"),
    ("blank.csv", "sentence,label\na,pos\nb,   \nc,neg\n", EQN, "blank.csv line 3: empty label"),
    ("nan.csv", "sentence,label\na,pos\nb,NaN\nc,neg\n", EQN, "nan.csv line 3: missing label (NaN)"),
    ("null.jsonl", '{"sentence": "a", "label": 1}\n\n{"sentence": "b", "label": null}\n', EQN,
     "null.jsonl line 3: empty label in column 'label' (null)"),
    ("nan.jsonl", '{"sentence": "a", "label": 1.0}\n{"sentence": "b", "label": NaN}\n', EQN,
     "nan.jsonl line 2: missing label (NaN)"),
    ("mixed.jsonl", '{"sentence": "a", "label": 1}\n{"sentence": "b", "label": "x"}\n', EQN,
     "mixed.jsonl line 2: label 'x' in column 'label' is a string, but a number in"),
    ("words.csv", "sentence,score\na,1.5\nb,2\nc,lots\n", "regress: score ~ sentence",
     "words.csv line 4: regress needs numeric values in 'score', got 'lots'"),
    ("gap.csv", "sentence,score\na,1.5\nb,\nc,2\n", "regress: score ~ sentence", "gap.csv line 3: empty label in column 'score'"),
    ("nan_score.csv", "sentence,score\na,1.5\nb,nan\n", "regress: score ~ sentence", "nan_score.csv line 3: missing label (NaN)"),
    ("inf.csv", "sentence,score\na,1.5\nb,inf\n", "regress: score ~ sentence", "inf.csv line 3: label inf in column 'score' is not a finite number"),
    ("inf.jsonl", '{"sentence": "a", "score": 1.5}\n{"sentence": "b", "score": 1e999}\n', "regress: score ~ sentence",
     "inf.jsonl line 2: 'score' holds a number too large to store"),
])
def test_a_missing_or_unusable_label_is_refused_naming_its_line(tmp_path, name, content, eqn, expected):
    assert expected in _refused(_file(tmp_path, name, content), eqn)


def test_missing_label_in_a_later_split_names_that_file(tmp_path):
    train = _file(tmp_path, "train.csv", "sentence,label\n" + _csv_rows())
    dev = _file(tmp_path, "dev.csv", "sentence,label\na,1\nb,\n")
    assert f"{dev} line 3: empty label" in _refused(f"train={train},dev={dev}")


def test_a_test_split_whose_label_column_is_all_empty_counts_as_unlabelled(tmp_path):
    _file(tmp_path, "train.csv", "sentence,label\n" + _csv_rows())
    _file(tmp_path, "test.csv", "sentence,label\nto predict,\nthis too,\n")
    task = load_task_data(str(tmp_path), EQN)
    assert task.label_names == ("0", "1") and task.labeled["test"] is False and len(task.split("test")) == 2


def test_labels_typed_differently_per_split_give_each_class_once(tmp_path):
    train = _file(tmp_path, "train.csv", "sentence,label\n" + _csv_rows())
    dev = _file(tmp_path, "dev.csv", "sentence,label\na,1\nb,0\nc,x\n")  # 'x' makes this split's labels strings
    assert load_task_data(f"train={train},validation={dev}", EQN).label_names == ("0", "1", "x")


def test_jsonl_labels_written_as_1_and_as_quoted_1_are_one_class(tmp_path):
    import json

    rows = [{"sentence": f"s {i}", "label": [1, "1", 0, "0"][i % 4]} for i in range(20)]
    data = _file(tmp_path, "mixed.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    task = load_task_data(data, EQN)
    assert task.label_names == ("0", "1")
    assert sorted(task.class_ids("train", {"0": 0, "1": 1}).tolist() + task.class_ids("validation", {"0": 0, "1": 1}).tolist()) == [0] * 10 + [1] * 10


# ---------------------------------------------------------------- 8. blank input texts

@pytest.mark.parametrize("content, expected", [
    ("sentence,label\na,1\n,0\n", "line 3: empty text in column 'sentence'"),
    ('sentence,label\na,1\n"   ",0\n', "line 3: empty text in column 'sentence'"),
    ("sentence,label\na,1\n\u200b\u200b,0\n", "line 3: empty text in column 'sentence' (only invisible characters: '\\u200b\\u200b')"),
    ("sentence,label\na,1\n\ufeff \u00a0,0\n", "line 3: empty text in column 'sentence' (only invisible characters"),
])
def test_a_blank_or_invisible_text_is_refused_naming_its_line(tmp_path, content, expected):
    path = _file(tmp_path, "t.csv", content)
    assert f"{path} {expected}" in _refused(path)


def test_blank_text_in_the_second_input_of_a_pair_and_in_an_unlabelled_test_split(tmp_path):
    rows = "".join(json.dumps({"a": f"x{i}", "b": f"y{i}", "label": i % 2}) + "\n" for i in range(20))
    _file(tmp_path, "train.jsonl", rows + json.dumps({"a": "x", "b": "\u200b", "label": 0}) + "\n")
    assert "train.jsonl line 21: empty text in column 'b'" in _refused(str(tmp_path), "classify: label ~ a + b")
    _file(tmp_path, "train.jsonl", rows)
    _file(tmp_path, "test.jsonl", '{"a": "x", "b": "y"}\n{"a": null, "b": "y"}\n')
    assert "test.jsonl line 2: empty text in column 'a'" in _refused(str(tmp_path), "classify: label ~ a + b")


def test_text_that_merely_contains_a_zero_width_space_is_kept(tmp_path):
    path = _file(tmp_path, "ok.csv", "sentence,label\nzero\u200bwidth,1\nplain,0\n")
    assert "zero\u200bwidth" in load_task_data(path, EQN, hold_out=False).texts("train")


# ---------------------------------------------------------------- 3. --columns on a file that has a header

@pytest.mark.parametrize("content, columns, eqn", [
    ("sentence,label\n" + _csv_rows(), ["sentence", "label"], EQN),                       # the same names
    ("label,sentence\n" + "".join(f"{i % 2},s {i}\n" for i in range(20)), ["sentence", "label"], EQN),  # another order
])
def test_columns_naming_the_files_own_header_is_refused(tmp_path, content, columns, eqn):
    path = _file(tmp_path, "h.csv", content)
    message = _refused(path, eqn, columns=columns)
    assert "already has a header row" in message and "drop --columns" in message


@pytest.mark.parametrize("content, columns, eqn", [
    ("sentence,label\n" + _csv_rows(), ["text", "label"], "classify: label ~ text"),  # the header's label is a name
    ("id,class,sentence\n" + "".join(f"r{i},{i % 2},s {i}\n" for i in range(20)), ["a", "b", "c"], "classify: b ~ c"),  # a word over numbers
])
def test_a_header_row_read_as_data_under_other_names_is_refused(tmp_path, content, columns, eqn):
    path = _file(tmp_path, "h.csv", content)
    message = _refused(path, eqn, columns=columns)
    assert f"{path} line 1 looks like a header row" in message and "drop --columns" in message


def test_columns_on_a_headerless_file_with_word_labels_still_loads(tmp_path):
    path = _file(tmp_path, "raw.tsv", "".join(f"s {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(20)))
    assert load_task_data(path, EQN, columns=["sentence", "label"]).label_names == ("neg", "pos")


# ---------------------------------------------------------------- 4. splits given twice or unknown

@pytest.mark.parametrize("spec, fragment", [
    ("train={a},train={b}", "gives split 'train' twice"),
    ("train={a},dev={b},validation={b}", "gives both 'dev' and 'validation', which are the same validation split"),
    ("train={a},holdout={b}", "unknown split 'holdout'"),
])
def test_explicit_splits_must_be_known_and_given_once(tmp_path, spec, fragment):
    a = _file(tmp_path, "a.csv", "sentence,label\n" + _csv_rows())
    b = _file(tmp_path, "b.csv", "sentence,label\n" + _csv_rows())
    assert fragment in _refused(spec.format(a=a, b=b))


def test_a_directory_with_two_files_for_one_split_is_refused(tmp_path):
    for name in ("train.csv", "dev.csv", "validation.csv"):
        _file(tmp_path, name, "sentence,label\n" + _csv_rows())
    assert "holds two validation files, dev.csv and validation.csv" in _refused(str(tmp_path))


# ---------------------------------------------------------------- 5. --columns where the data has names

def _parquet(tmp_path) -> str:
    import pandas as pd

    pd.DataFrame({"sentence": ["a", "b"], "label": [1, 0]}).to_parquet(tmp_path / "d.parquet")
    return str(tmp_path / "d.parquet")


@pytest.mark.parametrize("make, fragment", [
    (lambda t: "demo", "the demo data has its own column names"),
    (lambda t: "H:glue,cola", "hub dataset 'H:glue,cola' has its own column names"),
    (lambda t: _file(t, "d.jsonl", '{"sentence": "a", "label": 1}\n'), "JSON and Parquet files carry their own names"),
    (_parquet, "JSON and Parquet files carry their own names"),
])
def test_columns_with_data_that_names_its_columns_is_refused(tmp_path, make, fragment):
    message = _refused(make(tmp_path), EQN, columns=["sentence", "label"])
    assert fragment in message and "drop --columns" in message


# ---------------------------------------------------------------- 6, 7. malformed files: one clean line

@pytest.mark.parametrize("name, content, expected", [
    ("extra.csv", "sentence,label\nhello, world,1\nb,0\n",
     "extra.csv line 2: 3 fields, but the header has 2 (a comma inside an unquoted text field? quote such fields)"),
    ("late.csv", "sentence,label\na,1\nb,0\nhello, world,1\n", "late.csv line 4: 3 fields, but the header has 2"),
    ("list.jsonl", '{"sentence": "a", "label": 1}\n["b", 0]\n', "list.jsonl line 2: a list, not a JSON object"),
    ("arr.json", '[{"sentence": "a", "label": 1},\n {"sentence": "b" "label": 0}]\n', "arr.json line 2: not valid JSON"),
    ("binary.csv", b"\x00\x01\x02garbage\x00", "looks binary (it holds NUL bytes)"),
    ("wide.csv", "sentence,label\na,1\n".encode("utf-16"), "is UTF-16 text; re-save it as UTF-8"),
    ("latin.tsv", "sentence\tlabel\nok\t1\ncaf\xe9\t0\n".encode("latin-1"), "is not UTF-8 text (line 3 has the byte 0xe9)"),
    ("blank.jsonl", "\n  \n", "is empty"),
    ("empty.parquet", b"", "is empty"),
])
def test_malformed_files_get_one_line_naming_the_problem(tmp_path, name, content, expected):
    assert expected in _refused(_file(tmp_path, name, content))


def _cat(*args):
    return subprocess.run([sys.executable, "-m", "tunelab", "cat", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name, content, expected", [
    ("bad.tsv", "sentence\tlabel\na\t1\nb\t0\nc\t1\td\tx\ne\t0\n", "bad.tsv line 4: 4 fields, but the header has 2 (a tab inside a text field?)"),
    ("bad.jsonl", '{"sentence": "a", "label": 1}\n{"sentence": "b", "label": 0\n{"sentence": "c", "label": 1}\n',
     "bad.jsonl line 2: not valid JSON (Expecting ',' delimiter"),
    ("bad.parquet", b"this is not parquet at all", "is not a Parquet file"),
])
def test_cat_on_a_malformed_file_prints_exactly_one_error_line(tmp_path, name, content, expected):
    proc = _cat("--data", _file(tmp_path, name, content), "--eqn", EQN)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tunelab cat: error: ") and expected in lines[0]


def test_cat_refuses_a_header_under_columns_and_an_empty_label_with_one_line(tmp_path):
    header = _file(tmp_path, "h.csv", "sentence,label\na,1\nb,0\n")
    proc = _cat("--data", header, "--columns", "sentence,label", "--eqn", EQN)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1
    assert "already has a header row" in proc.stderr
    gap = _file(tmp_path, "gap.tsv", "sentence\tlabel\na\t1\nb\nc\t0\n")
    proc = _cat("--data", gap, "--eqn", EQN)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"tunelab cat: error: {gap} line 3: empty label in column 'label' (the line has 1 of 2 fields)\n"


def test_paths_with_glob_characters_are_read_as_they_are(tmp_path):
    """datasets reads data_files as glob patterns: a folder named `data[1]` matched nothing ('could not parse ...:
    StopIteration'), and `a*` could have matched other files."""
    from tunelab.core.data import load_task_data

    folder = tmp_path / "data[1]"
    folder.mkdir()
    rows = "".join(f'{{"sentence": "s {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(20))
    (folder / "train.jsonl").write_text(rows)
    (folder / "test.jsonl").write_text("".join(rows.splitlines(keepends=True)[:10]))
    task = load_task_data(str(folder), "classify: label ~ sentence")
    assert len(task.splits["test"]) == 10
    single = tmp_path / "odd*name?.jsonl"
    single.write_text(rows)
    (tmp_path / "odd-other-name-.jsonl").write_text(rows * 3)     # what the unescaped pattern would also match
    assert sum(len(s) for s in load_task_data(str(single), "classify: label ~ sentence").splits.values()) == 20
