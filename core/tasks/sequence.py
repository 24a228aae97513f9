"""Sentence tasks: `classify` (one label per example) and `regress` (a number per example).

One example is a sentence or a pair of sentences; the head reads [CLS] (AutoModelForSequenceClassification). Here
live what their columns must hold (text inputs; labels that are classes, or finite numbers), their encoding,
their scores (accuracy, F1, macro F1, MCC; Pearson, Spearman, MSE) and GLUE's choice of figure of merit.
`regress` may name several outputs (`regress: valence + arousal ~ word`): one head with an output per column,
each scored on its own, the mean Pearson the figure of merit; with one output it is exactly the one-number task.
Registered with the task registry in `base`; called through it by fit, evaluation, summary and check.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from ..data import (BLANK, BLANK_OR_NAN, NUMBER, column_values, first_true, is_minus_one, json_kind, short_line_note,
                    shorten, visible_label)
from ..equation import Equation
from ..errors import TuneLabError
from ..metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from .base import ExplainTarget, Task, pick_label, register

if TYPE_CHECKING:
    from ..overlap import InputIndex
    from ..summary import _Moments


class _SentenceTask(Task):
    """What classify and regress share: text inputs, one value per row, a [CLS] head."""

    max_inputs = 2

    def check_columns(self, ds, equation, split: str, name: str, where, columns=None) -> None:
        check_text_inputs(ds, equation, split, name, where)
        if columns:
            _check_header_read_as_data(ds, equation, columns, split, where)

    def check_split(self, ds, equation, split: str, where, labelled: bool) -> None:
        _check_texts(ds, equation, split, where)
        if labelled:
            for one in each_output(equation):
                _check_label_values(ds, one, split, where)

    def labelled_splits(self, splits, equation, minus_one_is_a_label=False):
        return _labelled_splits(splits, equation, minus_one_is_a_label)

    def label_names(self, splits, labeled, equation, name):
        return _label_names(splits, labeled, equation, name)

    def describe(self, task, tokenizer, max_length: int, say):
        """What `tunelab summary --data` reports: rows, label balance, token lengths, the share cut at max_length,
        the majority baseline and the overlap with train, in one chunked pass per split."""
        from ..data import FLOAT32_MAX, FLOAT32_SQRT_MAX, hidden_labels_note
        from ..metrics import majority_baseline_of_counts
        from ..overlap import InputIndex
        from ..summary import DataSummary, histogram_of_counts, percentile_of_counts

        regress = not self.has_classes
        metric = self.default_metric(task.label_names, task.name, task.equation.is_pair)
        label2id = {n: i for i, n in enumerate(task.label_names)}

        rows, balance, lengths, truncated, baseline, majority_accuracy, histogram = {}, {}, {}, {}, {}, {}, {}
        tallies, in_train = {}, {}
        train_inputs = InputIndex(len(task.split("train"))) if "train" in task.splits else None
        for split in sorted(task.splits, key=lambda name: name != "train"):    # train first: the others are scored by it
            rows[split] = len(task.split(split))
            if split == "train":
                counts, tallies[split], _ = _tally(task, split, tokenizer, label2id, say, inputs=train_inputs)
            else:
                counts, tallies[split], found = _tally(task, split, tokenizer, label2id, say, train=train_inputs)
                if train_inputs is not None:
                    in_train[split] = found
            present = np.flatnonzero(counts)
            hist, edges = histogram_of_counts(counts, min(20, max(1, int(present[-1] - present[0]) + 1)))
            histogram[split] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in hist]}
            lengths[split] = {f"p{q}": int(percentile_of_counts(counts, q)) for q in (50, 90, 95, 99)} | {"max": int(present[-1])}
            truncated[split] = float(counts[max_length + 1:].sum() / rows[split])
        del train_inputs
        train = tallies.get("train")
        majority_label = None
        notes = [f"read as unlabelled{note}" for split in task.splits if (note := hidden_labels_note(task, split))]
        huge: dict = {}
        warnings = []
        for split, tally in tallies.items():
            if tally is None:
                continue
            if regress:
                guess = train.average if train is not None else tally.average
                balance[split] = {"mean": tally.average, "std": tally.std, "min": tally.low, "max": tally.high}
                mse = tally.mse_of(guess)
                if math.isfinite(mse):          # beyond float64 (labels near 1e308): no baseline rather than inf
                    baseline[split] = mse
                if max(-tally.low, tally.high) > FLOAT32_SQRT_MAX:
                    huge[split] = tally.low if -tally.low > tally.high else tally.high
            else:
                train_counts = train if train is not None else tally
                balance[split] = {name: int(tally[i]) for name, i in label2id.items()}
                baseline[split] = majority_baseline_of_counts(train_counts, tally, metric)
                majority = int(np.argmax(train_counts))
                majority_label = task.label_names[majority]
                majority_accuracy[split] = float(tally[majority] / tally.sum())
        if huge:
            value = max(huge.values(), key=abs)
            if abs(value) > FLOAT32_MAX:
                warnings.append(f"label values reach {value:.3g} ({', '.join(huge)}), beyond float32's range (±{FLOAT32_MAX:.3g}) "
                             "in which TuneLab trains and scores: fit, eval and check refuse them; rescale the label column")
            else:
                warnings.append(f"label values reach {value:.3g} ({', '.join(huge)}): their squared errors pass float32's range "
                             f"(±{FLOAT32_MAX:.3g}), so training on them gives an infinite loss; rescale the label column")
        order = {split: i for i, split in enumerate(task.splits)}                  # report in the data's own order
        def ordered(d): return dict(sorted(d.items(), key=lambda kv: order[kv[0]]))
        return DataSummary(task.name, str(task.equation), ordered(rows), ordered(balance), ordered(lengths), ordered(truncated),
                           max_length, "mse" if regress else metric, ordered(baseline), task.held_out_validation, majority_label,
                           ordered(majority_accuracy), ordered(histogram), ordered(in_train), notes,
                           warnings)

    def example_texts(self, data, split, n):
        """Up to n inputs of `split`, taking the labels in turn so that classes are mixed."""
        import itertools

        sample = data.sample(split, 200, 0)
        texts = sample.texts(split)
        if not self.has_classes:
            return list(texts[:n])
        by_label: dict[str, list] = {}
        for text, label in zip(texts, sample.labels(split)):
            by_label.setdefault(str(label), []).append(text)
        return [t for row in itertools.zip_longest(*by_label.values()) for t in row if t is not None][:n]

    def cat_header(self, equation):
        return ["split", *equation.outputs, *equation.inputs]

    def cat_rows(self, data, split, limit):
        from ..data import class_label_names

        eq = data.equation
        ds = data.split(split)
        n = len(ds) if not limit else min(limit, len(ds))
        names = class_label_names(ds.features[eq.label]) if eq.label in ds.features else None
        for row in ds.select(range(n)):
            label = row.get(eq.label, "")
            if names is not None and isinstance(label, int) and 0 <= label < len(names):
                label = names[label]        # a ClassLabel's id means its name (and ids can differ by split)
            elif self.has_classes and isinstance(label, float) and label.is_integer():
                label = int(label)          # the class 1.0 is '1', as summary, fit and eval name it
            values = [label, *(row.get(c, "") for c in eq.outputs[1:])]     # regress may name several outputs
            yield ({**dict(zip(eq.outputs, values)), **{c: row[c] for c in eq.inputs}},
                   [[split, *values, *(row[c] for c in eq.inputs)]])

    def head_class(self):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def explain_target(self, predictor, logits, words, target, word):
        """A class's probability (the predicted one unless `target` names another), or a regression output's value
        (the first unless `target` names another), read at [CLS]."""
        if word is not None:
            raise TuneLabError(f"--word picks a word of a token-tagging model; {predictor.name} gives one "
                               f"{'label' if self.has_classes else 'value'} per sentence")
        labels = list(predictor.labels)
        if not self.has_classes or predictor.is_regression:
            i = pick_label(labels, target, 0, "output")
            return ExplainTarget(labels[i] if len(labels) > 1 else "value", lambda lg, i=i: lg[:, i], (0,))
        i = pick_label(labels, target, int(logits[0].argmax()))
        return ExplainTarget(labels[i], lambda lg, i=i: lg.float().softmax(-1)[:, i], (0,), probability=True)


class Classify(_SentenceTask):
    keyword = "classify"
    aliases = ("text-classification", "sequence-classification")
    title = "a label per example"
    metrics = CLASSIFICATION_METRICS
    deletion_check = True

    def check_trainable(self, data, label2id, train) -> None:
        if len(data.label_names) < 2:
            raise TuneLabError(f"column {data.equation.label!r} of {data.name} has a single label value; "
                               "classification needs at least 2")
        _refuse_labels_train_lacks(data, label2id, train.labels)

    def encode(self, data, split, tokenizer, max_length, label2id, **options):
        from ..batching import encode

        labels = data.class_ids(split, label2id) if data.labeled.get(split) else None
        return encode(tokenizer, data.texts(split), labels, max_length=max_length)

    def model_kwargs(self, label_names) -> dict:
        return {"id2label": dict(enumerate(label_names)), "problem_type": "single_label_classification"}

    def baseline_outputs(self, data, encoded, label2id, outputs):
        """Always the train split's most frequent class (else the scored split's own), as one-hot logits."""
        ids = data.class_ids("train", label2id) if data.labeled.get("train") else encoded.labels
        top = int(np.bincount(ids).argmax())
        guess = np.zeros_like(np.asarray(outputs))
        guess[:, top] = 1.0
        return guess, f"always {next(n for n, i in label2id.items() if i == top)!r}"

    def shown_beside(self, metric):
        return ("accuracy",) + ((metric,) if metric != "accuracy" else ())

    def fits_model(self, get) -> bool:
        return get("problem_type") != "regression" and (super().fits_model(get) or not get("architectures"))

    def score(self, outputs, encoded, label_names, metric):
        from ..metrics import classification_scores, score

        preds = np.asarray(outputs).argmax(-1)
        scores = classification_scores(preds, encoded.labels, len(label_names))
        scores[metric] = score(metric, scores, preds, encoded.labels)
        return scores

    def check_head(self, config, name, equation):
        super().check_head(config, name, equation)
        if config.num_labels == 1:
            raise TuneLabError(f"the equation says classify but {name} has 1 output (a regression model)")

    def details(self, data, split, outputs, encoded, label_names, metric, mistakes):
        return {"labels": list(label_names),
                **_classification_details(data, split, outputs, encoded.labels, list(label_names), mistakes),
                **_majority_baseline(data, split, encoded.labels, {n: i for i, n in enumerate(label_names)}, metric,
                                     list(label_names))}

    def default_metric(self, label_names, data_name, is_pair):
        """GLUE's choices: MCC for acceptability (CoLA-like), F1 for binary pair tasks (MRPC, QQP), else accuracy."""
        names = " ".join(str(n).lower() for n in label_names)
        if "acceptab" in names or "cola" in data_name.lower():
            return "mcc"
        if len(label_names) == 2 and is_pair and any(k in data_name.lower() for k in ("mrpc", "qqp")):
            return "f1"
        return "accuracy"


class Regress(_SentenceTask):
    keyword = "regress"
    aliases = ("regression",)
    title = "a number per example"
    metrics = REGRESSION_METRICS
    has_classes = False
    several_outputs = True

    # ---- several outputs: `regress: valence + arousal ~ word` (one head, an output per column)

    def check_equation(self, text, outputs, inputs):
        super().check_equation(text, outputs[:1], inputs)
        for i, name in enumerate(outputs):
            if name in outputs[:i]:
                raise TuneLabError(f"equation {text!r}: output {name!r} is named twice; name each output column once")
            if i and name in inputs:            # the first: parse_equation words it, as for one output
                raise TuneLabError(f"equation {text!r}: the output {name!r} is also an input, so the model would read "
                                   "the answer; name the text column(s) after '~'")

    def labelled_splits(self, splits, equation, minus_one_is_a_label=False):
        """A split is labelled when every output column holds labels; one that has some outputs and not others is
        refused, naming the column it lacks."""
        each = [_labelled_splits(splits, one, minus_one_is_a_label) for one in each_output(equation)]
        if len(each) == 1:
            return each[0]
        for split in splits:
            have = [one[split] for one in each]
            if any(have) and not all(have):
                lacking = equation.outputs[have.index(False)]
                raise TuneLabError(f"split {split!r} has labels in {equation.outputs[have.index(True)]!r} but none in "
                                   f"{lacking!r}; every output column of the equation needs its values")
        return {split: each[0][split] for split in splits}

    def label_names(self, splits, labeled, equation, name):
        """() for one output (as ever); for several, the output columns' names, so the head's id2label names them.
        Every output column must hold numbers."""
        for one in each_output(equation):
            _label_names(splits, labeled, one, name)
        return tuple(equation.outputs) if len(equation.outputs) > 1 else ()

    def encode(self, data, split, tokenizer, max_length, label2id, **options):
        from ..batching import encode, float32_labels

        labels = None
        if data.labeled.get(split):
            outputs = data.equation.outputs
            if len(outputs) == 1:
                labels = float32_labels(data.labels(split), f"split {split!r} of {data.name}")
            else:       # (n, k): one column per output, in the equation's order
                ds = data.split(split)
                labels = np.stack([float32_labels(column_values(ds, col), f"column {col!r} of split {split!r} of "
                                                  f"{data.name}") for col in outputs], axis=1)
        return encode(tokenizer, data.texts(split), labels, max_length=max_length)

    def num_outputs(self, label_names) -> int:
        return max(1, len(label_names))

    def run_record(self, train, label_names):
        """With several outputs: each output's lowest and highest train value (`output_ranges`), so that a reader
        of the run can place a prediction within what training saw. One output: nothing, as ever."""
        labels = None if train.labels is None else np.asarray(train.labels, dtype=np.float64)
        if labels is None or labels.ndim != 2 or not len(labels):
            return {}
        names = _output_names(label_names, labels.shape[1])
        return {"output_ranges": {name: [float(lo), float(hi)]
                                  for name, lo, hi in zip(names, labels.min(0), labels.max(0))}}

    def model_kwargs(self, label_names) -> dict:
        if len(label_names) > 1:
            return {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
                    "problem_type": "regression", "regression_outputs": list(label_names)}
        return {"num_labels": 1, "problem_type": "regression"}

    def baseline_outputs(self, data, encoded, label2id, outputs):
        """Always the train split's mean value of each output (else the scored split's own)."""
        cols = data.equation.outputs
        if data.labeled.get("train"):
            train = data.split("train")
            values = [float(np.mean(np.asarray(column_values(train, col), dtype=np.float64))) for col in cols]
        else:
            labels = np.asarray(encoded.labels, dtype=np.float64).reshape(len(encoded), -1)
            values = [float(v) for v in labels.mean(0)]
        if len(cols) == 1:
            return np.full((len(encoded), 1), values[0]), f"always {values[0]:.3g} (the mean)"
        words = ", ".join(f"{col} {v:.3g}" for col, v in zip(cols, values))
        return np.tile(np.asarray(values), (len(encoded), 1)), f"always each output's mean ({words})"

    def shown_beside(self, metric):
        return tuple(dict.fromkeys((metric, "mse")))

    def fits_model(self, get) -> bool:
        return get("problem_type") == "regression"

    def score(self, outputs, encoded, label_names, metric):
        """Pearson, Spearman and MSE; with several outputs each output's own (`pearson_valence`, ...) and the plain
        names hold their mean over outputs (the mean Pearson is the figure of merit)."""
        from ..metrics import regression_scores, score

        gold = np.asarray(encoded.labels)
        if gold.ndim == 1:
            preds = np.asarray(outputs)[:, 0]
            scores = regression_scores(preds, gold)
            scores[metric] = score(metric, scores, preds, gold)
            return scores
        return multi_output_scores(np.asarray(outputs), gold, _output_names(label_names, gold.shape[1]))

    def details(self, data, split, outputs, encoded, label_names, metric, mistakes):
        """With several outputs: a score row per output (its Pearson, Spearman and MSE, and the rows scored)."""
        gold = np.asarray(encoded.labels)
        if gold.ndim == 1:
            return {}
        names = _output_names(label_names, gold.shape[1])
        scores = multi_output_scores(np.asarray(outputs), gold, names)
        rows = [{"label": name, **{m: scores[f"{m}_{name}"] for m in ("pearson", "spearman", "mse")},
                 "support": int(len(gold))} for name in names]
        return {"labels": names, "per_class": rows, "per_class_title": "per output"}

    def describe(self, task, tokenizer, max_length, say):
        """One output: as ever. Several: the label balance (mean, std, min, max) of each output per split, and the
        baseline MSE of each output's train mean, averaged over outputs."""
        outputs = task.equation.outputs
        if len(outputs) == 1:
            return super().describe(task, tokenizer, max_length, say)
        firsts = [super(Regress, self).describe(dataclasses.replace(task, equation=one), tokenizer, max_length,
                                                say if i == 0 else (lambda text: None))
                  for i, one in enumerate(each_output(task.equation))]
        first = firsts[0]
        balance = {split: {col: s.label_balance[split] for col, s in zip(outputs, firsts)}
                   for split in first.label_balance}
        baseline = {split: float(np.mean([s.majority_baseline[split] for s in firsts]))
                    for split in first.majority_baseline if all(split in s.majority_baseline for s in firsts)}
        warnings = [w for s in firsts for w in s.warnings]
        return dataclasses.replace(first, equation=str(task.equation), label_balance=balance,
                                   majority_baseline=baseline, warnings=warnings)

    def label_problem(self, data, *, trains: bool = False):
        return float32_label_problem(data, trains=trains)

    def non_finite_hint(self, train):
        labels = train.labels
        if labels is not None and len(labels):
            largest = float(np.abs(labels).max())
            if largest >= 1e9:   # squared in the loss and its gradients: far sooner beyond float32 (3.4e38) than the labels
                return (f"the regression labels reach {largest:.3g}, too large for float32, the type training "
                        f"computes in; rescale them (e.g. to unit variance) and train again")
        return None

    def check_head(self, config, name, equation):
        super().check_head(config, name, equation)
        wanted = len(equation.split(":", 1)[-1].split("~")[0].split("+"))
        if config.num_labels != wanted:
            if wanted == 1:
                raise TuneLabError(f"the equation says regress but {name} has {config.num_labels} outputs")
            raise TuneLabError(f"the equation names {wanted} outputs but {name} has {config.num_labels}")

    def default_metric(self, label_names, data_name, is_pair):
        return "pearson"   # GLUE's STS-B


def each_output(equation: Equation) -> list[Equation]:
    """The equation once per output column, as if it named only that one: the one-column checks run on each."""
    if len(equation.outputs) == 1:
        return [equation]
    return [dataclasses.replace(equation, outputs=(col,)) for col in equation.outputs]


def _output_names(label_names, k: int) -> list[str]:
    names = [str(n) for n in label_names]
    return names if len(names) == k else [f"output_{i}" for i in range(k)]


def multi_output_scores(preds: np.ndarray, gold: np.ndarray, names: list[str]) -> dict[str, float]:
    """Each output's Pearson, Spearman and MSE (`pearson_<name>`, ...) and their means under the plain names."""
    from ..metrics import regression_scores

    scores: dict[str, float] = {}
    each = [regression_scores(preds[:, i], gold[:, i]) for i in range(len(names))]
    for metric in ("pearson", "spearman", "mse"):
        scores[metric] = float(np.mean([one[metric] for one in each]))
    for name, one in zip(names, each):
        for metric in ("pearson", "spearman", "mse"):
            scores[f"{metric}_{name}"] = one[metric]
    return scores


CLASSIFY = register(Classify())
REGRESS = register(Regress())


def _refuse_labels_train_lacks(data, label2id: dict, train_ids) -> None:
    """A class in a given validation or test file that train never has is almost always a typo or a stray file
    (the model gets an output it can never learn); one held out of train at random is only a rare class."""
    seen = set(np.unique(train_ids).tolist())
    for split in data.splits:
        if split == "train" or not data.labeled.get(split) or (split == "validation" and data.held_out_validation):
            continue
        lacking = sorted(set(np.unique(data.class_ids(split, label2id)).tolist()) - seen)
        if lacking:
            names = ", ".join(repr(data.label_names[i]) for i in lacking[:5]) + (", ..." if len(lacking) > 5 else "")
            raise TuneLabError(f"split {split!r} of {data.name} has labels that train never has ({names}); a model "
                               "trained on train cannot predict them: fix the labels or the split files")


# ---------------------------------------------------------------- numbers float32 cannot hold

def float32_label_problem(task, *, trains: bool = False) -> str | None:
    """For regress: the first label, in any labelled split, beyond float32's range (finite in float64, such as
    1e308, but infinite as the float32 that fit trains and eval scores in), as a one-line message; else None.
    With `trains`, also one whose squared error would pass float32's range (|label| above ~1.8e19): the loss of a
    model trained on it is infinite from the first step."""
    from ..data import FLOAT32_MAX, FLOAT32_SQRT_MAX, _arrow_chunks

    limit = FLOAT32_SQRT_MAX if trains else FLOAT32_MAX
    for split, col in ((split, col) for split in task.splits for col in task.equation.outputs):
        if not task.labeled.get(split):
            continue
        for table in _arrow_chunks(task.split(split), [col], 100_000):
            values = np.asarray(table.column(0).to_numpy(zero_copy_only=False), dtype=np.float64)
            beyond = np.flatnonzero(np.abs(values) > limit)
            if not len(beyond):
                continue
            where = f"label {values[beyond[0]]:g} in column {col!r} (split {split!r} of {task.name})"
            if abs(values[beyond[0]]) > FLOAT32_MAX:
                return (f"{where} is beyond float32's range (±{FLOAT32_MAX:.3g}), in which TuneLab trains and scores; "
                        "rescale the label column")
            return (f"{where} is too large to train on: its squared error passes float32's range (±{FLOAT32_MAX:.3g}), "
                    "so the loss is infinite; rescale the label column")
    return None


# ---------------------------------------------------------------- what `tunelab summary --data` counts

def _tally(task, split: str, tokenizer, label2id: dict, say, inputs: InputIndex | None = None,
           train: InputIndex | None = None) -> tuple[np.ndarray, np.ndarray | _Moments | None, int]:
    """One pass over a split, CHUNK rows at a time: the counts of each token length, the counts of each class (or
    the moments of a numeric label; None for an unlabelled split), and how many inputs the `train` index holds.
    The split's own inputs go into `inputs`. Memory grows only by those 8-byte hashes."""
    from ..data import class_ids
    from ..summary import CHUNK, _add_counts, _Moments, _progress, token_lengths

    ds = task.split(split)
    label = task.equation.label
    lengths = np.zeros(0, dtype=np.int64)
    labels = None
    in_train = 0
    if task.labeled.get(split):
        labels = _Moments() if task.equation.task == "regress" else np.zeros(len(label2id), dtype=np.int64)
    for table in _progress(task.iter_tables(split, CHUNK), say, f"tokenizing {split}", len(ds)):
        texts = task.texts_of(table)
        lengths = _add_counts(lengths, token_lengths(tokenizer, texts, task.equation.is_pair))
        if inputs is not None:
            inputs.add(texts)
        if train is not None:
            in_train += train.count_in(texts)
        if isinstance(labels, _Moments):
            labels.add(np.asarray(table.column(label).to_numpy(), dtype=float))
        elif labels is not None:
            labels += np.bincount(class_ids(table.column(label), ds.features[label], label2id,
                                            f"split {split!r} of {task.name}", label), minlength=len(label2id))
    return lengths, labels, in_train


# ---------------------------------------------------------------- what `tunelab eval` reports for classes

def _classification_details(task, split: str, logits: np.ndarray, gold: np.ndarray, names: list[str], top: int) -> dict:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from ..inference import softmax

    probs = softmax(logits)
    preds = probs.argmax(-1)
    ids = list(range(len(names)))
    p, r, f, s = precision_recall_fscore_support(gold, preds, labels=ids, zero_division=0)
    per_class = [{"label": names[i], "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])} for i in ids]
    confusion = confusion_matrix(gold, preds, labels=ids).tolist()
    wrong = np.flatnonzero(preds != gold)
    wrong = wrong[np.argsort(-probs[wrong, preds[wrong]])][:top]
    texts = task.texts(split)
    mistakes = [{"confidence": float(probs[i, preds[i]]), "gold": names[gold[i]], "predicted": names[preds[i]],
                 "text": texts[i] if isinstance(texts[i], str) else " [SEP] ".join(texts[i])} for i in wrong]
    return {"per_class": per_class, "confusion": confusion, "mistakes": mistakes}


def _majority_baseline(task, split: str, gold: np.ndarray, label2id: dict, metric: str, names: list[str]) -> dict:
    """The most common training label, its accuracy on `split` and the figure of merit of predicting it for every
    example (0 under MCC for any constant guess: the label and its accuracy are what tell a user something)."""
    from ..metrics import majority_baseline

    has_train = "train" in task.splits and task.labeled.get("train") and split != "train"
    try:
        ids = task.class_ids("train", label2id) if has_train else gold
    except TuneLabError:
        ids = gold
    majority = int(np.bincount(np.asarray(ids, dtype=np.int64), minlength=len(names)).argmax())
    return {"majority_baseline": majority_baseline(ids, gold, len(names), metric), "majority_label": names[majority],
            "majority_accuracy": float((np.asarray(gold) == majority).mean())}


# ---------------------------------------------------------------- what the columns must hold

def check_text_inputs(ds, equation: Equation, split: str, name: str, where) -> None:
    """Refuse an input column that does not hold text."""
    for col in equation.inputs:
        feature = ds.features[col]
        dtype = getattr(feature, "dtype", None)
        if dtype in ("string", "large_string"):
            continue
        if type(feature).__name__ in ("List", "Sequence", "LargeList"):   # words, one per item: token tags
            raise TuneLabError(f"input column {col!r} in split {split!r} of {name} holds lists (words), so the data "
                               f"looks like token tags: use classify_tokens: {equation.label} ~ {col}")
        if type(feature).__name__ == "Json" and where is not None:  # JSON rows disagree on the type of this field
            for row, value in enumerate(column_values(ds, col)):
                if value is not None and not isinstance(value, str):
                    raise TuneLabError(f"{where(split, row)}: input column {col!r} holds {json_kind(value)} ({shorten(value)}), not text")
        raise TuneLabError(f"input column {col!r} in split {split!r} of {name} holds {dtype or 'non-text'} values, not text")


def _check_header_read_as_data(ds, equation: Equation, columns: list[str], split: str, where: object) -> None:
    """With --columns the first line is data; refuse when it is plainly the file's own header row."""
    import pyarrow.compute as pc

    col = equation.label
    if col not in ds.column_names or not len(ds):
        return
    value = ds[0][col]
    if not isinstance(value, str) or _is_number(value):
        return
    names = {c.lower() for c in columns} | {c.lower() for c in equation.inputs + equation.outputs}
    header_like = value.strip().lower() in names
    if not header_like and len(ds) > 1:  # 'label' above a column of numbers
        rest = ds.data.column(col).slice(1)
        header_like = first_true(pc.invert(pc.match_substring_regex(rest, NUMBER))) == -1
    if header_like:
        first = ", ".join(str(ds[0][c]) for c in ds.column_names)
        first = first if len(first) <= 60 else first[:57] + "..."
        raise TuneLabError(
            f"{where(split, 0)} looks like a header row ({first}), but --columns says the file has none; "
            "drop --columns and use the file's own column names"
        )


def _is_number(text: str) -> bool:
    import re

    return re.match(NUMBER, text) is not None


def _check_texts(ds, equation: Equation, split: str, where: object) -> None:
    """Refuse an input cell that is empty or holds only whitespace / invisible characters, naming its line."""
    import pyarrow.compute as pc

    for col in equation.inputs:
        values = ds.data.column(col)
        row = first_true(pc.match_substring_regex(values, BLANK))
        if row < 0:
            continue
        loc, fields = where.record(split, row)
        value = values[row].as_py()
        note = short_line_note(fields, ds) or (f" (only invisible characters: {ascii(value)})" if value and value.strip() else "")
        raise TuneLabError(f"{loc}: empty text in column {col!r}{note}; fill it in or remove the line")


def _check_label_values(ds, equation: Equation, split: str, where: object) -> None:
    """Refuse a missing label (empty, null, NaN) or, for regress, one that is not a finite number, naming its line."""
    import math

    import pyarrow.compute as pc

    col = equation.label
    feature = ds.features[col]
    kind = type(feature).__name__
    if kind == "Json":  # JSON rows disagree on the type of the label
        first = None
        for row, value in enumerate(column_values(ds, col)):
            if value is None:
                raise TuneLabError(f"{where(split, row)}: empty label in column {col!r} (null)")
            if first is None:
                first = (json_kind(value), row)
            elif json_kind(value) != first[0]:
                raise TuneLabError(
                    f"{where(split, row)}: label {shorten(value)} in column {col!r} is {json_kind(value)}, "
                    f"but {first[0]} in {where(split, first[1])}; use one type for every label"
                )
        return
    if kind != "Value":
        return  # ClassLabel ids are checked by datasets; lists and dicts: _label_names says what is wrong
    dtype = feature.dtype
    values = ds.data.column(col)
    if dtype in ("string", "large_string"):
        # one regex pass (blank, or "NaN" in any case between blanks): no lowered or trimmed copy of the column
        row = first_true(pc.match_substring_regex(values, BLANK_OR_NAN))
        if row >= 0:
            loc, fields = where.record(split, row)
            value = values[row].as_py()
            what = "missing label (NaN)" if value and value.strip().lower() == "nan" else "empty label"
            raise TuneLabError(f"{loc}: {what} in column {col!r}{short_line_note(fields, ds)}")
        if equation.task == "regress":
            for row, value in enumerate(values.to_pylist()):
                try:
                    number = float(value)
                except ValueError:
                    raise TuneLabError(f"{where(split, row)}: regress needs numeric values in {col!r}, got {shorten(value)}") from None
                if not math.isfinite(number):
                    raise TuneLabError(f"{where(split, row)}: label {shorten(value)} in column {col!r} is not a finite number")
        return
    row = first_true(pc.is_null(values))
    if row >= 0:
        loc, fields = where.record(split, row)
        raise TuneLabError(f"{loc}: empty label in column {col!r}{short_line_note(fields, ds) or ' (null)'}")
    if dtype.startswith("float"):
        row = first_true(pc.is_nan(values))
        if row >= 0:
            raise TuneLabError(f"{where(split, row)}: missing label (NaN) in column {col!r}")
        row = first_true(pc.is_inf(values))
        if row >= 0:
            raise TuneLabError(f"{where(split, row)}: label {values[row].as_py()} in column {col!r} is not a finite number")


def _labelled_splits(splits: dict, equation: Equation, minus_one_is_a_label: bool = False) -> dict[str, bool]:
    """Which splits carry usable labels. A split without the label column has none, nor one whose label column is
    all empty, nor one whose labels are all -1 (GLUE's hidden test labels), unless -1 is an ordinary label value
    elsewhere: in a -1/1 task another split holds -1 beside other values, and a test split that happens to be all -1
    is labelled like the rest (as is any split, with `minus_one_is_a_label`)."""
    uniques: dict[str, list | None] = {}
    for split, ds in splits.items():
        if equation.label not in ds.column_names:
            uniques[split] = []
        elif type(ds.features[equation.label]).__name__ not in ("Value", "ClassLabel"):
            uniques[split] = None           # lists, dicts: _label_names says what is wrong with them
        else:
            uniques[split] = ds.unique(equation.label)
    minus_one_is_a_value = minus_one_is_a_label or any(
        values and len(values) > 1 and any(is_minus_one(v) for v in values)
        and type(splits[split].features[equation.label]).__name__ == "Value"   # a ClassLabel's -1 is never a class
        for split, values in uniques.items())

    def labelled(split: str, values: list | None) -> bool:
        if values is None:
            return True
        if len(values) != 1:
            return bool(values)
        class_label = type(splits[split].features[equation.label]).__name__ == "ClassLabel"
        hidden = is_minus_one(values[0]) and (class_label or not minus_one_is_a_value)
        return not (values[0] is None or values[0] == "" or hidden)

    return {split: labelled(split, values) for split, values in uniques.items()}




def _label_names(splits: dict, labeled: dict, equation: Equation, name: str) -> tuple[str, ...]:
    col = equation.label
    values: set = set()     # (is it a bool, the value): True == 1 in a set, but they are two spellings of a label
    for split, ds in sorted(splits.items(), key=lambda item: item[0] != "train"):   # train's classes first
        if not labeled[split]:
            continue
        feature = ds.features[col]
        if type(feature).__name__ == "ClassLabel":
            if equation.task == "regress":
                raise TuneLabError(f"regress needs numeric values in {col!r}, but split {split!r} of {name} holds "
                                   f"classes ({', '.join(feature.names[:4])}); use 'classify:'")
            return tuple(feature.names)
        dtype = getattr(feature, "dtype", None)
        if type(feature).__name__ == "Json" and equation.task == "classify":   # JSON rows typed one by one
            scalars = column_values(ds, col)
            if any(isinstance(v, float) and not v.is_integer() for v in scalars):
                raise TuneLabError(
                    f"labels in {col!r} (split {split!r} of {name}) are fractional numbers; "
                    "use 'regress:' for a numeric target, or int/string labels to classify"
                )
            scalars = [int(v) if isinstance(v, float) else v for v in scalars]   # 1.0 beside "1": one class
            if all(isinstance(v, (int, str)) for v in scalars):                  # bool is an int too
                values.update((isinstance(v, bool), v) for v in scalars)
                continue
        if equation.task == "regress":
            if type(feature).__name__ == "Json" and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in column_values(ds, col)):
                continue                            # numbers, some written as ints and some as floats
            if dtype is None or not dtype.startswith(("int", "uint", "float")):
                raise TuneLabError(f"regress needs numeric values in {col!r}; split {split!r} of {name} holds {dtype or 'non-scalar'} values")
            continue
        if type(feature).__name__ in ("List", "Sequence", "LargeList"):
            raise TuneLabError(f"labels in {col!r} (split {split!r} of {name}) are neither ints nor strings but lists, "
                               f"as token tags are (a tag per word): for those use classify_tokens: {col} ~ "
                               f"{' + '.join(equation.inputs)}")
        if isinstance(feature, dict) and {"text", "answer_start"} <= set(feature):
            raise TuneLabError(f"labels in {col!r} (split {split!r} of {name}) are answer spans (text and "
                               f"answer_start), as extractive QA's are: for those use classify_spans: {col} ~ "
                               f"{' + '.join(equation.inputs) if len(equation.inputs) == 2 else 'question + context'}")
        if dtype is None or dtype.startswith(("list", "struct")) or dtype == "null":
            raise TuneLabError(f"labels in {col!r} (split {split!r} of {name}) are neither ints nor strings")
        if dtype.startswith("float"):
            uniq = ds.unique(col)
            if any(v is None or v != int(v) for v in uniq):
                raise TuneLabError(
                    f"labels in {col!r} (split {split!r} of {name}) are fractional numbers; "
                    "use 'regress:' for a numeric target, or int/string labels to classify"
                )
            values.update((False, int(v)) for v in uniq)
            continue
        values.update((isinstance(v, bool), v) for v in ds.unique(col) if v is not None)
    if equation.task == "regress":
        return ()
    raw = [v for _, v in values]
    if all(isinstance(v, bool) for v in raw):
        return tuple(str(v) for v in sorted(raw))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        return tuple(str(v) for v in sorted(raw))      # -1 too: a split whose labels are all -1 is not read here
    names = sorted({str(v) for v in raw})      # a set: splits may hold 1 and '1' (each split is typed on its own)
    seen: dict[str, str] = {}
    for label in names:
        key = visible_label(label)
        if key in seen:                         # 'neg' and 'neg ': two classes that are one, trained apart
            first = seen[key]
            if " ".join(first.split()) == " ".join(label.split()):
                what, shown = "only by spaces", f"{first!r} and {label!r}"
            else:                               # ascii() shows what no table shows: '\u200b', '\ufeff', 'e\u0301'
                import unicodedata

                what = ("only in Unicode normalisation (an accent composed in one, combined in the other)"
                        if unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", label)
                        else "only by invisible characters")
                shown = f"{ascii(first)} and {ascii(label)}"
            raise TuneLabError(
                f"labels {shown} in column {col!r} of {name} differ {what}, so they would be "
                "two classes that every table shows alike; clean the label column"
            )
        seen[key] = label
    return tuple(names)
