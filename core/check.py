"""The model sanity check: the battery a user runs in seconds on a model they just got or just trained.

`run_checks(model)` loads the model with its task's head (a sequence classifier, a tagger, a span head for
question answering: the task judges its outputs, `Task.output_checks`) and checks that it loads with its tokenizer, that the tokenizer round-trips text, that the label mapping is present and matches the head (a
randomly initialised head, e.g. the bundled MiniLM before fine-tuning, is reported as such), that probabilities
are finite and sum to 1, that predictions vary across varied inputs and that attention rows sum to 1; for a trained
sentence classifier, whether the words Integrated Gradients ranks first move its prediction more than random words
(the faithfulness deletion check, core/faithfulness.py, on a few held-out sentences, else the varied inputs). With data
it also counts the held-out inputs that also occur in train (a leak: a warning), scores the model on a sample of
the held-out split against the majority-class baseline and checks that a copy of the model can overfit one small
batch (it is trainable). Each check passes, warns or fails with its reason. Called by `tunelab check`, the TUI and
notebooks.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import time
import unicodedata
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .batching import collate, encode, encode_task_split
from .data import TaskData, load_task_data
from .device import autocast_for, pick_device
from .errors import TuneLabError, some_of
from .config import task_options
from .inference import logits_of, predict_outputs, softmax
from .tasks.base import task_for, task_of_model
from .models import default_max_length, load_classifier, load_config, load_tokenizer, max_positions, read_run_config, resolve_model

STATUSES = ("pass", "warn", "fail")

# Inputs the predictions should not all agree on: plain, odd, positive, negative, ungrammatical, repetitive.
VARIED_INPUTS = (
    "The cat sat on the mat.",
    "Where are the keys to the cabinet?",
    "I absolutely loved this film; the acting was superb!",
    "This is the worst meal I have ever eaten.",
    "The keys to the cabinet is on the table.",
    "Colorless green ideas sleep furiously.",
    "the the the the the",
    "Stocks fell sharply after the central bank raised interest rates by half a point.",
)
# The first three use only letters and . , ? (any English vocabulary has them): losing them is a failure.
# The others (punctuation, digits, accents, an address) may lose characters to [UNK]: a warning.
ROUND_TRIP_PLAIN = ("The cat sat on the mat.", "Where are the keys to the cabinet?", "She gave him a red book, and he smiled.")
ROUND_TRIP_ODD = ("Don't panic: it's 3.14 (or so)!", "A naïve café owner in Zürich.", "Write to someone@example.com today.")
GENERIC_LABEL = re.compile(r"^LABEL_\d+$")
# Overfitting one batch: rates tried in turn (a BERT fine-tuning rate; then one for small or random encoders; then,
# where a higher rate was unstable, one for large encoders), each warmed up linearly over the first steps. Passing
# means the loss falls to OVERFIT_RATIO of where it started (and, for a classifier, the whole batch is predicted
# right) within OVERFIT_STEPS steps.
OVERFIT_LRS = (1e-4, 1e-3, 2e-5)
OVERFIT_WARMUP = 5
OVERFIT_STEPS = 60
OVERFIT_RATIO = 0.5
OVERFIT_SATURATED = 1e-30   # a batch loss below this with no gradient left: logits too confident for float32 to train
# The faithfulness row: sentences explained by every method and deleted from 1..K words deep. Few, so the battery
# stays seconds on CPU (about 0.1-0.3 s a sentence with the bundled MiniLM); `tunelab explain --faithfulness` does 200.
FAITHFULNESS_SENTENCES = 24
FAITHFULNESS_K = 3


@dataclass(frozen=True)
class CheckResult:
    name: str       # loads, tokenizer_round_trip, label_mapping, probabilities, predictions_vary,
                    # attention_rows, train_overlap, beats_baseline, overfits_batch, faithfulness
    status: str     # "pass", "warn" or "fail"
    detail: str     # the reason, for the user


@dataclass(frozen=True)
class CheckReport:
    model: str
    checks: tuple[CheckResult, ...]
    figures: dict = field(default_factory=dict)   # the numbers behind the checks (scores, losses, sizes)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        """The worst status of any check."""
        return max((c.status for c in self.checks), key=STATUSES.index, default="pass")

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict:
        """The report as plain data for strict JSON: a figure that is NaN or infinite (a broken model's losses and
        scores) becomes None."""
        return _strict({**dataclasses.asdict(self), "status": self.status})


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def run_checks(model: str | None, data: str | None = None, eqn: str | None = None, columns: list[str] | None = None,
               limit: int = 300, *, seed: int = 42, max_length: int | None = None, overfit_examples: int = 16,
               overfit_steps: int = OVERFIT_STEPS, overfit_lr: float | None = None, device: str | None = None,
               trust_remote_code: bool = False) -> CheckReport:
    """Run the battery on `model`; with `data` (and `eqn`) add the data checks on up to `limit` examples.

    `overfit_lr` pins the overfit check to one learning rate instead of trying OVERFIT_LRS in turn."""
    started = time.perf_counter()
    if limit < 1:
        raise TuneLabError("--limit must be at least 1")
    if eqn and not data:
        raise TuneLabError("--eqn goes with --data: name the dataset to check the model on")
    resolved = resolve_model(model, trust_remote_code=trust_remote_code)  # a mistyped model or bad data is the user's error: exit 2
    try:
        run = read_run_config(resolved) or {}
    except TuneLabError:
        run = {}                                     # a damaged run.json: the model itself is what is checked
    minus_one = isinstance(run.get("label_names"), list) and "-1" in run["label_names"]   # a -1/1 run: -1 is a class
    task = load_task_data(data, eqn, columns=columns, seed=seed, minus_one_is_a_label=minus_one) if data else None
    problem = task_for(task).label_problem(task, trains=True) if task is not None else None
    if problem:                                      # ±1e308: finite in float64, inf in the float32 trained below
        raise TuneLabError(problem)
    checks: list[CheckResult] = []
    figures: dict = {}

    def add(name: str, status: str, detail: str) -> None:
        checks.append(CheckResult(name, status, detail))

    def report() -> CheckReport:
        return CheckReport(resolved.name, tuple(checks), figures, time.perf_counter() - started)

    # ---- the model loads with its tokenizer (a broken checkpoint is a failed check, not a crash)
    try:
        config = load_config(resolved)
    except TuneLabError as err:
        add("loads", "fail", str(err))
        return report()
    kind = task_for(task) if task is not None else task_for(task_of_model(config, run))
    if task is not None:        # a trained head of another task (a sentence model on token data): the user's mistake
        _check_trained_head(config, kind, resolved.name, str(task.equation))
    try:
        tokenizer = load_tokenizer(resolved)
        torch.manual_seed(seed)               # a new head comes out the same on every run
        clf, new_head = load_classifier(resolved, head_class=kind.head_class(), **_head_kwargs(config, task, kind))
    except TuneLabError as err:
        add("loads", "fail", str(err))
        return report()
    dev = pick_device(device)
    clf.to(dev).eval()
    max_length = (default_max_length(resolved, max_positions(config)) if max_length is None   # a run's own, else
                  else min(max_length, max_positions(config)))                               # the model's limit
    params = sum(p.numel() for p in clf.parameters())
    vocab, rows = len(tokenizer), clf.get_input_embeddings().num_embeddings
    figures.update(parameters=params, layers=getattr(config, "num_hidden_layers", None), vocabulary=vocab)
    size = f"{params / 1e6:.1f}M" if params >= 1e5 else f"{params:,}"
    loaded = f"{type(clf).__name__}, {size} parameters; {type(tokenizer).__name__} with {vocab} tokens"
    if vocab > rows:
        add("loads", "fail", f"{loaded}, but the embedding matrix has only {rows} rows: the tokenizer is not this model's")
        return report()
    add("loads", "pass", loaded)

    checks.append(_round_trip(tokenizer))

    # ---- one forward pass over varied inputs: labels, probabilities, varied predictions, attention
    inputs = kind.example_texts(task, task.eval_split_name(), 8) if task else (kind.varied_inputs() or list(VARIED_INPUTS))
    split = encode(tokenizer, inputs, max_length=max_length)
    batch = {k: v.to(dev) for k, v in collate(split, np.arange(len(split)), tokenizer.pad_token_id or 0).items()}
    fast = clf.config._attn_implementation
    try:
        clf.set_attn_implementation("eager")  # only eager attention returns its weights; scoring stays on SDPA
    except (ValueError, NotImplementedError):
        pass                                  # no eager path: the attention check reports the missing weights
    with torch.inference_mode():
        out = clf(**batch, output_attentions=True)
    clf.set_attn_implementation(fast)
    logits = logits_of(out).float().cpu().numpy()
    own = kind.output_checks(logits, batch["attention_mask"].cpu().numpy(), clf.config, new_head)
    if own is not None:                       # a head the task judges itself (start and end logits per token)
        label2id = {}                         # its labels are positions in the input, not names to map
        checks.extend(CheckResult(*verdict) for verdict in own)
    else:
        what = f"{len(logits)} varied inputs"
        if logits.ndim == 3:                  # a tag per token: judge the rows of real tokens
            logits = logits[batch["attention_mask"].bool().cpu().numpy()]
            what = f"the {len(logits)} tokens of {len(inputs)} varied inputs"
        head_size = logits.shape[-1]
        label2id, label_check = _label_mapping(clf.config, head_size, new_head, task, kind)
        checks.append(label_check)
        regression = getattr(clf.config, "problem_type", None) == "regression"
        checks.append(_probabilities(logits, regression))
        checks.append(_predictions_vary(logits, clf.config, new_head, what, regression))
    checks.append(_attention_rows(out.attentions, batch["attention_mask"]))

    def faithfulness_row() -> None:
        if kind.deletion_check and not new_head:   # a trained head that predicts one class per sentence
            from .faithfulness import sentences_of

            texts = (sentences_of(task, task.eval_split_name(), min(limit, FAITHFULNESS_SENTENCES), seed) if task
                     else inputs[:FAITHFULNESS_SENTENCES])
            checks.append(_faithfulness(model, texts, max_length, device, trust_remote_code, figures, seed))

    faithfulness_row()

    # ---- with data: score against the majority baseline, and overfit one batch
    if task is not None:
        overlap = _train_overlap(task)
        if overlap is not None:
            checks.append(overlap)
        if label2id is None:
            add("beats_baseline", "fail", "skipped: the model's labels do not match the data's (see label_mapping)")
            return report()
        options = task_options(run.get("config"))     # a run's own task settings (windows of a long context)
        checks.append(_beats_baseline(clf, tokenizer, task, kind, label2id, new_head, limit, seed, max_length, dev,
                                      figures, options))
        lrs = OVERFIT_LRS if overfit_lr is None else (overfit_lr,)
        checks.append(_overfits_batch(clf, tokenizer, task, kind, label2id, overfit_examples, overfit_steps, lrs,
                                      seed, max_length, dev, figures, options))
    return report()


def _faithfulness(model, texts: list, max_length: int, device, trust_remote_code: bool, figures: dict,
                  seed: int) -> CheckResult:
    """The deletion check on a few sentences: warn when IG's top 3 words move the predicted class's probability no
    more than 3 random words do."""
    from .explain import Explainer
    from .faithfulness import faithfulness
    from .predictor import Predictor

    try:
        predictor = Predictor(model, device=device, max_length=max_length, backend="torch",
                              trust_remote_code=trust_remote_code)
        report = faithfulness(Explainer(predictor), texts, k=FAITHFULNESS_K, seed=seed)
    except TuneLabError as err:
        return CheckResult("faithfulness", "warn", f"skipped: {err}")
    figures["faithfulness"] = {"sentences": report.sentences, "aopc": report.aopc, "curves": report.curves}
    return CheckResult("faithfulness", "warn" if report.flagged else "pass", report.detail)


def _check_trained_head(config, kind, name: str, equation: str) -> None:
    """Refuse data whose task differs from the one the model's trained head answers (TuneLabError, as eval does);
    a bare encoder gets a new head for the data, so it fits any task."""
    from .tasks.base import all_tasks

    def get(key, default=None):
        return getattr(config, key, default)

    if not kind.fits_model(get) and any(other.fits_model(get) for other in all_tasks()):
        kind.check_head(config, name, equation)


def _head_kwargs(config, task: TaskData | None, kind) -> dict:
    """Keep a trained head of the task's kind as it is; give a bare encoder a head shaped for the data."""
    if task is None or kind.fits_model(lambda key, default=None: getattr(config, key, default)):
        return {}
    return kind.model_kwargs(task.label_names)


# ---------------------------------------------------------------- the checks without data

def _normalise(text: str, uncased: bool) -> str:
    if uncased:
        text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    return "".join(text.split())  # decoders put spaces around punctuation: compare the characters only


def _round_trip(tokenizer) -> CheckResult:
    uncased = bool(getattr(tokenizer, "do_lower_case", False) or tokenizer.init_kwargs.get("do_lower_case"))
    lost = []
    for text in ROUND_TRIP_PLAIN + ROUND_TRIP_ODD:
        back = tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True)
        if _normalise(back, uncased) != _normalise(text, uncased):
            lost.append((text, back))
    case = " (uncased: compared lower-cased, without accents)" if uncased else ""
    if not lost:
        return CheckResult("tokenizer_round_trip", "pass", f"{len(ROUND_TRIP_PLAIN + ROUND_TRIP_ODD)} varied sentences decode back to themselves{case}")
    text, back = lost[0]
    status = "fail" if any(t in ROUND_TRIP_PLAIN for t, _ in lost) else "warn"
    return CheckResult("tokenizer_round_trip", status,
                       f"{len(lost)} of {len(ROUND_TRIP_PLAIN + ROUND_TRIP_ODD)} sentences lose characters, e.g. {text!r} decodes as {back!r}{case}")


def _label_mapping(config, head_size: int, new_head: bool, task: TaskData | None, kind) -> tuple[dict | None, CheckResult]:
    """The check, and the map from the data's label names to head outputs (None where they do not match)."""
    names = [str(config.id2label[i]) for i in sorted(config.id2label)] if config.id2label else []
    if len(names) != head_size:
        return None, CheckResult("label_mapping", "fail", f"the config names {len(names)} labels but the head has {head_size} outputs")
    outputs = list(task.label_names) if task is not None and not kind.has_classes else []
    if head_size > 1 and outputs:           # regress: a + b ~ text: one output per column, named by it
        if names == outputs and getattr(config, "problem_type", None) == "regression":
            return {}, CheckResult("label_mapping", "warn" if new_head else "pass",
                                   "head is randomly initialised: fine-tune first" if new_head
                                   else f"{head_size} outputs (regression): {some_of(names, 8)}")
        return None, CheckResult("label_mapping", "fail", f"the equation's {len(outputs)} outputs "
                                 f"({some_of(outputs, 8)}) are not the head's {head_size} ({some_of(names, 8)})")
    if head_size == 1 or (task is not None and not kind.has_classes):
        if head_size != 1:
            return None, CheckResult("label_mapping", "fail", f"a regress equation with one output needs one output; "
                                     f"the head has {head_size}")
        return {}, CheckResult("label_mapping", "warn" if new_head else "pass",
                               "head is randomly initialised: fine-tune first" if new_head else "one output (regression)")
    shown = some_of(names, 8)
    if new_head:
        mapping = {n: i for i, n in enumerate(task.label_names)} if task else None
        return mapping, CheckResult("label_mapping", "warn",
                                    f"head is randomly initialised: fine-tune first (the checkpoint has no classification head; {head_size} outputs given: {shown})")
    generic = all(GENERIC_LABEL.match(n) for n in names)
    if task is None:
        if generic:
            return None, CheckResult("label_mapping", "warn", f"{head_size} labels with generic names ({shown}): set id2label so predictions are named")
        return None, CheckResult("label_mapping", "pass", f"{head_size} labels: {shown}")
    data_names = list(task.label_names)
    if all(n in names for n in data_names):
        return {n: names.index(n) for n in data_names}, CheckResult("label_mapping", "pass", f"{head_size} labels: {shown}; the data's labels are all among them")
    if generic and len(data_names) == head_size:
        return ({n: i for i, n in enumerate(data_names)},
                CheckResult("label_mapping", "warn", f"generic label names ({shown}): mapped to the data's {some_of(data_names, 8)} in sorted order"))
    return None, CheckResult("label_mapping", "fail", f"the model's labels ({shown}) are not the data's ({some_of(data_names, 8)})")


def _probabilities(logits: np.ndarray, regression: bool = False) -> CheckResult:
    if not np.isfinite(logits).all():
        return CheckResult("probabilities", "fail", "the model outputs NaN or infinite logits")
    if logits.shape[-1] == 1 or regression:
        return CheckResult("probabilities", "pass", "outputs are finite (a regression head: no probabilities)")
    probs = softmax(logits)
    error = float(np.abs(probs.sum(-1) - 1).max())
    if not np.isfinite(probs).all() or error > 1e-4:
        return CheckResult("probabilities", "fail", f"probabilities do not sum to 1 (off by up to {error:.2g})")
    return CheckResult("probabilities", "pass", f"finite, and every row sums to 1 (off by at most {error:.1g})")


def _predictions_vary(logits: np.ndarray, config, new_head: bool, what: str = "", regression: bool = False) -> CheckResult:
    n = len(logits)
    what = what or f"{n} varied inputs"
    if regression and logits.shape[-1] > 1:          # several regression outputs: each must vary
        spread = np.ptp(logits, axis=0)
        still = [str(config.id2label.get(i, i)) for i in np.flatnonzero(spread <= 1e-4)]
        status = "pass" if not still else "warn" if new_head else "fail"
        detail = (f"{what} give every one of {logits.shape[-1]} outputs varied values" if not still
                  else f"{what} give one value to {', '.join(still)}")
        return CheckResult("predictions_vary", status, detail + (": the head is random" if new_head and still else ""))
    if logits.shape[-1] == 1:
        values = logits[:, 0]
        status = "pass" if np.ptp(values) > 1e-4 else "warn" if new_head else "fail"
        return CheckResult("predictions_vary", status, f"{what} give values from {values.min():.3f} to {values.max():.3f}"
                                                       + (": the head is random" if new_head and status != "pass" else ""))
    preds = logits.argmax(-1)
    counts = np.bincount(preds, minlength=logits.shape[-1])
    named = ", ".join(f"{config.id2label.get(i, i)} ×{c}" for i, c in enumerate(counts) if c)
    if len(set(preds.tolist())) > 1:
        return CheckResult("predictions_vary", "pass", f"{what} get {named}")
    spread = float(np.ptp(softmax(logits), axis=0).max())
    if spread < 1e-3:
        status = "warn" if new_head else "fail"
        return CheckResult("predictions_vary", status, f"all {what} get the same output (probabilities differ by {spread:.1g}): "
                                                       + ("the random head ignores its input" if new_head else "the model ignores its input"))
    return CheckResult("predictions_vary", "warn", f"all {what} get {named} (probabilities vary by up to {spread:.2f})"
                                                   + (": the head is random" if new_head else ""))


def _attention_rows(attentions, mask: torch.Tensor) -> CheckResult:
    if not attentions:
        return CheckResult("attention_rows", "fail", "the model returns no attention weights, even with eager attention")
    real = mask.bool()[:, None, :]                                   # [batch, 1, query]: rows of real tokens
    error = 0.0
    for layer in attentions:
        sums = layer.float().sum(-1)                                 # [batch, heads, query]
        if not torch.isfinite(sums).all():
            return CheckResult("attention_rows", "fail", "attention weights hold NaN or infinite values")
        error = max(error, float((sums - 1).abs().masked_select(real).max()))
    shape = f"{len(attentions)} layers × {attentions[0].shape[1]} heads"
    if error > 1e-3:
        return CheckResult("attention_rows", "fail", f"{shape}: attention rows do not sum to 1 (off by up to {error:.2g})")
    return CheckResult("attention_rows", "pass", f"{shape}: every row sums to 1 (off by at most {error:.1g})")


# ---------------------------------------------------------------- the checks with data

def _train_overlap(task: TaskData) -> CheckResult | None:
    """Held-out inputs (the same text, or pair) that are also train inputs: their scores measure memory."""
    from .overlap import Overlap, count_in_split, index_split, overlap_line

    others = [split for split in task.splits if split != "train"]
    if "train" not in task.splits or not others:
        return None
    index = index_split(task, "train")
    overlaps = [Overlap(split, count_in_split(index, task, split), len(task.split(split))) for split in others]
    if any(o.in_train for o in overlaps):
        return CheckResult("train_overlap", "warn", f"{overlap_line(overlaps)}: scores on them measure memory, "
                                                    "not skill; remove them from train or from the held-out split")
    counted = " and ".join(f"{o.rows:,} {o.split}" for o in overlaps)
    return CheckResult("train_overlap", "pass", f"none of the {counted} inputs occurs in train")


def _beats_baseline(clf, tokenizer, task, kind, label2id, new_head, limit, seed, max_length, dev, figures,
                    options=None) -> CheckResult:
    split = task.eval_split_name()
    sample = task.sample(split, limit, seed)
    enc = encode_task_split(sample, split, tokenizer, max_length, label2id, **(options or {}))
    outputs = predict_outputs(clf, enc, 64, dev, tokenizer.pad_token_id or 0, autocast_for(dev))
    metric = kind.default_metric(task.label_names, task.name, task.equation.is_pair)
    names = [str(clf.config.id2label[i]) for i in range(clf.config.num_labels)]   # the head's outputs, in order
    base_outputs, base_name = kind.baseline_outputs(task, enc, label2id, outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SciPy warns on a near-constant prediction; its correlation is still reported
        scores, base = kind.score(outputs, enc, names, metric), kind.score(base_outputs, enc, names, metric)
    shown = kind.shown_beside(metric)
    better = scores[metric] > base[metric]          # the figure of merit decides; the other scores inform
    figures.update(split=split, examples=len(enc), figure_of_merit=metric, scores=scores, baseline=base_name, baseline_scores=base)
    versus = "; ".join(f"{m} {scores[m]:.3f} vs {base[m]:.3f}" for m in shown)
    detail = f"{versus} for {base_name} ({len(enc)} {split} examples)"
    if new_head:
        verdict = "better than" if better else "no better than"
        return CheckResult("beats_baseline", "warn", f"{detail}: {verdict} the baseline, from a random head; fine-tune first")
    if better:
        return CheckResult("beats_baseline", "pass", detail)
    return CheckResult("beats_baseline", "fail", f"{detail}: no better than the baseline")


def _overfits_batch(clf, tokenizer, task, kind, label2id, n, steps, lrs, seed, max_length, dev, figures,
                    options=None) -> CheckResult:
    """Train copies of the model on one fixed batch, dropout off: a trainable model fits it in a few dozen steps.

    It passes when the loss falls to OVERFIT_RATIO of where it started with, for a classifier, every example of the
    batch predicted right. The batch keeps its own labels, also for a trained model that already fits them: halving
    even a small loss takes working gradients, while learning other labels can stall a small confident model at
    chance. The loss is judged in float64 (cross-entropy, or squared error) so that a loss near zero still measures.
    The rates in `lrs` are tried in turn, each on a fresh copy, until one fits: the first suits a BERT encoder, the
    next a small or random one, the last a large one (tried only where a higher rate was unstable). No trainable
    weight, a loss that no weight moves (a zero gradient) or a loss that is not finite from the start fails at once,
    whatever the rate; a model that fits the batch so exactly that its loss is 0 and float32 leaves it no gradient
    (saturated logits) gets a warning. A head with a label per model argument (an answer's start and end token) is
    judged on each, by the loss alone (the accuracy shown is that of the starts and ends).
    """
    split = "train" if task.labeled.get("train") else task.eval_split_name()
    enc = encode_task_split(task.sample(split, n, seed), split, tokenizer, max_length, label2id, **(options or {}))
    batch = {k: v.to(dev) for k, v in collate(enc, np.arange(len(enc)), tokenizer.pad_token_id or 0).items()}
    regress = not kind.has_classes and enc.label_keys == ("labels",)
    head = f"{len(enc)} examples"
    if not any(p.requires_grad for p in clf.parameters()):
        return CheckResult("overfits_batch", "fail", f"{head}: no weight is trainable (every parameter is frozen)")
    tried: list[dict] = []
    for lr in lrs:
        if tried and lr < min(r["lr"] for r in tried) and not any(map(_unstable, tried)):
            continue                           # a lower rate only helps where a higher one was unstable
        tried.append(_fit_batch(clf, batch, lr, steps, seed, regress, enc.label_keys))
        if tried[-1]["passed"] or tried[-1]["fatal"]:
            break                              # fitted; or broken in a way no other rate can mend
    last = tried[-1]
    best = last if last["passed"] or last["fatal"] else min(tried, key=_progress)
    figures.update(overfit_losses=best["losses"], overfit_lr=best["lr"],
                   overfit_tries=[{k: r[k] for k in ("lr", "steps", "accuracy", "passed")} | {"loss": r["losses"][-1]} for r in tried])
    if best["saturated"]:
        return CheckResult("overfits_batch", "warn", f"{head}: its logits are saturated: the loss on the batch is "
                                                     f"{best['losses'][0]:.2g} and no gradient is left, so training is not tested")
    if best["fatal"]:
        return CheckResult("overfits_batch", "fail", f"{head}: {best['why']}: it cannot learn (frozen weights or a broken loss?)")
    losses = best["losses"]
    acc = "" if regress else f", batch accuracy {best['accuracy']:.0%}"
    detail = (f"{head}: loss {losses[0]:.3g} → {losses[-1]:.3g} in {best['steps']} steps{acc} "
              f"(AdamW, lr {best['lr']:g} after {OVERFIT_WARMUP} warm-up steps")
    if best["passed"]:
        short = ", ".join(f"{r['lr']:g}" for r in tried[:-1])
        return CheckResult("overfits_batch", "pass", detail + (f"; lr {short} fell short)" if short else ")"))
    need = f"to {OVERFIT_RATIO:g}× its start" + ("" if regress or len(enc.label_keys) > 1 else " with every example right")
    others = ", ".join(f"{r['lr']:g}" for r in tried if r is not best)
    blew = "".join(f"; at lr {r['lr']:g} {r['why']}" for r in tried if r["why"])
    return CheckResult("overfits_batch", "fail",
                       f"{detail}{'; also tried lr ' + others if others else ''}{blew}): the loss never "
                       f"fell {need}, so it cannot fit even one batch (frozen weights, a broken loss or bad labels?)")


def _batch_loss(logits: torch.Tensor, labels: torch.Tensor, regress: bool) -> float:
    """The batch loss in float64: exact even when the model already fits the batch (a loss far below float32's reach)."""
    logits = logits.detach().double()
    if regress:
        return float(torch.nn.functional.mse_loss(logits.view(-1), labels.double().view(-1)))
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)))  # -100: skipped


def _judged(out, batch, label_keys) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) as the loss reads them: the logits over classes and the labels; for a label per model
    argument (an answer's start and end token), each output's logits over the tokens and its position, (batch,
    outputs, tokens) and (batch, outputs)."""
    logits = logits_of(out)
    if len(label_keys) > 1:
        return logits.transpose(1, 2), torch.stack([batch[key] for key in label_keys], dim=-1)
    return logits, batch["labels"]


def _fit_batch(clf, batch, lr, steps, seed, regress, label_keys=("labels",)) -> dict:
    """Up to `steps` AdamW steps (on the model's own loss, as fit trains) of a fresh copy of `clf` on `batch`. Token
    positions (an answer's start and end among a few hundred tokens) are judged by the loss alone, as a regression
    is: a small model halves it long before it has every position of the batch right."""
    positions = len(label_keys) > 1
    torch.manual_seed(seed)
    model = copy.deepcopy(clf).eval()          # eval(): dropout off, so the loss curve is the model's alone
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=True)   # on CPU, several times faster
    except (RuntimeError, ValueError):                                                # a device without the fused kernel
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / OVERFIT_WARMUP))
    losses: list[float] = []
    accuracy = None

    def result(passed: bool, why: str = "", fatal: bool = False, saturated: bool = False) -> dict:
        return {"lr": lr, "losses": losses or [float("nan")], "steps": max(len(losses) - 1, 0), "accuracy": accuracy,
                "passed": passed, "why": why, "fatal": fatal, "saturated": saturated}

    for step in range(steps + 1):
        out = model(**batch)
        logits, labels = _judged(out, batch, label_keys)
        loss = _batch_loss(logits, labels, regress)
        if not (math.isfinite(loss) and torch.isfinite(out.loss)):
            # from the start: the model is broken; later: the rate is too high for it
            return result(False, f"the loss is {loss if not math.isfinite(loss) else out.loss.item()} at step {step}", fatal=not losses)
        losses.append(loss)
        scored = labels != -100                               # a tag per word: sub-words after the first are not
        accuracy = None if regress else float((logits.argmax(-1) == labels)[scored].float().mean())
        if loss <= OVERFIT_RATIO * losses[0] and loss < losses[0] and (regress or positions or accuracy == 1.0):
            return result(True)
        if step == steps:
            break
        if not out.loss.requires_grad:
            return result(False, f"the loss ({out.loss.item():.4g}) depends on no trainable weight", fatal=True)
        out.loss.backward()
        if step == 0:
            norm = math.sqrt(sum(float(p.grad.double().square().sum()) for p in params if p.grad is not None))
            if norm == 0.0 or not math.isfinite(norm):
                saturated = norm == 0.0 and loss < OVERFIT_SATURATED and (regress or positions or accuracy == 1.0)
                return result(False, f"the gradient of the loss ({out.loss.item():.4g}) is {'zero' if norm == 0.0 else norm}",
                              fatal=True, saturated=saturated)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return result(False)


def _unstable(run: dict) -> bool:
    """The rate was too high: the loss blew up, ended above its start, or rose well above it on the way."""
    losses = run["losses"]
    return bool(run["why"]) or losses[-1] > losses[0] or max(losses) > 1.5 * losses[0]


def _progress(run: dict) -> float:
    """How far a run's loss fell: its lowest over its first (lower is better; a run that blew up at once, none)."""
    losses = [x for x in run["losses"] if math.isfinite(x)]
    return min(losses) / losses[0] if losses and losses[0] > 0 else 1.0
