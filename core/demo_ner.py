"""Generator of TuneLab's bundled named-entity demo set (`--data demo-ner`): English sentences tagged in IOB2.

Like `core/demo/` for sentence labels, `core/demo/ner/` lets a first token-tagging run work offline. Every sentence
comes from a frame ("{PER} joined {ORG} in {LOC} after the {MISC} .") whose slots are filled with people (PER),
organisations (ORG), places (LOC) and other names (MISC: nationalities, events, prizes, languages). Names are
often several words long, and many look nested: "Bank of America" and "University of Paris" are organisations
that hold a place's name, "Tour de France" is an event. A frame may get an opening or closing phrase ("On Monday
,", ", officials said ."), which may hold an entity too.

Frames, not sentences, are split 80/10/10 between train, validation and test, so no test sentence is a copy of a
training one with other names in it: a model must read the context it was not trained on. A quarter of each list
of names is held out of train, and validation and test sentences draw from those half the time, so a model must
also tag names it has never seen. Some names are ambiguous across types, as real ones are ("Jordan" the person and
the country, "Washington" the person, the place and, in "Washington Post", the newspaper). Rows are `{"tokens": [...], "ner_tags": [...]}` with tags as strings.

The jsonl files are what TuneLab loads; this module is only run to regenerate them, byte for byte, with

    python core/demo_ner.py            # --out DIR, --seed N, --sentences N

Pure standard library, and all randomness comes from one `random.Random(seed)`.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

NER_DIR = Path(__file__).parent / "demo" / "ner"
SPLITS = ("train", "validation", "test")
EQUATION = "classify_tokens: ner_tags ~ tokens"

# ---------------------------------------------------------------- names

FIRST = ("Jordan Florence Chelsea Victoria Georgia Paris Angela Barack Maria John Fatima Wei Olga Pedro Aisha Hans Yuki Carlos Emma Ahmed Sofia Ivan Priya Lars "
         "Chloe Kenji Amara Luca Nadia Omar Elena Tom Grace Mateo Ingrid Samuel Mei Rafael Leila David Anna Jonas "
         "Zara Victor Hannah Kofi").split()
LAST = ("Merkel Obama Garcia Smith Haddad Zhang Petrova Alvarez Okafor Schmidt Tanaka Rossi Dubois Kowalski "
        "Nakamura Johansson Mensah Silva Novak Fischer Moreau Ivanova Costa Brown Lindqvist Kim Rahman Bianchi "
        "Herrera Weber Adeyemi Larsen Santos Muller Chen Fernandes Walker Jensen Lincoln Ford Washington Jordan "
        "Chelsea").split()
ORG = ["Bank of America", "University of Paris", "Bank of Canada", "University of Chicago", "Royal Bank of Scotland",
       "New York Times", "General Motors", "Siemens", "Reuters", "United Nations", "European Union", "Red Cross",
       "Ford Motor Company", "Deutsche Bank", "Toyota", "Microsoft", "World Health Organization", "Boston Celtics",
       "Real Madrid", "Manchester United", "Greenpeace", "Nestle", "Airbus", "Samsung Electronics", "BBC",
       "Amnesty International", "Bank of Japan", "University of Oxford", "Texas Instruments", "Tokyo Electric Power",
       "Sydney Opera House Trust", "African Union", "Volkswagen", "Goldman Sachs", "Paris Saint-Germain",
       "National Bank of Egypt", "Harvard University", "Interpol", "Oxfam", "Philips", "Washington Post", "Chelsea",
       "Florence Symphony Orchestra", "Lincoln Center", "Georgia Power"]
LOC = ["Paris", "New York", "Germany", "South Africa", "Rio de Janeiro", "Tokyo", "Lagos", "Canada", "the Alps",
       "Berlin", "Chicago", "Mexico City", "Brazil", "India", "Cairo", "Sydney", "Norway", "Lake Geneva", "Kenya",
       "Scotland", "Hong Kong", "Madrid", "Texas", "Sao Paulo", "Istanbul", "Vietnam", "Buenos Aires", "Oslo",
       "Peru", "the Nile", "Los Angeles", "Poland", "Seoul", "Dublin", "Chile", "Nairobi", "Bavaria", "Quebec",
       "Lisbon", "Egypt", "Mount Kenya", "the Sahara", "Jordan", "Washington", "Florence", "Victoria", "Georgia",
       "Lincoln"]
MISC = ["German", "French", "World Cup", "Olympic Games", "Nobel Prize", "Tour de France", "Christmas", "English",
        "Japanese", "Brazilian", "Ramadan", "Champions League", "Grammy Award", "Spanish", "Oscar", "Euro 2024",
        "Chinese", "Swahili", "Australian Open", "Booker Prize", "Canadian", "Paris Agreement", "Italian",
        "Super Bowl", "Mexican", "Cold War", "Kenyan", "Wimbledon", "Arabic", "Norwegian", "Victoria Cross",
        "Paris Marathon", "Jordanian", "Lincoln Award"]

# ---------------------------------------------------------------- frames

# {PER} {ORG} {LOC} {MISC} are slots; the rest is words split on spaces, tagged O
FRAMES = [
    "{PER} visited {LOC} on Monday .",
    "{PER} met {PER} in {LOC} .",
    "{ORG} opened a new office in {LOC} .",
    "{PER} joined {ORG} last year .",
    "{PER} , who works for {ORG} , lives in {LOC} .",
    "The {MISC} team beat {ORG} in {LOC} .",
    "{ORG} said profits rose in {LOC} .",
    "{PER} won the {MISC} .",
    "{PER} speaks {MISC} and {MISC} .",
    "Shares of {ORG} fell after the report .",
    "{PER} flew from {LOC} to {LOC} .",
    "A spokesman for {ORG} declined to comment .",
    "{PER} was born in {LOC} .",
    "{ORG} and {ORG} agreed to merge .",
    "The {MISC} minister {PER} arrived in {LOC} .",
    "{PER} told {ORG} that the deal was off .",
    "Heavy rain hit {LOC} overnight .",
    "{ORG} hired {PER} as its new chief .",
    "{PER} studied at {ORG} before moving to {LOC} .",
    "Fans in {LOC} celebrated the {MISC} win .",
    "{PER} will lead the {MISC} delegation to {LOC} .",
    "{ORG} plans to cut jobs in {LOC} .",
    "Talks between {ORG} and {ORG} ended without a deal .",
    "{PER} scored twice as {ORG} won .",
    "The {MISC} took place in {LOC} this year .",
    "{PER} thanked {PER} after the {MISC} .",
    "Police in {LOC} arrested two men .",
    "{ORG} bought a stake in {ORG} .",
    "{PER} left {LOC} for {LOC} in May .",
    "The report by {ORG} criticised {LOC} .",
    "{PER} and {PER} founded {ORG} .",
    "Tourists crowded the streets of {LOC} .",
    "{PER} wrote a book about the {MISC} .",
    "{ORG} is based in {LOC} .",
    "{PER} returned to {LOC} after ten years .",
    "{MISC} voters backed {PER} .",
    "The {MISC} film won an award in {LOC} .",
    "{PER} resigned from {ORG} on Friday .",
    "Prices in {LOC} rose by two percent .",
    "{ORG} sued {ORG} over a patent .",
    "{PER} interviewed {PER} for {ORG} .",
    "The border between {LOC} and {LOC} was closed .",
    "{PER} praised the work of {ORG} in {LOC} .",
    "Flights to {LOC} were cancelled .",
    "{PER} is the {MISC} coach of {ORG} .",
    "{ORG} announced a merger with {ORG} in {LOC} .",
    "Many {MISC} families live near {LOC} .",
    "{PER} signed a contract with {ORG} .",
    "The meeting in {LOC} was chaired by {PER} .",
    "{PER} criticised {ORG} for its plans in {LOC} .",
    "{ORG} donated money to {ORG} .",
    "Snow fell on {LOC} and {LOC} .",
    "{PER} will visit {LOC} and {LOC} next week .",
    "Officials from {ORG} travelled to {LOC} .",
    "{PER} lost the {MISC} final to {PER} .",
    "{ORG} sponsors the {MISC} .",
    "The train from {LOC} to {LOC} was late .",
    "{PER} teaches {MISC} at {ORG} .",
    "Workers at {ORG} went on strike .",
    "{PER} married {PER} in {LOC} .",
    "The {MISC} embassy in {LOC} was closed .",
    "{ORG} reported a loss for the year .",
    "{PER} has lived in {LOC} since the {MISC} .",
    "Investors sold shares of {ORG} and {ORG} .",
    "{PER} ran for mayor of {LOC} .",
    "The conference in {LOC} was organised by {ORG} .",
    "{PER} apologised to {PER} .",
    "{ORG} moved its headquarters from {LOC} to {LOC} .",
    "Doctors in {LOC} treated {PER} .",
    "{PER} celebrated {MISC} with friends in {LOC} .",
    "{PER} thinks {ORG} will win .",
    "A court in {LOC} fined {ORG} .",
    "{PER} works as a nurse in {LOC} .",
    "Rescue teams reached {LOC} on Sunday .",
    "{ORG} welcomed the {MISC} decision .",
    "{PER} sold the house to {PER} .",
    "The storm moved from {LOC} towards {LOC} .",
    "{PER} called {ORG} from {LOC} .",
    "The {MISC} champion {PER} retired .",
    "{ORG} expects growth in {LOC} and {LOC} .",
]
OPENINGS = ["", "", "", "On Monday ,", "Last year ,", "According to {ORG} ,", "In {LOC} ,", "Yesterday ,",
            "After the {MISC} ,", "Earlier ,"]
CLOSINGS = ["", "", "", "", ", officials said", ", {ORG} reported", ", {PER} said", ", sources in {LOC} said"]


HELD_OUT = 0.25       # the share of each list of names that train never sees (validation and test use them half the time)


def _names(rng: random.Random) -> dict[str, dict[str, list[str]]]:
    """Each kind of name split into those every split uses ("seen") and those only validation and test use."""
    out = {}
    for kind, names in (("FIRST", FIRST), ("LAST", LAST), ("ORG", ORG), ("LOC", LOC), ("MISC", MISC)):
        names = sorted(set(names), key=list(names).index)
        rng.shuffle(names)
        cut = round(HELD_OUT * len(names))
        out[kind] = {"seen": names[cut:], "held_out": names[:cut]}
    return out


def _fill(frame: str, rng: random.Random, names: dict) -> tuple[list[str], list[str]]:
    """A frame with its slots filled from `names` (kind -> list): words and their IOB2 tags."""
    tokens, tags = [], []
    for part in frame.split():
        slot = re.fullmatch(r"\{(PER|ORG|LOC|MISC)\}", part)
        if not slot:
            tokens.append(part)
            tags.append("O")
            continue
        kind = slot.group(1)
        if kind == "PER":
            style = rng.random()
            first, last = names["FIRST"], names["LAST"]
            name = (f"{rng.choice(first)} {rng.choice(last)}" if style < 0.6 else
                    rng.choice(last) if style < 0.85 else f"{rng.choice(first)} {rng.choice(first)[0]}. {rng.choice(last)}")
        else:
            name = rng.choice(names[kind])
        words = name.split()
        if kind == "LOC" and words[0] == "the":          # "the Alps": the article is not part of the name
            tokens.append("the")
            tags.append("O")
            words = words[1:]
        tokens.extend(words)
        tags.extend([f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1))
    return tokens, tags


def _sentence(frame: str, rng: random.Random, names: dict) -> tuple[list[str], list[str]]:
    opening, closing = rng.choice(OPENINGS), rng.choice(CLOSINGS)
    body = frame
    if opening:
        body = f"{opening} {body if body.startswith('{') else body[0].lower() + body[1:]}"   # no slot: a common word
    if closing:
        body = body[:-2] + f" {closing} ." if body.endswith(" .") else body
    tokens, tags = _fill(body, rng, names)
    tokens[0] = tokens[0][0].upper() + tokens[0][1:]
    return tokens, tags


def generate(seed: int = 7, sentences: int = 3000) -> dict[str, list[dict]]:
    """The demo set: "train", "validation", "test" (80/10/10 by frame, and about so by sentence) of row dicts."""
    rng = random.Random(seed)
    frames = list(FRAMES)
    rng.shuffle(frames)
    n_train, n_val = round(0.8 * len(frames)), round(0.1 * len(frames))
    by_split = {"train": frames[:n_train], "validation": frames[n_train:n_train + n_val],
                "test": frames[n_train + n_val:]}
    sizes = {"train": round(0.8 * sentences), "validation": round(0.1 * sentences)}
    sizes["test"] = sentences - sizes["train"] - sizes["validation"]
    pools = _names(rng)
    seen: set = set()
    splits = {}
    for split in SPLITS:
        rows = []
        while len(rows) < sizes[split]:
            which = "seen" if split == "train" or rng.random() < 0.5 else "held_out"
            names = {kind: pool[which] for kind, pool in pools.items()}
            tokens, tags = _sentence(by_split[split][len(rows) % len(by_split[split])], rng, names)
            if " ".join(tokens) in seen:
                continue
            seen.add(" ".join(tokens))
            rows.append({"tokens": tokens, "ner_tags": tags})
        rng.shuffle(rows)
        splits[split] = rows
    return splits


def write(out_dir: Path, seed: int = 7, sentences: int = 3000) -> dict[str, Path]:
    """Write `<split>.jsonl` files into `out_dir` (byte-for-byte deterministic); returns their paths."""
    from .demo_data import write_splits

    return write_splits(out_dir, generate(seed, sentences))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate TuneLab's bundled NER demo set (demo-ner).")
    parser.add_argument("--out", type=Path, default=NER_DIR, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sentences", type=int, default=3000, help="sentences in all splits together")
    args = parser.parse_args()
    for split, path in write(args.out, args.seed, args.sentences).items():
        print(f"{split:<10} {sum(1 for _ in path.open()):>5} rows  {path}")
