"""`--batch-size auto` and out-of-memory while scoring: the batch sizes fit chooses for the device it runs on.

Training: the largest micro-batch that fits, found with accelerate's `find_executable_batch_size`, starting from
the effective batch the user asked for (32 x --grad-accum) and going down through its divisors, so micro-batch x
gradient accumulation is always exactly that effective batch. Whether a size fits is decided by a probe that fit
supplies (a training step on the longest rows, core/fit.py `_probe_step`); a size fits when the probe raises no
out-of-memory error.

Caveats of `find_executable_batch_size` (accelerate/utils/memory.py) that shape this module:
- it retries only on errors `should_reduce_batch_size` recognises: a RuntimeError with one argument whose text holds
  " out of memory." (CUDA, XPU), "MPS backend out of memory" or the CPU allocator's "can't allocate memory";
  `is_out_of_memory` accepts those and any torch.OutOfMemoryError;
- its default step is x0.9, which would break the effective batch, so `reduce_batch_size_fn` walks the divisors;
- it keeps its size between calls of one decorated function, so a fresh one is decorated for every search;
- the probe must hold nothing once it fails (everything it allocates is local to it), or a smaller size fails too;
- at size 0 it raises a plain RuntimeError, turned here into the one-line TuneLabError fit prints.

Evaluation: an out-of-memory error while scoring halves the evaluation batch and scores the pass again
(`score_lowering_on_oom`), leaving the training batch as it was. Called by core/fit.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .config import AUTO_BATCH, SETTINGS_BY_NAME, FitConfig
from .errors import TuneLabError

DEFAULT_BATCH = SETTINGS_BY_NAME["batch_size"].default   # the micro-batch a user who says nothing gets: 32


@dataclass(frozen=True)
class BatchChoice:
    """The micro-batch and accumulation a run trains with, and how they came about (run.json's "batch")."""

    micro_batch: int
    grad_accum: int
    auto: bool = False                                  # chosen by --batch-size auto
    did_not_fit: tuple[int, ...] = field(default=())    # sizes that ran out of memory, largest first

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.grad_accum

    def record(self) -> dict:
        return {"micro_batch": self.micro_batch, "grad_accum": self.grad_accum, "effective_batch": self.effective_batch,
                "auto": self.auto, "did_not_fit": list(self.did_not_fit)}

    @classmethod
    def from_record(cls, data) -> "BatchChoice | None":
        """The choice saved in run.json's "batch"; None when it is missing or damaged."""
        if not isinstance(data, dict):
            return None
        micro, accum = data.get("micro_batch"), data.get("grad_accum")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (micro, accum)):
            return None
        sizes = data.get("did_not_fit") or []
        return cls(micro, accum, data.get("auto") is True,
                   tuple(s for s in sizes if isinstance(s, int)) if isinstance(sizes, list) else ())


def is_auto(config: FitConfig) -> bool:
    return config.batch_size == AUTO_BATCH


def effective_batch(config: FitConfig) -> int:
    """Examples per optimizer step the user asked for: --batch-size x --grad-accum, auto counting as the default 32."""
    return (DEFAULT_BATCH if is_auto(config) else config.batch_size) * config.grad_accum


def with_batch(config: FitConfig, choice: BatchChoice) -> FitConfig:
    """`config` training with `choice`'s micro-batch and accumulation (numbers, never auto)."""
    from dataclasses import replace

    return replace(config, batch_size=choice.micro_batch, grad_accum=choice.grad_accum)


def starting_choice(config: FitConfig) -> BatchChoice:
    """Where the search starts (the whole effective batch in one micro-batch), or the config's own numbers."""
    if is_auto(config):
        return BatchChoice(effective_batch(config), 1, auto=True)
    return BatchChoice(config.batch_size, config.grad_accum)


def divisors_below(n: int, size: int) -> int:
    """The largest divisor of n below `size`; 0 when there is none (size 1)."""
    return next((d for d in range(size - 1, 0, -1) if n % d == 0), 0)


def is_out_of_memory(err: BaseException) -> bool:
    """An out-of-memory error of the device (or one accelerate's batch-size search would retry on)."""
    import torch
    from accelerate.utils.memory import should_reduce_batch_size

    return isinstance(err, torch.OutOfMemoryError) or (isinstance(err, Exception) and should_reduce_batch_size(err))


def free_device_memory() -> None:
    """Drop what a failed attempt left (its tensors become garbage once its exception is gone) and the cache."""
    from accelerate.utils.memory import clear_device_cache

    clear_device_cache(garbage_collection=True)


def find_micro_batch(config: FitConfig, fits: Callable[[int], None], on_try: Callable[[int], None] | None = None,
                     max_length: int | None = None) -> BatchChoice:
    """The largest micro-batch that divides the effective batch and for which `fits(size)` raises no out-of-memory
    error, through accelerate's find_executable_batch_size. `on_try(size)` hears each size before it is tried.
    A TuneLabError (one line) when not even one example fits."""
    from accelerate.utils import find_executable_batch_size

    effective = effective_batch(config)
    failed: list[int] = []
    size = effective

    def smaller() -> int:                  # after an out-of-memory error at `size`
        nonlocal size
        failed.append(size)
        size = divisors_below(effective, size)
        return size

    def attempt(batch_size: int) -> int:
        if on_try is not None:
            on_try(batch_size)
        fits(batch_size)
        return batch_size

    try:
        micro = find_executable_batch_size(attempt, starting_batch_size=effective, reduce_batch_size_fn=smaller)()
    except RuntimeError as err:
        if not failed or size != 0 or is_out_of_memory(err):
            raise
        length = f" (now {max_length})" if max_length else ""
        tried = ", ".join(map(str, failed))
        raise TuneLabError(f"out of memory even at a micro-batch of 1 (--batch-size auto tried {tried}); "
                           f"try a smaller --max-length{length} or a smaller model") from None
    finally:
        free_device_memory()
    return BatchChoice(micro, effective // micro, auto=True, did_not_fit=tuple(failed))


def score_lowering_on_oom(score: Callable[[int], object], batch_size: int,
                          on_lower: Callable[[int, tuple[int, ...]], None],
                          what: str = "scoring") -> tuple[object, int]:
    """`score(batch_size)`, and on an out-of-memory error the same pass again at half the batch, down to 1;
    `on_lower(new_size, sizes_that_failed)` hears each lowering. Returns (result, the batch size that worked).
    Out of memory at 1 is a TuneLabError naming --max-length."""
    failed: list[int] = []
    while True:
        try:
            return score(batch_size), batch_size
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            if batch_size == 1:
                raise TuneLabError(f"out of memory {what} even one example at a time; try a smaller --max-length "
                                   "or a smaller model") from None
        # out of the except block: the failed pass's tensors are garbage now, and can be freed
        failed.append(batch_size)
        batch_size = max(1, batch_size // 2)
        free_device_memory()
        on_lower(batch_size, tuple(failed))
