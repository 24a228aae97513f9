"""The null threshold eval reports for v2 data: applied (eval --null-threshold), it scores the best F1 it reports,
also when rounded to the four decimals eval prints."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.core.squad_metrics import best_over_gold
from tunelab.core.tasks.spans import Candidate, SpanSettings, Windows, _best_threshold, _chosen


def _windows(answers):
    n = len(answers)
    return Windows(np.arange(n), np.zeros(n), [np.zeros((1, 2))] * n, [str(i) for i in range(n)], ["q"] * n,
                   ["mat"] * n, answers, [[0] if a else [] for a in answers], SpanSettings(), True)


@pytest.mark.parametrize("margins, gold", [
    ([3.0, 1.0, 0.5, -2.0], [["mat"], [], ["mat"], []]),     # best: answer the 3.0, 1.0 and 0.5 ones
    ([3.0, 1.0, 0.5, -2.0], [["mat"], [], [], []]),          # best: answer only the 3.0 one
    ([3.0, 1.0], [[], []]),                                  # best: answer none
    ([3.0, 1.0], [["mat"], ["mat"]]),                        # best: answer all
    ([0.37512, 0.37506, -1.0], [["mat"], [], ["mat"]]),      # a gap narrower than the printed rounding
])
def test_the_reported_threshold_scores_the_reported_best_f1(margins, gold):
    """Before: the reported threshold sat exactly on the highest margin left unanswered, and the comparison (null -
    span <= threshold: answer) then answered that question too, so the F1 at the reported threshold was not the one
    reported."""
    w = _windows(gold)
    picked = [([Candidate(m, 0, 3, "mat")], 0.0) for m in margins]
    threshold, best = _best_threshold(picked, w)

    def f1(t):
        return np.mean([best_over_gold(_chosen(c, null, w, t)[0], g)[1] for (c, null), g in zip(picked, gold)])

    assert f1(threshold) == pytest.approx(best)
    gaps = np.diff(sorted(margins))
    if gaps.min() > 1e-3:                                    # the four decimals eval prints are enough
        assert f1(round(threshold, 4)) == pytest.approx(best)
