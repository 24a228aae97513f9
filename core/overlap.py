"""Inputs of a held-out split that also occur in train: the leak people most often miss.

A test or validation row whose input (the same text, or the same pair of texts for a pair equation, as a reader
sees it: spaces and invisible characters aside) is also a train input scores the model's memory, not its skill. `InputIndex` keeps one 64-bit hash per train row (8 bytes,
whatever the text's length), filled a chunk at a time and sorted in place; `count_in` counts the rows of another
split whose input is among them. `overlap_line` words the result the same way for every verb and screen
(`overlap_brief` for a narrow column). Called by summary (which streams each split in chunks anyway), eval
(train: the run's own training data) and the check battery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import visible_label


def input_hashes(texts: list) -> np.ndarray:
    """One 64-bit hash per input: a string, an (a, b) tuple for a pair (the hash of the pair, not of each side) or a
    token task's words (a list, as their sentence), taken of the text as a reader sees it (`visible_label`: runs of
    spaces, invisible characters and Unicode normalisation aside), so a copy with a trailing space or a zero-width space is still the same input. Python's
    own hash: stable within a process, which is all a comparison inside one command needs."""
    return np.fromiter((hash(_visible_input(t)) for t in texts), dtype=np.int64, count=len(texts))


def _visible_input(text):
    """One input as a reader sees it: a pair's two texts, or a token task's words (a list) read as one sentence."""
    if isinstance(text, tuple):
        return tuple(map(visible_label, text))
    if isinstance(text, list):
        return visible_label(" ".join(map(str, text)))
    return visible_label(text)


class InputIndex:
    """The hashes of one split's inputs, added chunk by chunk in row order, then looked up."""

    def __init__(self, rows: int) -> None:
        self._hashes = np.empty(rows, dtype=np.int64)
        self._filled = 0
        self._sorted = False

    def add(self, texts: list) -> None:
        hashes = input_hashes(texts)
        self._hashes[self._filled:self._filled + len(hashes)] = hashes
        self._filled += len(hashes)
        self._sorted = False

    def count_in(self, texts: list) -> int:
        """How many of `texts` (inputs of another split) are inputs of this one."""
        if not self._sorted:
            self._hashes = self._hashes[:self._filled]
            self._hashes.sort()                         # in place: no second copy of the hashes
            self._sorted = True
        if not len(self._hashes) or not len(texts):
            return 0
        wanted = input_hashes(texts)
        at = np.minimum(np.searchsorted(self._hashes, wanted), len(self._hashes) - 1)
        return int(np.count_nonzero(self._hashes[at] == wanted))


def index_split(task, split: str, chunk: int = 20_000) -> InputIndex:
    """An InputIndex of every input of `split` of a TaskData, read `chunk` rows at a time."""
    index = InputIndex(len(task.split(split)))
    for table in task.iter_tables(split, chunk):
        index.add(task.texts_of(table))
    return index


def count_in_split(index: InputIndex, task, split: str, chunk: int = 20_000) -> int:
    """How many rows of `split` of a TaskData have an input that `index` holds."""
    return sum(index.count_in(task.texts_of(table)) for table in task.iter_tables(split, chunk))


@dataclass(frozen=True)
class Overlap:
    """Rows of a split whose input also occurs in train."""

    split: str
    in_train: int
    rows: int

    @property
    def share(self) -> float:
        return self.in_train / self.rows if self.rows else 0.0


def overlap_line(overlaps: list[Overlap], where: str = "train") -> str:
    """'test: 12 of 300 inputs (4.0%) also occur in train; validation: 0 of 30 ...' (plain text, one line)."""
    return "; ".join(f"{o.split}: {o.in_train:,} of {o.rows:,} inputs ({o.share:.1%}) also occur in {where}"
                     for o in overlaps)


def overlap_brief(overlaps: list[Overlap]) -> str:
    """The same in a narrow column: 'in train: validation 0/40 · test 12/300'."""
    return "in train: " + " · ".join(f"{o.split} {o.in_train:,}/{o.rows:,}" for o in overlaps)
