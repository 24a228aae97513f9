"""A stand-in for a QA model's `Predictor` with known answers, for the Predict screen's Pilot tests and snapshots:
"where the X sat ?" is answered with the place in "the X sat near the PLACE" of the context; a question about an
animal the context never places gets "no answer". Fixed probabilities and latency."""

from __future__ import annotations

import re

from tunelab.core.tasks.base import task_for
from tunelab.core.tasks.spans import SpanPrediction


class FixedReader:
    name, backend, labels, is_pair, new_head, max_length, per_token = "runs/qa", "torch", ["start", "end"], True, \
        False, 384, False
    kind = task_for("classify_spans")

    def predict(self, question: str, context: str | None = None) -> SpanPrediction:
        asked = re.search(r"where the (\w+) sat", question)
        places = [(m.group(1), m.start(2), m.end(2))
                  for m in re.finditer(r"the (\w+) sat near the (\w+(?: \w+)?)", context or "")]
        others = [{"answer": context[s:e], "score": round(0.04 / (i + 1), 3), "start": s, "end": e}
                  for i, (_, s, e) in enumerate(places)]
        found = [(s, e) for who, s, e in places if asked and who == asked.group(1)]
        if not found:
            return SpanPrediction(question, context, "", 0.91, None, None, others[:5], 0.91, 2.4)
        s, e = found[0]
        alternatives = [a for a in others if a["start"] != s][:4]
        alternatives.insert(0, {"answer": context[s - 4:e], "score": 0.06, "start": s - 4, "end": e})
        return SpanPrediction(question, context, context[s:e], 0.87, s, e, alternatives, 0.03, 2.4)

    def predict_batch(self, texts, pairs=None, batch_size=64):
        return [self.predict(t, p) for t, p in zip(texts, pairs or [None] * len(texts))]
