"""`tunelab eval` as a user sees it: the human report (figure of merit, scores, per-class table, confusion
matrix, mistakes) agrees with --json, and wrong splits or numbers are one line and exit status 2."""

import json
import re

import pytest

from conftest import train_tiny, write_jsonl, write_toy_splits
from tunelab.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model fine-tuned once for this file (good, not perfect: it makes a mistake or so on test)."""
    root = tmp_path_factory.mktemp("eval")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=5, lr=2e-3).run_dir


def table_rows(text: str, title: str) -> dict[str, list[str]]:
    """The body rows of the rich table titled `title`: first cell -> the other cells."""
    block = text.split(title, 1)[1].split("└", 1)[0]
    rows = {}
    for line in block.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def test_the_human_report_shows_what_json_holds(run, capsys):
    assert main(["eval", "--model", run, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert main(["eval", "--model", run]) == 0
    out = capsys.readouterr().out
    assert "(split test), 40 examples" in out
    assert f"{r['figure_of_merit']} {r['value']:.4f}" in out and r["figure_of_merit"] == "mcc" and r["value"] > 0.5
    assert f"majority-class baseline {r['majority_baseline']:.4f}" in out
    for name in ("accuracy", "f1", "macro_f1"):
        assert f"{name} {r['scores'][name]:.4f}" in out
    per_class = table_rows(out, "per class")
    assert per_class == {c["label"]: [f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"])]
                         for c in r["per_class"]}
    confusion = table_rows(out, "confusion (rows: gold, columns: predicted)")
    assert confusion == {name: [str(n) for n in row] for name, row in zip(r["labels"], r["confusion"])}
    assert sum(map(sum, r["confusion"])) == 40
    if r["mistakes"]:                                       # the most confident mistake, with its confidence
        top = r["mistakes"][0]
        assert "most confident mistakes" in out and f"{top['confidence']:.3f}" in out
        mistakes = table_rows(out, "most confident mistakes")
        assert mistakes[f"{top['confidence']:.3f}"][:2] == [top["gold"], top["predicted"]]
    else:
        assert "most confident mistakes" not in out


def test_a_split_by_another_name_and_mistakes_0(run, capsys):
    assert main(["eval", "--model", run, "--split", "dev", "--mistakes", "0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["split"] == "validation" and r["examples"] == 40 and r["mistakes"] == []
    assert main(["eval", "--model", run, "--split", "validation", "--mistakes", "0"]) == 0
    out = capsys.readouterr().out
    assert "(split validation)" in out and "most confident mistakes" not in out


BAD = [
    (["--split", "nosuch"], "there is no split 'nosuch' in", "its splits are: test, train, validation"),
    (["--batch-size", "0"], "--batch-size 0 is out of range: it must be from 1", None),
    (["--batch-size", "-1"], "--batch-size -1 is out of range: it must be from 1", None),
    (["--mistakes", "-1"], "--mistakes -1 is out of range: it must be from 0", None),
    (["--max-length", "0"], "--max-length 0 is out of range: it must be from 8", None),
    (["--max-length", "100"], "--max-length 100 is beyond", "limit of 64 tokens"),
]


@pytest.mark.parametrize("argv, fragment, more", BAD)
def test_bad_split_or_numbers_are_one_line_and_exit_2(run, argv, fragment, more, capsys):
    assert main(["eval", "--model", run, *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("tunelab eval: error: ") and "\n" not in err and "Traceback" not in err
    assert fragment in err and (more is None or more in err)
    assert captured.out == ""


def test_a_split_without_labels_says_so_and_names_the_labelled_ones(run, capsys, tmp_path):
    data = write_toy_splits(tmp_path / "toy")
    write_jsonl(data / "test.jsonl", [{"sentence": "the cat is good ."}, {"sentence": "the dog is bad ."}])
    argv = ["eval", "--model", run, "--data", str(data), "--eqn", "classify: label ~ sentence"]
    assert main(argv + ["--split", "test"]) == 2
    err = capsys.readouterr().err
    assert "split 'test'" in err and "has no labels to score against" in err and "splits with labels: train, validation" in err
    assert main(argv + ["--json"]) == 0                    # by default the labelled validation split is scored
    assert json.loads(capsys.readouterr().out)["split"] == "validation"
    assert not re.search(r"\.tmp", " ".join(p.name for p in data.iterdir()))
