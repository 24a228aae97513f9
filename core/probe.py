"""Layer-wise linear probing: which layer of an encoder knows the labels of a classification or tagging task.

For every layer (the embeddings, then each transformer layer) one or more vectors are taken per probed item, for
a seeded sample of the train split and of the held-out split; a logistic regression on standardised features is
fitted on the train sample and scored on the held-out one. The held-out accuracy per layer is the "which layer
knows this" curve; always answering the most frequent train label is the floor to read it against.
What is probed comes from the task (`Task.per_token`): a sentence task probes each example's [CLS] vector and the
mask-aware mean of its token vectors against its label ("cls", "mean"); a token task probes each word's vector
at its first sub-word (the one the tagging head is trained on) against the word's tag ("word"), over the words the
tokenizer keeps within max length. Two models (a base and its fine-tuned run) can be probed on the same examples
side by side. Called by `tunelab probe`, the TUI's Attention screen (its probe curve) and notebooks.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .batching import EncodedSplit, collate, encode, sorted_batches
from .data import TaskData, load_task_data
from .device import pick_device
from .errors import TuneLabError
from .models import (ResolvedModel, default_max_length, load_config, load_pretrained, load_tokenizer, max_positions,
                     resolve_model)
from .tasks.base import task_for
from .tasks.tokens import first_subwords

POOLINGS = ("cls", "mean")      # a sentence task's vectors per example
WORD_POOLINGS = ("word",)       # a token task's vector per word: its first sub-word


@dataclass(frozen=True)
class LayerScore:
    """Held-out accuracy of the probe on one layer; layer 0 is the embedding output. Only the poolings of its
    report (`ProbeReport.poolings`) are set; the others are None."""

    layer: int
    cls: float | None = None    # probe on the [CLS] (first-token) vector (sentence tasks)
    mean: float | None = None   # probe on the mean of the real (unpadded) token vectors (sentence tasks)
    word: float | None = None   # probe on each word's first sub-word vector against its tag (token tasks)

    def score(self, pooling: str) -> float | None:
        return getattr(self, pooling)

    @property
    def best(self) -> float:
        return max(v for v in (self.cls, self.mean, self.word) if v is not None)

    @property
    def best_pooling(self) -> str:
        """The pooling whose probe scored `best` (the first on a tie, in the order cls, mean, word)."""
        return next(p for p in ("cls", "mean", "word") if getattr(self, p) == self.best)


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
    train_examples: int             # examples (sentences) sampled from each split
    eval_examples: int
    label_names: tuple[str, ...]
    majority_label: str
    majority_accuracy: float        # always answering the train sample's most frequent label (tag), on the eval sample
    curves: tuple[ProbeCurve, ...]  # the model, then the --compare model if any
    poolings: tuple[str, ...] = POOLINGS   # the LayerScore fields set: ("cls", "mean"), or ("word",) for a token task
    train_words: int = 0            # a token task: the words probed in each sample (0 for a sentence task)
    eval_words: int = 0
    words_cut: int = 0              # a token task: sampled words beyond max length for some model, left out of both


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
    kind = task_for(task)
    if not kind.has_classes:
        raise TuneLabError(f"probe fits a classifier on each layer, so it needs classes or tags (a 'classify:' or "
                           f"'classify_tokens:' equation), not {str(task.equation)!r}")
    if "train" not in task.splits or not task.labeled.get("train"):
        raise TuneLabError(f"{task.name} has no labelled train split to fit the probes on")
    eval_split = task.eval_split_name()
    if max_length is None:   # one length for every model probed: a run's own --max-length, else the models' limit
        max_length = min(default_max_length(r, max_positions(load_config(r))) for r in resolved)
    samples = [task.sample(split, limit, seed) for split in ("train", eval_split)]
    items = (_WordItems if kind.per_token else _ExampleItems)(task, samples, ("train", eval_split), resolved, max_length)
    train_y, eval_y = items.labels
    if len(set(train_y.tolist())) < 2:
        what = "tag" if kind.per_token else "label"
        raise TuneLabError(f"the train sample of {task.name} holds a single {what}; a probe needs at least two (raise --limit?)")
    majority = int(np.bincount(train_y, minlength=len(task.label_names)).argmax())
    n = len(train_y)
    steps = sum(-(-items.examples // batch_size) + getattr(load_config(r), "num_hidden_layers", 0) + 1 for r in resolved)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, steps), steps)

    curves = []
    for i, spec in enumerate(resolved):
        start = time.perf_counter()
        x = items.features(i, batch_size=batch_size, device=device, on_batch=step)
        layers = []
        for layer in range(next(iter(x.values())).shape[0]):
            layers.append(LayerScore(layer, **{p: fit_probe(x[p][layer, :n], train_y, x[p][layer, n:], eval_y, seed,
                                                            max_iter) for p in items.poolings}))
            step()
        curves.append(ProbeCurve(spec.name, tuple(layers), time.perf_counter() - start))
    train_n, eval_n = (len(s.split(split)) for s, split in zip(samples, ("train", eval_split)))
    return ProbeReport(task.name, str(task.equation), "train", eval_split, train_n, eval_n, task.label_names,
                       task.label_names[majority], float((eval_y == majority).mean()), tuple(curves),
                       poolings=items.poolings, **items.counts)


class _ExampleItems:
    """A sentence task's probed items: one per example, its label; [CLS] and mean vectors."""

    poolings = POOLINGS

    def __init__(self, task: TaskData, samples: list[TaskData], splits: tuple[str, str], resolved, max_length: int):
        label2id = {name: i for i, name in enumerate(task.label_names)}
        self.texts = [t for sample, split in zip(samples, splits) for t in sample.texts(split)]
        self.labels = tuple(sample.class_ids(split, label2id) for sample, split in zip(samples, splits))
        self.examples = len(self.texts)
        self.counts: dict = {}
        self._resolved, self._max_length = resolved, max_length

    def features(self, i: int, **options) -> dict[str, np.ndarray]:
        return layer_features(self._resolved[i], self.texts, max_length=self._max_length, **options)


class _WordItems:
    """A token task's probed items: one per word, its tag; the vector at the word's first sub-word. Each model's
    tokenizer encodes the sample through the task (`Task.encode`, the alignment training uses); a word that some
    model's tokenizer cuts at max length is left out for every model, so all are probed on the same words."""

    poolings = WORD_POOLINGS

    def __init__(self, task: TaskData, samples: list[TaskData], splits: tuple[str, str], resolved, max_length: int):
        kind = task_for(task)
        label2id = {name: i for i, name in enumerate(task.label_names)}
        self.encoded = []
        for r in resolved:
            tokenizer = load_tokenizer(r)
            length = min(max_length, max_positions(load_config(r)))
            self.encoded.append(_joined([kind.encode(sample, split, tokenizer, length, label2id)
                                         for sample, split in zip(samples, splits)]))
        first = self.encoded[0]
        keep = np.logical_and.reduce([_words_present(e) for e in self.encoded])
        tags = np.concatenate(first.word_labels) if first.word_labels else np.empty(0, dtype=np.int64)
        in_train = np.arange(len(tags)) < int(first.word_counts[:len(samples[0].split(splits[0]))].sum())
        self.keep = keep
        self.labels = (tags[keep & in_train], tags[keep & ~in_train])
        self.examples = len(first)
        self.counts = {"train_words": int((keep & in_train).sum()), "eval_words": int((keep & ~in_train).sum()),
                       "words_cut": int((~keep).sum())}
        self._resolved = resolved

    def features(self, i: int, **options) -> dict[str, np.ndarray]:
        x = word_features(self._resolved[i], self.encoded[i], **options)
        return {"word": x[:, self.keep]}


def _joined(parts: list[EncodedSplit]) -> EncodedSplit:
    """Encoded splits of words one after the other, without their sub-word labels (the probe reads word tags)."""
    return EncodedSplit([x for p in parts for x in p.input_ids], None, None, np.concatenate([p.lengths for p in parts]),
                        sum(p.truncated for p in parts), word_ids=[x for p in parts for x in p.word_ids],
                        word_labels=[x for p in parts for x in p.word_labels],
                        word_counts=np.concatenate([p.word_counts for p in parts]),
                        words_cut=sum(p.words_cut for p in parts))


def _words_present(encoded: EncodedSplit) -> np.ndarray:
    """Per word of every example, in order: whether a sub-word of it is within max length."""
    present = np.zeros(int(encoded.word_counts.sum()), dtype=bool)
    offsets = np.concatenate(([0], np.cumsum(encoded.word_counts)[:-1]))
    for start, wid in zip(offsets, encoded.word_ids):
        present[start + wid[wid >= 0]] = True
    return present


def _encoder(resolved: ResolvedModel, device: str | None):
    from transformers import AutoModel

    encoder = load_pretrained(AutoModel, resolved, with_info=False)  # a classifier, tagger or masked-LM checkpoint loads into its bare encoder
    dev = pick_device(device)
    return encoder.to(dev).eval(), dev


def _hidden_states(encoder, dev, split: EncodedSplit, pad_id: int, batch_size: int, on_batch):
    """(index, every layer's hidden states [L+1, B, T, H] as float, attention mask [B, T]) per length-sorted batch
    of `split`, padded only to the batch's own longest input; `on_batch()` is called after each batch."""
    for index in sorted_batches(split.lengths, batch_size):
        batch = {k: v.to(dev) for k, v in collate(split, index, pad_id).items()}
        yield index, torch.stack(encoder(**batch, output_hidden_states=True).hidden_states).float(), batch["attention_mask"]
        if on_batch is not None:
            on_batch()


@torch.inference_mode()
def layer_features(model, texts, *, max_length: int = 128, batch_size: int = 64, device: str | None = None,
                   on_batch=None) -> dict[str, np.ndarray]:
    """{"cls": [layers + 1, N, hidden], "mean": [layers + 1, N, hidden]} for the encoder behind `model`
    (a resolved model or a --model value), in the order of `texts`; batches are length-sorted and padded
    only to their own longest input. `on_batch()` is called after each batch."""
    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model)
    tokenizer = load_tokenizer(resolved)
    split = encode(tokenizer, texts, max_length=min(max_length, max_positions(load_config(resolved))))
    encoder, dev = _encoder(resolved, device)
    feats: dict[str, np.ndarray] = {}
    for index, states, attention in _hidden_states(encoder, dev, split, tokenizer.pad_token_id or 0, batch_size, on_batch):
        mask = attention.to(states.dtype)[None, :, :, None]
        if not feats:
            feats = {p: np.zeros((states.shape[0], len(split), states.shape[-1]), dtype=np.float32) for p in POOLINGS}
        feats["cls"][:, index] = states[:, :, 0].cpu().numpy()
        feats["mean"][:, index] = ((states * mask).sum(2) / mask.sum(2)).cpu().numpy()
    return feats


@torch.inference_mode()
def word_features(model, encoded: EncodedSplit, *, batch_size: int = 64, device: str | None = None,
                  on_batch=None) -> np.ndarray:
    """[layers + 1, words, hidden]: every layer's vector at each word's first sub-word, for the words of an encoded
    token-task split (`Task.encode`'s word_ids), example after example in word order; a word beyond max length
    has no sub-word and keeps a row of zeros."""
    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model)
    tokenizer = load_tokenizer(resolved)
    encoder, dev = _encoder(resolved, device)
    offsets = np.concatenate(([0], np.cumsum(encoded.word_counts)[:-1]))
    feats = None
    for index, states, _ in _hidden_states(encoder, dev, encoded, tokenizer.pad_token_id or 0, batch_size, on_batch):
        states = states.cpu().numpy()
        if feats is None:
            feats = np.zeros((states.shape[0], int(encoded.word_counts.sum()), states.shape[-1]), dtype=np.float32)
        for row, i in enumerate(index):
            wid = encoded.word_ids[i]
            first = first_subwords(wid)
            feats[:, offsets[i] + wid[first]] = states[:, row, first]
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
