"""Offline metrics and the choice of each task's figure of merit.

Hugging Face `evaluate` fetches metric scripts from the hub, which fails offline, so the metrics TuneLab
needs are computed here with scikit-learn and SciPy (the same code `evaluate`'s own modules call). A metric
name TuneLab does not know is passed to `evaluate.load` (works when online or cached), when the run is set up,
so an unknown name fails before anything is written.

`evaluate.load` runs Python: a bare name ("precision") means a hub metric, but evaluate would first run
./precision/precision.py from the working directory if there is one; TuneLab refuses that shadowing. A local
metric script runs only when the user names it as a path (./mymetric/mymetric.py, or any name with a slash or
ending in .py), and never when the name comes from a file (a run's run.json). Called by the trainer (per-evaluation scores),
`evaluation` (full reports) and `summary` (majority baseline).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Sequence

import numpy as np

from .errors import TuneLabError

CLASSIFICATION_METRICS = ("accuracy", "f1", "macro_f1", "mcc")
REGRESSION_METRICS = ("pearson", "spearman", "mse")
HIGHER_IS_BETTER = {"mse": False}


def classification_scores(preds: Sequence[int], refs: Sequence[int], num_labels: int,
                          sample_weight: Sequence[float] | None = None) -> dict[str, float]:
    """Accuracy, F1 (of class 1 when binary, else macro), macro F1 and MCC; `sample_weight` counts each pair
    that many times (so a million constant guesses can be scored from a few (pred, ref, count) rows).
    Computed from the confusion matrix with numpy, as scikit-learn's f1_score (zero_division=0, every label in the
    macro average) and matthews_corrcoef compute them: importing scikit-learn and SciPy for this cost fit 70 MB of
    memory and a second or two (a test checks the numbers against scikit-learn's)."""
    preds, refs = np.asarray(preds, dtype=np.int64).ravel(), np.asarray(refs, dtype=np.int64).ravel()
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if not len(refs):
        return {"accuracy": 0.0, "f1": 0.0, "macro_f1": 0.0, "mcc": 0.0}
    k = int(max(num_labels, preds.max() + 1, refs.max() + 1))
    cm = np.bincount(refs * k + preds, weights=weight, minlength=k * k).reshape(k, k).astype(np.float64)
    tp, true, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    denominator = true + predicted                      # 2tp + fp + fn
    f1s = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    macro = float(f1s[:num_labels].mean())
    f1 = float(f1s[1]) if num_labels == 2 else macro
    n, correct = cm.sum(), tp.sum()
    cov_tp = correct * n - true @ predicted
    cov_pp, cov_tt = n * n - predicted @ predicted, n * n - true @ true
    mcc = 0.0 if cov_pp * cov_tt == 0 else float(cov_tp / math.sqrt(cov_tt * cov_pp))
    return {"accuracy": float(correct / n) if n else 0.0, "f1": f1, "macro_f1": macro, "mcc": mcc}


def majority_baseline(train_ids: Sequence[int], gold: Sequence[int], num_labels: int, metric: str) -> float | None:
    """Metric `metric` (built in; None otherwise) of always predicting the most common class of `train_ids`."""
    return majority_baseline_of_counts(np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=num_labels),
                                       np.bincount(np.asarray(gold, dtype=np.int64), minlength=num_labels), metric)


def majority_baseline_of_counts(train_counts: np.ndarray, counts: np.ndarray, metric: str) -> float | None:
    """The same from class counts (train's, and the scored split's), so its cost does not grow with the rows."""
    majority = int(np.argmax(train_counts))
    present = np.flatnonzero(counts)
    return classification_scores(np.full(len(present), majority), present, len(counts),
                                 sample_weight=np.asarray(counts)[present]).get(metric)


def regression_scores(preds: Sequence[float], refs: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation (0 where undefined, e.g. a constant prediction) and MSE."""
    from scipy.stats import pearsonr, spearmanr

    preds, refs = np.asarray(preds, dtype=float), np.asarray(refs, dtype=float)
    if len(refs) < 2 or np.std(preds) == 0 or np.std(refs) == 0:
        pearson = spearman = 0.0
    else:
        pearson, spearman = float(pearsonr(preds, refs)[0]), float(spearmanr(preds, refs)[0])
    return {
        "pearson": _finite(pearson),
        "spearman": _finite(spearman),
        "mse": float(np.mean((preds - refs) ** 2)) if len(refs) else 0.0,
    }


def _finite(x: float) -> float:
    return 0.0 if math.isnan(x) else float(x)


def default_figure_of_merit(task: str, num_labels: int, label_names: Sequence[str], data_name: str, is_pair: bool) -> str:
    """The task's own choice (GLUE's for sentence tasks: MCC for CoLA-like data, F1 for MRPC/QQP, Pearson for
    regression, accuracy otherwise; entity F1 for token tags)."""
    from .tasks.base import task_for

    return task_for(task).default_metric(label_names, data_name, is_pair)


def check_metric_name(name: str, task: str, *, named_by_user: bool = True) -> None:
    """Fail early, before anything is written, on a metric that does not fit the task or cannot be loaded:
    a built-in one must fit the task; any other name must load through `evaluate.load` now. `named_by_user`
    False (the name comes from a run's run.json) allows no metric script path."""
    from .tasks.base import task_for

    task_for(task).check_metric(name, named_by_user=named_by_user)


_LOADED: dict = {}   # metric name -> the evaluate module loaded for it (loaded once per process)


def is_metric_path(name: str) -> bool:
    """Whether a --metric value names a script (a path: a slash, or .py) rather than a hub metric."""
    return "/" in name or os.sep in name or name.endswith(".py") or name.startswith("~")


def refuse_metric_script(name: str, named_by_user: bool = True) -> None:
    """Raise TuneLabError where evaluate.load(name) would run a script the user did not name as one."""
    if not is_metric_path(name):
        shadow = os.path.join(name, f"{name}.py")
        if os.path.isfile(shadow):     # evaluate.load looks there before the hub
            raise TuneLabError(f"metric {name!r} names a hub metric, but the working directory holds {shadow}, which "
                               f"evaluate.load would run instead; to run that script name its path "
                               f"(--metric ./{shadow}), else run TuneLab from another directory")
    elif not named_by_user:
        raise TuneLabError(f"the run's saved metric {name!r} is a metric script; TuneLab runs a metric script only "
                           f"when you name it yourself (--metric {name})")


def load_metric(name: str, *, named_by_user: bool = True):
    """The `evaluate` module for a metric TuneLab does not compute itself; TuneLabError when it cannot be loaded.
    Offline (HF_EVALUATE_OFFLINE / HF_HUB_OFFLINE, or the hub unreachable) only a cached copy is looked for, at once.
    A bare name loads a hub metric only (see refuse_metric_script); a path loads that script."""
    if not name or not name.strip():
        raise _unknown_metric(name, "the name is empty")
    refuse_metric_script(name, named_by_user)
    if name in _LOADED:
        return _LOADED[name]
    if "evaluate" not in sys.modules and os.environ.get("HF_EVALUATE_OFFLINE") != "1":
        from .models import hub_reachable

        if os.environ.get("HF_HUB_OFFLINE") == "1" or not hub_reachable():
            os.environ["HF_EVALUATE_OFFLINE"] = "1"   # read by evaluate on import: no retries against a dead network
    try:
        import evaluate
    except ImportError:
        raise _unknown_metric(name, "the evaluate package is not installed") from None
    try:
        module = evaluate.load(os.path.expanduser(name))
    except Exception as err:  # evaluate raises many types for "not found" / offline
        detail = str(err).splitlines()[0] if str(err) else ""
        raise _unknown_metric(name, f"evaluate.load failed: {type(err).__name__}: {detail}"[:200].rstrip(": ")) from None
    _LOADED[name] = module
    return module


def _unknown_metric(name: str, why: str) -> TuneLabError:
    from .tasks.base import all_tasks

    known = ", ".join(dict.fromkeys(m for task in all_tasks() for m in task.metrics))
    return TuneLabError(f"unknown metric {name!r}; TuneLab knows {known}; other names go through evaluate.load, "
                        f"which needs the network or a cached copy ({why})")


def score(name: str, scores: dict[str, float], preds, refs) -> float:
    """The value of metric `name`: a built-in one from `scores`, else through `evaluate.load(name)`."""
    if name in scores:
        return scores[name]
    return evaluate_metric(name, preds, refs)


def evaluate_metric(name: str, preds, refs) -> float:
    """Compute a metric through Hugging Face `evaluate` (needs the network or evaluate's cache)."""
    metric = load_metric(name)
    try:
        result = metric.compute(predictions=list(preds), references=list(refs))
        value = result.get(name, next(iter(result.values())))
        return float(value)
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else ""
        raise TuneLabError(f"metric {name!r} (through evaluate) could not score these predictions: "
                           f"{type(err).__name__}: {detail}".rstrip(": ")) from None


def is_better(name: str, new: float, best: float | None) -> bool:
    if best is None:
        return True
    return new < best if not HIGHER_IS_BETTER.get(name, True) else new > best
