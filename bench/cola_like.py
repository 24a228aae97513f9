"""A CoLA-shaped acceptability set for the fine-tuning benchmark (bench/bench_fit.py), generated offline.

GLUE's CoLA has 8,551 training sentences and 1,043 validation sentences of 3 to 45 words (most of 5 to 12),
about 70% labelled acceptable (1) and 30% unacceptable (0). This writes files of that shape: the clauses come
from the bundled demo set's minimal-pair generators (core/demo_data.py: agreement of verbs, reflexives,
determiners and existential "there"), plus short two- and three-word clauses, joined by connectives into
sentences of varied length; an unacceptable sentence carries exactly one agreement error in one of its clauses.
The test split is labelled (GLUE's is not) so the benchmark can score it. Columns: sentence, label (1/0).

Deterministic: the same seed writes the same bytes (all randomness from one random.Random(seed)).

    python bench/cola_like.py --out /tmp/cola-like     # train.jsonl, validation.jsonl, test.jsonl
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from tunelab.core import demo_data

SIZES = {"train": 8551, "validation": 1043, "test": 1063}   # CoLA's train and validation; test: as many again
ACCEPTABLE_SHARE = 0.70                                     # CoLA train: 70.4% acceptable
MIN_WORDS, MAX_WORDS = 3, 45
CONNECTIVES = ["and", "but", "because", "while", "although", "so", "and then", "before", "after", "since"]
_SHORT_VERBS = "sleeps laughs works smiles waits sings runs arrives leaves swims".split()
_SHORT_TAILS = ["", "", "again", "today", "outside", "early"]


def _short_clause(rng: random.Random) -> tuple[str, str]:
    """A two- or three-word clause and its twin with the verb in the wrong number ("Mary sleeps" / "Mary sleep")."""
    pl = rng.random() < 0.3
    if pl:
        subj = " and ".join(rng.sample(demo_data.NAMES["m"] + demo_data.NAMES["f"], 2))
    else:
        subj = rng.choice(demo_data.NAMES["m"] + demo_data.NAMES["f"])
    verb, tail = rng.choice(_SHORT_VERBS), rng.choice(_SHORT_TAILS)
    good = " ".join(filter(None, [subj, demo_data.verb_form(verb, pl), tail]))
    bad = " ".join(filter(None, [subj, demo_data.verb_form(verb, not pl), tail]))
    return good, bad


def _clause(rng: random.Random, room: int) -> tuple[str, str]:
    """A clause (good, bad) of at most `room` words where possible, without its final full stop."""
    if room <= 4 or rng.random() < 0.15:
        return _short_clause(rng)
    for _ in range(20):
        good, bad = rng.choice(list(demo_data.PHENOMENA.values()))(rng)
        if len(good.split()) <= room:
            break
    return good.rstrip("."), bad.rstrip(".")


def _target_words(rng: random.Random) -> int:
    """A sentence length in words: log-normal around 8 (CoLA's median), 3 to 45."""
    return max(MIN_WORDS, min(MAX_WORDS, round(math.exp(rng.gauss(math.log(8.5), 0.5)))))


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    names = demo_data.NAMES["m"] + demo_data.NAMES["f"]
    return text if first in names else text[0].lower() + text[1:]


def sentence(rng: random.Random, acceptable: bool) -> str:
    """One sentence of about a target length: clauses joined by connectives, one clause wrong when unacceptable."""
    target = _target_words(rng)
    clauses: list[tuple[str, str, str]] = []      # (connective before it, good, bad)
    words = 0
    while not clauses or words < target - 2:
        joint = rng.choice(CONNECTIVES) if clauses else ""
        extra = len(joint.split())
        good, bad = _clause(rng, max(2, target - words - extra))
        if clauses and words + extra + len(good.split()) > MAX_WORDS:
            break
        clauses.append((joint, good, bad))
        words += extra + len(good.split())
    wrong = -1 if acceptable else rng.randrange(len(clauses))
    parts = []
    for i, (joint, good, bad) in enumerate(clauses):
        text = bad if i == wrong else good
        parts.append(f"{joint} {_lower_first(text)}" if joint else text)
    text = " ".join(parts)
    words = text.split()
    if len(words) < MIN_WORDS:     # a bare two-word clause: "Mary sleeps" -> "Mary sleeps today"
        text += " " + rng.choice(["today", "again", "outside"])
    return text[0].upper() + text[1:] + "."


def generate(seed: int = 17, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Splits of row dicts {"sentence", "label"}: label 1 (acceptable) for about 70% of each split."""
    rng = random.Random(seed)
    splits = {}
    for split, n in (sizes or SIZES).items():
        n_good = round(n * ACCEPTABLE_SHARE)
        labels = [1] * n_good + [0] * (n - n_good)
        rng.shuffle(labels)
        splits[split] = [{"sentence": sentence(rng, bool(label)), "label": label} for label in labels]
    return splits


def write(out_dir: Path, seed: int = 17, sizes: dict[str, int] | None = None) -> dict[str, Path]:
    """Write `<split>.jsonl` into `out_dir` (the same bytes for the same seed); returns the paths."""
    return demo_data.write_splits(Path(out_dir), generate(seed, sizes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write a CoLA-shaped acceptability set.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    for split, path in write(args.out, args.seed).items():
        rows = path.read_text().splitlines()
        print(f"{split:<10} {len(rows):>5} rows  {path}")
