"""What every TuneLab screen shares: the navigation line on top, the footer of keys at the bottom, and the
way a screen's thread workers report errors (the engine's one-line message as a notification, never a
traceback). Screens subclass `TuneLabScreen`, set `MODE` to their mode name and implement `compose_body`.
"""

from __future__ import annotations

import gc

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from ..widgets.nav_bar import NavBar


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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A thread worker of this screen failed: say why in a notification, and let the screen recover."""
        if event.state == WorkerState.ERROR:
            event.stop()
            self.worker_failed(event.worker, event.worker.error)
            self.notify(error_text(event.worker.error), severity="error", timeout=8)

    def worker_failed(self, worker: Worker, error: BaseException | None) -> None:
        """Hook: put the screen back in a usable state after `worker` raised."""
