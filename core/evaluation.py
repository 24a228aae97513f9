"""Scoring a model on a split or on any other labelled file: `tunelab eval` and the TUI's evaluation view.

Reports the figure of merit, accuracy, macro F1, MCC, per-class precision/recall/F1, the confusion matrix
and the most confident mistakes (classification), or Pearson/Spearman/MSE (regression). Metrics are
TuneLab's offline ones; a metric named with --metric that is not built in goes through `evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


import numpy as np

from . import cls_shortcut, onnx_backend
from .batching import encode_task_split
from .config import SETTINGS_BY_NAME, Setting, refuse_foreign_settings, task_options
from .data import hidden_labels_note, load_task_data
from .device import autocast_for, pick_device
from .errors import TuneLabError
from .inference import count_broken, predict_outputs, score_outputs
from .tasks.base import task_for
from .models import (check_max_length, default_max_length, load_classifier, load_tokenizer, max_positions,
                     read_run_config, resolve_model)


@dataclass(frozen=True)
class EvalReport:
    model: str
    data: str
    split: str
    examples: int
    task: str
    figure_of_merit: str
    value: float
    scores: dict
    labels: list = field(default_factory=list)
    per_class: list = field(default_factory=list)      # [{label, precision, recall, f1, support}]
    confusion: list = field(default_factory=list)      # rows: gold label, columns: predicted label
    mistakes: list = field(default_factory=list)       # the most confident wrong predictions
    majority_baseline: float | None = None             # the figure of merit of always guessing train's majority
    majority_label: str | None = None                  # that label
    majority_accuracy: float | None = None             # its accuracy on the split (the label's share)
    in_train: int | None = None                        # examples whose input is also a training input (None: unknown)
    train_data: str | None = None                      # what "training input" means: the run's train split, or train
    per_class_title: str = "per class"                 # what the per_class rows are: classes, or entity types
    mistakes_title: str = "most confident mistakes"    # how mistakes are chosen and ordered
    words_cut: int | None = None                       # token tasks: words beyond --max-length (scored as missed)
    entity_confusion: list = field(default_factory=list)  # token tasks: gold entity type (rows) x predicted (+ O)
    int8_agreement: dict | None = None                 # --int8: the int8 graph against fp32 on this split
                                                       # (int8_agreement.Agreement.record); None without int8


def evaluate_model(model: str | None, data: str | None = None, eqn: str | None = None, *, split: str | None = None,
                   columns: list[str] | None = None, metric: str | None = None, max_length: int | None = None,
                   batch_size: int = 64, mistakes: int = 10, device: str | None = None,
                   progress=None, cancel=None, trust_remote_code: bool = False,
                   settings: dict | None = None, backend: str = "auto", int8: bool = False) -> EvalReport:
    """Score a model (or run) on a labelled split or file. `progress(done, total)` hears the examples scored;
    setting `cancel` (a threading.Event) stops between batches with inference.ScoringCancelled. `settings`: task
    settings (config.TASK_OPTIONS, e.g. {"null_threshold": 1.5}) that replace the run's own; None values keep them.
    `backend`: "torch", "onnx" (the model's fused fp32 graph in ONNX Runtime, the Predictor's on CPU) or "auto"
    (PyTorch: a fresh model's export would cost more than it saves on one split). `int8`: score the int8 graph, and
    run the fp32 graph too to report their agreement (`int8_agreement`)."""
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    for name, value in settings.items():
        problem = SETTINGS_BY_NAME[name].check(value)
        if problem:
            raise TuneLabError(problem)
    _check_numbers(batch_size, mistakes, max_length)
    resolved = resolve_model(model, trust_remote_code=trust_remote_code)
    run = read_run_config(resolved) or {}
    eqn = eqn or run.get("equation")
    own_data = data is None
    if data is None:
        data = run.get("config", {}).get("data")
        columns = columns or run.get("config", {}).get("columns")
    task = load_task_data(data, eqn, columns=columns, seed=run.get("config", {}).get("seed", 42), hold_out=False,
                          minus_one_is_a_label=isinstance(run.get("label_names"), list) and "-1" in run["label_names"])
    split = _pick_split(task, split)
    kind = task_for(task)
    float32_problem = kind.label_problem(task)
    if float32_problem:
        raise TuneLabError(float32_problem)
    tokenizer = load_tokenizer(resolved)
    clf, new_head = load_classifier(resolved, head_class=kind.head_class())
    if new_head:
        raise TuneLabError(f"{resolved.name} has no trained classification head, so its scores would be chance; "
                           f"fine-tune it first (tunelab fit --model {resolved.name} ...)")
    config = clf.config
    kind.check_head(config, resolved.name, str(task.equation))
    label_names = [config.id2label[i] for i in range(config.num_labels)]
    limit = max_positions(config)
    check_max_length(max_length, limit, resolved.name)
    max_length = max_length or default_max_length(resolved, limit)     # a run's own, else the model's
    named_by_user = metric is not None        # a name from run.json may not name a metric script
    metric = metric or run.get("figure_of_merit") or kind.default_metric(label_names, task.name, task.equation.is_pair)
    kind.check_metric(metric, named_by_user=named_by_user, label_names=label_names)
    label2id = {name: i for i, name in enumerate(label_names)}
    refuse_foreign_settings(settings, kind)
    options = task_options(run.get("config") if isinstance(run.get("config"), dict) else {}) | settings
    enc = encode_task_split(task, split, tokenizer, max_length, label2id if kind.has_classes else None, **options)
    dev = pick_device(device or ("cpu" if int8 else None))                      # int8 runs on the CPU
    graph, agreement = None, None
    if onnx_backend.use_onnx(backend, dev, kind, int8=int8, name=resolved.name, task=str(task.equation.task),
                             auto=False):
        graph = _onnx_session(clf, tokenizer, resolved, kind.per_token, int8)
    else:
        clf.to(dev)
        cls_shortcut.install(clf)
    outputs = predict_outputs(graph or clf, enc, batch_size, dev, tokenizer.pad_token_id or 0, autocast_for(dev),
                              cancel=cancel, progress=progress)
    if int8:
        from .int8_agreement import compare_outputs

        fp32 = predict_outputs(onnx_backend.fp32_session(clf, tokenizer, resolved.path, per_token=kind.per_token),
                               enc, batch_size, dev, tokenizer.pad_token_id or 0, cancel=cancel)
        keep = [np.asarray(labels) != -100 for labels in enc.labels] if kind.per_token else None
        agreement = compare_outputs(fp32, outputs, regression=not kind.has_classes, keep=keep).record()
    broken = count_broken(outputs)
    if broken:                                       # NaN weights (a run that diverged): no score would mean anything
        raise TuneLabError(f"{resolved.name} outputs NaN or infinite values for {broken:,} of {len(enc):,} examples, "
                           "so its scores would be meaningless; its weights are broken (a run whose loss diverged?)")
    scores = score_outputs(task.equation.task, outputs, enc, label_names, metric)
    in_train, train_data = _train_overlap(task, split, run, own_data)
    report = dict(model=resolved.name, data=task.name, split=split, examples=len(enc), task=str(task.equation),
                  figure_of_merit=metric, value=scores[metric], scores=scores, in_train=in_train, train_data=train_data,
                  words_cut=getattr(enc, "words_cut", None), int8_agreement=agreement)
    return EvalReport(**report, **kind.details(task, split, outputs, enc, label_names, metric, mistakes))


def _onnx_session(clf, tokenizer, resolved, per_token: bool, int8: bool):
    """The ONNX Runtime session that scores the split: the int8 graph, or the fused fp32 one."""
    if int8:
        return onnx_backend.int8_session(clf, tokenizer, resolved.path, per_token=per_token, name=resolved.name)
    try:
        return onnx_backend.fp32_session(clf, tokenizer, resolved.path, per_token=per_token)
    except Exception as err:   # noqa: BLE001 - an architecture the exporter cannot trace
        raise TuneLabError(f"could not run {resolved.name} with ONNX Runtime: {str(err).splitlines()[0]}") from None


def _train_overlap(task, split: str, run: dict, own_data: bool) -> tuple[int | None, str | None]:
    """How many examples of `split` have an input (the same text, or the same pair) that the model was trained on,
    and what that training data is: for a TuneLab run, the train split its run.json names, held out as fit held it
    out (None, None when that data can no longer be read); for any other model, the data's own train split."""
    from .overlap import count_in_split, index_split

    config = run.get("config", {}) if isinstance(run.get("config"), dict) else {}
    if run.get("equation") and config.get("data"):
        if own_data and str(task.equation) == run["equation"] and "validation" in task.splits:
            train = task                               # the run's own data, which fit did not split: read once
        else:
            try:
                train = load_task_data(config["data"], run["equation"], columns=config.get("columns"),
                                       seed=config.get("seed", 42))
            except TuneLabError:
                return None, None                      # moved or changed since: say nothing rather than guess
        where = "the run's train split"
    elif split != "train" and "train" in task.splits:
        train, where = task, "train"
    else:
        return None, None
    if "train" not in train.splits or train.equation.is_pair != task.equation.is_pair:
        return None, None
    return count_in_split(index_split(train, "train"), task, split), where


MISTAKES = Setting("mistakes", int, 10, "how many of the most confident mistakes to show (0: none)",
                   minimum=0, maximum=1_000_000, flag="--mistakes", metavar="N", group="evaluation")


def _check_numbers(batch_size: int, mistakes: int, max_length: int | None) -> None:
    """The numeric options, checked before anything is loaded (0 must not quietly mean "the default")."""
    from .predictor import BATCH_SIZE, MAX_LENGTH, check_setting

    check_setting(BATCH_SIZE, batch_size)
    check_setting(MISTAKES, mistakes)
    check_setting(MAX_LENGTH, max_length)


def _pick_split(task, split: str | None) -> str:
    """The split to score: the one asked for (dev, val... are aliases), else test, validation or train,
    whichever first has labels."""
    from .data import SPLIT_ALIASES

    labelled = [s for s in task.splits if task.labeled.get(s)]
    if split is None:
        for name in ("test", "validation", "train", *task.splits):
            if name in labelled:
                return name
        raise TuneLabError(f"no split of {task.name} has labels to score against (its splits: {', '.join(task.splits)})"
                           + next((note for s in task.splits if (note := hidden_labels_note(task, s))), ""))
    name = split if split in task.splits else SPLIT_ALIASES.get(split.strip().lower(), split.strip())
    if name not in task.splits:
        raise TuneLabError(f"there is no split {split!r} in {task.name}; its splits are: {', '.join(task.splits)}")
    if name not in labelled:
        others = f"; splits with labels: {', '.join(labelled)}" if labelled else ""
        raise TuneLabError(f"split {name!r} of {task.name} has no labels to score against{others}{hidden_labels_note(task, name)}")
    return name
