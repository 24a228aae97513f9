"""Describing a model or a dataset (`tunelab summary`, gft's summary verb), and listing known models.

A model summary is built from its config on the meta device, so it needs no weights in memory: type,
layers, heads, sizes, parameters in total and trainable (after an optional freeze), and per layer.
A data summary gives rows per split, label balance, token-length percentiles, the share cut at
--max-length and the majority-class baseline of the figure of merit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import DEFAULT_MAX_LENGTH
from .data import label_ids, load_task_data
from .errors import TuneLabError
from .metrics import default_figure_of_merit, majority_baseline, regression_scores
from .models import BUNDLED_NAME, bundled_model_dir, load_config, load_tokenizer, max_positions, resolve_model


@dataclass(frozen=True)
class ModelSummary:
    name: str
    path: str
    model_type: str
    architecture: str
    layers: int
    heads: int
    hidden_size: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    total_parameters: int
    trainable_parameters: int
    labels: list
    per_layer: list = field(default_factory=list)  # [{"name", "parameters", "trainable"}]


def summarize_model(model: str | None, freeze_layers: int = -1) -> ModelSummary:
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    from .fit import freeze

    resolved = resolve_model(model)
    config = load_config(resolved)
    archs = getattr(config, "architectures", None) or []
    has_head = any("SequenceClassification" in a for a in archs)
    with torch.device("meta"):
        net = (AutoModelForSequenceClassification if has_head else AutoModel).from_config(config)
    n_layers = getattr(config, "num_hidden_layers", 0)
    if freeze_layers > n_layers:
        raise TuneLabError(f"--freeze-layers {freeze_layers}: {resolved.name} has only {n_layers} layers")
    if freeze_layers >= 0:
        freeze(net if has_head else _Wrapped(net), freeze_layers)
    groups: dict[str, list] = {}
    for name, p in net.named_parameters():
        parts = name.split(".")
        if "layer" in parts:
            i = parts.index("layer")
            key = ".".join(parts[: i + 2])
        else:
            key = ".".join(parts[:2]) if len(parts) > 2 else parts[0]
        groups.setdefault(key, []).append(p)
    per_layer = [{"name": k, "parameters": sum(p.numel() for p in ps), "trainable": sum(p.numel() for p in ps if p.requires_grad)}
                 for k, ps in groups.items()]
    labels = [config.id2label[i] for i in range(config.num_labels)] if has_head else []
    return ModelSummary(
        name=resolved.name, path=resolved.path, model_type=config.model_type, architecture=archs[0] if archs else type(net).__name__,
        layers=n_layers, heads=getattr(config, "num_attention_heads", 0), hidden_size=getattr(config, "hidden_size", 0),
        intermediate_size=getattr(config, "intermediate_size", 0), vocab_size=config.vocab_size,
        max_positions=max_positions(config), total_parameters=sum(g["parameters"] for g in per_layer),
        trainable_parameters=sum(g["trainable"] for g in per_layer), labels=labels, per_layer=per_layer)


class _Wrapped:
    """Lets `freeze` (which expects a model with .base_model) work on a bare encoder."""

    def __init__(self, net):
        self.base_model = net


@dataclass(frozen=True)
class DataSummary:
    name: str
    equation: str
    rows: dict                     # split -> rows
    label_balance: dict            # split -> {label: count} (classification) or {mean, std, min, max}
    token_lengths: dict            # split -> {p50, p90, p95, p99, max}
    truncated_share: dict          # split -> share of examples longer than max_length
    max_length: int
    figure_of_merit: str
    majority_baseline: dict        # split -> figure of merit of always guessing train's majority (or mean)
    held_out_validation: bool
    majority_label: str | None = None                           # train's most common label (classification)
    majority_accuracy: dict = field(default_factory=dict)       # split -> accuracy of always guessing it
    length_histogram: dict = field(default_factory=dict)        # split -> {"edges": [...], "counts": [...]} (tokens)


def token_lengths(tokenizer, texts: list, is_pair: bool, chunk: int = 20_000) -> np.ndarray:
    """Token counts of every example, tokenized in chunks that keep only the lengths (a million rows would
    otherwise hold every token id in memory at once)."""
    out = np.empty(len(texts), dtype=np.int32)
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        args = (list(a for a, _ in part), list(b for _, b in part)) if is_pair else (list(part),)
        enc = tokenizer(*args, return_length=True, return_attention_mask=False, return_token_type_ids=False)
        out[start:start + len(part)] = enc["length"]
    return out


def summarize_data(data: str | None, eqn: str | None, *, columns: list[str] | None = None, model: str | None = None,
                   max_length: int | None = None, seed: int = 42) -> DataSummary:
    task = load_task_data(data, eqn, columns=columns, seed=seed)
    resolved = resolve_model(model)
    limit = max_positions(load_config(resolved))
    max_length = max_length or min(DEFAULT_MAX_LENGTH, limit)
    if max_length > limit:
        raise TuneLabError(f"--max-length {max_length} is beyond {resolved.name}'s limit of {limit} tokens")
    tokenizer = load_tokenizer(resolved)
    regress = task.equation.task == "regress"
    metric = default_figure_of_merit(task.equation.task, len(task.label_names), task.label_names, task.name, task.equation.is_pair)
    rows, balance, lengths, truncated, baseline, majority_accuracy, histogram = {}, {}, {}, {}, {}, {}, {}
    majority_label = None
    train_values = task.labels("train") if "train" in task.splits and task.labeled.get("train") else None
    for split, ds in task.splits.items():
        rows[split] = len(ds)
        n = token_lengths(tokenizer, task.texts(split), task.equation.is_pair)
        counts, edges = np.histogram(n, bins=min(20, max(1, int(n.max() - n.min()) + 1)))
        histogram[split] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
        lengths[split] = {f"p{q}": int(np.percentile(n, q)) for q in (50, 90, 95, 99)} | {"max": int(n.max())}
        truncated[split] = float((n > max_length).mean())
        if not task.labeled.get(split):
            continue
        values = task.labels(split)
        if regress:
            v = np.asarray(values, dtype=float)
            balance[split] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}
            guess = np.full_like(v, float(np.mean(train_values)) if train_values is not None else v.mean())
            baseline[split] = regression_scores(guess, v)["mse"]
        else:
            ids = {n: i for i, n in enumerate(task.label_names)}
            gold = np.asarray(label_ids(values, ids, f"split {split!r} of {task.name}", task.equation.label))
            balance[split] = {name: int((gold == i).sum()) for name, i in ids.items()}
            train_ids = label_ids(train_values, ids, f"split 'train' of {task.name}", task.equation.label) if train_values is not None else gold
            baseline[split] = majority_baseline(train_ids, gold, len(ids), metric)
            majority = int(np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=len(ids)).argmax())
            majority_label = task.label_names[majority]
            majority_accuracy[split] = float((gold == majority).mean())
    return DataSummary(task.name, str(task.equation), rows, balance, lengths, truncated, max_length,
                       "mse" if regress else metric, baseline, task.held_out_validation, majority_label, majority_accuracy,
                       histogram)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str    # "bundled", "hf-cache" or "run"
    path: str
    detail: str


def list_models(limit_runs: int = 20) -> list[ModelEntry]:
    """The bundled model, models in the local Hugging Face cache, and recent TuneLab run outputs."""
    import json

    from .run_dir import recent_runs

    entries = []
    try:
        entries.append(ModelEntry(BUNDLED_NAME, "bundled", str(bundled_model_dir()), "MiniLM-L6-H384 (BERT, 6 layers x 12 heads), no task head"))
    except TuneLabError:
        pass
    try:
        from huggingface_hub import scan_cache_dir

        for repo in sorted(scan_cache_dir().repos, key=lambda r: r.repo_id):
            if repo.repo_type == "model":
                entries.append(ModelEntry(repo.repo_id, "hf-cache", str(repo.repo_path), f"{repo.size_on_disk / 1e6:.0f} MB"))
    except Exception:  # no cache directory yet, or an unreadable one: nothing to list
        pass
    for run in recent_runs(limit_runs):
        info = json.loads((run / "run.json").read_text(encoding="utf-8"))
        metrics_file = run / "metrics.json"
        state = "finished" if (run / "model" / "config.json").is_file() else "unfinished"
        detail = f"{state}; {info.get('equation', '')}"
        if metrics_file.is_file():
            m = json.loads(metrics_file.read_text(encoding="utf-8"))
            fom = m.get("figure_of_merit")
            split = "test" if "test" in m else "validation"
            if fom and split in m:
                detail += f"; {split} {fom} {m[split][fom]:.3f}"
        entries.append(ModelEntry(run.name, "run", str(run), detail))
    return entries
