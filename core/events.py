"""Typed progress events of a training run, their one-JSON-line form, and the tailer watchers read them with.

The trainer emits these to a callback and appends them to the run's `events.jsonl` (`EventLog`); `tunelab watch`,
`tunelab runs`, the TUI and `read_events` replay them. Fields are plain numbers, strings, lists and dicts so a
line round-trips exactly. Every line carries the schema version `v`; a reader skips event types it does not know,
so an older watcher can follow a newer trainer.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterator, Union

from . import strict_json

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunStarted:
    """A training segment begins: the first, or one resumed from a checkpoint (resumed_from_step > 0)."""

    run_dir: str
    model: str
    task: str
    device: str
    total_steps: int
    epochs: int
    train_examples: int
    resumed_from_step: int = 0
    segment: int = 1            # 1 for the first start, 2 for the first resume, ...
    pid: int = 0
    host: str = ""
    precision: str = ""         # "fp32", "bf16" (autocast) or "fp16" (autocast with loss scaling); "" in older logs
    tf32: bool = False          # fp32 matrix multiplies ran in TF32 (Ampere and newer GPUs)
    attention: str = ""         # the attention kernel: "sdpa", "flash" (FlashAttention-2) or "eager"
    processes: int = 1          # training processes (one per GPU under accelerate launch / torchrun)
    trainable_parameters: int = 0   # what the optimizer updates (LoRA: adapters and head; 0: not reported)
    total_parameters: int = 0
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StepLogged:
    step: int
    epoch: float
    loss: float
    learning_rate: float
    samples_per_second: float
    tokens_per_second: float
    rss_mb: float = 0.0         # the training process's resident memory when this batch of steps was flushed
    gpu_mb: float = 0.0         # peak GPU memory allocated by torch (0 on CPU)
    gpus: list = field(default_factory=list)   # NVML's view of each visible GPU (core/gpu_status.py GpuStatus
    # records: index, name, used_mb, total_mb, utilization), on one event of a flush every few seconds; [] off CUDA
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class EvalStarted:
    """Scoring begins; a watcher can say "evaluating" during a long pass."""

    step: int
    split: str
    examples: int
    final: bool = False         # True for the scoring of the saved model at the end
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class BatchSizeChosen:
    """The batch in use changed from what the config says: `--batch-size auto` chose its micro-batch and gradient
    accumulation (what="train", before the first step of each segment), or an out-of-memory error while scoring
    lowered the evaluation batch (what="eval"; the training batch is left as it was)."""

    step: int
    what: str                   # "train" or "eval"
    batch_size: int             # the micro-batch (train) or the evaluation batch (eval) used from now on
    grad_accum: int = 1         # micro-batches per optimizer step (train)
    effective_batch: int = 0    # examples per optimizer step, batch_size x grad_accum (train): what the user asked for
    did_not_fit: list = field(default_factory=list)   # the sizes that ran out of memory, largest first
    split: str = ""             # the split being scored when the evaluation batch was lowered (eval)
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class EvalDone:
    step: int
    epoch: float
    split: str
    metrics: dict
    figure_of_merit: str
    is_best: bool
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class SaveStarted:
    """Writing begins: a resumable checkpoint, the best model so far, or the final model."""

    step: int
    what: str                   # "checkpoint", "best" or "model"
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str
    reason: str                 # "best", "stop" or "periodic"
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RunFinished:
    step: int
    status: str                 # "completed", "early_stopped" or "stopped"
    best_metric: float | None
    figure_of_merit: str
    model_dir: str
    seconds: float
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RunFailed:
    step: int
    error: str
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StepCompiled:
    """What became of --compile (core/compile_step.py), once per run segment: the first compiled step finished
    (status "compiled", `seconds` its time, compiling included), or compiling failed and training goes on eagerly
    from the same step (status "fell_back", `reason` the error in one line)."""

    step: int
    status: str                 # "compiled" or "fell_back"
    reason: str = ""
    seconds: float = 0.0
    time: float = field(default_factory=time.time)


Event = Union[RunStarted, StepLogged, EvalStarted, EvalDone, SaveStarted, CheckpointSaved, RunFinished, RunFailed,
              BatchSizeChosen, StepCompiled]
EVENT_TYPES = {cls.__name__: cls for cls in (RunStarted, StepLogged, EvalStarted, EvalDone, SaveStarted,
                                             CheckpointSaved, RunFinished, RunFailed, BatchSizeChosen, StepCompiled)}
FINAL_EVENTS = (RunFinished, RunFailed)
EventCallback = Callable[[Event], None]


def event_to_json(event: Event) -> str:
    """One strict JSON line (a NaN or infinite number is written as null)."""
    return strict_json.dumps({"event": type(event).__name__, "v": SCHEMA_VERSION, **asdict(event)}, ensure_ascii=False)


def event_from_json(line: str) -> Event | None:
    """The event on one line; None for a line that is not an event this version knows (skipped by readers)."""
    try:
        data = strict_json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cls = EVENT_TYPES.get(data.pop("event", None))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:  # a required field is missing: a damaged or foreign line
        return None


def read_events(path: str | Path) -> Iterator[Event]:
    """Replay an events.jsonl; a torn last line (a run killed mid-write) and unknown lines are skipped. Something
    other than a plain file there (a directory, a named pipe that would block) is a TuneLabError naming it."""
    _refuse_odd(Path(path))
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.endswith("\n"):
                event = event_from_json(line)
                if event is not None:
                    yield event


def _refuse_odd(path: Path) -> None:
    if os.path.lexists(path) and not path.is_file():
        from .errors import TuneLabError
        from .liveness import kind_of

        raise TuneLabError(f"{path} is {kind_of(path)}, not an event log; move it away")


def repair_torn_tail(path: Path) -> None:
    """Cut a torn last line (a writer killed mid-line) so the next appended event starts on a line of its own."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            back = min(size, 1 << 20)
            fh.seek(size - back)
            tail = fh.read(back)
            cut = tail.rfind(b"\n")
            fh.truncate(size - back + cut + 1 if cut >= 0 else (0 if back == size else size))
    except FileNotFoundError:
        return


class EventLog:
    """Appends events to a file, one flushed line each, so a watcher never sees half a line."""

    def __init__(self, path: str | Path):
        _refuse_odd(Path(path))
        repair_torn_tail(Path(path))
        self._fh = open(path, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        if self._fh.closed:
            return
        self._fh.write(event_to_json(event) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


@dataclass
class TailBatch:
    events: list
    reset: bool = False          # the file was truncated or replaced: drop what was read before and start over


class EventTailer:
    """Reads new events from an events.jsonl that another process appends to: whole lines only, from a saved
    offset; survives the file being truncated, replaced or not existing yet; skips lines it cannot read.
    `tunelab watch`, `tunelab runs` and the TUI's followers all use this one reader."""

    def __init__(self, path: str | Path, max_bytes: int = 8 << 20):
        self.path = Path(path)
        self.offset = 0
        self.max_bytes = max_bytes    # at most this much per poll, so a huge log is handed over in slices
        self._identity: tuple[int, int] | None = None
        self._partial = b""
        self.problem = ""             # why the log cannot be read ("" while it can, or does not exist yet)

    def poll(self) -> TailBatch:
        try:
            st = os.stat(self.path)
            if not stat.S_ISREG(st.st_mode):      # a directory, or a pipe that would block the reader
                raise IsADirectoryError(errno.EISDIR, "not a plain file")
        except OSError as err:
            self.problem = "" if isinstance(err, FileNotFoundError) else f"{self.path.name} cannot be read ({err.strerror})"
            reset = self._identity is not None
            self._forget()
            return TailBatch([], reset)
        self.problem = ""
        identity = (st.st_dev, st.st_ino)
        reset = False
        if self._identity is not None and (identity != self._identity or st.st_size < self.offset):
            reset = True                    # replaced (new inode) or truncated: read it again from the start
            self._forget()
        self._identity = identity
        if st.st_size == self.offset:
            return TailBatch([], reset)
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(self.max_bytes)
        except OSError as err:
            self.problem = f"{self.path.name} cannot be read ({err.strerror})"
            return TailBatch([], reset)
        self.offset += len(chunk)
        data = self._partial + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return TailBatch([], reset)
        self._partial = data[cut + 1:]
        events = []
        for line in data[:cut].split(b"\n"):
            event = event_from_json(line.decode("utf-8", errors="replace")) if line.strip() else None
            if event is not None:
                events.append(event)
        return TailBatch(events, reset)

    def _forget(self) -> None:
        self.offset, self._identity, self._partial = 0, None, b""

    @property
    def caught_up(self) -> bool:
        try:
            return self.problem != "" or os.stat(self.path).st_size == self.offset
        except OSError:
            return True
