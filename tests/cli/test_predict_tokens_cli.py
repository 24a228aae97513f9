"""`tunelab predict` on a token-classification model as a user sees it: the entities of a sentence (type, text,
character span, score), --json with words, tags, entities and probabilities, --input to JSONL, and one-line
refusals. The model is hand-crafted (tests/crafted_tagger.py), so its tags are known."""

import json

import pytest

from crafted_tagger import SENTENCE, TAGS, build_tagger
from tunelab.cli import main


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    return str(build_tagger(tmp_path_factory.mktemp("cli-tagger")))


def test_a_sentence_prints_its_entities(tagger, capsys):
    assert main(["predict", "--model", tagger, SENTENCE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3 entities in 8 words")
    rows = [[cell.strip() for cell in line.strip("│ ").split("│")] for line in lines if line.startswith("│")]
    assert [row[:3] for row in rows] == [["PER", "Angela Merkel", "0-13"], ["LOC", "Paris", "22-27"],
                                         ["LOC", "table", "37-42"]]
    assert all(0.9 < float(row[3]) <= 1 for row in rows)
    assert "truncated" not in "\n".join(lines)


def test_json_gives_words_tags_entities_and_probabilities(tagger, capsys):
    assert main(["predict", "--model", tagger, SENTENCE, "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["words"] == ["Angela", "Merkel", "visited", "Paris", "near", "the", "table", "."]
    assert pred["tags"] == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "I-LOC", "O"]
    assert pred["entities"][0] == {"type": "PER", "text": "Angela Merkel", "start": 0, "end": 13, "word_start": 0,
                                   "word_end": 2, "score": pytest.approx((pred["scores"][0] + pred["scores"][1]) / 2)}
    assert all(set(p) == set(TAGS) and sum(p.values()) == pytest.approx(1) for p in pred["probabilities"])
    assert [SENTENCE[a:b] for a, b in pred["spans"]] == pred["words"]
    assert pred["truncated"] is False and pred["words_cut"] == 0


def test_a_file_of_sentences_is_tagged_to_jsonl(tagger, capsys, tmp_path):
    source = tmp_path / "in.txt"
    long = "Angela " + "the cat " * 40
    source.write_text(f"{SENTENCE}\nthe cat sat on the mat.\n{long}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", tagger, "--input", str(source), "--output", str(out), "--batch-size", "2"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [SENTENCE, "the cat sat on the mat.", long]
    assert [(e["type"], e["text"]) for e in rows[1]["entities"]] == [("PER", "cat"), ("LOC", "mat")]
    assert rows[2]["truncated"] and rows[2]["tags"][-1] == "O" and rows[2]["scores"][-1] is None
    assert "1 of 3 inputs were longer than 64 tokens" in captured.err and "line 3" in captured.err
    assert main(["predict", "--model", tagger, "--input", str(source)]) == 0      # to standard output
    assert [json.loads(line)["tags"] for line in capsys.readouterr().out.splitlines()] == [r["tags"] for r in rows]


def test_a_cut_sentence_says_how_many_words_were_not_read(tagger, capsys):
    assert main(["predict", "--model", tagger, "--max-length", "8", "the cat sat on the mat near the table ."]) == 0
    out = capsys.readouterr().out
    assert "truncated at 8 tokens; its last 4 word(s) were not read (tagged O)" in out


def test_pairs_are_refused_in_one_line(tagger, capsys, tmp_path):
    assert main(["predict", "--model", tagger, "the cat", "--pair", "the dog"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tags the words of one sentence" in err and "\n" not in err and "Traceback" not in err
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the cat\tthe dog\n", encoding="utf-8")
    assert main(["predict", "--model", tagger, "--input", str(pairs)]) == 2
    captured = capsys.readouterr()
    assert "input lines are tab-separated pairs" in captured.err and captured.out == ""


def test_tags_that_name_no_entities_print_each_word_with_its_tag(tmp_path, capsys):
    """POS tags (no B-/I- scheme) are not grouped into entities: each word is listed with its tag, and the words
    of the sentence print as they are (markup as text, control characters as visible stand-ins)."""
    pos = str(build_tagger(tmp_path / "pos", names=["DT", "NN", "VB", "JJ", "IN"]))
    assert main(["predict", "--model", pos, "a [bold]cat[/bold] \x1b[2J", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["entities"] == [] and pred["tags"][0] == "NN"
    assert main(["predict", "--model", pos, "a [bold]cat[/bold] \x1b[2J"]) == 0
    out = capsys.readouterr().out
    rows = [[cell.strip() for cell in line.strip("│ ").split("│")][:2] for line in out.splitlines()
            if line.startswith("│")]
    assert "bold" in pred["words"] and "\x1b" in pred["words"]
    assert [word for word, _ in rows] == [w.replace("\x1b", "␛") for w in pred["words"]]
    assert [tag for _, tag in rows] == pred["tags"] and "\x1b" not in out
