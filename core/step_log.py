"""The training loss log: every optimizer step's loss, kept on the device and emitted as StepLogged events in batches.

One host sync per flush instead of one per step, and no loss point is ever dropped; a NaN or infinite loss is
noticed at the flush that reads it (no extra sync) and kept for the trainer, which fails the run on it.
Called by core/fit.py's training loop.
"""

from __future__ import annotations

import math
import time

import torch

from .events import StepLogged
from .gpu_status import STATUS_SECONDS, gpu_records


class StepLog:
    """Keeps every optimizer step's loss on the device and emits them as StepLogged events at most every
    `interval` seconds (and before evaluations, checkpoints and the end): one host sync per flush instead of
    one per step, and no loss point is ever dropped. Throughput is measured over each flush window."""

    def __init__(self, emit, interval: float, device=None, gpu_seconds: float = STATUS_SECONDS):
        self.emit, self.interval = emit, interval
        self.cuda = device is not None and getattr(device, "type", "") == "cuda"
        self.gpu_seconds = gpu_seconds          # NVML's GPU status goes into an event at most this often
        self.gpu_at: float | None = None        # time.monotonic() of the last GPU status (None: none yet)
        self.pending: list = []
        self.seconds, self.samples = 0.0, 0
        self.non_finite: tuple[int, float] | None = None   # (step, loss) of the first NaN or infinite loss
        self.restart_clock()

    def restart_clock(self) -> None:
        self.window_start = time.perf_counter()

    def add(self, step: int, epoch: float, loss, lr: float, samples: int, tokens: int) -> None:
        self.pending.append((step, epoch, loss, float(lr), samples, tokens))
        if time.perf_counter() - self.window_start >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Emit the pending steps; stop at the first non-finite loss (kept in `non_finite`, never emitted:
        events.jsonl is strict JSON, and the trainer fails the run on it)."""
        if not self.pending or self.non_finite is not None:
            self.pending.clear()
            return
        losses = torch.stack([p[2] for p in self.pending]).float().tolist()
        elapsed = max(time.perf_counter() - self.window_start, 1e-9)
        samples, tokens = sum(p[4] for p in self.pending), sum(p[5] for p in self.pending)
        self.seconds += elapsed
        self.samples += samples
        rss = round(_rss_mb(), 1)
        gpu = round(torch.cuda.max_memory_allocated() / 2**20, 1) if self.cuda else 0.0
        gpus = self._gpu_status()
        last = len(self.pending) - 1
        for i, ((step, epoch, _, lr, _, _), loss) in enumerate(zip(self.pending, losses)):
            if not math.isfinite(loss):
                self.non_finite = (step, loss)
                break
            self.emit(StepLogged(step, round(epoch, 4), loss, lr, samples / elapsed, tokens / elapsed, rss, gpu,
                                 gpus if i == last else []))
        self.pending.clear()
        self.restart_clock()

    def _gpu_status(self) -> list[dict]:
        """NVML's GPU status for this flush's last event: on CUDA, at the first flush and then every
        `gpu_seconds`; [] otherwise (and where NVML cannot say)."""
        now = time.monotonic()
        if not self.cuda or (self.gpu_at is not None and now - self.gpu_at < self.gpu_seconds):
            return []
        self.gpu_at = now
        return gpu_records()

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20
