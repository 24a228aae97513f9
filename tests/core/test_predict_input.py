"""The file of inputs that `predict --input` and the Predict screen label: sentences or tab-separated pairs, one
per line, read the same way by both, with every mistake named by its line."""

from __future__ import annotations

import pytest

from tunelab.core.errors import TuneLabError
from tunelab.core.predict_input import read_predict_input


def _file(tmp_path, text: str | bytes):
    path = tmp_path / "in.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def test_sentences_and_pairs_with_their_line_numbers(tmp_path):
    got = read_predict_input(_file(tmp_path, "\ufeffthe cat is good .\n\n  \nthe dog is bad .\r\n"))
    assert (got.texts, got.pairs, got.numbers, got.skipped) == (["the cat is good .", "the dog is bad ."], None, [1, 4], [])
    got = read_predict_input(_file(tmp_path, "a cat\tthe cat\nthe dog\ta dog\n"))
    assert (got.texts, got.pairs) == (["a cat", "the dog"], ["the cat", "a dog"])


def test_zero_width_lines_are_skipped_and_listed(tmp_path):
    got = read_predict_input(_file(tmp_path, "one\n\u200b\u200b\ntwo\n"))
    assert got.texts == ["one", "two"] and got.skipped == [2]


@pytest.mark.parametrize("text, fragment", [
    ("a\tb\tc\n", "line 1 of"),
    ("a\tb\nc\n", "line 2 of"),
    ("a\t\u200b\n", "the second sentence of the pair is empty"),
    ("\n \n\u200b\n", "holds no sentences (some lines hold only invisible characters"),
    ("", "holds no sentences"),
    (b"caf\xe9\n", "is not UTF-8 text"),
])
def test_mistakes_are_one_line_naming_the_file(tmp_path, text, fragment):
    with pytest.raises(TuneLabError) as info:
        read_predict_input(_file(tmp_path, text))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_missing_file_directory_and_stdin(tmp_path, monkeypatch):
    import io

    with pytest.raises(TuneLabError, match="does not exist"):
        read_predict_input(str(tmp_path / "nope.txt"))
    with pytest.raises(TuneLabError, match="is a directory; .* per line$"):
        read_predict_input(str(tmp_path))
    with pytest.raises(TuneLabError, match="or - for standard input"):
        read_predict_input(str(tmp_path), stdin_allowed=True)
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert read_predict_input("-", stdin_allowed=True).texts == ["from stdin"]
    with pytest.raises(TuneLabError, match="does not exist"):      # without stdin, '-' is a file name
        read_predict_input("-")
