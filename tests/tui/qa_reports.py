"""A fixed evaluation report of an extractive QA model (`classify_spans`, SQuAD v2 style), built from crafted
questions through the QA task's own scoring and mistake records, for the Evaluate screen's Pilot tests and
snapshots. Also runnable by hand:

    python tests/tui/qa_reports.py      # the Evaluate screen on this report, in the terminal
"""

from __future__ import annotations

import numpy as np

from tunelab.core.evaluation import EvalReport
from tunelab.core.tasks.spans import SpanSettings, Windows, _mistake, _parts, _scores

CONTEXT = ("The Amazon rainforest covers much of the Amazon basin of South America. The basin spans seven million "
           "square kilometres, of which five and a half million are covered by the rainforest. The majority of the "
           "forest is contained within Brazil, with 60% of the rainforest, followed by Peru with 13%.")

# (question, gold answers, predicted answer or "" for no answer, its probability)
QUESTIONS = [
    ("Which country holds most of the forest?", ["Brazil"], "Brazil", 0.93),
    ("How much of the rainforest is in Peru?", ["13%"], "60%", 0.81),                       # wrong span
    ("What does the basin span?", ["seven million square kilometres"], "seven million", 0.64),  # partly right
    ("Who discovered the Amazon?", [], "Peru", 0.58),                                        # answered, unanswerable
    ("Where is the Amazon basin?", ["South America"], "", 0.41),                             # said no answer
    ("What is the capital of Peru?", [], "", 0.88),
]


def qa_report() -> EvalReport:
    contexts = [CONTEXT] * len(QUESTIONS)
    answers = [list(g) for _, g, _, _ in QUESTIONS]
    starts = [[CONTEXT.index(t) for t in g] for g in answers]
    w = Windows(np.zeros(len(QUESTIONS), dtype=np.int64), np.zeros(len(QUESTIONS), dtype=np.int32), [],
                [f"q{i + 1}" for i in range(len(QUESTIONS))], [q for q, _, _, _ in QUESTIONS], contexts, answers,
                starts, SpanSettings(), True)
    predictions = {str(i): p for i, (_, _, p, _) in enumerate(QUESTIONS)}
    scores = _scores(predictions, answers)
    scores["best_f1"], scores["best_null_threshold"] = max(scores["f1"], 0.75), -1.25
    from tunelab.core.squad_metrics import best_over_gold

    wrong = []
    for i, (_, gold, predicted, prob) in enumerate(QUESTIONS):
        em, f1 = best_over_gold(predicted, gold)
        if em < 1:
            span = (CONTEXT.index(predicted), CONTEXT.index(predicted) + len(predicted)) if predicted else None
            wrong.append((prob, i, predicted, span, f1))
    wrong.sort(key=lambda m: (-m[0], m[1]))
    return EvalReport(
        model="runs/qa", data="demo-qa", split="test", examples=len(QUESTIONS),
        task="classify_spans: answers ~ question + context", figure_of_merit="f1", value=scores["f1"],
        scores=scores, per_class=_parts(predictions, answers), per_class_title="per kind of question",
        mistakes=[_mistake(w, i, text, span, prob, f1) for prob, i, text, span, f1 in wrong],
        mistakes_title="most confident wrong answers", majority_baseline=1 / 3, majority_label="(no answer)",
        majority_accuracy=1 / 3, in_train=0, train_data="train")


if __name__ == "__main__":
    import sys

    sys.path[:0] = [__file__.rsplit("/", 1)[0]]
    from screen_apps import ScreenApp, Selection

    from tunelab.tui.screens.evaluate import EvaluateScreen

    ScreenApp(lambda: EvaluateScreen(report=qa_report()), Selection(model="runs/qa")).run()
