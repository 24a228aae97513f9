"""Generator of TuneLab's bundled demo dataset: English sentence acceptability from minimal pairs.

TuneLab ships a small dataset under `core/demo/` so that a first run works offline, with no download
from the Hugging Face hub. In the spirit of BLiMP and CoLA, every example comes from a minimal pair: a
grammatical sentence (label "acceptable") and a twin that differs from it by one word form and breaks an
agreement rule (label "unacceptable"). The phenomena are subject-verb agreement (with and without an
attractor noun of the opposite number), anaphor (reflexive) agreement, determiner-noun agreement and
agreement after existential "there". Both members of a pair land in the same split, so nothing leaks.

The jsonl files are what TuneLab loads (the demo dataset option and the tests); this module is only run to
regenerate them, byte for byte, with

    python core/demo_data.py            # --out DIR, --seed N, --pairs N

Pure standard library, and all randomness comes from one `random.Random(seed)`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

DEMO_DIR = Path(__file__).parent / "demo"
SPLITS = ("train", "validation", "test")
LABELS = ("acceptable", "unacceptable")

# ---------------------------------------------------------------- morphology

_IRREGULAR_PLURALS = {
    "child": "children", "man": "men", "woman": "women", "person": "people", "mouse": "mice",
    "wolf": "wolves", "knife": "knives", "wife": "wives", "gentleman": "gentlemen", "photo": "photos",
}
_IRREGULAR_VERBS = {"is": "are", "was": "were", "has": "have", "does": "do"}


def plural(noun: str) -> str:
    """English plural of a count noun (none of ours has identical singular and plural)."""
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def noun_form(noun: str, pl: bool) -> str:
    return plural(noun) if pl else noun


def verb_form(v3sg: str, pl: bool) -> str:
    """Present (or was/were) form agreeing with a 3rd-person subject; `v3sg` is the singular form."""
    if not pl:
        return v3sg
    if v3sg in _IRREGULAR_VERBS:
        return _IRREGULAR_VERBS[v3sg]
    if v3sg.endswith("ies"):
        return v3sg[:-3] + "y"
    if v3sg.endswith(("sses", "shes", "ches", "xes", "oes")):
        return v3sg[:-2]
    return v3sg[:-1]


def fill(template: str, pl: bool) -> str:
    """Render the one `{verb}` slot of a predicate template for a singular or plural subject."""
    return re.sub(r"\{(\w+)\}", lambda m: verb_form(m.group(1), pl), template)


def article(word: str) -> str:
    return "an" if word[0] in "aeio" else "a"  # no vocabulary word starts with "u" or a silent "h"


# ---------------------------------------------------------------- vocabulary

_PREPS = ["near", "behind", "beside", "next to"]
CATEGORIES = {
    "person": dict(
        nouns="student teacher doctor nurse farmer driver child pilot singer lawyer neighbor worker visitor "
        "customer player artist baker guest tourist author actor manager cook officer".split(),
        adjs="young old tall new local famous quiet".split(),
        preds=["{is} tired", "{is} very busy", "{is} waiting outside", "{is} ready to leave", "{was} late again",
               "{was} happy", "{was} reading a newspaper", "{has} been sick", "{has} left the building",
               "{does} not like the food", "{does} not live here", "{works} at the hospital", "{lives} nearby",
               "{speaks} French", "{seems} nervous", "{wants} to go home", "{knows} the answer", "{looks} angry"],
        preps=_PREPS + ["with"],
        rc_verbs="likes knows remembers trusts admires visits helps".split(),
        obj_verbs="met called helped visited invited thanked saw interviewed hired".split(),
        places=["in the office", "at the door", "outside the station", "in the waiting room", "on the bus",
                "in the lobby"],
    ),
    "animal": dict(
        nouns="dog cat horse bird rabbit cow goat duck wolf mouse fox puppy tiger bear frog monkey donkey pony "
        "kitten".split(),
        adjs="small big black white old young brown little".split(),
        preds=["{is} hungry", "{is} sleeping", "{is} very friendly", "{was} hiding under the bed", "{was} sick",
               "{was} playing in the yard", "{has} been quiet", "{has} run away", "{does} not eat much",
               "{sleeps} outside", "{needs} water", "{looks} tired", "{seems} scared", "{likes} the garden",
               "{runs} very fast"],
        preps=_PREPS,
        rc_verbs="likes feeds watches owns wants".split(),
        obj_verbs="fed saw chased found lost washed photographed bought sold adopted".split(),
        places=["in the garden", "on the farm", "near the river", "behind the barn", "in the yard",
                "under the bridge"],
    ),
    "object": dict(
        nouns="book key box car chair window bottle lamp letter knife painting picture cup bag coat shoe map "
        "phone bike clock dish watch ticket desk door toy photo pencil basket plate candle blanket mirror".split(),
        adjs="old new red blue small large black white green brown".split(),
        preds=["{is} broken", "{is} on the table", "{is} very dusty", "{is} too heavy", "{was} expensive",
               "{was} missing", "{was} in the kitchen", "{has} been cleaned", "{has} disappeared",
               "{does} not belong here", "{looks} new", "{seems} dirty", "{costs} a lot",
               "{belongs} to my sister", "{needs} to be cleaned"],
        preps=_PREPS + ["under", "on top of"],
        rc_verbs="likes wants needs owns uses remembers".split(),
        obj_verbs="bought sold found lost cleaned fixed moved carried dropped borrowed".split(),
        places=["on the table", "under the bed", "in the kitchen", "on the shelf", "in the car", "near the door"],
    ),
}
PERSONS = CATEGORIES["person"]["nouns"]
GENDERED = {
    "m": "boy man king father brother uncle prince waiter husband son grandfather nephew gentleman".split(),
    "f": "girl woman queen mother sister aunt princess waitress wife daughter grandmother niece lady".split(),
}
NAMES = {
    "m": "John David Peter Tom James Mark Paul Robert Daniel Steven Michael Carlos".split(),
    "f": "Mary Anna Susan Emma Linda Sarah Julia Karen Lucy Helen Maria Rachel".split(),
}
REFLEXIVE = {"m": "himself", "f": "herself", "pl": "themselves"}
REFL_VERBS = ("hurt blamed praised admired defended introduced described criticized pushed photographed cut "
              "washed helped trusted questioned surprised saw heard embarrassed congratulated watched").split()
MIRROR_VERBS = {"saw", "admired", "watched", "photographed", "criticized"}
TAILS = ["", "", "", "yesterday", "again", "last week", "at the party", "after the game", "in the morning"]
DET_SG = "this that each every another one".split()
DET_PL = "these those many several few both two three".split()
DEMONSTRATIVE = {"this": "these", "that": "those", "these": "this", "those": "that"}
THERE_SG = ["a", "one", "only one", "another"]
THERE_PL = ["two", "three", "several", "many", "some"]


def sentence(*parts: str) -> str:
    text = " ".join(p for p in parts if p)
    return text[0].upper() + text[1:] + "."


def maybe(rng: random.Random, options: list[str], p: float = 0.35) -> str:
    return rng.choice(options) if rng.random() < p else ""


# ---------------------------------------------------------------- phenomena (each returns good, bad)

def subject_verb_agreement(rng: random.Random) -> tuple[str, str]:
    """Verb agrees with the head noun, across a PP or object relative clause of the opposite number."""
    c = CATEGORIES[rng.choice(list(CATEGORIES))]
    pl, head = rng.random() < 0.5, rng.choice(c["nouns"])
    subj = " ".join(filter(None, ["the", maybe(rng, c["adjs"]), noun_form(head, pl)]))
    kind = rng.random()
    if kind < 0.4:  # prepositional attractor: "the keys near the cabinet"
        other = rng.choice([n for n in c["nouns"] + CATEGORIES["object"]["nouns"] if n != head])
        subj += f" {rng.choice(c['preps'])} the {noun_form(other, not pl)}"
    elif kind < 0.7:  # relative-clause attractor: "the book that the students like"
        other = rng.choice([n for n in PERSONS if n != head])
        subj += f" that the {noun_form(other, not pl)} {verb_form(rng.choice(c['rc_verbs']), not pl)}"
    pred = rng.choice(c["preds"])
    return sentence(subj, fill(pred, pl)), sentence(subj, fill(pred, not pl))


def anaphor_agreement(rng: random.Random) -> tuple[str, str]:
    """Reflexive agrees in gender and number with the subject ("The boy hurt himself").

    A third of the subjects are plural and half the singular errors use "themselves", so each reflexive
    is as frequent among acceptable as among unacceptable sentences: only the agreement tells them apart.
    """
    pl, gender, r = rng.random() < 1 / 3, rng.choice("mf"), rng.random()
    if r < 0.3:  # proper names: one, or two coordinated
        subj = " and ".join(rng.sample(NAMES["m"] + NAMES["f"], 2)) if pl else rng.choice(NAMES[gender])
    else:
        head = rng.choice(PERSONS) if pl and rng.random() < 0.4 else rng.choice(GENDERED[gender])
        subj = " ".join(filter(None, ["the", maybe(rng, ["young", "old", "tall"], 0.25), noun_form(head, pl)]))
        if r > 0.7:  # attractor of the other number: "the girl next to the boys"
            other = rng.choice([n for n in PERSONS + GENDERED["m"] + GENDERED["f"] if n != head])
            subj += f" {rng.choice(_PREPS + ['with'])} the {noun_form(other, not pl)}"
    verb = rng.choice(REFL_VERBS)
    tails = [t for t in TAILS if t or " " in subj]  # a lone name needs a tail to reach four words
    tail = rng.choice(tails + (["in the mirror"] * 3 if verb in MIRROR_VERBS else []))
    if pl:
        right, wrong = REFLEXIVE["pl"], rng.choice(["himself", "herself"])
    else:
        right = REFLEXIVE[gender]
        wrong = REFLEXIVE["f" if gender == "m" else "m"] if rng.random() < 0.5 else "themselves"
    return sentence(subj, verb, right, tail), sentence(subj, verb, wrong, tail)


def determiner_noun_agreement(rng: random.Random) -> tuple[str, str]:
    """Determiner agrees with its noun ("these dogs", not "this dogs"), in subject or object position."""
    c = CATEGORIES[rng.choice(list(CATEGORIES))]
    pl, head, adj = rng.random() < 0.5, rng.choice(c["nouns"]), maybe(rng, c["adjs"], 0.3)
    det = rng.choice(DET_PL if pl else DET_SG)
    good = " ".join(filter(None, [det, adj, noun_form(head, pl)]))
    if det in DEMONSTRATIVE and rng.random() < 0.5:  # "this dogs": wrong determiner
        bad = " ".join(filter(None, [DEMONSTRATIVE[det], adj, noun_form(head, pl)]))
    else:  # "each students", "many book": wrong noun form
        bad = " ".join(filter(None, [det, adj, noun_form(head, not pl)]))
    if rng.random() < 0.5:  # subject: the verb agrees with the grammatical reading
        pred = fill(rng.choice(c["preds"]), pl)
        return sentence(good, pred), sentence(bad, pred)
    if rng.random() < 0.3:
        subj = rng.choice(NAMES["m"] + NAMES["f"])
    else:
        subj = "the " + noun_form(rng.choice([n for n in PERSONS if n != head]), rng.random() < 0.5)
    verb, tail = rng.choice(c["obj_verbs"]), rng.choice(TAILS)
    return sentence(subj, verb, good, tail), sentence(subj, verb, bad, tail)


def existential_there_agreement(rng: random.Random) -> tuple[str, str]:
    """After existential "there", be agrees with the following noun phrase ("There are two cats ...")."""
    c = CATEGORIES[rng.choice(list(CATEGORIES))]
    pl, head, adj = rng.random() < 0.5, rng.choice(c["nouns"]), maybe(rng, c["adjs"], 0.4)
    det = rng.choice(THERE_PL if pl else THERE_SG)
    if det == "a":
        det = article(adj or head)
    phrase = " ".join(filter(None, [det, adj, noun_form(head, pl), rng.choice(c["places"])]))
    be = rng.choice(["is", "was"])
    return sentence("there", verb_form(be, pl), phrase), sentence("there", verb_form(be, not pl), phrase)


PHENOMENA = {
    "subject_verb_agreement": subject_verb_agreement,
    "anaphor_agreement": anaphor_agreement,
    "determiner_noun_agreement": determiner_noun_agreement,
    "existential_there_agreement": existential_there_agreement,
}

# ---------------------------------------------------------------- dataset


def _check_pair(good: str, bad: str) -> None:
    """Both plain ASCII, 4-20 words, and differing in exactly one word."""
    g, b = good.split(), bad.split()
    ok = good.isascii() and bad.isascii() and 4 <= len(g) <= 20 and len(g) == len(b)
    if not (ok and sum(x != y for x, y in zip(g, b)) == 1):
        raise ValueError(f"malformed pair: {good!r} / {bad!r}")


def _make_pairs(rng: random.Random, n_pairs: int) -> list[tuple[str, str, str]]:
    """(phenomenon, good, bad) triples, phenomena in turn, no sentence used twice."""
    names, seen, pairs = list(PHENOMENA), set(), []
    for i in range(n_pairs):
        name = names[i % len(names)]
        for _ in range(10_000):
            good, bad = PHENOMENA[name](rng)
            if good not in seen and bad not in seen:
                break
        else:
            raise RuntimeError(f"vocabulary exhausted for {name} after {i} pairs")
        _check_pair(good, bad)
        seen.update((good, bad))
        pairs.append((name, good, bad))
    return pairs


def generate(seed: int = 13, n_pairs: int = 1500) -> dict[str, list[dict]]:
    """The demo dataset: splits "train", "validation", "test" (about 80/10/10 by pair) of row dicts."""
    rng = random.Random(seed)
    pairs = _make_pairs(rng, n_pairs)
    # Shuffle pair ids within each phenomenon, then deal them out in turn so every split is stratified.
    buckets = [[i for i, p in enumerate(pairs) if p[0] == name] for name in PHENOMENA]
    for bucket in buckets:
        rng.shuffle(bucket)
    order = []
    for k in range(max(map(len, buckets))):
        order.extend(bucket[k] for bucket in buckets if k < len(bucket))
    n_train, n_val = round(0.8 * n_pairs), round(0.1 * n_pairs)
    cuts = {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
            "test": order[n_train + n_val:]}
    splits = {}
    for split, ids in cuts.items():
        rows = []
        for pid in sorted(ids):
            name, good, bad = pairs[pid]
            for text, label in zip((good, bad), LABELS):
                rows.append({"sentence": text, "label": label, "phenomenon": name, "pair_id": pid})
        rng.shuffle(rows)
        splits[split] = rows
    return splits


def write(out_dir: Path, seed: int = 13, n_pairs: int = 1500) -> dict[str, Path]:
    """Write `<split>.jsonl` files into `out_dir` (byte-for-byte deterministic); returns their paths."""
    return write_splits(out_dir, generate(seed, n_pairs))


def write_splits(out_dir: Path, splits: dict[str, list[dict]]) -> dict[str, Path]:
    """Each split's rows as `<split>.jsonl` in `out_dir`, ASCII JSON one row a line (so the bytes are the same on
    every machine); returns their paths. Shared by the demo generators."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, rows in splits.items():
        path = paths[split] = out_dir / f"{split}.jsonl"
        path.write_bytes("".join(json.dumps(r, ensure_ascii=True) + "\n" for r in rows).encode("ascii"))
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate TuneLab's bundled demo dataset.")
    parser.add_argument("--out", type=Path, default=DEMO_DIR, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--pairs", type=int, default=1500, help="number of minimal pairs")
    args = parser.parse_args()
    for split, path in write(args.out, args.seed, args.pairs).items():
        print(f"{split:<10} {sum(1 for _ in path.open()):>5} rows  {path}")
