"""Attributions for the screens' thread workers: each model's Explainer (core/explain.py) loaded once, and the
Attention screen's comparison of attention rollout with Integrated Gradients for one sentence.

Every function returns what a screen shows, or raises TuneLabError with the line to show; torch and transformers are
imported here, inside the calls, never when the app starts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


class Explainers:
    """An Explainer per model spec, loaded once (PyTorch: gradients need it) and shared by a screen's workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, object] = {}

    def get(self, spec: str):
        from tunelab.core.explain import Explainer
        from tunelab.core.predictor import Predictor

        with self._lock:
            if spec not in self._loaded:
                self._loaded[spec] = Explainer(Predictor(spec, backend="torch"))
            return self._loaded[spec]


@dataclass(frozen=True)
class RolloutBesideIG:
    """One sentence explained twice: by attention rollout and by Integrated Gradients, with their rank agreement."""
    rollout: object             # Explanation
    ig: object                  # Explanation
    spearman: float             # Spearman's rank correlation of the two word scores (NaN: too few words)
    untrained: bool             # the model's head is untrained: IG explains a random head


def rollout_beside_ig(explainers: Explainers, spec: str, text: str, pair: str | None) -> RolloutBesideIG:
    from tunelab.core.explain import spearman

    explainer = explainers.get(spec)
    prepared = explainer.prepare(text, pair)
    rollout = explainer.explain(text, pair, method="rollout", prepared=prepared)
    ig = explainer.explain(text, pair, method="ig", prepared=prepared)
    return RolloutBesideIG(rollout, ig, spearman(rollout.scores, ig.scores), bool(explainer.predictor.new_head))
