"""Per-head attention statistics over sentences of a dataset (Clark et al. 2019, "What Does BERT Look At?", Figs 1-2).

For every head: the entropy of its attention (in nats, averaged over tokens; high = broad, low = focused) and
the average share of attention a token gives to [CLS], to [SEP], to itself, to the previous token and to the
next token. Averages are over all tokens of all sentences (a long sentence weighs more), so a value of 0.8 for
"prev" reads "80% of a token's attention goes to the token before it". `HeadStats.standouts` names the heads
far from their layer's mean. Called by `tunelab heads`, `attention_diff`, and the TUI's probing screen.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .attention import ExampleAttention, batch_attentions
from .atomic_write import write_atomic
from .errors import TuneLabError

STATISTICS = ("entropy", "cls", "sep", "self", "prev", "next")
SHARES = STATISTICS[1:]  # the statistics that are shares of attention, in [0, 1]
DESCRIPTIONS = {
    "entropy": "entropy of its attention (nats)",
    "cls": "share of attention to [CLS]",
    "sep": "share of attention to [SEP]",
    "self": "share of attention to the token itself",
    "prev": "share of attention to the previous token",
    "next": "share of attention to the next token",
}
DEFAULT_LIMIT = 200  # sentences: the averages settle well before this, and MiniLM runs it in seconds on a CPU


@dataclass(frozen=True)
class Standout:
    """A head whose statistic is far from its layer's mean (for entropy: far above = broad, far below = focused)."""

    statistic: str
    layer: int
    head: int
    value: float
    layer_mean: float

    def describe(self) -> str:
        if self.statistic == "entropy":
            kind = "broad" if self.value > self.layer_mean else "focused"
            return (f"L{self.layer} H{self.head}: {kind} attention, entropy {self.value:.2f} nats "
                    f"(layer mean {self.layer_mean:.2f})")
        return (f"L{self.layer} H{self.head}: {self.value:.0%} {DESCRIPTIONS[self.statistic].removeprefix('share of ')}"
                f" (layer mean {self.layer_mean:.0%})")


@dataclass(frozen=True)
class HeadStats:
    """`values[stat]` is a [layers, heads] array for each statistic in STATISTICS."""

    values: dict[str, np.ndarray]
    n_sentences: int
    n_tokens: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.values["entropy"].shape

    def to_rows(self) -> list[dict]:
        """One dict per head: layer, head, then each statistic (plain floats)."""
        layers, heads = self.shape
        return [{"layer": layer, "head": head, **{s: float(self.values[s][layer, head]) for s in STATISTICS}}
                for layer in range(layers) for head in range(heads)]

    def write_csv(self, path) -> Path:
        """Write `to_rows()` as CSV (atomically) and return the path."""
        return write_rows_csv(self.to_rows(), path)

    def standouts(self, per_statistic: int = 3, min_gap: float = 0.1) -> list[Standout]:
        """For each statistic, up to `per_statistic` heads furthest above their layer's mean (for entropy, above
        or below), counting only gaps of at least `min_gap` (a share, or nats for entropy)."""
        found = []
        for stat in STATISTICS:
            values = self.values[stat]
            means = values.mean(axis=1, keepdims=True)
            gap = np.abs(values - means) if stat == "entropy" else values - means
            order = np.argsort(-gap, axis=None, kind="stable")[:per_statistic]
            for layer, head in zip(*np.unravel_index(order, values.shape)):
                if gap[layer, head] >= min_gap:
                    found.append(Standout(stat, int(layer), int(head), float(values[layer, head]),
                                          float(means[layer, 0])))
        return found

    def to_json(self) -> dict:
        return {"n_sentences": self.n_sentences, "n_tokens": self.n_tokens, "layers": self.shape[0],
                "heads": self.shape[1], "rows": self.to_rows(),
                "standouts": [{**asdict(s), "text": s.describe()} for s in self.standouts()]}


class HeadStatsAccumulator:
    """Sums the statistics example by example; `result()` gives the token-weighted averages.
    Used by `head_stats` and by `attention_diff` (which feeds two of them the same sentences)."""

    def __init__(self, cls_id: int | None, sep_id: int | None):
        self.special = {"cls": cls_id, "sep": sep_id}
        self.sums: dict[str, np.ndarray] = {}
        self.counts = {s: 0 for s in STATISTICS}
        self.n_sentences = 0

    def add(self, example: ExampleAttention) -> None:
        ids, attn = example
        t = attn.shape[-1]
        rows = {
            "entropy": -(attn * np.log(np.clip(attn, 1e-12, None))).sum(-1),
            "self": np.diagonal(attn, axis1=2, axis2=3),
            "prev": np.diagonal(attn, offset=-1, axis1=2, axis2=3),  # attn[i, i-1] for i >= 1
            "next": np.diagonal(attn, offset=1, axis1=2, axis2=3),  # attn[i, i+1] for i < T-1
        }
        for name, token_id in self.special.items():
            mask = ids == token_id if token_id is not None else np.zeros(t, dtype=bool)
            rows[name] = attn[..., mask].sum(-1)
        for name, per_token in rows.items():
            total = per_token.sum(-1, dtype=np.float64)
            self.sums[name] = self.sums.get(name, 0) + total
            self.counts[name] += per_token.shape[-1]
        self.n_sentences += 1

    def result(self) -> HeadStats:
        if not self.n_sentences:
            raise TuneLabError("no sentences to compute head statistics on")
        values = {s: (self.sums[s] / max(self.counts[s], 1)).astype(np.float32) for s in STATISTICS}
        return HeadStats(values, self.n_sentences, self.counts["entropy"])


def head_stats(model, tokenizer, texts: list, *, batch_size: int = 32, max_length: int | None = None,
               progress=None) -> HeadStats:
    """The statistics of every head of `model` (loaded by `load_attention_model`) over `texts`.
    `progress(done, total)` is called after each sentence if given."""
    acc = HeadStatsAccumulator(tokenizer.cls_token_id, tokenizer.sep_token_id)
    for i, example in enumerate(batch_attentions(model, tokenizer, texts, batch_size=batch_size,
                                                 max_length=max_length)):
        acc.add(example)
        if progress:
            progress(i + 1, len(texts))
    return acc.result()


def sample_texts(data: str | None, eqn: str | None, *, split: str | None = None, limit: int = DEFAULT_LIMIT,
                 columns: list[str] | None = None, seed: int = 42) -> tuple[list, str]:
    """(texts, split name): up to `limit` inputs of a split (default: the validation split), a seeded sample
    kept in file order. Pairs come as (a, b) tuples."""
    from .data import load_task_data
    from .tasks.base import task_for

    if limit < 1:
        raise TuneLabError(f"--limit must be at least 1 (got {limit})")
    task = load_task_data(data, eqn, columns=columns, seed=seed)
    split = split or ("validation" if "validation" in task.splits else next(iter(task.splits)))
    texts = task_for(task).input_texts(task, split)
    if len(texts) > limit:
        texts = [texts[i] for i in sorted(random.Random(seed).sample(range(len(texts)), limit))]
    return list(texts), split


def write_rows_csv(rows: list[dict], path) -> Path:
    """Write dict rows as CSV atomically (temporary file, then rename)."""
    path = Path(path).expanduser()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buffer.getvalue())
    except OSError as err:
        raise TuneLabError(f"could not write {str(path)!r}: {err.strerror or err}") from None
    return path
