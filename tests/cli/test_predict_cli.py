"""`tunelab predict` as a user sees it: the human output, pairs (checked against transformers.pipeline),
truncation, and one-line refusals (exit 2) for flags, inputs and outputs that cannot work."""

import json
import os

import pytest

from conftest import train_tiny, write_jsonl, write_toy_splits
from tunelab.cli import main

PAIR_EQN = "classify: label ~ sentence1 + sentence2"
LONG = "the cat is good " + "near the big red table " * 20 + "."   # far beyond the tiny models' 64 positions


def pair_rows(n: int, seed: int = 0) -> list[dict]:
    """A toy pair task a tiny model learns in seconds: the label is the cue (good/happy vs bad/sad) of the
    second sentence, so a prediction that ignored the pair would show."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.random() < 0.5, rng.random() < 0.5
        cue = lambda good: rng.choice(["good", "happy"] if good else ["bad", "sad"])  # noqa: E731
        rows.append({"sentence1": f"the {rng.choice(['cat', 'dog'])} is {cue(a)} .",
                     "sentence2": f"the {rng.choice(['cats', 'dogs'])} were {cue(b)} on the mat .",
                     "label": "positive" if b else "negative"})
    return rows


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """A tiny model fine-tuned once for this file on single sentences (classify: label ~ sentence)."""
    root = tmp_path_factory.mktemp("predict-single")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """A tiny model fine-tuned once for this file on pairs (classify: label ~ sentence1 + sentence2)."""
    from conftest import build_tiny_bert
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("predict-pair")
    data = root / "pairs"
    data.mkdir()
    for split, n, seed in (("train", 160, 1), ("validation", 40, 2), ("test", 40, 3)):
        write_jsonl(data / f"{split}.jsonl", pair_rows(n, seed))
    base = build_tiny_bert(root / "base")
    return fit(FitConfig(model=str(base), data=str(data), eqn=PAIR_EQN, out=str(root / "run"), epochs=6, lr=2e-3,
                         batch_size=16, warmup=0)).run_dir


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("tunelab predict: error: ") and "\n" not in err and "Traceback" not in err
    assert captured.out == ""
    return err


# ---------------------------------------------------------------- what a user reads

def test_human_output_shows_the_label_and_every_probability(single, capsys):
    assert main(["predict", "--model", single, "the cats are happy .", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["truncated"] is False
    assert main(["predict", "--model", single, "the cats are happy ."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == [pred["label"], f"{pred['score']:.4f}"]            # the answer comes first
    rows = {line.split()[0]: line.split()[1] for line in lines[1:3]}
    assert rows == {name: f"{p:.4f}" for name, p in pred["probabilities"].items()}   # every class, with its probability
    assert lines[1].split()[0] == pred["label"]                                        # most likely first
    assert "truncated" not in "\n".join(lines)


def test_a_sentence_cut_at_the_max_length_says_so(single, capsys, tmp_path):
    assert main(["predict", "--model", single, LONG]) == 0
    out = capsys.readouterr().out
    assert "truncated at 64 tokens" in out
    assert main(["predict", "--model", single, LONG, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is True
    assert main(["predict", "--model", single, "--max-length", "8", "the cat is good on the mat .", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is True                  # a shorter --max-length cuts sooner
    batch = tmp_path / "in.txt"
    batch.write_text(f"the cat is good .\n{LONG}\n", encoding="utf-8")
    assert main(["predict", "--model", single, "--input", str(batch)]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["truncated"] for line in captured.out.splitlines()] == [False, True]
    assert "1 of 2 inputs" in captured.err and "line 2" in captured.err


def test_a_pair_and_a_tab_separated_batch_match_transformers_pipeline(paired, capsys, tmp_path):
    from transformers import pipeline

    pairs = [("the cat is good .", "the dogs were happy on the mat ."), ("the dog is sad .", "the cats were good on the mat ."),
             ("the cat is bad .", "the cats were sad on the mat .")]
    pipe = pipeline("text-classification", model=os.path.join(paired, "model"), tokenizer=os.path.join(paired, "model"),
                    top_k=None, device="cpu")
    expected = [{r["label"]: r["score"] for r in pipe({"text": a, "text_pair": b})} for a, b in pairs]
    assert [max(e, key=e.get) for e in expected] == ["positive", "positive", "negative"]  # the second sentence decides

    a, b = pairs[0]
    assert main(["predict", "--model", paired, a, "--pair", b, "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert (pred["text"], pred["pair"]) == (a, b)
    assert pred["probabilities"] == pytest.approx(expected[0], abs=1e-4)
    assert pred["label"] == max(expected[0], key=expected[0].get)
    assert main(["predict", "--model", paired, a, "--pair", b]) == 0                  # the human output of a pair
    assert capsys.readouterr().out.split()[0] == pred["label"]

    batch = tmp_path / "pairs.tsv"
    batch.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    assert main(["predict", "--model", paired, "--input", str(batch), "--output", str(out), "--batch-size", "2"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["pair"]) for r in rows] == pairs
    for row, want in zip(rows, expected):
        assert row["probabilities"] == pytest.approx(want, abs=1e-4)
        assert row["label"] == max(want, key=want.get)


def test_pair_and_model_kind_must_agree(single, paired, capsys, tmp_path):
    assert main(["predict", "--model", single, "the cat is good .", "--pair", "the dog is bad ."]) == 2
    assert "trained on single sentences" in one_line_error(capsys)
    assert main(["predict", "--model", paired, "the cat is good ."]) == 2
    assert "trained on pairs (sentence1 + sentence2)" in one_line_error(capsys)
    singles, pairs = tmp_path / "singles.txt", tmp_path / "pairs.tsv"
    singles.write_text("the cat is good .\n", encoding="utf-8")
    pairs.write_text("the cat is good .\tthe dog is bad .\n", encoding="utf-8")
    assert main(["predict", "--model", paired, "--input", str(singles)]) == 2
    assert "input lines are single sentences" in one_line_error(capsys)
    assert main(["predict", "--model", single, "--input", str(pairs)]) == 2
    assert "input lines are tab-separated pairs" in one_line_error(capsys)


def test_blank_looking_lines_are_skipped_with_a_warning(single, capsys, tmp_path):
    batch = tmp_path / "in.txt"
    batch.write_text("the cat is good .\n\u200b\u200d\n\n   \nthe dog is bad .\n", encoding="utf-8")
    assert main(["predict", "--model", single, "--input", str(batch)]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["text"] for line in captured.out.splitlines()] == ["the cat is good .", "the dog is bad ."]
    assert "skipped 1 line" in captured.err and "line 2" in captured.err


# ---------------------------------------------------------------- refusals

BAD_ARGS = [
    (["--batch-size", "0", "--input", "IN"], "--batch-size 0 is out of range: it must be from 1"),
    (["--batch-size", "-3", "the cat ."], "--batch-size -3 is out of range: it must be from 1"),
    (["--max-length", "0", "the cat ."], "--max-length 0 is out of range: it must be from 8"),
    (["--max-length", "4096", "the cat ."], "beyond"),
    (["the cat .", "--input", "IN"], "not both"),
    (["the cat .", "--output", "OUT"], "--output is for batch mode"),
    (["--input", "IN", "--pair", "the dog ."], "--pair is for a single sentence"),
    (["\u200b\u200c\ufeff \u2060"], "empty"),
    (["   "], "empty"),
    (["the cat .", "--pair", "\u200b"], "second sentence"),
]


@pytest.mark.parametrize("argv, fragment", BAD_ARGS)
def test_bad_flags_and_inputs_are_one_line_and_exit_2(single, argv, fragment, capsys, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("the cat is good .\n", encoding="utf-8")
    argv = [{"IN": str(source), "OUT": str(tmp_path / "out.jsonl")}.get(a, a) for a in argv]
    assert main(["predict", "--model", single, *argv]) == 2
    assert fragment in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


BAD_BATCHES = [
    ("the cat is good .\tthe dog .\tand more\n", "in.txt' holds 3 tab-separated fields"),
    ("the cat is good .\tthe dog .\nthe cat .\n", "in.txt' is a single sentence but line 1 is a tab-separated pair"),
    ("the cat is good .\t\u200b\n", "in.txt': the second sentence of the pair is empty"),
    ("\n \n\u200b\n", "holds no sentences"),
]


@pytest.mark.parametrize("text, fragment", BAD_BATCHES)
def test_bad_batch_lines_name_the_line(single, text, fragment, capsys, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8")
    assert main(["predict", "--model", single, "--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert fragment in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_output_that_cannot_be_written_is_refused_and_leaves_nothing(single, capsys, tmp_path, monkeypatch):
    source = tmp_path / "in.txt"
    source.write_text("the cat is good .\n", encoding="utf-8")

    def run(output) -> str:
        assert main(["predict", "--model", single, "--input", str(source), "--output", str(output)]) == 2
        return one_line_error(capsys)

    target = tmp_path / "existing-dir"
    target.mkdir()
    assert "is a directory" in run(target)
    assert list(target.iterdir()) == [] and not (tmp_path / "existing-dir.tmp").exists()

    assert "is the input file" in run(source)
    assert "is the input file" in run(tmp_path / "existing-dir" / ".." / "in.txt")  # the same file by another name
    assert source.read_text(encoding="utf-8") == "the cat is good .\n"

    assert "does not exist" in run(tmp_path / "no-such-dir" / "o.jsonl")

    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anywhere: make the directory refuse the file as a read-only one would
            import tempfile

            import tunelab.core.atomic_write as atomic_write

            real_mkstemp = tempfile.mkstemp

            def refusing_mkstemp(*args, dir=None, **kwargs):
                if str(dir).startswith(str(readonly)):
                    raise PermissionError(13, "Permission denied", str(dir))
                return real_mkstemp(*args, dir=dir, **kwargs)

            monkeypatch.setattr(atomic_write.tempfile, "mkstemp", refusing_mkstemp)
        err = run(readonly / "o.jsonl")
        assert "cannot write" in err and "ermission denied" in err
        assert list(readonly.iterdir()) == []                                          # no output, no temp file
    finally:
        readonly.chmod(0o755)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing-dir", "in.txt", "ro"]


def test_output_is_written_whole_and_replaces_an_old_file(single, capsys, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("the cat is good .\nthe dog was sad .\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    assert main(["predict", "--model", single, "--input", str(source), "--output", str(out)]) == 0
    assert "2 predictions written to" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in rows] == ["acceptable", "unacceptable"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]
