"""The bundled extractive QA demo set (core/demo/qa, written by core/demo_qa.py)."""

import json
import re

from tunelab.core import demo_qa
from tunelab.core.data import demo_dir, load_raw_splits
from tunelab.core.squad_metrics import check_answers

SPLITS = ("train", "validation", "test")


def read(split):
    with open(demo_dir("demo-qa") / f"{split}.jsonl") as fh:
        return [json.loads(line) for line in fh]


def test_demo_qa_files_regenerate_byte_for_byte(tmp_path):
    paths = demo_qa.write(tmp_path)
    assert set(paths) == set(SPLITS)
    for split, path in paths.items():
        assert path.read_bytes() == (demo_dir("demo-qa") / f"{split}.jsonl").read_bytes()


def test_demo_qa_is_the_hubs_flat_shape_with_every_answer_an_exact_span():
    splits = load_raw_splits(str(demo_dir("demo-qa")))
    assert {s: len(ds) for s, ds in splits.items()} == {"test": 300, "train": 2400, "validation": 300}
    assert set(splits["train"].features["answers"]) == {"text", "answer_start"}
    ids = set()
    for split in SPLITS:
        for row in read(split):
            assert set(row) == {"id", "title", "question", "context", "answers"}
            assert check_answers(row["context"], row["answers"]) is None, row["id"]
            assert len(row["answers"]["text"]) <= 1 and row["question"].endswith("?")
            ids.add(row["id"])
    assert len(ids) == 3000


def test_a_third_of_the_questions_are_unanswerable_and_sound_answerable():
    for split in SPLITS:
        rows = read(split)
        unanswerable = [r for r in rows if not r["answers"]["text"]]
        assert 0.3 <= len(unanswerable) / len(rows) <= 0.37, split
        # about the paragraph's own person, as SQuAD v2's are
        assert all(r["title"].replace("_", " ") in r["question"] for r in unanswerable)


def _template_patterns():
    """Each sentence template as a regex over the rendered sentence (names capitalised words, other slots text)."""
    city = "(?:" + "|".join(demo_qa.CITIES) + ")"
    slots = {"NAME": "[A-Z][a-z]+(?: [A-Z][a-z]+)?", "CITY": city, "CITY2": city, "YEAR": r"\d{4}", "YEAR2": r"\d{4}",
             "STAFF": r"\d+"}
    out = {}
    for template in demo_qa.SENTENCES:
        text = template.replace(" .", ".").replace(" ,", ",")
        parts = re.split(r"(\{[A-Z0-9]+\})", text)
        regex = "".join(slots.get(p[1:-1], ".+?") if p.startswith("{") else re.escape(p) for p in parts)
        out[template] = re.compile(f"(?i:{regex[0]}){regex[1:]}" if parts[0] else regex)   # a capital to open
    return out


def test_test_paragraphs_use_sentence_templates_that_train_never_saw():
    patterns = _template_patterns()
    pools = demo_qa.split_templates()
    assert not set(pools["test"]) & set(pools["train"]) and not set(pools["validation"]) & set(pools["train"])

    def templates(split):
        used = set()
        for context in {r["context"] for r in read(split)}:
            for sentence in re.split(r"(?<=\.) ", context):
                found = {t for t, rx in patterns.items() if rx.fullmatch(sentence)}
                assert found, sentence
                used |= found
        return used

    train = templates("train")
    assert not templates("test") & train
    assert not templates("validation") & train
    assert {c for r in read("test") for c in [r["context"]]}.isdisjoint({r["context"] for r in read("train")})
