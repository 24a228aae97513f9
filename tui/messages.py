"""Typed Textual messages that carry work done in threads back to the event loop.

Followers (tui/follow.py) post `RunEvents` and `RunStatusChanged`; the screens' workers post the rest. Only
`post_message` crosses from a thread to the UI. A loss point is never dropped: `RunEvents` never replaces
another, while a newer `RunStatusChanged` for the same run replaces one still waiting in the queue.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from .selection import Selection  # noqa: F401  (the app's shared selection; documented in tui/selection.py)


class RunEvents(Message):
    """New events of one followed run, in order: `StepBlock`s (consecutive StepLogged events as arrays) and
    the other events as they were read. `reset`: the log was truncated or replaced; forget what came before."""

    def __init__(self, root: Path, chunks: list, reset: bool = False, source: object = None) -> None:
        super().__init__()
        self.root = root
        self.source = source        # the follower that read them (a monitor ignores a follower it has dropped)
        self.chunks = chunks
        self.reset = reset


class RunStatusChanged(Message):
    """The run-status function's verdict on a followed run changed (status, phase or reason)."""

    def __init__(self, root: Path, info, source: object = None) -> None:
        super().__init__()
        self.root = root
        self.source = source
        self.info = info

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunStatusChanged) and message.root == self.root


class RunLaunched(Message):
    """A detached `tunelab fit` was started (a new run, or a resume)."""

    def __init__(self, root: Path, pid: int, resumed: bool = False) -> None:
        super().__init__()
        self.root = root
        self.pid = pid
        self.resumed = resumed


class RunsListed(Message):
    """A fresh listing of runs (RunInfo, newest first) for the Runs screen."""

    def __init__(self, infos: list, sweeps: dict | None = None) -> None:
        super().__init__()
        self.infos = infos
        self.sweeps = sweeps or {}      # a sweep's folder -> its progress in words, for the runs listed of it

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsListed)


class ModelsListed(Message):
    """The bundled model, the Hugging Face cache and recent runs (core.summary.ModelEntry)."""

    def __init__(self, entries: list) -> None:
        super().__init__()
        self.entries = entries


class ModelCardReady(Message):
    """A model summary (core.summary.ModelSummary) for the model card, or the engine's message for a bad model."""

    def __init__(self, spec: str, summary=None, error: str = "") -> None:
        super().__init__()
        self.spec = spec
        self.summary = summary
        self.error = error


class DataPreviewReady(Message):
    """A data source's column names and its first rows (per split), or the engine's one-line message."""

    def __init__(self, data: str, columns: list[str], rows: list[dict], splits: dict, error: str = "") -> None:
        super().__init__()
        self.data = data
        self.columns = columns
        self.rows = rows
        self.splits = splits
        self.error = error


class DataSummaryReady(Message):
    """`tunelab summary` for the chosen data and equation (core.summary.DataSummary), or the engine's message."""

    def __init__(self, key: tuple, summary=None, error: str = "") -> None:
        super().__init__()
        self.key = key
        self.summary = summary
        self.error = error


class RunsCompared(Message):
    """A fresh comparison (core.compare.Comparison, or None when nothing can be compared yet, with `note` saying
    why) and, for a sweep, its progress line, for the Compare screen."""

    def __init__(self, comparison, note: str = "") -> None:
        super().__init__()
        self.comparison = comparison
        self.note = note

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsCompared)
