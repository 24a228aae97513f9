"""Which device to run on and in which precision, for evaluation, prediction and probing.

CUDA first, then Apple's MPS, then the CPU; on CUDA, bf16 autocast where the GPU has it, else fp16.
(Training gets the same choice through Accelerate.) Called by evaluation, the Predictor and probes.
"""

from __future__ import annotations

import contextlib

import torch


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_for(device: torch.device):
    """A context-manager factory: reduced-precision autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return lambda: torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext
