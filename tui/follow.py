"""Following a run directory from the TUI, the way toolong follows a log: one thread per run reads the run's
events.jsonl with core's `EventTailer` (whole lines, from a saved offset, safe against truncation), turns runs
of StepLogged events into numpy blocks, and posts them to a widget as `RunEvents`; now and then it asks
`run_info` whether the process still lives and posts `RunStatusChanged` when the verdict changes.

The app never pipes a training process's output into itself: the run writes its directory, this reads it, so a
run started from the CLI is followed the same way as one started from the Train screen, and quitting the app
leaves the run alone. `RunTrace` folds the events into what the status panel shows. Used by RunMonitor
(tui/widgets/run_monitor.py) on the Train and Runs screens, and by bench/bench_tui_lag.py.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tunelab.core.events import (CheckpointSaved, EvalDone, EvalStarted, EventTailer, RunFailed, RunFinished,
                                 RunStarted, SaveStarted, StepLogged)
from tunelab.core.run_status import RunInfo, RunStatus, run_info

from .messages import RunEvents, RunStatusChanged

IDLE_SECONDS = 0.05          # sleep between polls when the log has nothing new (toolong's poll interval)
DONE_IDLE_SECONDS = 0.5      # ... once the run has ended (it may still be resumed from another terminal)
QUEUE_LIMIT = 25             # back off while the target has this many messages waiting
STATUS_QUIET_SECONDS = 2.0   # ask run_info this often while no events arrive (has the process died?)
STATUS_BUSY_SECONDS = 10.0   # ... and this often while they do


@dataclass(frozen=True)
class StepBlock:
    """Consecutive StepLogged events as arrays, plus the last one (throughput and memory for the status)."""

    steps: np.ndarray
    epochs: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    times: np.ndarray
    last: StepLogged
    gpus: list = field(default_factory=list)    # the newest GPU status among them (StepLogged.gpus), [] if none

    @classmethod
    def of(cls, events: list[StepLogged]) -> "StepBlock":
        columns = np.array([(e.step, e.epoch, e.loss, e.learning_rate, e.time) for e in events], dtype=np.float64)
        gpus = next((e.gpus for e in reversed(events) if e.gpus), [])
        return cls(columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3], columns[:, 4], events[-1], gpus)


def chunk_events(events: list) -> list:
    """The events in order, with each run of consecutive StepLogged events folded into one StepBlock."""
    chunks: list = []
    steps: list[StepLogged] = []
    for event in events:
        if isinstance(event, StepLogged):
            steps.append(event)
            continue
        if steps:
            chunks.append(StepBlock.of(steps))
            steps = []
        chunks.append(event)
    if steps:
        chunks.append(StepBlock.of(steps))
    return chunks


def _queue_size(target) -> int:
    queue = getattr(target, "_message_queue", None)
    try:
        return queue.qsize() if queue is not None else 0
    except Exception:
        return 0


class _Followed:
    """Per-run reading state of a RunFollower."""

    def __init__(self, root: Path, now: float) -> None:
        self.root = root
        self.tailer = EventTailer(root / "events.jsonl")
        self.pending: list = []
        self.reset = False
        self.last_key = None
        self.last_check = -1e9
        self.last_news = now
        self.finished = False


class RunFollower:
    """Follows one or more run directories from one thread and posts what it reads to `target` (a widget).

    `run(cancelled)` loops until `cancelled()` is true: call it from a thread worker, passing the worker's
    is_cancelled check, because a thread worker cannot be interrupted. One thread serves every run a monitor
    shows (an overlay of eight runs costs one thread, not eight), so followers never crowd the pool that
    Textual's other thread workers share.
    """

    def __init__(self, roots, target, *, idle: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        self.roots = [Path(r) for r in roots]
        self.target = target
        self.idle = idle
        self.clock = clock
        self.posted_events = 0

    def run(self, cancelled: Callable[[], bool]) -> None:
        followed = [_Followed(root, self.clock()) for root in self.roots]
        while not cancelled():
            states = []
            for one in followed:
                states.append(self._poll(one))
                if cancelled():
                    return
            if "blocked" in states:
                time.sleep(0.1)                           # the target is busy: let it catch up
            elif "more" not in states:
                time.sleep(DONE_IDLE_SECONDS if all(f.finished for f in followed) else self.idle)

    def _poll(self, one: _Followed) -> str:
        """Read what is new in one run and post it: "blocked" (the target's queue is full), "more" (the log has
        more to read at once) or "idle"."""
        batch = one.tailer.poll()
        now = self.clock()
        if batch.reset:
            one.pending, one.reset = [], True
        if batch.events:
            one.pending.extend(batch.events)
            one.last_news = now
            if any(isinstance(e, (RunFinished, RunFailed)) for e in batch.events):
                one.finished, one.last_check = True, -1e9      # say so at once
            elif any(isinstance(e, RunStarted) for e in batch.events):
                one.finished, one.last_check = False, -1e9     # resumed
        if (one.pending or one.reset) and (_queue_size(self.target) < QUEUE_LIMIT or len(one.pending) > 200_000):
            self.posted_events += len(one.pending)
            self.target.post_message(RunEvents(one.root, chunk_events(one.pending), one.reset, source=self))
            one.pending, one.reset = [], False
        quiet = now - one.last_news > 1.0
        if now - one.last_check >= (STATUS_QUIET_SECONDS if quiet else STATUS_BUSY_SECONDS):
            one.last_check = now
            info = run_info(one.root)
            key = (info.status, info.phase, info.reason, info.pid, info.total_steps)
            if key != one.last_key:
                one.last_key = key
                self.target.post_message(RunStatusChanged(one.root, info, source=self))
            one.finished = one.finished or info.status.is_final or info.status == RunStatus.BROKEN
        if one.pending:
            return "blocked"
        return "idle" if one.tailer.caught_up else "more"


class RunTrace:
    """What the status panel shows about one run, folded from its events (and the status function's verdict)."""

    RATE_WINDOW = 64  # StepLogged points kept for the steps-per-second estimate behind the ETA

    def __init__(self, root: str | Path, label: str | None = None) -> None:
        self.root = Path(root)
        self.label = label or self.root.name
        self.started: RunStarted | None = None
        self.last_step: StepLogged | None = None
        self.gpus: list = []            # the newest GPU status the run logged (StepLogged.gpus records)
        self.step = 0
        self.epoch = 0.0
        self.total_steps = 0
        self.figure_of_merit = ""
        self.last_eval: EvalDone | None = None
        self.best: float | None = None
        self.final: RunFinished | RunFailed | None = None
        self.phase = ""
        self.info: RunInfo | None = None
        self.segment_start: float | None = None
        self.seconds_before = 0.0       # time spent in earlier segments (before a resume)
        self.last_time: float | None = None
        self.checkpoint_step = 0
        self._rate: deque[tuple[float, float]] = deque(maxlen=self.RATE_WINDOW)

    # --- folding events -----------------------------------------------------------------------------------------

    def reset(self) -> None:
        self.__init__(self.root, self.label)

    def apply(self, chunk) -> None:
        if isinstance(chunk, StepBlock):
            self.last_step = chunk.last
            self.gpus = chunk.gpus or self.gpus
            self.step = int(chunk.steps[-1])
            self.epoch = float(chunk.epochs[-1])
            self.phase = "training"
            self.last_time = chunk.last.time
            tail = max(0, len(chunk.steps) - self.RATE_WINDOW)
            self._rate.extend(zip(chunk.times[tail:].tolist(), chunk.steps[tail:].tolist()))
            return
        self.last_time = getattr(chunk, "time", self.last_time)
        if isinstance(chunk, RunStarted):
            if self.segment_start is not None and self.last_time is not None and chunk.segment > 1:
                self.seconds_before += max(0.0, (self._segment_end or chunk.time) - self.segment_start)
            self.started = chunk
            self.segment_start = chunk.time
            self.total_steps = chunk.total_steps or self.total_steps
            self.step = chunk.resumed_from_step
            self.final = None
            self.phase = "starting"
            self._rate.clear()
        elif isinstance(chunk, EvalStarted):
            self.phase = "final scoring" if chunk.final else "evaluating"
        elif isinstance(chunk, EvalDone):
            self.last_eval = chunk
            self.figure_of_merit = chunk.figure_of_merit
            if chunk.is_best:
                self.best = chunk.metrics.get(chunk.figure_of_merit, self.best)
            self.phase = "training"
        elif isinstance(chunk, SaveStarted):
            self.phase = "saving"
        elif isinstance(chunk, CheckpointSaved):
            self.checkpoint_step = chunk.step
            self.phase = "training"
        elif isinstance(chunk, RunFinished):
            self.final = chunk
            self.step = max(self.step, chunk.step)
            self.figure_of_merit = chunk.figure_of_merit or self.figure_of_merit
            if chunk.best_metric is not None:
                self.best = chunk.best_metric
            self.phase = ""
        elif isinstance(chunk, RunFailed):
            self.final = chunk
            self.phase = ""
        self._segment_end = self.last_time

    _segment_end: float | None = None

    def set_info(self, info: RunInfo) -> None:
        self.info = info
        if info.total_steps:
            self.total_steps = info.total_steps
        if info.figure_of_merit and not self.figure_of_merit:
            self.figure_of_merit = info.figure_of_merit
        if info.best_metric is not None and self.best is None:
            self.best = info.best_metric

    # --- what to show -------------------------------------------------------------------------------------------

    @property
    def status(self) -> RunStatus:
        """The status function's verdict, overridden by a final event read since (it is fresher), unless the
        verdict is about another process: one that holds the run now, after the segment that wrote the final event
        (resumed a moment ago, still starting), is live and must not be offered a resume again."""
        if self.final is not None and self.info is not None and self.info.status.is_live and self.info.pid \
                and self.started is not None and self.started.pid and self.info.pid != self.started.pid:
            return self.info.status
        if self.final is not None:
            if isinstance(self.final, RunFailed):
                return RunStatus.FAILED
            try:
                return RunStatus(self.final.status)
            except ValueError:
                return RunStatus.COMPLETED
        if self.info is not None:
            if self.info.status.is_final and self.started is not None and self.info.status != RunStatus.CRASHED:
                return RunStatus.RUNNING     # a resume began after the verdict was taken
            return self.info.status
        return RunStatus.RUNNING if self.started is not None else RunStatus.UNKNOWN

    @property
    def is_live(self) -> bool:
        return self.status.is_live

    @property
    def reason(self) -> str:
        if isinstance(self.final, RunFailed):
            return self.final.error
        return self.info.reason if self.info is not None and self.status == self.info.status else ""

    def elapsed(self, now: float) -> float | None:
        """Seconds spent training, over every segment; a live run counts up to `now`."""
        if self.segment_start is None:
            return None
        end = now if self.is_live else (self.final.time if self.final is not None else (self.last_time or now))
        return self.seconds_before + max(0.0, end - self.segment_start)

    def steps_per_second(self) -> float | None:
        if len(self._rate) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None

    def eta(self) -> float | None:
        rate = self.steps_per_second()
        if not rate or not self.total_steps or not self.is_live:
            return None
        return max(0.0, (self.total_steps - self.step) / rate)
