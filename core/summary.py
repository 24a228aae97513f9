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
from .models import (BUNDLED_NAME, bundled_model_dir, load_config, load_counting_tokenizer,
                     max_positions, model_max_length, resolve_model)


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


CHUNK = 2_000  # rows tokenized at a time: a fast tokenizer keeps ~3 KB of Encoding per row until the chunk is done


def token_lengths(tokenizer, chunks, is_pair: bool) -> np.ndarray:
    """Token counts of every example, from chunks of texts (lists, as `TaskData.iter_texts` gives them) tokenized
    one at a time, keeping only the lengths (a million rows would otherwise hold every token id at once)."""
    out = []
    for part in chunks:
        args = (list(a for a, _ in part), list(b for _, b in part)) if is_pair else (list(part),)
        enc = tokenizer(*args, return_length=True, return_attention_mask=False, return_token_type_ids=False)
        out.append(np.asarray(enc["length"], dtype=np.int32))
    return np.concatenate(out) if out else np.empty(0, dtype=np.int32)


def _progress(chunks, say, what: str, total: int):
    """Pass `chunks` through, telling `say` how many of `total` rows `what` has got through."""
    done = 0
    for part in chunks:
        yield part
        done += len(part)
        say(f"{what}: {done:,} of {total:,} rows")


def _label_ids_arrow(ds, column: str, ids: dict) -> np.ndarray | None:
    """Class ids of a string or integer label column in one Arrow call (823k labels: 0.2 s instead of 6 s row by
    row). None when the column is of another type or holds a value that is not a class: the row-by-row path then
    does it, and names the offending value as it always has."""
    import pyarrow as pa
    import pyarrow.compute as pc

    feature = ds.features[column]
    dtype = str(getattr(feature, "dtype", ""))
    if type(feature).__name__ != "Value" or not (dtype in ("string", "large_string") or dtype.startswith(("int", "uint"))):
        return None
    # the whole underlying column, then this split's rows of it: gathering through datasets' indices mapping
    # row by row would cost seconds and a copy of every row
    found = pc.index_in(pc.cast(ds.data.column(column), pa.string()), value_set=pa.array(list(ids), pa.string()))
    indices = getattr(ds, "_indices", None)
    if indices is not None:
        if not isinstance(indices, (pa.Table, type(ds.data))) or indices.num_columns != 1:
            return None
        found = pc.take(found, indices.column(0))
    if found.null_count:
        return None
    return found.to_numpy(zero_copy_only=False).astype(np.int64)   # positions in `ids`, which are the ids


def summarize_data(data: str | None, eqn: str | None, *, columns: list[str] | None = None, model: str | None = None,
                   max_length: int | None = None, seed: int = 42, on_phase=None) -> DataSummary:
    """What `tunelab summary --data` reports. Reads the data as Arrow and walks it in chunks, so memory stays near
    the data's own size at any number of rows; `on_phase(text)` hears how far it has got."""
    say = on_phase or (lambda text: None)
    say(f"reading {data or 'demo'}")
    task = load_task_data(data, eqn, columns=columns, seed=seed)
    resolved = resolve_model(model)
    limit = model_max_length(resolved)
    max_length = max_length or min(DEFAULT_MAX_LENGTH, limit)
    if max_length > limit:
        raise TuneLabError(f"--max-length {max_length} is beyond {resolved.name}'s limit of {limit} tokens")
    say(f"loading {resolved.name}'s tokenizer")
    tokenizer = load_counting_tokenizer(resolved)
    regress = task.equation.task == "regress"
    metric = default_figure_of_merit(task.equation.task, len(task.label_names), task.label_names, task.name, task.equation.is_pair)
    ids = {n: i for i, n in enumerate(task.label_names)}

    def label_array(split: str) -> np.ndarray:
        where = f"split {split!r} of {task.name}"
        fast = None if regress else _label_ids_arrow(task.split(split), task.equation.label, ids)
        if fast is not None:
            return fast
        parts = [np.asarray(values, dtype=float) if regress
                 else np.asarray(label_ids(values, ids, where, task.equation.label), dtype=np.int64)
                 for values in task.iter_labels(split, CHUNK)]
        return np.concatenate(parts) if parts else np.empty(0)

    rows, balance, lengths, truncated, baseline, majority_accuracy, histogram = {}, {}, {}, {}, {}, {}, {}
    majority_label = None
    train = label_array("train") if "train" in task.splits and task.labeled.get("train") else None
    for split, ds in task.splits.items():
        rows[split] = len(ds)
        n = token_lengths(tokenizer, _progress(task.iter_texts(split, CHUNK), say, f"tokenizing {split}", len(ds)),
                          task.equation.is_pair)
        counts, edges = np.histogram(n, bins=min(20, max(1, int(n.max() - n.min()) + 1)))
        histogram[split] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
        lengths[split] = {f"p{q}": int(np.percentile(n, q)) for q in (50, 90, 95, 99)} | {"max": int(n.max())}
        truncated[split] = float((n > max_length).mean())
        del n
        if not task.labeled.get(split):
            continue
        gold = train if split == "train" and train is not None else label_array(split)
        if regress:
            balance[split] = {"mean": float(gold.mean()), "std": float(gold.std()), "min": float(gold.min()),
                              "max": float(gold.max())}
            guess = np.full_like(gold, float(train.mean()) if train is not None else gold.mean())
            baseline[split] = regression_scores(guess, gold)["mse"]
        else:
            train_ids = train if train is not None else gold
            balance[split] = {name: int((gold == i).sum()) for name, i in ids.items()}
            baseline[split] = majority_baseline(train_ids, gold, len(ids), metric)
            majority = int(np.bincount(train_ids, minlength=len(ids)).argmax())
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
