"""Describing a model or a dataset (`tunelab summary`, gft's summary verb), and listing known models.

A model summary is built from its config on the meta device, so it needs no weights in memory: type,
layers, heads, sizes, parameters in total and trainable (after an optional freeze), and per layer.
A data summary is the task's own description (Task.describe): for sentence tasks rows per split, label
balance, token-length percentiles, the share cut at --max-length and the majority-class baseline of the
figure of merit; the shared pieces (DataSummary, chunked counting, percentiles of counts) live here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import strict_json
from .config import DEFAULT_MAX_LENGTH
from .data import load_task_data
from .errors import TuneLabError
from .models import (BUNDLED_NAME, bundled_model_dir, load_config, load_counting_tokenizer,
                     max_positions, model_max_length, resolve_model)
from .overlap import Overlap
from .tasks.base import task_for


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
    fine_tuning: dict = field(default_factory=dict)  # a TuneLab run's model: {"method", "trainable", "total", ...}
    # from its run.json (LoRA: adapters and head of the encoder's total); {} for other models


def summarize_model(model: str | None, freeze_layers: int = -1, *, lora_r: int | None = None, lora_targets: str = "",
                    trust_remote_code: bool = False) -> ModelSummary:
    """`lora_r`: count as `fit --lora-r` would train (LoRA adapters on `lora_targets`, default PEFT's, with a
    sequence head added to a bare encoder as fit adds one): the adapters and the head trainable, the rest frozen."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    from .adaptation import freeze, lora_targets as targets_for, with_lora

    resolved = resolve_model(model, trust_remote_code=trust_remote_code)
    config = load_config(resolved)
    archs = getattr(config, "architectures", None) or []
    has_head = any("SequenceClassification" in a for a in archs)
    with torch.device("meta"):
        net = (AutoModelForSequenceClassification if has_head else AutoModel).from_config(config, trust_remote_code=resolved.trust_remote_code)
    n_layers = getattr(config, "num_hidden_layers", 0)
    if freeze_layers > n_layers:
        raise TuneLabError(f"--freeze-layers {freeze_layers}: {resolved.name} has only {n_layers} layers")
    if freeze_layers >= 0:
        freeze(net if has_head else _Wrapped(net), freeze_layers)
    if lora_r:
        with torch.device("meta"):
            if not has_head:
                net = AutoModelForSequenceClassification.from_config(config, trust_remote_code=resolved.trust_remote_code)
            net = with_lora(net, lora_r, 16.0, 0.0, targets_for(config.model_type, lora_targets))
    groups: dict[str, list] = {}
    for name, p in net.named_parameters():
        if ".original_module." in name:          # PEFT's frozen copy of a module it trains in full
            continue
        name = name.removeprefix("base_model.model.").replace(".modules_to_save.default.", ".")
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
    return ModelSummary(fine_tuning=_fine_tuning(resolved),
        name=resolved.name, path=resolved.path, model_type=config.model_type, architecture=archs[0] if archs else type(net).__name__,
        layers=n_layers, heads=getattr(config, "num_attention_heads", 0), hidden_size=getattr(config, "hidden_size", 0),
        intermediate_size=getattr(config, "intermediate_size", 0), vocab_size=config.vocab_size,
        max_positions=max_positions(config), total_parameters=sum(g["parameters"] for g in per_layer),
        trainable_parameters=sum(g["trainable"] for g in per_layer), labels=labels, per_layer=per_layer)


def _fine_tuning(resolved) -> dict:
    """How the run this model came from trained it (run.json): its method in words and the parameters trained."""
    from .adaptation import method_text
    from .models import read_run_config

    try:
        info = read_run_config(resolved) or {}
    except TuneLabError:
        return {}
    config, parameters = info.get("config"), info.get("parameters")
    if not isinstance(config, dict):
        return {}
    out = {"method": method_text(config)}
    if isinstance(parameters, dict):
        out.update({k: v for k, v in parameters.items() if k in ("trainable", "total", "lora_targets", "trained_in_full")})
    return out


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
    in_train: dict = field(default_factory=dict)                # split -> rows whose input also occurs in train
    notes: list = field(default_factory=list)                   # one-line remarks: why a split reads as unlabelled
    warnings: list = field(default_factory=list)                # one line each: label values training cannot take
    token_details: dict = field(default_factory=dict)           # token tasks, per split: words per sentence, words
                                                                # beyond max_length, entities per type, scheme breaks
    task_details: dict = field(default_factory=dict)            # other tasks' own figures per split (extractive QA:
                                                                # question and context lengths, windows, answers)

    def overlaps(self) -> list[Overlap]:
        """The splits other than train, with how many of their inputs also occur in train."""
        return [Overlap(split, n, self.rows[split]) for split, n in self.in_train.items()]


CHUNK = 2_000  # rows tokenized at a time: a fast tokenizer keeps ~3 KB of Encoding per row until the chunk is done


def token_lengths(tokenizer, texts: list, is_pair: bool) -> np.ndarray:
    """Token counts of a chunk of texts (a list, as `TaskData.texts_of` gives it), keeping only the lengths."""
    args = ([a for a, _ in texts], [b for _, b in texts]) if is_pair else (texts,)
    enc = tokenizer(*args, return_length=True, return_attention_mask=False, return_token_type_ids=False)
    return np.asarray(enc["length"], dtype=np.int64)


def _add_counts(total: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`total` (counts of each value 0, 1, 2, ...) plus the counts of `values`."""
    more = np.bincount(values)
    if len(more) > len(total):
        more[: len(total)] += total
        return more
    total[: len(more)] += more
    return total


def percentile_of_counts(counts: np.ndarray, q: float) -> float:
    """numpy's default (linear) percentile of the integers that `counts` counts (value v, counts[v] times), without
    writing them out: the order statistics either side of rank (n - 1) q / 100, interpolated."""
    rank = (int(counts.sum()) - 1) * q / 100
    low = int(np.floor(rank))
    cumulative = np.cumsum(counts)
    below, above = np.searchsorted(cumulative, [low, min(low + 1, cumulative[-1] - 1)], side="right")
    return float(below + (above - below) * (rank - low))


def histogram_of_counts(counts: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """`np.histogram` of the integers that `counts` counts: the same edges and counts."""
    values = np.flatnonzero(counts)
    hist, edges = np.histogram(values, bins=bins, weights=counts[values])
    return hist.astype(np.int64), edges


@dataclass
class _Moments:
    """Count, mean, sum of squared deviations, min and max of a stream of numbers, merged chunk by chunk (Chan et
    al.), so the variance stays exact for values far from zero. Values beyond 2**256 are summed in units of a power
    of two (`scale`, an exact division), so that ±1e308, finite in float64, gives a finite mean and spread rather
    than inf and NaN."""
    n: int = 0
    mean: float = 0.0           # in units of `scale`
    m2: float = 0.0             # in units of `scale` squared
    low: float = float("inf")
    high: float = float("-inf")
    scale: float = 1.0

    def add(self, x: np.ndarray) -> None:
        if not len(x):
            return
        self.low, self.high = min(self.low, float(x.min())), max(self.high, float(x.max()))
        big = max(abs(self.low), abs(self.high))
        if big >= 2.0 ** 256 and big > self.scale:
            scale = 2.0 ** min(math.frexp(big)[1], 1023)
            ratio = scale / self.scale
            self.mean, self.m2, self.scale = self.mean / ratio, self.m2 / ratio / ratio, scale
        if self.scale != 1.0:
            x = x / self.scale
        n, mean = len(x), float(x.mean())
        m2 = float(((x - mean) ** 2).sum())
        delta, total = mean - self.mean, self.n + n
        self.m2 += m2 + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total

    @property
    def average(self) -> float:
        return self.mean * self.scale

    @property
    def std(self) -> float:
        return (self.m2 / self.n) ** 0.5 * self.scale

    def mse_of(self, guess: float) -> float:
        """Mean squared error of guessing `guess` for every value (inf where it is beyond float64)."""
        return (self.m2 / self.n + (self.mean - guess / self.scale) ** 2) * self.scale * self.scale


def _progress(chunks, say, what: str, total: int):
    """Pass `chunks` (Arrow tables) through, telling `say` how many of `total` rows `what` has got through."""
    done = 0
    for part in chunks:
        yield part
        done += part.num_rows
        say(f"{what}: {done:,} of {total:,} rows")


def summarize_data(data: str | None, eqn: str | None, *, columns: list[str] | None = None, model: str | None = None,
                   max_length: int | None = None, seed: int = 42, on_phase=None,
                   trust_remote_code: bool = False) -> DataSummary:
    """What `tunelab summary --data` reports. Walks the data once per split in Arrow chunks, keeping only counts,
    so memory stays near the data's own size at any number of rows; `on_phase(text)` hears how far it has got."""
    say = on_phase or (lambda text: None)
    say(f"reading {data or 'demo'}")
    task = load_task_data(data, eqn, columns=columns, seed=seed)
    resolved = resolve_model(model, trust_remote_code=trust_remote_code)
    limit = model_max_length(resolved)
    max_length = max_length or min(task_for(task).default_max_length or DEFAULT_MAX_LENGTH, limit)
    if max_length > limit:
        raise TuneLabError(f"--max-length {max_length} is beyond {resolved.name}'s limit of {limit} tokens")
    say(f"loading {resolved.name}'s tokenizer")
    tokenizer = load_counting_tokenizer(resolved)
    return task_for(task).describe(task, tokenizer, max_length, say)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str    # "bundled", "hf-cache" or "run"
    path: str
    detail: str


def list_models(limit_runs: int = 20) -> list[ModelEntry]:
    """The bundled model, models in the local Hugging Face cache, and recent TuneLab run outputs."""
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
        entries.append(ModelEntry(run.name, "run", str(run), _run_detail(run)))
    return entries


def _run_detail(run) -> str:
    """"finished; <equation>; <split> <metric> <value>" for a run directory, or what is wrong with it (a run that
    is starting has no run.json yet; a damaged file says so): a listing never fails over one run."""
    import math

    from .run_dir import RunDir

    try:
        info = RunDir(run).read_config()
    except TuneLabError as err:
        return "starting" if not (run / "run.json").exists() else f"broken: {err}"
    state = "finished" if (run / "model" / "config.json").is_file() else "unfinished"
    detail = f"{state}; {info.get('equation', '')}"
    metrics = run / "metrics.json"
    if metrics.exists() and not metrics.is_file():   # a named pipe would block the read, a folder fails it
        return f"{detail}; metrics.json is damaged"
    try:
        m = strict_json.loads(metrics.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return detail
    except (OSError, UnicodeDecodeError, ValueError):
        return f"{detail}; metrics.json is damaged"
    if not isinstance(m, dict):
        return f"{detail}; metrics.json is damaged"
    fom = m.get("figure_of_merit")
    split = "test" if "test" in m else "validation"
    value = m.get(split, {}).get(fom) if isinstance(m.get(split), dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        detail += f"; {split} {fom} {value:.3f}"
    return detail
