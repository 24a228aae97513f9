"""Which attention kernel a model runs with: torch's SDPA, FlashAttention-2, or transformers' eager attention.

SDPA (torch's scaled_dot_product_attention, fused on CUDA and the CPU) is the default everywhere. FlashAttention-2
(`attn_implementation="flash_attention_2"`) needs the `flash-attn` package, a CUDA device, half precision (bf16 or
fp16 autocast) and a model class that has it; given a padding mask, transformers runs its variable-length path,
which unpads the batch so no work is spent on padding. "auto" takes flash where all of that holds, else SDPA;
"flash" asked for where it cannot run is one line saying why. Eager attention is the plain reference
implementation (the only one that returns attention weights).

Called by fit (the --attention setting), evaluation and the Predictor (--attention), and bench/bench_gpu.py.
"""

from __future__ import annotations

import importlib.util

from .config import ATTENTION_CHOICES
from .errors import TuneLabError

IMPLEMENTATION = {"sdpa": "sdpa", "flash": "flash_attention_2", "eager": "eager"}   # our word -> transformers'


def flash_attn_installed() -> bool:
    """The flash-attn package is importable here (transformers then offers flash_attention_2)."""
    if importlib.util.find_spec("flash_attn") is None:
        return False
    try:
        from transformers.utils import is_flash_attn_2_available
    except ImportError:
        return False
    return bool(is_flash_attn_2_available())


def supports_flash(model) -> bool:
    """The model's class has a FlashAttention-2 path in transformers."""
    cls = type(model)
    return bool(getattr(cls, "_supports_flash_attn", False) or getattr(cls, "_supports_flash_attn_2", False))


def flash_problem(model, device, precision: str) -> str | None:
    """Why FlashAttention-2 cannot run for `model` on `device` in `precision` (a phrase), or None when it can
    (`model` None: everything but the model's class is checked, before a model is loaded)."""
    if getattr(device, "type", str(device)) != "cuda":
        return f"it runs only on CUDA GPUs, and this run is on {device}"
    if not flash_attn_installed():
        return "the flash-attn package is not installed (pip install flash-attn --no-build-isolation)"
    if precision not in ("bf16", "fp16"):
        return f"it needs bf16 or fp16, and this run is in {precision}"
    if model is not None and not supports_flash(model):
        return f"{type(model).__name__} has no FlashAttention-2 path in transformers"
    return None


def choose_attention(requested: str | None, model, device, precision: str) -> str:
    """Our word for the kernel to use ("sdpa", "flash" or "eager") for `requested` ("auto", None or one of those);
    TuneLabError when flash is asked for and cannot run here."""
    requested = (requested or "auto").strip().lower()
    if requested not in ATTENTION_CHOICES:
        raise TuneLabError(f"unknown attention {requested!r}; use {', '.join(ATTENTION_CHOICES)}")
    if requested == "auto":
        return "flash" if flash_problem(model, device, precision) is None else "sdpa"
    if requested == "flash":
        problem = flash_problem(model, device, precision)
        if problem:
            raise TuneLabError(f"--attention flash: FlashAttention-2 cannot run here: {problem}; use --attention sdpa "
                               f"(or auto)")
    return requested


def apply_attention(model, requested: str | None, device, precision: str) -> str:
    """Switch `model` (loaded with SDPA) to the kernel `choose_attention` picks; returns our word for it."""
    chosen = choose_attention(requested, model, device, precision)
    if IMPLEMENTATION[chosen] != getattr(model.config, "_attn_implementation", None):
        model.set_attn_implementation(IMPLEMENTATION[chosen])
    return chosen
