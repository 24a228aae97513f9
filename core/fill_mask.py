"""The masked-LM probe: what a model with a masked-language-model head would put in each [MASK].

`fill(model, "The cat sat on the [MASK].")` returns the top-k fillers with their probabilities for every mask
(each mask predicted on its own, as BERT was trained). The user may write `[MASK]` or `<mask>` whatever the
model's own mask token is. A checkpoint without a masked-LM head (a bare encoder such as the bundled MiniLM,
or a fine-tuned classifier) is refused with a clear message: loading it would silently give a random head.
Called by `tunelab fill`, the TUI's probing screen and notebooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .device import pick_device
from .errors import TuneLabError
from .models import load_config, load_pretrained, load_tokenizer, max_positions, resolve_model

MASK_PATTERN = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)
MLM_ARCHITECTURES = ("ForMaskedLM", "ForPreTraining")


@dataclass(frozen=True)
class Filler:
    token: str          # the filler as the tokenizer decodes it ("##s" is a WordPiece continuing a word)
    token_id: int
    probability: float


@dataclass(frozen=True)
class MaskFill:
    position: int                   # index of the mask among the input tokens (0 is [CLS])
    fillers: tuple[Filler, ...]     # most probable first


@dataclass(frozen=True)
class FillResult:
    model: str
    text: str                       # as the user wrote it
    mask_token: str                 # the model's own mask token
    masks: tuple[MaskFill, ...]     # one per mask, left to right
    filled: str                     # the text with every mask replaced by its top filler


def fill(model: str | None, text: str, top_k: int = 5, *, device: str | None = None,
         trust_remote_code: bool = False) -> FillResult:
    """Top-`top_k` fillers with probabilities for every [MASK] (or <mask>) in `text`."""
    from transformers import AutoModelForMaskedLM

    if top_k < 1:
        raise TuneLabError("--top-k must be at least 1")
    pieces = MASK_PATTERN.split(text or "")
    if len(pieces) == 1:
        raise TuneLabError(f"no [MASK] in {text!r}: write the word to predict as [MASK], e.g. \"The cat sat on the [MASK].\"")
    resolved = resolve_model(model, trust_remote_code=trust_remote_code)
    config = load_config(resolved)
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith(MLM_ARCHITECTURES) for a in architectures):
        raise _no_head(resolved.name, f"it is a {architectures[0]}")
    tokenizer = load_tokenizer(resolved)
    if tokenizer.mask_token is None:
        raise _no_head(resolved.name, "its tokenizer has no mask token")
    mlm, info = load_pretrained(AutoModelForMaskedLM, resolved, " as a masked-LM")  # the report becomes the check below
    prefix = mlm.base_model_prefix + "."
    head_missing = [k for k in info.get("missing_keys", []) if not k.startswith(prefix) and not k.startswith("pooler.")]
    if head_missing:
        raise _no_head(resolved.name, f"the checkpoint lacks {sorted(head_missing)[0]}")

    masked = tokenizer.mask_token.join(pieces)
    enc = tokenizer(masked, truncation=True, max_length=max_positions(config), return_tensors="pt")
    positions = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    if len(positions) < len(pieces) - 1:
        raise TuneLabError(f"the text is longer than {resolved.name}'s limit of {max_positions(config)} tokens and a [MASK] falls past it")
    k = min(top_k, mlm.config.vocab_size)
    dev = pick_device(device)
    mlm.to(dev).eval()
    with torch.inference_mode():
        logits = mlm(**{n: t.to(dev) for n, t in enc.items()}).logits[0, positions].float()
    probs, ids = logits.softmax(-1).topk(k, dim=-1)
    masks = tuple(
        MaskFill(pos, tuple(Filler(_as_text(tokenizer, i), i, p) for i, p in zip(row_ids.tolist(), row_probs.tolist())))
        for pos, row_ids, row_probs in zip(positions, ids, probs)
    )
    filled = pieces[0] + "".join(m.fillers[0].token.removeprefix("##") + rest for m, rest in zip(masks, pieces[1:]))
    return FillResult(resolved.name, text, tokenizer.mask_token, masks, filled)


def _as_text(tokenizer, token_id: int) -> str:
    text = tokenizer.decode([token_id]).strip()
    return text or tokenizer.convert_ids_to_tokens(token_id)


def _no_head(name: str, why: str) -> TuneLabError:
    return TuneLabError(
        f"model {name!r} has no masked-LM head ({why}), so it cannot fill a [MASK]; use a model pretrained "
        "with one, e.g. --model bert-base-uncased or a local masked-LM directory"
    )
