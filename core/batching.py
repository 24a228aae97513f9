"""Tokenising a split once and cutting it into padded batches with as little padding as possible.

Training batches are length-grouped: indices are shuffled (seeded per epoch), cut into mega-batches of
`group` batches, sorted by length inside each, then cut into batches whose order is shuffled again, so each
batch is padded only to its own longest sequence (never to --max-length). Evaluation batches are sorted by
length outright. Called by fit, eval, the Predictor's batch mode and the probing verbs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .compile_step import padded_width
from .errors import TuneLabError


@dataclass
class EncodedSplit:
    """Token ids per example (int32 arrays), segment ids for pairs, labels, and lengths.

    `labels` is one label per example (an array), or for a per-token task a list of per-example int arrays aligned
    to the sub-words (-100 where the loss skips). Such tasks also fill the word fields: `word_ids` (per example:
    sub-word position -> word index, -1 for special tokens), `word_labels` (per example: every word's gold tag id,
    words cut off by max_length too), `word_counts` (words per example) and `words_cut` (words beyond max_length
    in the whole split)."""

    input_ids: list
    token_type_ids: list | None
    labels: np.ndarray | list | None
    lengths: np.ndarray
    truncated: int
    word_ids: list | None = None
    word_labels: list | None = None
    word_counts: np.ndarray | None = None
    words_cut: int = 0
    label_keys: tuple = ("labels",)   # the model's argument(s) for the labels: with two or more, `labels` holds a
                                      # column per argument (extractive QA: start_positions, end_positions)
    task_state: object = None         # what the task's own scoring needs besides the labels (QA: the windows of
                                      # each example and their character offsets)

    def __len__(self) -> int:
        return len(self.input_ids)


def encode(tokenizer, texts, labels=None, *, max_length: int, chunk: int = 4096) -> EncodedSplit:
    """Tokenise strings or (a, b) pairs with truncation at max_length (pairs truncate the longer side)."""
    texts = list(texts)
    if not texts:
        raise TuneLabError("nothing to encode: the input is empty")
    is_pair = isinstance(texts[0], (tuple, list))
    ids, types, truncated = [], [] if is_pair else None, 0
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        if is_pair:
            a, b = zip(*part)
            enc = tokenizer(list(a), list(b), truncation="longest_first", max_length=max_length, return_length=True)
        else:
            enc = tokenizer(list(part), truncation=True, max_length=max_length, return_length=True)
        for i, seq in enumerate(enc["input_ids"]):
            ids.append(np.asarray(seq, dtype=np.int32))
            if is_pair:
                types.append(np.asarray(enc["token_type_ids"][i], dtype=np.int8))
        truncated += sum(1 for n in enc["length"] if n >= max_length)  # at the limit: cut, or exactly full
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int32, count=len(ids))
    return EncodedSplit(ids, types, None if labels is None else np.asarray(labels), lengths, truncated)


def length_grouped_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group: int = 50) -> list[np.ndarray]:
    """Training batches for one epoch: deterministic in (seed, epoch), each of similar lengths."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    mega = batch_size * group
    batches = []
    for start in range(0, len(order), mega):
        chunk = order[start:start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: longest first, so a memory problem shows at once."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(split: EncodedSplit, index: np.ndarray, pad_id: int, *, multiple: int = 1,
            limit: int | None = None) -> dict[str, torch.Tensor]:
    """Pad the examples at `index` to their own longest length, rounded up to a multiple of `multiple` tokens but
    not beyond `limit` (a compiled training step then meets a few widths, not every one)."""
    width = padded_width(int(split.lengths[index].max()), multiple, limit)
    ids = np.full((len(index), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    types = np.zeros((len(index), width), dtype=np.int64) if split.token_type_ids is not None else None
    for row, i in enumerate(index):
        n = split.lengths[i]
        ids[row, :n] = split.input_ids[i]
        mask[row, :n] = 1
        if types is not None:
            types[row, :n] = split.token_type_ids[i]
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if types is not None:
        batch["token_type_ids"] = torch.from_numpy(types)
    if split.labels is not None:
        if is_ragged(split.labels):          # a label per sub-word: padded with -100, which the loss skips
            labels = np.full((len(index), width), -100, dtype=np.int64)
            for row, i in enumerate(index):
                labels[row, :len(split.labels[i])] = split.labels[i]
            batch["labels"] = torch.from_numpy(labels)
        elif len(split.label_keys) > 1:      # a label column per model argument
            for j, key in enumerate(split.label_keys):
                batch[key] = torch.from_numpy(np.ascontiguousarray(split.labels[index, j]))
        else:
            batch["labels"] = torch.from_numpy(split.labels[index])
    return batch


def is_ragged(labels) -> bool:
    """Whether labels are per-example arrays of their own lengths (a list, or a numpy object array)."""
    return isinstance(labels, list) or (isinstance(labels, np.ndarray) and labels.dtype == object)


def encode_task_split(task, split: str, tokenizer, max_length: int, label2id: dict[str, int] | None,
                      **options) -> EncodedSplit:
    """Encode one split of a TaskData the way its task says (inputs through the tokenizer, labels aligned);
    `options` are task settings (label_all_tokens for token tags), which other tasks ignore."""
    from .tasks.base import task_for

    return task_for(task).encode(task, split, tokenizer, max_length, label2id, **options)


def float32_labels(values, where: str) -> np.ndarray:
    """Regression labels as float32, the type training and scoring compute in; a value beyond its range
    (about ±3.4e38; ±1e308 is finite only in float64) is refused, naming its row, never turned into inf."""
    wide = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        labels = wide.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(labels) & np.isfinite(wide))
    if len(bad):
        row = int(bad[0])
        raise TuneLabError(f"row {row + 1} of {where}: label {wide[row]:g} is beyond the range of float32 (about "
                           f"±3.4e38), the type models train and score in; rescale the labels")
    return labels
