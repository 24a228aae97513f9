"""What fine-tuning changed in attention: a base model M0 against a tuned model M1 on the same sentences.

Per head: the mean absolute change of attention, measured per token as half the L1 distance between its two
attention rows (the share of its attention that moved elsewhere: 0 = unchanged, 1 = all of it), averaged over
all tokens; and the change (M1 - M0) of each statistic of `head_stats`. `AttentionDiff.most_changed` lists
the heads that moved most. Both models must share a tokenizer. Called by `tunelab attention-diff` and the TUI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .attention import _limit, batch_attentions, model_limit
from .errors import TuneLabError
from .head_stats import DESCRIPTIONS, SHARES, STATISTICS, HeadStats, HeadStatsAccumulator, write_rows_csv


@dataclass(frozen=True)
class HeadChange:
    """One head's change: how much attention moved, the share statistic that changed most, and the entropy change."""

    layer: int
    head: int
    mean_abs_change: float
    statistic: str  # one of SHARES
    base_value: float
    tuned_value: float
    entropy_change: float  # nats, tuned - base

    def describe(self) -> str:
        return (f"L{self.layer} H{self.head}: {self.mean_abs_change:.0%} of its attention moved; "
                f"{DESCRIPTIONS[self.statistic]} {self.base_value:.0%} -> {self.tuned_value:.0%}; "
                f"entropy {self.entropy_change:+.2f} nats")


@dataclass(frozen=True)
class AttentionDiff:
    """`mean_abs_change` is [layers, heads]; `base`/`tuned` hold each model's statistics on the same sentences."""

    base: HeadStats
    tuned: HeadStats
    mean_abs_change: np.ndarray

    @property
    def n_sentences(self) -> int:
        return self.base.n_sentences

    def change(self, statistic: str) -> np.ndarray:
        """tuned - base for one statistic, [layers, heads]."""
        return self.tuned.values[statistic] - self.base.values[statistic]

    def most_changed(self, k: int = 10) -> list[HeadChange]:
        """The `k` heads whose attention moved most, most first."""
        order = np.argsort(-self.mean_abs_change, axis=None, kind="stable")[:k]
        changes = []
        for layer, head in zip(*np.unravel_index(order, self.mean_abs_change.shape)):
            stat = max(SHARES, key=lambda s: abs(self.change(s)[layer, head]))
            changes.append(HeadChange(int(layer), int(head), float(self.mean_abs_change[layer, head]), stat,
                                      float(self.base.values[stat][layer, head]),
                                      float(self.tuned.values[stat][layer, head]),
                                      float(self.change("entropy")[layer, head])))
        return changes

    def to_rows(self) -> list[dict]:
        """One dict per head: layer, head, mean_abs_change, then the change of each statistic (delta_...)."""
        layers, heads = self.mean_abs_change.shape
        deltas = {s: self.change(s) for s in STATISTICS}
        return [{"layer": layer, "head": head, "mean_abs_change": float(self.mean_abs_change[layer, head]),
                 **{f"delta_{s}": float(deltas[s][layer, head]) for s in STATISTICS}}
                for layer in range(layers) for head in range(heads)]

    def write_csv(self, path):
        return write_rows_csv(self.to_rows(), path)

    def to_json(self) -> dict:
        return {"n_sentences": self.n_sentences, "rows": self.to_rows(),
                "most_changed": [{**asdict(c), "text": c.describe()} for c in self.most_changed()]}


def check_same_tokenizer(base_tokenizer, tuned_tokenizer) -> None:
    if base_tokenizer.get_vocab() != tuned_tokenizer.get_vocab():
        raise TuneLabError("the base and tuned models use different tokenizers (their vocabularies differ), so "
                           "their attention cannot be compared token by token; compare a model with its own fine-tune")


def attention_diff(base: tuple, tuned: tuple, texts: list, *, batch_size: int = 32, max_length: int | None = None,
                   progress=None) -> AttentionDiff:
    """Compare `base` and `tuned`, each a (model, tokenizer) from `load_attention_model`, on `texts`.
    `progress(done, total)` is called after each sentence if given."""
    (m0, tok0), (m1, tok1) = base, tuned
    check_same_tokenizer(tok0, tok1)
    # both models read the same tokens: one length, within both limits (by default the tuned run's own)
    if max_length is None:
        max_length = min(_limit(m1, tok1, None), model_limit(m0, tok0))
    else:
        for model, tokenizer in (base, tuned):
            _limit(model, tokenizer, max_length)          # refused above either model's limit
    acc0 = HeadStatsAccumulator(tok0.cls_token_id, tok0.sep_token_id)
    acc1 = HeadStatsAccumulator(tok1.cls_token_id, tok1.sep_token_id)
    moved, n_tokens = 0.0, 0
    stream0 = batch_attentions(m0, tok0, texts, batch_size=batch_size, max_length=max_length)
    stream1 = batch_attentions(m1, tok1, texts, batch_size=batch_size, max_length=max_length)
    for i, (ex0, ex1) in enumerate(zip(stream0, stream1)):
        if not np.array_equal(ex0.input_ids, ex1.input_ids):
            raise TuneLabError(f"the two tokenizers split sentence {i + 1} differently (lower-casing or special "
                               "tokens differ), so the attention cannot be compared token by token")
        if ex0.attention.shape != ex1.attention.shape:
            raise TuneLabError(f"the models differ in shape: base has {ex0.attention.shape[0]} layers x "
                               f"{ex0.attention.shape[1]} heads, tuned {ex1.attention.shape[0]} x {ex1.attention.shape[1]}")
        moved = moved + 0.5 * np.abs(ex1.attention - ex0.attention).sum(-1).sum(-1, dtype=np.float64)
        n_tokens += ex0.attention.shape[-1]
        acc0.add(ex0)
        acc1.add(ex1)
        if progress:
            progress(i + 1, len(texts))
    if not n_tokens:
        raise TuneLabError("no sentences to compare the models on")
    return AttentionDiff(acc0.result(), acc1.result(), (moved / n_tokens).astype(np.float32))
