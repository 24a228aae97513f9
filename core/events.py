"""Typed progress events of a training run, and their one-JSON-line form.

The trainer emits these to a callback and appends them to the run's `events.jsonl`; the CLI, the TUI and
`read_events` replay them. Fields are plain numbers, strings, lists and dicts so a line round-trips exactly.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterator, Union


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    model: str
    task: str
    device: str
    total_steps: int
    epochs: int
    train_examples: int
    resumed_from_step: int = 0
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StepLogged:
    step: int
    epoch: float
    loss: float
    learning_rate: float
    samples_per_second: float
    tokens_per_second: float
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
class CheckpointSaved:
    step: int
    path: str
    reason: str  # "best", "stop" or "periodic"
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RunFinished:
    step: int
    status: str  # "completed", "early_stopped" or "stopped"
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


Event = Union[RunStarted, StepLogged, EvalDone, CheckpointSaved, RunFinished, RunFailed]
EVENT_TYPES = {cls.__name__: cls for cls in (RunStarted, StepLogged, EvalDone, CheckpointSaved, RunFinished, RunFailed)}
EventCallback = Callable[[Event], None]


def event_to_json(event: Event) -> str:
    return json.dumps({"event": type(event).__name__, **asdict(event)}, ensure_ascii=False)


def event_from_json(line: str) -> Event:
    data = json.loads(line)
    cls = EVENT_TYPES[data.pop("event")]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def read_events(path: str | Path) -> Iterator[Event]:
    """Replay an events.jsonl; a torn last line (a run killed mid-write) is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                yield event_from_json(line)


class EventLog:
    """Appends events to a file, one flushed line each, so a watcher never sees half a line."""

    def __init__(self, path: str | Path):
        self._fh = open(path, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._fh.write(event_to_json(event) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
