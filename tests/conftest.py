"""Shared fixtures: tiny random BERT models built in the test session (no downloads), small data files,
and an isolated TUNELAB_HOME / offline hub for every test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import tempfile

os.environ["TUNELAB_HOME"] = tempfile.mkdtemp(prefix="tunelab-home-")  # run history and ONNX cache stay out of ~
# nothing reaches the network: the hub, datasets and evaluate's metric modules are all offline, and their caches
# live in a temporary HF_HOME (a hub id that a developer happens to have cached must not make a test pass)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="tunelab-hf-home-")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

# Tiny models gain nothing from a second thread, and OpenMP's spin-waits make a busy machine crawl.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu run only where torch can use CUDA; elsewhere (CPU CI) they are skipped, saying why."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marked gpu)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)

WORDS = ("the a cat cats dog dogs is are was were sat ran on mat table near keys key cabinet boy girl "
         "himself herself themselves this these that those there big small red happy sad good bad . , ?").split()


def build_tiny_bert(path: Path, *, num_labels: int | None = None, mlm: bool = False, layers: int = 2, heads: int = 2,
                    hidden: int = 32, max_positions: int = 64, seed: int = 0) -> Path:
    """A random BERT small enough to train in seconds, with a real WordPiece tokenizer over a tiny vocab."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz")
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=max_positions)
    tok.save_pretrained(path)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=hidden * 2, max_position_embeddings=max_positions, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    if mlm:
        model = BertForMaskedLM(config)
    elif num_labels:
        config.num_labels = num_labels
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config)
    model.save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def own_tunelab_home(tmp_path_factory, monkeypatch):
    """Each test gets its own TUNELAB_HOME: run history, TUI state and caches never leak between tests."""
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path_factory.mktemp("tunelab-home")))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A bare random encoder (like the bundled MiniLM: no classification head)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-mlm"), mlm=True)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def agreement_rows(n: int, seed: int = 0) -> list[dict]:
    """A toy task a tiny random model learns in seconds: the label follows one cue word (good/happy vs
    bad/sad), amid agreement-style filler of varied length."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        good = rng.random() < 0.5
        noun, verb = rng.choice([("cat", "is"), ("cats", "are"), ("dog", "was"), ("dogs", "were")])
        cue = rng.choice(["good", "happy"] if good else ["bad", "sad"])
        place = rng.choice(["", " on the mat", " near the table", " near the big red table"])
        rows.append({"sentence": f"the {noun} {verb} {cue}{place} .", "label": "acceptable" if good else "unacceptable"})
    return rows


def write_toy_splits(directory: Path, rows=agreement_rows) -> Path:
    """train/validation/test JSONL files (160/40/40 rows, seeds 1/2/3) of a toy task in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 160, 1), ("validation", 40, 2), ("test", 40, 3)):
        write_jsonl(directory / f"{split}.jsonl", rows(n, seed))
    return directory


def train_tiny(root: Path, data: Path, epochs: float, lr: float = 1e-3, **config):
    """Fine-tune a fresh tiny BERT on `data` (classify: label ~ sentence) into root/run; returns the FitResult."""
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    base = build_tiny_bert(root / "base")
    return fit(FitConfig(model=str(base), data=str(data), eqn="classify: label ~ sentence", out=str(root / "run"),
                         epochs=epochs, lr=lr, batch_size=16, **{"warmup": 0, **config}))


@pytest.fixture
def toy_data(tmp_path) -> Path:
    """A directory with train/validation/test JSONL files of the toy task."""
    return write_toy_splits(tmp_path / "toy")


NER_EQN = "classify_tokens: ner_tags ~ tokens"


def toy_ner_rows(n: int, seed: int = 0) -> list[dict]:
    """A toy tagging task a tiny random model learns in seconds: PER and LOC names (one or two words) in a few
    sentence frames, IOB2 tags, words from the tiny vocabulary."""
    import random

    rng = random.Random(seed)
    per, loc = [["boy"], ["girl"], ["big", "boy"], ["small", "girl"]], [["mat"], ["table"], ["red", "cabinet"]]
    frames = [("the", "P", "sat", "near", "the", "L"), ("a", "P", "ran", "on", "the", "L"), ("there", "is", "a", "P"),
              ("the", "L", "was", "big"), ("P", "and", "P", "sat", "on", "the", "L", ".")]
    rows = []
    for _ in range(n):
        words, tags = [], []
        for part in rng.choice(frames):
            if part in ("P", "L"):
                name = rng.choice(per if part == "P" else loc)
                kind = "PER" if part == "P" else "LOC"
                words += name
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            else:
                words.append(part)
                tags.append("O")
        rows.append({"tokens": words, "ner_tags": tags})
    return rows


def write_toy_ner_splits(directory: Path) -> Path:
    """train/validation/test JSONL files (160/40/40 sentences) of the toy tagging task in `directory`."""
    return write_toy_splits(directory, rows=toy_ner_rows)


# a toy regression with three outputs (valence, arousal, dominance) set by one cue word
VAD_OUTPUTS = ("valence", "arousal", "dominance")
# each cue word sets all three outputs: a tiny model learns them from the one word
VAD_CUES = {"good": (1.0, 0.5, 0.0), "happy": (0.8, 1.0, 0.3), "bad": (-1.0, 0.2, 1.0), "sad": (-0.8, -1.0, 0.6)}


def vad_rows(n: int, seed: int) -> list[dict]:
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        cue = rng.choice(list(VAD_CUES))
        noun = rng.choice(["cat", "dog", "boy", "girl"])
        place = rng.choice(["", " on the mat", " near the table"])
        rows.append({"word": f"the {noun} is {cue}{place} .", **dict(zip(VAD_OUTPUTS, VAD_CUES[cue]))})
    return rows


def write_vad_csv(directory: Path, edit=None) -> Path:
    """train/validation/test CSV files of the toy three-output task (`edit(split, rows)` may spoil them)."""
    import csv

    directory.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 160, 1), ("validation", 40, 2), ("test", 40, 3)):
        rows = vad_rows(n, seed)
        if edit:
            edit(split, rows)
        with open(directory / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, ["word", *VAD_OUTPUTS])
            writer.writeheader()
            writer.writerows(rows)
    return directory


QA_EQN = "classify_spans: answers ~ question + context"


def toy_qa_rows(n: int, seed: int = 0, unanswerable: float = 0.25) -> list[dict]:
    """A toy extractive QA set in the hub's squad_v2 shape, words from the tiny vocabulary: a context of a few short
    clauses, one of which says where something is ("the cat sat near the red cabinet"); the question asks where it
    sat, the answer is the place. A `unanswerable` share of the questions ask about an animal the context never
    places (empty answers)."""
    import random

    rng = random.Random(seed)
    animals, places = ["cat", "dog", "boy", "girl"], ["mat", "table", "red cabinet", "big table", "small mat"]
    filler = ["this is good", "these are bad", "that was big", "those were small", "there is a key"]
    rows = []
    for i in range(n):
        who = rng.sample(animals, 2)
        place = rng.choice(places)
        clauses = rng.sample(filler, rng.randint(1, 3))
        fact = f"the {who[0]} sat near the {place}"
        clauses.insert(rng.randint(0, len(clauses)), fact)
        context = " . ".join(clauses) + " ."
        if rng.random() < unanswerable:
            question, answers = f"where the {who[1]} sat ?", {"text": [], "answer_start": []}
        else:
            question = f"where the {who[0]} sat ?"
            answers = {"text": [place], "answer_start": [context.index(fact) + len(fact) - len(place)]}
        rows.append({"id": f"q{seed}-{i}", "title": "toy", "question": question, "context": context, "answers": answers})
    return rows


def write_toy_qa_splits(directory: Path, n: tuple[int, int, int] = (240, 40, 40)) -> Path:
    """train/validation/test JSONL files of the toy QA task in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for (split, seed), count in zip((("train", 0), ("validation", 1), ("test", 2)), n):
        write_jsonl(directory / f"{split}.jsonl", toy_qa_rows(count, seed))
    return directory


@pytest.fixture(scope="session")
def tiny_qa_run(tmp_path_factory) -> Path:
    """A tiny QA run trained in seconds on the toy questions (write_toy_qa_splits): the run directory. Its data is
    the directory beside it ("data"). Shared by the TUI's QA tests (the core's own test trains its own)."""
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("tiny-qa-run")
    data = write_toy_qa_splits(root / "data")
    base = build_tiny_bert(root / "base", max_positions=128)
    fit(FitConfig(model=str(base), data=str(data), eqn=QA_EQN, out=str(root / "run"), epochs=12, lr=3e-3,
                  batch_size=16, warmup=0, max_length=64))
    return root / "run"
