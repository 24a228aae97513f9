"""Layer-wise linear probing: which layer of an encoder knows the label of a classification task.

For every layer (the embeddings, then each transformer layer) the [CLS] vector and the mask-aware mean of the
token vectors are taken for a sample of the train split and of the held-out split; a logistic regression on
standardised features is fitted on the train sample and scored on the held-out one. The held-out accuracy per
layer is the "which layer knows this" curve; the majority-class baseline is the floor to read it against. Two
models (a base and its fine-tuned run) can be probed on the same examples side by side.
Called by `tunelab probe`, the TUI's probing screen and notebooks.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .batching import collate, encode, sorted_batches
from .data import TaskData, load_task_data
from .device import pick_device
from .errors import TuneLabError
from .models import (ResolvedModel, default_max_length, load_config, load_pretrained, load_tokenizer, max_positions,
                     resolve_model)

POOLINGS = ("cls", "mean")


@dataclass(frozen=True)
class LayerScore:
    """Held-out accuracy of the probe on one layer; layer 0 is the embedding output."""

    layer: int
    cls: float      # probe on the [CLS] (first-token) vector
    mean: float     # probe on the mean of the real (unpadded) token vectors

    @property
    def best(self) -> float:
        return max(self.cls, self.mean)


@dataclass(frozen=True)
class ProbeCurve:
    """One model's accuracy per layer."""

    model: str
    layers: tuple[LayerScore, ...]
    seconds: float                  # feature extraction and probe fitting for this model

    @property
    def best_layer(self) -> LayerScore:
        return max(self.layers, key=lambda s: (s.best, -s.layer))


@dataclass(frozen=True)
class ProbeReport:
    data: str
    equation: str
    train_split: str
    eval_split: str
    train_examples: int
    eval_examples: int
    label_names: tuple[str, ...]
    majority_label: str
    majority_accuracy: float        # always answering the train sample's most frequent label, on the eval sample
    curves: tuple[ProbeCurve, ...]  # the model, then the --compare model if any


def probe(model: str | None, data: str | None = None, eqn: str | None = None, *, compare: str | None = None,
          columns: list[str] | None = None, limit: int = 1000, seed: int = 42, max_length: int | None = None,
          batch_size: int = 64, max_iter: int = 300, device: str | None = None, progress=None,
          trust_remote_code: bool = False) -> ProbeReport:
    """Probe `model` (and `compare`) on at most `limit` train and `limit` held-out examples of `data`.
    `progress(done, total)` hears each batch of features and each layer's probe, of every model; it may raise to
    stop the work between two of them."""
    if limit < 2:
        raise TuneLabError("--limit must be at least 2")
    from .config import SETTINGS_BY_NAME

    problem = SETTINGS_BY_NAME["seed"].check(seed)     # the range and words of fit's --seed
    if problem:
        raise TuneLabError(problem)
    specs = [model] + ([compare] if compare else [])
    resolved = [resolve_model(s, trust_remote_code=trust_remote_code) for s in specs]      # fail on a mistyped model before reading data
    task = load_task_data(data, eqn, columns=columns, seed=seed)
    if task.equation.task != "classify":
        raise TuneLabError(f"probe fits a classifier on each layer, so it needs a 'classify:' equation, not {str(task.equation)!r}")
    if "train" not in task.splits or not task.labeled.get("train"):
        raise TuneLabError(f"{task.name} has no labelled train split to fit the probes on")
    eval_split = task.eval_split_name()
    train_texts, train_y = _sample(task, "train", limit, seed)
    eval_texts, eval_y = _sample(task, eval_split, limit, seed)
    if len(set(train_y.tolist())) < 2:
        raise TuneLabError(f"the train sample of {task.name} holds a single label; a probe needs at least two (raise --limit?)")
    counts = np.bincount(train_y, minlength=len(task.label_names))
    majority = int(counts.argmax())
    texts, n = list(train_texts) + list(eval_texts), len(train_y)
    steps = sum(-(-len(texts) // batch_size) + getattr(load_config(r), "num_hidden_layers", 0) + 1 for r in resolved)
    if max_length is None:   # one length for every model probed: a run's own --max-length, else the models' limit
        max_length = min(default_max_length(r, max_positions(load_config(r))) for r in resolved)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, steps), steps)

    curves = []
    for spec in resolved:
        start = time.perf_counter()
        x = layer_features(spec, texts, max_length=max_length, batch_size=batch_size, device=device, on_batch=step)
        layers = []
        for layer in range(x["cls"].shape[0]):
            layers.append(LayerScore(layer, *(fit_probe(x[p][layer, :n], train_y, x[p][layer, n:], eval_y, seed, max_iter)
                                              for p in POOLINGS)))
            step()
        curves.append(ProbeCurve(spec.name, tuple(layers), time.perf_counter() - start))
    return ProbeReport(task.name, str(task.equation), "train", eval_split, len(train_y), len(eval_y), task.label_names,
                       task.label_names[majority], float((eval_y == majority).mean()), tuple(curves))


def _sample(task: TaskData, split: str, limit: int, seed: int) -> tuple[list, np.ndarray]:
    """A seeded random sample of at most `limit` rows: inputs and label ids."""
    sample = task.sample(split, limit, seed)
    label2id = {name: i for i, name in enumerate(task.label_names)}
    return sample.texts(split), sample.class_ids(split, label2id)


@torch.inference_mode()
def layer_features(model, texts, *, max_length: int = 128, batch_size: int = 64, device: str | None = None,
                   on_batch=None) -> dict[str, np.ndarray]:
    """{"cls": [layers + 1, N, hidden], "mean": [layers + 1, N, hidden]} for the encoder behind `model`
    (a resolved model or a --model value), in the order of `texts`; batches are length-sorted and padded
    only to their own longest input. `on_batch()` is called after each batch."""
    from transformers import AutoModel

    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model)
    tokenizer = load_tokenizer(resolved)
    config = load_config(resolved)
    encoder = load_pretrained(AutoModel, resolved, with_info=False)  # a classifier or masked-LM checkpoint loads into its bare encoder
    dev = pick_device(device)
    encoder.to(dev).eval()
    split = encode(tokenizer, texts, max_length=min(max_length, max_positions(config)))
    feats: dict[str, np.ndarray] = {}
    for index in sorted_batches(split.lengths, batch_size):
        batch = {k: v.to(dev) for k, v in collate(split, index, tokenizer.pad_token_id or 0).items()}
        states = torch.stack(encoder(**batch, output_hidden_states=True).hidden_states).float()  # [L+1, B, T, H]
        mask = batch["attention_mask"].to(states.dtype)[None, :, :, None]
        if not feats:
            feats = {p: np.zeros((states.shape[0], len(split), states.shape[-1]), dtype=np.float32) for p in POOLINGS}
        feats["cls"][:, index] = states[:, :, 0].cpu().numpy()
        feats["mean"][:, index] = ((states * mask).sum(2) / mask.sum(2)).cpu().numpy()
        if on_batch is not None:
            on_batch()
    return feats


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, eval_y: np.ndarray,
              seed: int = 42, max_iter: int = 300) -> float:
    """Held-out accuracy of a logistic regression on standardised features.

    scikit-learn's warnings are silenced: a probe stopped at max_iter still scores fairly (ConvergenceWarning),
    and many classes with few examples each ("`y` could represent a regression problem", once per layer and
    pooling) is what the majority baseline and the curve already show; the probe's output is the place to read it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(train_x, train_y)
        return float((clf.predict(eval_x) == eval_y).mean())
