"""What every TuneLab screen shares: the navigation line on top, the footer of keys at the bottom, and the
way a screen's thread workers report errors (the engine's one-line message as a notification, never a
traceback). Screens subclass `TuneLabScreen`, set `MODE` to their mode name and implement `compose_body`.
"""

from __future__ import annotations

import gc
import time

from textual import events, on
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import Worker, WorkerState, get_current_worker

from ..widgets.nav_bar import NavBar


NOTIFY_CHARS = 300   # a notification is a line or three of a toast, never a screenful


def one_line(message: str, limit: int = NOTIFY_CHARS) -> str:
    """`message` cut to `limit` characters (a message that lists thousands of labels would fill the screen)."""
    message = str(message)
    return message if len(message) <= limit else message[: limit - 1].rstrip() + "…"


def error_text(error: BaseException | None) -> str:
    """What the user reads for an error: the engine's own message for a TuneLabError (the same line the CLI
    prints), else the exception's type and message (a bug, but still no traceback on screen)."""
    from tunelab.core.errors import TuneLabError

    if error is None:
        return "unknown error"
    if isinstance(error, TuneLabError):
        return str(error)
    if isinstance(error, MemoryError):
        return "out of memory"
    return f"{type(error).__name__}: {error}"


class TuneLabScreen(Screen):
    """A screen with the navigation line and the footer; the body comes from `compose_body`."""

    MODE = ""
    TITLE_TEXT = ""

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def _on_mount(self, event: events.Mount) -> None:
        # A screen's widgets live as long as the app. Moving them out of the collector's sight (gc.freeze) keeps
        # full collections short: with the Train and Runs screens made, each one took ~80 ms on the event loop,
        # a few times a minute while a run was followed, and a key pressed then waited for it.
        self.call_after_refresh(gc.freeze)

    # Switching modes re-applies the stylesheet to every widget of the resumed screen (Textual does it in case
    # the theme changed meanwhile). The Train form alone is ~100 widgets, so a switch took ~0.1 s of CPU; the
    # styles only need it when the theme or the size did change while the screen was away.
    _suspended_as: tuple | None = None

    def _on_screen_suspend(self) -> None:
        self._suspended_as = (self.app.theme, self.app.size)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        if event.refresh_styles and self._suspended_as == (self.app.theme, self.app.size):
            event.prevent_default()
            Screen._on_screen_resume(self, events.ScreenResume(refresh_styles=False))

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """A notification shown literally: TuneLab's messages quote user text (labels, sentences, paths) that may
        hold [brackets], which markup would drop or fail on. The app cuts it to a toast's length."""
        kwargs = {} if timeout is None else {"timeout": timeout}
        self.app.notify(one_line(message), title=title, severity=severity, markup=markup, **kwargs)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A thread worker of this screen failed: say why in a notification, and let the screen recover."""
        if event.state == WorkerState.ERROR:
            event.stop()
            self.worker_failed(event.worker, event.worker.error)
            self.notify(error_text(event.worker.error), severity="error", timeout=8)

    def worker_failed(self, worker: Worker, error: BaseException | None) -> None:
        """Hook: put the screen back in a usable state after `worker` raised."""


class JobScreen(TuneLabScreen):
    """A screen that runs one long job at a time in a thread worker (Evaluate scores a model, Check runs its
    battery): while it runs the screen has the `-running` class and a status line ticking every half second;
    a newer start or a cancel makes any result still on its way stale (a token says which), and the result
    comes back as `Finished` or, for the user's mistake, `Failed` with the engine's one line.

    A subclass sets the worker group, the notification title and the word for a failure, and implements
    `job_status(elapsed)` (the ticking line), `_set_message` and `job_finished(result)`; its worker wraps the
    engine call in `report_job(token, call)`."""

    JOB_GROUP = ""
    JOB_TITLE = ""
    JOB_FAILED = "failed"

    class Finished(Message):
        def __init__(self, token: int, report) -> None:
            super().__init__()
            self.token, self.report = token, report

    class Failed(Message):
        def __init__(self, token: int, error: str) -> None:
            super().__init__()
            self.token, self.error = token, error

    _token = 0
    _started = 0.0
    _ticker: Timer | None = None

    def start_job(self, message: str) -> int:
        """Mark the screen running and return the new job's token (a job still running becomes stale)."""
        self._token += 1
        self._started = time.monotonic()
        self.add_class("-running")
        self._set_message(message)
        if self._ticker is None:
            self._ticker = self.set_interval(0.5, self._tick)
        return self._token

    def report_job(self, token: int, call) -> None:
        """In the worker: run `call()` and post its result, or its TuneLabError, unless cancelled meanwhile."""
        from tunelab.core.errors import TuneLabError

        worker = get_current_worker()
        try:
            result = call()
        except TuneLabError as err:
            if not worker.is_cancelled:
                self.post_message(self.Failed(token, str(err)))
            return
        if not worker.is_cancelled:
            self.post_message(self.Finished(token, result))

    def action_cancel(self) -> None:
        if self.has_class("-running"):
            self.cancel_job()
            self.workers.cancel_group(self, self.JOB_GROUP)
            self._token += 1  # anything still on its way is stale
            self._stop_running(f"cancelled after {time.monotonic() - self._started:.0f} s")

    def cancel_job(self) -> None:
        """Hook: ask the engine to stop early (thread workers cannot be interrupted)."""

    def _tick(self) -> None:
        if self.has_class("-running"):
            self._set_message(self.job_status(time.monotonic() - self._started))

    def job_status(self, elapsed: float) -> str:
        return f"{elapsed:.0f} s  (x cancels)"

    def _stop_running(self, message: str) -> None:
        self.remove_class("-running")
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._set_message(message)

    def _set_message(self, text) -> None:
        raise NotImplementedError

    def job_finished(self, report) -> None:
        raise NotImplementedError

    @on(Finished)
    def _job_finished(self, event: Finished) -> None:
        if event.token == self._token:
            self._stop_running("")
            self.job_finished(event.report)

    @on(Failed)
    def _job_failed(self, event: Failed) -> None:
        if event.token == self._token:
            self._stop_running(f"{self.JOB_FAILED}: {event.error}")
            self.notify(event.error, title=self.JOB_TITLE, severity="error")

    def worker_failed(self, worker: Worker, error: BaseException | None) -> None:
        if worker.group == self.JOB_GROUP:
            self._stop_running("failed")
