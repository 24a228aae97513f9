"""Running a model over an encoded split: logits in the split's order, and the task's scores.

Shared by training-time evaluation (fit), `tunelab eval`, the Predictor's batch mode and the checks; the model is
a PyTorch module or, where the ONNX backend serves it, an ONNX Runtime session over the fused (or int8) graph.
"""

from __future__ import annotations

import numpy as np
import torch

from .batching import EncodedSplit, collate, sorted_batches


class ScoringCancelled(Exception):
    """Raised by predict_outputs when its cancel event is set between two batches."""


@torch.inference_mode()
def predict_outputs(model, split: EncodedSplit, batch_size: int, device, pad_id: int, autocast=None,
                    cancel=None, progress=None, examples: np.ndarray | None = None) -> np.ndarray | list:
    """Logits (or regression values) for every example, in the split's order: one array (examples, outputs), or,
    for a model with outputs per token, a list of (tokens, outputs) arrays cut to each example's length. `cancel`
    (a threading.Event) is checked between batches, so a stop request does not wait for a long pass to end;
    `progress(done, total)` hears how many examples are scored after each batch. `examples` (indices into the
    split) scores only those, in that order (one process's share of a multi-process evaluation).
    `model` may also be an ONNX Runtime session (onnx_runtime.OnnxClassifier): each batch is padded the same way and
    run through its graph (fp32 fused, or int8), on the CPU."""
    graph = not isinstance(model, torch.nn.Module)
    if not graph:
        model.eval()
    examples = np.arange(len(split)) if examples is None else np.asarray(examples, dtype=np.int64)
    out = [None] * len(examples)
    done = 0
    for at in sorted_batches(split.lengths[examples], batch_size):
        if cancel is not None and cancel.is_set():
            raise ScoringCancelled()
        if progress is not None:
            progress(done, len(examples))
        done += len(at)
        index = examples[at]
        batch = collate(split, index, pad_id)
        for key in split.label_keys:
            batch.pop(key, None)
        if graph:
            logits = model.logits({k: v.numpy() for k, v in batch.items()})
        else:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            if autocast is not None:
                with autocast():
                    logits = logits_of(model(**batch))
            else:
                logits = logits_of(model(**batch))
            logits = logits.float().cpu().numpy()
        per_token = logits.ndim == 3
        for row, (j, i) in enumerate(zip(at, index)):
            out[j] = logits[row, :split.lengths[i]] if per_token else logits[row]
    if out and out[0] is not None and np.ndim(out[0]) == 2:
        return out
    return np.stack(out)


def logits_of(output) -> torch.Tensor:
    """A model output's logits: `logits`, or for a span head (extractive QA) its start and end logits as two outputs
    per token, (batch, tokens, 2)."""
    logits = getattr(output, "logits", None)
    if logits is None:
        logits = torch.stack((output.start_logits, output.end_logits), dim=-1)
    return logits


def count_broken(outputs) -> int:
    """How many examples have a NaN or infinite output (outputs as predict_outputs returns them)."""
    if isinstance(outputs, list):
        return sum(not np.isfinite(o).all() for o in outputs)
    return int(np.count_nonzero(~np.isfinite(outputs).all(axis=-1)))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits, row by row (shifted by the row maximum, so large logits stay finite)."""
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def score_outputs(task: str, outputs, encoded: EncodedSplit, label_names, metric: str) -> dict[str, float]:
    """The task's scores of `outputs` against `encoded`'s labels, plus the figure of merit `metric` (computed through
    evaluate if not built in)."""
    from .tasks.base import task_for

    return task_for(task).score(outputs, encoded, label_names, metric)
