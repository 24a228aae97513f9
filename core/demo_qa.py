"""Generator of TuneLab's bundled extractive question-answering demo set (`core/demo/qa/`): short paragraphs about
made-up people, with questions whose answers are spans of the paragraph, and a third of the questions
unanswerable in SQuAD v2's style.

Like `core/demo/` for sentence labels and `core/demo/ner/` for tags, it lets a first classify_spans run work
offline. A paragraph is two to four sentences about one person, each sentence from a template that states one or
two facts ("{NAME} was born in {CITY} in {YEAR} ."): where and when they were born, studied, worked, moved,
founded a company, won a prize, wrote books, married. Each fact has a kind ("birth_place", "award"...) with
questions of its own ("Where was {NAME} born?"); a paragraph asks about up to two of its facts, and once about a
kind of fact it does not state, which is unanswerable (empty answers), as SQuAD v2's questions are: the question
is about the paragraph's person and sounds answerable.

Sentence templates, not paragraphs, are split between train, validation and test (of the five templates that
state the same facts, three train, one validation, one test), so a test paragraph is never a training paragraph
with other names in it: a model must find the answer in wording it was not trained on. The questions' wording is shared (a question asks about a kind of fact, however it is stated). Every
answer is an exact span of its context (`context[answer_start:][:len(text)] == text`); rows are the hub's flat
squad_v2 shape: `{"id", "title", "question", "context", "answers": {"text": [...], "answer_start": [...]}}`.

The jsonl files are what TuneLab loads; this module is only run to regenerate them, byte for byte, with

    python -m tunelab.core.demo_qa            # --out DIR, --seed N, --questions N

Pure standard library, and all randomness comes from one `random.Random(seed)`.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

QA_DIR = Path(__file__).parent / "demo" / "qa"
SPLITS = ("train", "validation", "test")
EQUATION = "classify_spans: answers ~ question + context"   # registered by the classify_spans task's session
UNANSWERABLE_PER_PARAGRAPH = 1      # with up to two answerable questions: about a third unanswerable

# ---------------------------------------------------------------- values

CITIES = ("Lisbon Oslo Cairo Lagos Lima Dublin Vienna Prague Seoul Nairobi Madrid Berlin Toronto Chicago Sydney "
          "Mumbai Warsaw Athens Havana Quito Tunis Hanoi Manila Bergen Porto Naples Krakow Lyon Geneva Dakar Accra "
          "Osaka Kyoto Perth Denver Boston Houston Montreal Glasgow Leeds Utrecht Ghent Zurich Munich Hamburg Turin").split()
COMPANIES = ["Northwind Traders", "Blue Harbor Foods", "Kestrel Motors", "Silverline Media", "Orchid Pharma",
             "Granite Systems", "Copperfield Bank", "Lumen Energy", "Redwood Press", "Atlas Robotics",
             "Harbor Light Shipping", "Maple Leaf Software", "Sunbeam Textiles", "Ironbridge Steel", "Polaris Air",
             "Greenfield Seeds", "Vertex Labs", "Crescent Hotels", "Bluebird Games", "Summit Insurance"]
UNIVERSITIES = ["the University of Lisbon", "Oslo Technical College", "the University of Cairo",
                "the Vienna Academy of Music", "Seoul National University", "the University of Toronto",
                "Trinity College Dublin", "the Polytechnic of Turin", "the University of Ghent",
                "the Geneva School of Law", "Kyoto University", "the University of Glasgow", "Boston Art Institute",
                "the Munich School of Engineering", "the University of Dakar"]
FIELDS = ["chemistry", "law", "medicine", "architecture", "economics", "physics", "history", "music", "biology",
          "mathematics", "philosophy", "engineering", "geology", "linguistics", "astronomy"]
JOBS = ["a nurse", "an engineer", "a teacher", "a pilot", "a journalist", "a chef", "an architect", "a lawyer",
        "a painter", "a carpenter", "a pharmacist", "a photographer", "a baker", "a surgeon", "a librarian"]
AWARDS = ["Golden Quill Prize", "Silver Compass Award", "Harlow Medal", "Blue Ribbon Prize", "Verity Award",
          "Northern Star Medal", "Castellan Prize", "Meridian Award", "Lantern Prize", "Oakheart Medal"]
INSTRUMENTS = ["violin", "cello", "piano", "guitar", "trumpet", "flute", "clarinet", "drums", "harp", "saxophone"]
MONTHS = "January February March April May June July August September October November December".split()
NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "fifteen", "twenty"]

# ---------------------------------------------------------------- facts and their questions

# kind -> (slot that answers it, questions); {NAME} is the person's full name, other slots the sentence's values
QUESTIONS = {
    "birth_place": ("CITY", ["Where was {NAME} born?", "In which city was {NAME} born?"]),
    "birth_year": ("YEAR", ["When was {NAME} born?", "In what year was {NAME} born?"]),
    "school": ("UNI", ["Where did {NAME} study?", "Which school did {NAME} attend?"]),
    "field": ("FIELD", ["What did {NAME} study?", "Which subject did {NAME} study?"]),
    "job": ("JOB", ["What was {NAME}'s job?", "What did {NAME} work as?"]),
    "employer": ("EMPLOYER", ["Which company did {NAME} work for?", "Who employed {NAME}?"]),
    "move_city": ("CITY2", ["Where did {NAME} move to?", "To which city did {NAME} move?"]),
    "move_year": ("YEAR2", ["When did {NAME} move?", "In what year did {NAME} move?"]),
    "founded": ("COMPANY", ["Which company did {NAME} found?", "What did {NAME} found?"]),
    "staff": ("STAFF", ["How many people did {NAME}'s company employ?", "How many employees did {NAME} have?"]),
    "award": ("AWARD", ["Which prize did {NAME} win?", "What award did {NAME} receive?"]),
    "books": ("BOOKS", ["How many books did {NAME} write?", "How many books has {NAME} published?"]),
    "spouse": ("SPOUSE", ["Who did {NAME} marry?", "Who is {NAME}'s spouse?"]),
    "instrument": ("INSTRUMENT", ["What instrument does {NAME} play?", "Which instrument did {NAME} learn?"]),
}

# one fact or two per sentence; {NAME} is the full name in a paragraph's first sentence, the surname after it
SENTENCES = [
    "{NAME} was born in {CITY} in {YEAR} .",
    "{NAME} was born in {YEAR} in the city of {CITY} .",
    "Born in {CITY} in {YEAR} , {NAME} grew up near the sea .",
    "{NAME} , a native of {CITY} , came into the world in {YEAR} .",
    "{CITY} is where {NAME} was born , in {YEAR} .",
    "The records show that {NAME} was born in {CITY} in {YEAR} .",
    "{NAME} studied {FIELD} at {UNI} .",
    "At {UNI} , {NAME} took a degree in {FIELD} .",
    "{NAME} earned a degree in {FIELD} from {UNI} .",
    "After school {NAME} went to {UNI} to read {FIELD} .",
    "{NAME} spent four years studying {FIELD} at {UNI} .",
    "{NAME} worked as {JOB} for {EMPLOYER} .",
    "For many years {NAME} was {JOB} at {EMPLOYER} .",
    "{EMPLOYER} hired {NAME} as {JOB} .",
    "{NAME} took a job as {JOB} with {EMPLOYER} .",
    "Later {NAME} found work as {JOB} at {EMPLOYER} .",
    "In {YEAR2} {NAME} moved to {CITY2} .",
    "{NAME} settled in {CITY2} in {YEAR2} .",
    "{NAME} left for {CITY2} in {YEAR2} and never looked back .",
    "The family moved to {CITY2} in {YEAR2} , when {NAME} found work there .",
    "By {YEAR2} {NAME} had moved to {CITY2} for good .",
    "{NAME} founded {COMPANY} , which grew to {STAFF} employees .",
    "{COMPANY} , the firm {NAME} started , once employed {STAFF} people .",
    "{NAME} set up {COMPANY} and hired {STAFF} workers .",
    "With a small loan {NAME} started {COMPANY} , which later had {STAFF} staff .",
    "{NAME} is the founder of {COMPANY} , a business of {STAFF} people .",
    "{NAME} won the {AWARD} .",
    "The {AWARD} went to {NAME} for a lifetime of work .",
    "{NAME} received the {AWARD} late in life .",
    "{NAME} was given the {AWARD} by the city council .",
    "Critics cheered when {NAME} won the {AWARD} .",
    "{NAME} wrote {BOOKS} books .",
    "Over the years {NAME} published {BOOKS} books .",
    "{NAME} is the author of {BOOKS} books about the sea .",
    "{BOOKS} books by {NAME} are still in print .",
    "In all , {NAME} wrote {BOOKS} books .",
    "{NAME} married {SPOUSE} .",
    "{NAME} and {SPOUSE} were married in a small ceremony .",
    "{SPOUSE} became {NAME}'s wife after a long friendship .",
    "{NAME} wed {SPOUSE} the following spring .",
    "Years later {NAME} married {SPOUSE} , a neighbour .",
    "{NAME} plays the {INSTRUMENT} .",
    "As a child {NAME} learned the {INSTRUMENT} .",
    "{NAME} still plays the {INSTRUMENT} every evening .",
    "Friends say {NAME} plays the {INSTRUMENT} well .",
    "In the evenings {NAME} practises the {INSTRUMENT} .",
]
SLOT_KINDS = {slot: kind for kind, (slot, _) in QUESTIONS.items()}


def _kinds(sentence: str) -> list[str]:
    """The kinds of fact a sentence template states, in order of its slots."""
    return [SLOT_KINDS[s] for s in re.findall(r"\{([A-Z0-9]+)\}", sentence) if s in SLOT_KINDS]


def _values(rng: random.Random) -> dict[str, str]:
    """One person's facts: a value for every slot, all different strings."""
    from .demo_ner import FIRST, LAST

    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, city2 = rng.sample(CITIES, 2)
    employer, company = rng.sample(COMPANIES, 2)
    year = rng.randint(1901, 1985)
    spouse_first = rng.choice([f for f in FIRST if f != first])
    return {
        "NAME": f"{first} {last}", "LAST": last, "CITY": city, "CITY2": city2, "YEAR": str(year),
        "YEAR2": str(year + rng.randint(18, 35)), "UNI": rng.choice(UNIVERSITIES), "FIELD": rng.choice(FIELDS),
        "JOB": rng.choice(JOBS), "EMPLOYER": employer, "COMPANY": company,
        "STAFF": str(rng.choice([40, 75, 120, 300, 450, 800, 1200, 2500])), "AWARD": rng.choice(AWARDS),
        "BOOKS": rng.choice(NUMBERS), "SPOUSE": f"{spouse_first} {rng.choice(LAST)}",
        "INSTRUMENT": rng.choice(INSTRUMENTS),
    }


def _render(templates: list[str], values: dict[str, str]) -> tuple[str, dict[str, tuple[str, int]]]:
    """The paragraph's text and, for each slot, its text there and where it starts. Sentences are joined with one
    space, ' .' and ' ,' lose their space and a sentence starts with a capital (so a value that opens a sentence
    reads as it is written there: "Two books by ..."); the first sentence names the person in full, the others by
    surname."""
    text, spans = "", {}
    for n, template in enumerate(templates):
        template = template.replace(" .", ".").replace(" ,", ",")
        start = len(text) + (1 if text else 0)
        sentence = ""
        for part in re.split(r"(\{[A-Z0-9]+\})", template):
            if not part.startswith("{"):
                sentence += part
                continue
            slot = part[1:-1]
            value = values["NAME" if n == 0 else "LAST"] if slot == "NAME" else values[slot]
            if slot != "NAME":
                spans[slot] = (start + len(sentence), len(value))
            sentence += value
        sentence = sentence[0].upper() + sentence[1:]
        text = f"{text} {sentence}" if text else sentence
    return text, {slot: (text[at:at + size], at) for slot, (at, size) in spans.items()}


def _paragraph(templates: list[str], rng: random.Random) -> tuple[str, str, list[tuple[str, str, int | None]]]:
    """(title, context, questions): each question with its answer text and start, or ("", None) if unanswerable."""
    values = _values(rng)
    context, spans = _render(templates, values)
    stated = [k for t in templates for k in _kinds(t)]
    asked = rng.sample(stated, min(2, len(stated)))
    questions = []
    for kind in asked:
        slot, phrasings = QUESTIONS[kind]
        questions.append((rng.choice(phrasings).format(NAME=values["NAME"]), *spans[slot]))
    for kind in rng.sample([k for k in QUESTIONS if k not in stated], UNANSWERABLE_PER_PARAGRAPH):
        questions.append((rng.choice(QUESTIONS[kind][1]).format(NAME=values["NAME"]), "", None))
    return values["NAME"].replace(" ", "_"), context, questions


def _pick_templates(pool: list[str], rng: random.Random) -> list[str]:
    """Two to four sentence templates of `pool` (fewer if it runs out) stating different kinds of fact."""
    want = rng.randint(2, 4)
    chosen, kinds = [], set()
    for template in rng.sample(pool, len(pool)):
        k = set(_kinds(template))
        if k & kinds:
            continue
        chosen.append(template)
        kinds |= k
        if len(chosen) == want:
            break
    return chosen


def split_templates(seed: int = 11) -> dict[str, list[str]]:
    """Sentence templates split between train, validation and test, each template in one split: of each group of
    templates stating the same facts (five each), one goes to validation, one to test and the rest to train, so
    every split asks about every kind of fact, in wording of its own."""
    rng = random.Random(seed)
    groups: dict[tuple[str, ...], list[str]] = {}
    for template in SENTENCES:
        groups.setdefault(tuple(sorted(_kinds(template))), []).append(template)
    out: dict[str, list[str]] = {split: [] for split in SPLITS}
    for key in sorted(groups):
        group = list(groups[key])
        rng.shuffle(group)
        out["validation"].append(group[0])
        out["test"].append(group[1])
        out["train"].extend(group[2:])
    return out


def generate(seed: int = 11, questions: int = 3000) -> dict[str, list[dict]]:
    """The demo set: "train", "validation", "test" (80/10/10 of `questions`) of row dicts in the hub's flat shape."""
    rng = random.Random(seed)
    pools = split_templates(seed)
    sizes = {"train": round(0.8 * questions), "validation": round(0.1 * questions)}
    sizes["test"] = questions - sizes["train"] - sizes["validation"]
    seen: set[str] = set()
    splits = {}
    for split in SPLITS:
        rows: list[dict] = []
        while len(rows) < sizes[split]:
            title, context, asked = _paragraph(_pick_templates(pools[split], rng), rng)
            if context in seen:
                continue
            seen.add(context)
            for question, text, start in asked[: sizes[split] - len(rows)]:
                answers = {"text": [text], "answer_start": [start]} if text else {"text": [], "answer_start": []}
                rows.append({"id": f"{split}-{len(rows):05d}", "title": title, "question": question,
                             "context": context, "answers": answers})
        splits[split] = rows
    return splits


def write(out_dir: Path = QA_DIR, seed: int = 11, questions: int = 3000) -> dict[str, Path]:
    """Write `<split>.jsonl` files into `out_dir` (byte-for-byte deterministic); returns their paths."""
    from .demo_data import write_splits

    return write_splits(out_dir, generate(seed, questions))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate TuneLab's bundled extractive QA demo set (demo-qa).")
    parser.add_argument("--out", type=Path, default=QA_DIR, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--questions", type=int, default=3000, help="questions in all splits together")
    args = parser.parse_args()
    for split, path in write(args.out, args.seed, args.questions).items():
        print(f"{split:<10} {sum(1 for _ in path.open()):>5} rows  {path}")
