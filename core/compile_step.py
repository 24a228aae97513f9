"""Compiling the training step with torch.compile (Inductor), and falling back to eager when that fails.

`--compile on` runs the model's forward and backward through `torch.compile`; `off` (the default) runs them
eagerly; `auto` compiles only where bench/bench_fit.py measured a whole-process win, compile time included, which
on CPU it did not (see README, "Speed"), so `auto` is eager on CPU and MPS and compiles on CUDA. Called by fit's
training loop; evaluation, prediction, checkpoints and the saved model always use the plain model, so state dict
keys never carry the compiled wrapper's `_orig_mod.` prefix.

The number of shapes Inductor compiles for is bounded by padding each training batch up to a multiple of
`PAD_MULTIPLE` tokens (`padded_width`), and what it compiles is cached between runs in TuneLab's state folder
(`$TUNELAB_HOME/inductor`, Inductor's FX graph cache), unless TORCHINDUCTOR_CACHE_DIR names another. A compile
that fails (no C++ compiler, an unsupported operation, a backend error) is reported once and the run goes on
eagerly from the same step; an error that is not the compiler's shows again from the eager step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

COMPILE_CHOICES = ("auto", "on", "off")
PAD_MULTIPLE = 16     # batch widths 16, 32, 48, ...: at most max_length / 16 shapes, a few % more padding


def wants_compile(setting: str, device) -> bool:
    """Whether `--compile <setting>` compiles on `device`; auto: only on CUDA (on CPU it did not pay, measured)."""
    if setting == "on":
        return True
    if setting == "auto":
        return torch.device(device).type == "cuda"
    return False


def padded_width(width: int, multiple: int, limit: int | None = None) -> int:
    """`width` rounded up to a multiple of `multiple`, never beyond `limit` (the run's max_length) unless the width
    itself is."""
    if multiple <= 1:
        return width
    rounded = -(-width // multiple) * multiple
    if limit is not None and rounded > limit:
        return max(width, limit)
    return rounded


def inductor_cache_dir():
    """Where compiled kernels are kept between runs: TORCHINDUCTOR_CACHE_DIR if set, else $TUNELAB_HOME/inductor."""
    from pathlib import Path

    from .run_dir import state_dir

    given = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    return Path(given) if given else state_dir() / "inductor"


@dataclass
class CompileOutcome:
    """What became of --compile: "compiled", "eager" (not asked for, or auto chose not to) or "fell_back"."""

    status: str
    reason: str = ""


def compile_model(model):
    """`torch.compile(model)` with Inductor's caches on, in TuneLab's cache folder; compiling itself happens at
    the first call. Raises whatever torch raises when compile is unavailable (the caller falls back)."""
    cache = inductor_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True       # compiled graphs reused across runs (the default in recent torch)
    return torch.compile(model)


def is_compile_error(err: BaseException) -> bool:
    """Whether `err` may be the compiler's doing (then the step is retried eagerly, which shows a real error again).
    Out of memory, interrupts and the user's own errors are never caught."""
    from .errors import TuneLabError

    if isinstance(err, (MemoryError, KeyboardInterrupt, SystemExit, TuneLabError)):
        return False
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return False
    return isinstance(err, Exception)


def describe_error(err: BaseException) -> str:
    """One line naming a compile failure."""
    text = str(err).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), "")
    return f"{type(err).__name__}: {first}"[:300].rstrip(": ")
