"""A fixed evaluation report of a token-classification (NER) model, built from crafted sentences through the engine's
own grouping and error typing, for the Evaluate screen's Pilot tests and snapshots. Also runnable by hand:

    python tests/tui/token_reports.py      # the Evaluate screen on this report, in the terminal
"""

from __future__ import annotations

from tunelab.core.entities import rank_mistakes
from tunelab.core.evaluation import EvalReport
from tunelab.core.tasks.tokens import _entity_mistake, entity_type_confusion, per_type_scores, tag_scores

TYPES = ["LOC", "MISC", "ORG", "PER"]

# (words, gold tags, predicted tags): every error kind, multi-word names, an entity at the sentence end
SENTENCES = [
    ("Angela Merkel visited Paris on Monday .".split(),
     ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"],
     ["B-PER", "O", "O", "B-ORG", "O", "O", "O"]),                       # wrong boundary, wrong type
    ("Reuters said the Bank of Japan cut rates in Tokyo".split(),
     ["B-ORG", "O", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "B-LOC"],
     ["O", "O", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "B-LOC"]),  # missed
    ("Yesterday , the Booker Prize went to Hannah Rossi .".split(),
     ["O", "O", "O", "B-MISC", "I-MISC", "O", "O", "B-PER", "I-PER", "O"],
     ["B-MISC", "O", "O", "B-MISC", "I-MISC", "O", "O", "B-PER", "I-PER", "O"]),   # spurious
    ("Silva will visit Chicago with the Red Cross".split(),
     ["B-PER", "O", "O", "B-LOC", "O", "O", "B-ORG", "I-ORG"],
     ["B-PER", "O", "O", "B-LOC", "O", "O", "B-ORG", "I-ORG"]),          # right
    ("In Bavaria , Elena H. Jensen met the African Union".split(),
     ["O", "B-LOC", "O", "B-PER", "I-PER", "I-PER", "O", "O", "B-ORG", "I-ORG"],
     ["O", "B-LOC", "O", "B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]),  # wrong type at the end
]


def token_report() -> EvalReport:
    words = [w for w, _, _ in SENTENCES]
    gold = [g for _, g, _ in SENTENCES]
    pred = [p for _, _, p in SENTENCES]
    scores = tag_scores(gold, pred)
    per_type = per_type_scores(gold, pred)
    return EvalReport(
        model="runs/ner", data="demo-ner", split="test", examples=len(SENTENCES),
        task="classify_tokens: ner_tags ~ tokens", figure_of_merit="entity_f1", value=scores["entity_f1"],
        scores=scores, labels=TYPES, per_class=[{"label": t, **per_type[t]} for t in TYPES],
        entity_confusion=entity_type_confusion(gold, pred, TYPES),
        mistakes=[_entity_mistake(m) for m in rank_mistakes(zip(words, gold, pred))],
        majority_baseline=0.0, majority_label="O", majority_accuracy=0.5, in_train=0, train_data="train",
        per_class_title="per entity type", mistakes_title="sentences with the most entity errors", words_cut=0)


if __name__ == "__main__":
    import sys

    sys.path[:0] = [__file__.rsplit("/", 1)[0]]
    from screen_apps import ScreenApp, Selection

    from tunelab.tui.screens.evaluate import EvaluateScreen

    ScreenApp(lambda: EvaluateScreen(report=token_report()), Selection(model="runs/ner")).run()
