"""How far the opt-in int8 graph's answers are from the fp32 graph's on the same inputs.

Dynamic int8 quantization (onnx_runtime.quantize) is never silently on, and whoever turns it on is told how much it
changes: the share of inputs whose predicted label is the fp32 graph's (for a token model, of words whose tag is), and
the largest absolute difference of a probability (for a regression, of an output value: it has no labels). The
Predictor compares its predictions (`compare_predictions`: `tunelab predict --int8`, the Predict screen's file
labelling), an evaluation compares the raw outputs of both graphs over the split (`compare_outputs`: `tunelab eval
--int8`). Both graphs are run on the data; nothing here is estimated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .inference import softmax


@dataclass(frozen=True)
class Agreement:
    compared: int                 # how many labels were compared (inputs; a token model's words; regression values)
    unit: str                     # what they are: "inputs", "words" or "values"
    same: int | None              # how many int8 labels are the fp32 graph's (None: a regression has no labels)
    max_difference: float         # the largest absolute difference of a probability (regression: of a value)
    of: str = "probability"       # what max_difference is of: "probability" or "value"

    @property
    def label_agreement(self) -> float | None:
        """The share of identical labels (None for a regression, or when nothing was compared)."""
        return None if self.same is None or not self.compared else self.same / self.compared

    def line(self) -> str:
        """One line for a person: the label agreement and the largest difference."""
        if self.same is None:
            head = f"int8 against fp32 on {self.compared:,} {self.unit}"
        else:
            head = (f"int8 against fp32: {self.label_agreement:.1%} of {self.unit} get the same label "
                    f"({self.same:,} of {self.compared:,})")
        return f"{head}; largest {self.of} difference {self.max_difference:.2g}"

    def record(self) -> dict:
        """As JSON (`--json`): the fields and the label agreement."""
        return {**asdict(self), "label_agreement": self.label_agreement}


def compare_predictions(fp32: list, int8: list) -> Agreement:
    """The agreement of two lists of predictions of the same inputs (Prediction or TokenPrediction)."""
    if len(fp32) != len(int8):
        raise ValueError(f"{len(fp32)} fp32 predictions against {len(int8)} int8 ones")
    if fp32 and hasattr(fp32[0], "tags"):              # a token model: every word read, tag against tag
        pairs = [(t, u, p, q) for a, b in zip(fp32, int8)
                 for t, u, p, q in zip(a.tags, b.tags, a.probabilities, b.probabilities) if p]
        diff = max((abs(p[k] - q.get(k, math.nan)) for _, _, p, q in pairs for k in p), default=0.0)
        return Agreement(len(pairs), "words", sum(t == u for t, u, _, _ in pairs), float(diff))
    if fp32 and not fp32[0].probabilities:             # a regression: its values, no labels
        values = [(v, w) for a, b in zip(fp32, int8) for v, w in _values(a, b)]
        diff = max((abs(v - w) for v, w in values), default=0.0)
        return Agreement(len(values), "values", None, float(diff), "value")
    diff = max((abs(a.probabilities[k] - b.probabilities.get(k, math.nan)) for a, b in zip(fp32, int8)
                for k in a.probabilities), default=0.0)
    return Agreement(len(fp32), "inputs", sum(a.label == b.label for a, b in zip(fp32, int8)), float(diff))


def _values(a, b) -> list[tuple[float, float]]:
    if a.values:
        return [(a.values[k], b.values.get(k, math.nan)) for k in a.values]
    return [(a.score, b.score)]


def compare_outputs(fp32, int8, *, regression: bool, keep=None) -> Agreement:
    """The agreement of two models' raw outputs over a split (as inference.predict_outputs gives them: an array
    (examples, outputs), or a list of (tokens, outputs) arrays). `keep`: for outputs per token, which tokens are
    labels a user reads (a list of boolean arrays, e.g. each word's first sub-word); all of them when None."""
    if isinstance(fp32, list):
        keep = keep if keep is not None else [np.ones(len(a), dtype=bool) for a in fp32]
        a = np.concatenate([x[k] for x, k in zip(fp32, keep)]) if fp32 else np.zeros((0, 1))
        b = np.concatenate([x[k] for x, k in zip(int8, keep)]) if int8 else np.zeros((0, 1))
        unit = "words"
    else:
        a, b, unit = np.asarray(fp32), np.asarray(int8), "inputs"
    if regression:
        diff = float(np.abs(a - b).max()) if a.size else 0.0
        return Agreement(int(a.size), "values", None, diff, "value")
    if not len(a):
        return Agreement(0, unit, 0, 0.0)
    diff = float(np.abs(softmax(a) - softmax(b)).max())
    return Agreement(len(a), unit, int((a.argmax(-1) == b.argmax(-1)).sum()), diff)
