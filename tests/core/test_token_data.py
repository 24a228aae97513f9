"""Reading token-tag data: CoNLL text files, hub-shaped Parquet with Sequence(ClassLabel) tags, and the bundled
demo-ner set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunelab.core.data import demo_dir, load_raw_splits, load_task_data
from tunelab.core.errors import TuneLabError
from tunelab.core.tasks.base import task_for

NER = "classify_tokens: ner_tags ~ tokens"
CONLL = ("-DOCSTART- -X- -X- O\n\n"
         "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"
         "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
         "-DOCSTART- -X- -X- O\n\n"
         "BRUSSELS NNP B-NP B-LOC\n1996-08-22 CD I-NP O\n")
COLUMNS = ["tokens", "pos_tags", "chunk_tags", "ner_tags"]


def _write(path, text, crlf=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())
    return path


def _refusal(*args, **kwargs) -> str:
    with pytest.raises(TuneLabError) as err:
        load_task_data(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("crlf", [False, True])
def test_conll_with_docstart_and_windows_line_ends(tmp_path, crlf):
    path = _write(tmp_path / "train.conll", CONLL, crlf)
    data = load_task_data(str(path), NER, columns=COLUMNS, hold_out=False)
    train = data.split("train")
    assert train.column_names == COLUMNS
    assert train["tokens"] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    assert train["ner_tags"][1] == ["B-PER", "I-PER"]                  # no "\r" left on the last column
    assert data.label_names == ("O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER")
    assert task_for(data).default_metric(data.label_names, data.name, False) == "entity_f1"


def test_conll_columns_named_by_their_count_without_columns(tmp_path):
    four = load_raw_splits(str(_write(tmp_path / "a.conll", CONLL)))
    assert four["train"].column_names == COLUMNS                       # CoNLL-2003's layout, as the hub names it
    two = load_raw_splits(str(_write(tmp_path / "b.iob", "EU B-ORG\nrejects O\n\nPeter B-PER\n")))
    assert two["train"].column_names == ["tokens", "tags"]
    five = tmp_path / "c.bio"
    _write(five, "EU a b c B-ORG\n")
    with pytest.raises(TuneLabError, match="5 columns per line; name them with --columns"):
        load_raw_splits(str(five))


def test_a_conll_line_with_the_wrong_number_of_columns_names_file_and_line(tmp_path):
    path = _write(tmp_path / "train.conll", "EU B-ORG\nrejects O\n\nPeter\tNNP B-PER\n")
    msg = _refusal(str(path), "ner: tags ~ tokens")
    assert msg.startswith(f"{path} line 4: 3 columns") and "train.conll line 1 has 2" in msg
    _write(path, "EU B-ORG\nrejects O\n\nPeter B-PER\n")
    msg = _refusal(str(path), NER, columns=["tokens", "pos_tags", "ner_tags"])
    assert f"{path} line 1: 2 columns, but --columns names 3" in msg


def test_conll_directory_and_explicit_splits(tmp_path):
    _write(tmp_path / "d" / "train.conll", CONLL)
    _write(tmp_path / "d" / "dev.conll", CONLL, crlf=True)
    _write(tmp_path / "d" / "test.conll", "EU\nrejects\n\nPeter\n")
    data = load_task_data(str(tmp_path / "d"), NER, columns=COLUMNS)
    assert set(data.splits) == {"train", "validation", "test"} and not data.held_out_validation
    assert data.split("test").column_names == ["tokens"] and not data.labeled["test"]   # words only: unlabelled
    explicit = load_task_data(f"train={tmp_path / 'd' / 'train.conll'},validation={tmp_path / 'd' / 'dev.conll'}",
                              NER, columns=COLUMNS)
    assert len(explicit.split("validation")) == 3


def test_txt_is_conll_only_with_columns(tmp_path):
    path = _write(tmp_path / "train.txt", CONLL)
    assert "name its columns with --columns" in _refusal(str(path), NER)
    data = load_task_data(str(path), NER, columns=COLUMNS, hold_out=False)
    assert len(data.split("train")) == 3


def test_a_conll_row_is_named_by_its_first_line(tmp_path):
    from tunelab.core.data import _load_raw

    _, _, where = _load_raw(str(_write(tmp_path / "train.conll", CONLL)), COLUMNS)
    assert where("train", 1) == f"{tmp_path / 'train.conll'} line 8"


def test_a_conll_file_without_sentences_is_refused(tmp_path):
    path = _write(tmp_path / "train.conll", "-DOCSTART- -X- -X- O\n\n")
    assert "holds no sentences" in _refusal(str(path), NER)


def test_hub_shaped_parquet_with_sequence_classlabel_tags(tmp_path, tiny_bert):
    import datasets
    from transformers import AutoTokenizer

    from tunelab.core.batching import encode_task_split

    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]   # the hub's order
    features = datasets.Features({"id": datasets.Value("string"),
                                  "tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    rows = {"id": ["0", "1"], "tokens": [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]],
            "ner_tags": [[3, 0, 7, 0], [1, 2]]}
    for split in ("train", "validation"):
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / f"{split}.parquet"))
    data = load_task_data(str(tmp_path), NER)
    assert data.label_names == tuple(names)                            # the ClassLabel's own order
    task = task_for(data)
    assert task.tags(data, "validation") == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]
    l2i = {n: i for i, n in enumerate(names)}
    enc = encode_task_split(data, "validation", AutoTokenizer.from_pretrained(tiny_bert), 32, l2i)
    assert [x.tolist() for x in enc.word_labels] == rows["ner_tags"]


def test_demo_ner_loads_with_its_own_equation_and_is_regenerated_byte_for_byte(tmp_path):
    from tunelab.core import demo_ner

    data = load_task_data("demo-ner", None)
    assert str(data.equation) == NER
    assert {s: len(ds) for s, ds in data.splits.items()} == {"train": 2400, "validation": 300, "test": 300}
    assert {"B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"} <= set(data.label_names)
    paths = demo_ner.write(tmp_path)
    for split, path in paths.items():
        assert path.read_bytes() == (demo_dir("demo-ner") / f"{split}.jsonl").read_bytes()


def test_demo_ner_test_frames_are_not_training_frames():
    def frame(row):         # the sentence with each entity replaced by its type
        out = []
        for word, tag in zip(row["tokens"], row["ner_tags"]):
            if tag.startswith("I-"):
                continue
            out.append(tag[2:] if tag != "O" else word.lower())
        return " ".join(out)

    def frames(split):
        with open(demo_dir("demo-ner") / f"{split}.jsonl") as fh:
            return {frame(json.loads(line)) for line in fh}

    assert not frames("test") & frames("train")
    assert not frames("validation") & frames("train")
    lengths = [len(json.loads(line)["tokens"]) for line in open(demo_dir("demo-ner") / "train.jsonl")]
    assert np.mean(lengths) > 8
