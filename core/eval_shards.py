"""Evaluation spread over the processes of a multi-process run (torchrun, `accelerate launch --multi_gpu`).

Each process scores its own share of the split, and the shares are gathered back into the split's order, so every
process holds the outputs of every example exactly once and the scores equal a single process's.

This is what `Accelerator.gather_for_metrics` does for a prepared DataLoader, done by hand because evaluation here
batches by length without a DataLoader: the shares are fixed from the split's lengths alone (the same on every
process), each share is padded to the longest one (and per-token outputs to the split's longest example) so that
one `gather` moves equal shapes, and the padding is dropped by position afterwards, never by value. The last
uneven share is therefore neither counted twice nor lost.
"""

from __future__ import annotations

import numpy as np
import torch

from .batching import EncodedSplit
from .inference import predict_outputs


def shares(lengths: np.ndarray, world: int) -> list[np.ndarray]:
    """Which examples each process scores: every world-th of the split sorted longest first, so that every process
    gets about the same number of tokens. Together they hold each example once."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[rank::world] for rank in range(world)]


def predict_across(accelerator, model, split: EncodedSplit, batch_size: int, pad_id: int, autocast=None,
                   cancel=None) -> np.ndarray | list:
    """predict_outputs over all of `split`, computed by every process of `accelerator` together: this process
    scores its share, and all of them get the whole split's outputs back in the split's order. `model` must be the
    unwrapped model (a DDP wrapper would synchronise buffers on forwards that the processes do not all take)."""
    world, rank = accelerator.num_processes, accelerator.process_index
    if world == 1:
        return predict_outputs(model, split, batch_size, accelerator.device, pad_id, autocast, cancel=cancel)
    parts = shares(split.lengths, world)
    mine = (predict_outputs(model, split, batch_size, accelerator.device, pad_id, autocast, examples=parts[rank])
            if len(parts[rank]) else [])
    return gather_outputs(accelerator.gather, mine, parts, split.lengths, accelerator.device)


def gather_outputs(gather, mine, parts: list[np.ndarray], lengths: np.ndarray, device) -> np.ndarray | list:
    """Every process's outputs for its share (`mine`, in the order of parts[rank]) put together in the split's order.
    `gather(tensor)` is a collective that concatenates every process's tensor along the first axis in rank order
    (Accelerator.gather). Outputs are one array per example, (outputs,), or for per-token heads (tokens, outputs)."""
    world = len(parts)
    first = mine[0] if len(mine) else None
    # what this process saw: the number of outputs and whether they are per token (a process with no examples
    # says 0 and learns both from the others)
    seen = torch.tensor([[first.shape[-1] if first is not None else 0, int(first is not None and first.ndim == 2)]],
                        dtype=torch.int64, device=device)
    seen = gather(seen).view(world, 2).cpu()
    width, per_token = int(seen[:, 0].max()), bool(seen[:, 1].max())
    rows = max(len(p) for p in parts)
    tokens = int(np.max(lengths)) if per_token else 1
    padded = np.zeros((rows, tokens, width), dtype=np.float32)
    for j, out in enumerate(mine):
        if per_token:
            padded[j, :len(out)] = out
        else:
            padded[j, 0] = out
    every = gather(torch.from_numpy(padded).to(device)).cpu().numpy().reshape(world, rows, tokens, width)
    out: list = [None] * len(lengths)
    for rank, part in enumerate(parts):
        for j, i in enumerate(part):          # rows past len(part) are padding: never read
            out[i] = every[rank, j, :lengths[i]] if per_token else every[rank, j, 0]
    return out if per_token else np.stack(out)
