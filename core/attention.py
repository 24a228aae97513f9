"""Attention extraction: what each head of an encoder attends to, for one sentence (or pair) or a stream of them.

`load_attention_model` loads any encoder TuneLab can resolve (the bundled MiniLM, a local directory, a run
directory) with *eager* attention, because SDPA computes no attention weights; training and prediction stay on
SDPA. `attention_for` gives one input's attention as an `AttentionResult` (layers x heads x tokens x tokens plus
the WordPiece tokens), which `bertviz_export` writes out; `batch_attentions` streams unpadded per-example
attention for the statistics in `head_stats` and `attention_diff`. Called by the `tunelab attention`, `heads`
and `attention-diff` verbs, the TUI's attention screen and the model check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, NamedTuple

import numpy as np

from .errors import TuneLabError
from .models import default_max_length, load_pretrained, load_tokenizer, max_positions, resolve_model_so_far


@dataclass(frozen=True)
class AttentionResult:
    """One input's attention. `attentions[l, h, i, j]` is how much token i attends to token j in the l-th kept
    layer and h-th kept head; every row sums to 1. `layers`/`heads` are the model's own indices of what was
    kept (all of them unless `select` filtered). `sentence_b_start` is the index of the first token of the
    second sentence of a pair (bertviz's convention), None for a single sentence."""

    tokens: list[str]
    attentions: np.ndarray  # float32 [layers, heads, T, T]
    sentence_b_start: int | None
    layers: list[int]
    heads: list[int]
    truncated: bool = False  # the input was cut to the model's (or the caller's) maximum length

    def select(self, layers: list[int] | None = None, heads: list[int] | None = None) -> AttentionResult:
        """Keep only the given layers/heads (the model's indices, in the order given); None keeps all."""
        li = _positions(layers, self.layers, "layer")
        hi = _positions(heads, self.heads, "head")
        return replace(self, attentions=self.attentions[li][:, hi], layers=[self.layers[i] for i in li],
                       heads=[self.heads[i] for i in hi])


class ExampleAttention(NamedTuple):
    """One example of `batch_attentions`: its token ids [T] and its attention [layers, heads, T, T], unpadded."""

    input_ids: np.ndarray
    attention: np.ndarray


def _positions(wanted: list[int] | None, have: list[int], what: str) -> list[int]:
    if wanted is None:
        return list(range(len(have)))
    if not wanted:
        raise TuneLabError(f"no {what}s selected; give {what} indices from {_span(have)}")
    for index in wanted:
        if index not in have:
            raise TuneLabError(f"{what} {index} is out of range: this model's {what}s are {_span(have)}")
    return [have.index(i) for i in dict.fromkeys(wanted)]


def _span(indices: list[int]) -> str:
    if indices == list(range(len(indices))):
        return f"0-{len(indices) - 1}"
    return ", ".join(map(str, indices))


# ---------------------------------------------------------------- loading

def load_attention_model(spec: str | None, *, trust_remote_code: bool = False, device: str | None = None):
    """(model, tokenizer) for attention: the bare encoder of `spec`, eager attention, eval mode.

    A fine-tuned classifier loads as its encoder (the head is not needed to look at attention). A run that has no
    final model yet gives its best checkpoint, else its base model (`load_attention_model_noted` says which)."""
    model, tokenizer, _note = load_attention_model_noted(spec, trust_remote_code=trust_remote_code, device=device)
    return model, tokenizer


def load_attention_model_noted(spec: str | None, *, trust_remote_code: bool = False, device: str | None = None):
    """(model, tokenizer, note): as `load_attention_model`, with `note` saying what stood in for a run that has no
    final model yet ('' when `spec` itself was loaded); see models.resolve_model_so_far. `device` (--device): where
    the model runs (None: the CPU, where it loads; "auto": the best device here)."""
    from transformers import AutoModel

    resolved, tokenizer_source, note = resolve_model_so_far(spec, trust_remote_code=trust_remote_code)
    tokenizer = load_tokenizer(tokenizer_source)
    # "some weights were not used" is expected for a classifier checkpoint: the load report is not shown
    model = load_pretrained(AutoModel, resolved, " for attention", with_info=False, attn_implementation="eager")
    if device is not None:
        from .device import pick_device

        model.to(pick_device(device))
    model.eval()
    try:  # fail now, with a clear message, rather than on the user's sentence
        probe = _forward(model, tokenizer(["a"], return_tensors="pt"))
    except (ValueError, TypeError, RuntimeError) as err:
        raise TuneLabError(f"model {resolved.name!r} ({type(model).__name__}) cannot run as an encoder on one "
                           f"sentence: {str(err).splitlines()[0]}") from None
    if probe is None:
        raise TuneLabError(f"model {resolved.name!r} ({type(model).__name__}) returns no attention weights, "
                           "so there is no attention to show")
    model.tunelab_name = resolved.name                           # for the messages of `model_limit`
    model.tunelab_max_length = default_max_length(resolved, model_limit(model, tokenizer))
    return model, tokenizer, note


def _forward(model, encoding):
    """The model's attentions as one tensor [layers, batch, heads, T, T], or None if it returns none."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(**{k: v.to(device) for k, v in encoding.items()}, output_attentions=True)
    attentions = getattr(out, "attentions", None)
    if not attentions or any(a is None or a.dim() != 4 for a in attentions):
        return None
    return torch.stack(attentions).float().cpu()


def model_limit(model, tokenizer) -> int:
    """The most tokens the model (and its tokenizer) accept."""
    limits = [max_positions(model.config)]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:  # unset limits are a huge sentinel
        limits.append(tokenizer.model_max_length)
    return min(limits)


def _limit(model, tokenizer, max_length: int | None) -> int:
    """The tokens a sentence keeps: --max-length, refused above the model's limit; None: the one rule of every
    verb (models.default_max_length: a run's own --max-length, else the model's limit)."""
    limit = model_limit(model, tokenizer)
    if max_length is None:
        return min(getattr(model, "tunelab_max_length", min(512, limit)), limit)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise TuneLabError(f"--max-length must be a whole number of at least 2 (got {max_length!r}): "
                           "[CLS] and [SEP] alone take two")
    if max_length > limit:
        name = getattr(model, "tunelab_name", None) or "the model"
        raise TuneLabError(f"--max-length {max_length} is beyond {name}'s limit of {limit} tokens")
    return max_length


# ---------------------------------------------------------------- one sentence or pair

def check_text(text: str, pair: str | None = None) -> None:
    """Raise TuneLabError for an empty sentence (or an empty second sentence); callers check before loading."""
    if not isinstance(text, str) or not text.strip():
        raise TuneLabError("the sentence is empty; give some text to look at")
    if pair is not None and (not isinstance(pair, str) or not pair.strip()):
        raise TuneLabError("the second sentence (--pair) is empty; give some text or leave --pair out")


def attention_for(model, tokenizer, text: str, pair: str | None = None, *,
                  max_length: int | None = None) -> AttentionResult:
    """The attention of every layer and head for `text` (and `pair`, the second sentence of a pair)."""
    check_text(text, pair)
    limit = _limit(model, tokenizer, max_length)
    full = tokenizer(text, pair, truncation=False)["input_ids"]
    encoding = tokenizer(text, pair, truncation=True, max_length=limit, return_tensors="pt")
    attentions = _forward(model, encoding)
    if attentions is None:
        raise TuneLabError(f"{type(model).__name__} returned no attention weights; load it with load_attention_model")
    ids = encoding["input_ids"][0].tolist()
    b_start = None
    if pair is not None:
        sequence = encoding.sequence_ids(0) if encoding.is_fast else encoding["token_type_ids"][0].tolist()
        b_start = sequence.index(1) if 1 in sequence else None
    array = attentions[:, 0].numpy()
    return AttentionResult(tokens=tokenizer.convert_ids_to_tokens(ids), attentions=array, sentence_b_start=b_start,
                           layers=list(range(array.shape[0])), heads=list(range(array.shape[1])),
                           truncated=len(full) > len(ids))


# ---------------------------------------------------------------- many sentences

def batch_attentions(model, tokenizer, texts: list, *, batch_size: int = 32,
                     max_length: int | None = None) -> Iterator[ExampleAttention]:
    """Per-example attention for `texts` (strings, or (a, b) tuples for pairs), in input order, unpadded:
    the padding positions are cut off, so each example's rows still sum to 1."""
    limit = _limit(model, tokenizer, max_length)
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        firsts = [t[0] if isinstance(t, (tuple, list)) else t for t in chunk]
        seconds = [t[1] for t in chunk] if isinstance(chunk[0], (tuple, list)) else None
        encoding = tokenizer(firsts, seconds, truncation=True, max_length=limit, padding=True, return_tensors="pt")
        attentions = _forward(model, encoding)
        if attentions is None:
            raise TuneLabError(f"{type(model).__name__} returned no attention weights; load it with load_attention_model")
        attentions = attentions.numpy()
        for row, (ids, mask) in enumerate(zip(encoding["input_ids"].numpy(), encoding["attention_mask"].numpy())):
            keep = np.flatnonzero(mask)  # padding may sit on either side
            yield ExampleAttention(ids[keep], attentions[:, row][:, :, keep][:, :, :, keep])
