"""The faithfulness (deletion) check: do the words an attribution method ranks first move the prediction?

For each of up to `limit` sentences of a split, the model's predicted class c and its probability p_c(x) are read;
each method ranks the sentence's words (signed methods: most in favour of c first), and for k = 1..K the top-k words
are deleted (their tokens removed, [CLS] and [SEP] kept) and p_c read again. The drop p_c(x) - p_c(x without them),
averaged over sentences, is the method's deletion curve; its mean over k is the area over the perturbation curve
(AOPC, Samek et al. 2017): higher is more faithful. Random words (RANDOM_DRAWS draws per sentence, seeded) are the
floor every method should clear. A model whose IG top-3 words move its probability no more than 3 random words is
flagged: its predictions do not rest on the words IG names (or IG fails on it), worth a look before trusting either.
The comparison also ranks the methods against each other on the user's own model.

Called by `tunelab explain --faithfulness`, `tunelab check` (its `faithfulness` row) and the TUI's Check screen.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .errors import TuneLabError
from .explain import DEFAULT_STEPS, METHODS, Explainer
from .inference import logits_of

DEFAULT_K = 5               # deletion depths 1..K
DEFAULT_LIMIT = 200         # sentences
FLAG_K = 3                  # the depth at which IG is compared with random words
RANDOM_DRAWS = 3            # random deletions per sentence and depth


@dataclass(frozen=True)
class FaithfulnessReport:
    split: str
    sentences: int
    k: int
    curves: dict              # method -> mean probability drop after deleting its top 1..k words (and "random")
    aopc: dict                # method -> area over the deletion curve (mean of its curve)
    flagged: bool             # IG's top-FLAG_K words move the probability no more than random ones
    detail: str               # one line for the user
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def deletion_curves(explainer: Explainer, texts: list, *, k: int = DEFAULT_K, methods=METHODS,
                    steps: int = DEFAULT_STEPS, seed: int = 0, cancel=None, progress=None) -> tuple[dict, int]:
    """Per method (and "random"), the mean drop in the predicted class's probability after deleting its top 1..k
    words, over `texts` (strings, or (a, b) pairs); and how many sentences were used."""
    if not explainer.kind.deletion_check:
        raise TuneLabError(f"the faithfulness check watches one predicted class per sentence; "
                           f"{explainer.predictor.name} is a {explainer.kind.keyword} model")
    if k < 1:
        raise TuneLabError(f"--k {k}: delete at least 1 word")
    rng = random.Random(seed)
    sums = {m: np.zeros(k) for m in (*methods, "random")}
    used = 0
    for n, text in enumerate(texts):
        if cancel is not None and cancel.is_set():
            break
        if progress is not None:
            progress(n, len(texts))
        a, b = text if isinstance(text, (tuple, list)) else (text, None)
        try:
            prepared = explainer.prepare(a, b)
        except TuneLabError:
            continue                      # an empty line: nothing to delete
        batch, words, _, _, goal = prepared
        orders = {}
        for method in methods:
            scores = explainer.explain(a, b, method=method, steps=steps, prepared=prepared).scores
            orders[method] = [i for i, _ in sorted(enumerate(scores), key=lambda s: -s[1])]
        draws = [rng.sample(range(len(words)), len(words)) for _ in range(RANDOM_DRAWS)]
        variants, owners = [], []
        for depth in range(1, k + 1):
            for method, order in orders.items():
                variants.append(order[:depth])
                owners.append((method, depth))
            for draw in draws:
                variants.append(draw[:depth])
                owners.append(("random", depth))
        probs = _read_without(explainer, batch, words, goal, variants)
        with torch.inference_mode():
            original = float(goal.read(logits_of(explainer.model(**batch)).float())[0])
        for (method, depth), p in zip(owners, probs):
            sums[method][depth - 1] += (original - p) / (RANDOM_DRAWS if method == "random" else 1)
        used += 1
    if used == 0:
        raise TuneLabError("no sentence to run the faithfulness check on")
    return {m: (s / used).tolist() for m, s in sums.items()}, used


def _read_without(explainer: Explainer, batch, words, goal, deletions: list) -> list[float]:
    """The explained scalar on the input with each list of words deleted (their tokens removed), batched."""
    ids = batch["input_ids"][0].tolist()
    rest = {k: v[0].tolist() for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
    rows = []
    for gone in deletions:
        drop = {p for i in gone for p in words[i].positions}
        keep = [t for t in range(len(ids)) if t not in drop]
        rows.append(keep)
    out = []
    pad = explainer.pad_id
    for at in range(0, len(rows), 64):
        part = rows[at:at + 64]
        width = max(len(r) for r in part)
        inputs = {"input_ids": torch.full((len(part), width), pad, dtype=torch.long),
                  "attention_mask": torch.zeros((len(part), width), dtype=torch.long)}
        for name in rest:
            inputs[name] = torch.zeros((len(part), width), dtype=torch.long)
        for r, keep in enumerate(part):
            inputs["input_ids"][r, :len(keep)] = torch.tensor([ids[t] for t in keep])
            inputs["attention_mask"][r, :len(keep)] = 1
            for name, values in rest.items():
                inputs[name][r, :len(keep)] = torch.tensor([values[t] for t in keep])
        inputs = {k: v.to(explainer.device) for k, v in inputs.items()}
        with torch.inference_mode():
            out += goal.read(logits_of(explainer.model(**inputs)).float()).cpu().tolist()
    return out


def faithfulness(explainer: Explainer, texts: list, *, split: str = "", k: int = DEFAULT_K, steps: int = DEFAULT_STEPS,
                 seed: int = 0, cancel=None, progress=None) -> FaithfulnessReport:
    """The deletion check over `texts`: curves, AOPC per method, and the flag (see the module's docstring)."""
    started = time.perf_counter()
    curves, used = deletion_curves(explainer, texts, k=k, steps=steps, seed=seed, cancel=cancel, progress=progress)
    aopc = {m: float(np.mean(c)) for m, c in curves.items()}
    at = min(FLAG_K, k) - 1
    ig, rand = curves["ig"][at], curves["random"][at]
    flagged = ig <= rand
    best = max((m for m in aopc if m != "random"), key=aopc.get)
    detail = (f"deleting IG's top {at + 1} words drops the predicted class's probability by {ig:.3f} on average, "
              f"{'no more than' if flagged else 'against'} {rand:.3f} for {at + 1} random words ({used} sentences); "
              f"most faithful: {best} (AOPC {aopc[best]:.3f}, random {aopc['random']:.3f})")
    return FaithfulnessReport(split, used, k, curves, aopc, flagged, detail, time.perf_counter() - started)


def sentences_of(data, split: str, limit: int, seed: int = 0) -> list:
    """Up to `limit` inputs of a split as the tokenizer reads them (strings, or pairs), a seeded sample when there are
    more."""
    texts = data.texts(split)
    if len(texts) > limit:
        rng = random.Random(seed)
        texts = [texts[i] for i in sorted(rng.sample(range(len(texts)), limit))]
    return texts
