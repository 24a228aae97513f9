"""A tiny app that hosts one of the workbench screens (Evaluate, Predict, Attention, Check) under a TuneLab
theme with a fixed `selection`, shared by the screens' Pilot tests, their SVG snapshots and the end-to-end test.
Also runnable by hand to try a screen in a terminal:

    python tests/tui/screen_apps.py predict --model runs/demo
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

from textual.app import App
from textual.screen import Screen
from textual.widgets import Input

from tunelab.themes import DEFAULT_THEME, register_themes, theme_variable_defaults


@dataclass(frozen=True)
class Selection:
    """The fields of the app's selection the screens read (tui/messages.py holds the app's own)."""

    model: str = "minilm-l6"
    data: str | None = "demo"
    eqn: str | None = None
    columns: tuple | None = None
    run: str | None = None


class ScreenApp(App):
    """Pushes `make()` once mounted; `selection` is what the screen reads as the user's choice."""

    def __init__(self, make: Callable[[], Screen], selection: Selection | None = None,
                 theme: str = DEFAULT_THEME) -> None:
        super().__init__()
        self._make = make
        self._theme_name = theme
        self.selection = selection or Selection()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_mount(self) -> None:
        register_themes(self)
        self.theme = self._theme_name
        self.push_screen(self._make())


def still_cursors(app: App) -> None:
    """Stop the text cursors blinking, for snapshots."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


LONG_LIVED = {"predict"}  # worker groups that run for the life of their screen (the Predict model thread)


async def settle(pilot, rounds: int = 3, timeout: float = 120.0) -> None:
    """Wait for the app's workers (all but the long-lived ones) and the messages they post."""
    import time

    deadline = time.monotonic() + timeout
    for _ in range(rounds):
        await pilot.pause()
        while any(not w.is_finished and w.group not in LONG_LIVED for w in pilot.app.workers):
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the workers")
            await pilot.pause(0.05)
    await pilot.pause()


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Pause until `condition()` holds (workers that never finish, like the Predict model thread, need this)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the screen")
        await pilot.pause(0.05)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("screen", choices=["evaluate", "predict", "attention", "check"])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--run", default=None)
    parser.add_argument("--data", default="demo")
    parser.add_argument("--theme", default=DEFAULT_THEME)
    args = parser.parse_args()
    from tunelab.tui.screens.attention import AttentionScreen
    from tunelab.tui.screens.check import CheckScreen
    from tunelab.tui.screens.evaluate import EvaluateScreen
    from tunelab.tui.screens.predict import PredictScreen

    screens = {"evaluate": EvaluateScreen, "predict": PredictScreen, "attention": AttentionScreen, "check": CheckScreen}
    ScreenApp(screens[args.screen], Selection(model=args.model, data=args.data or None, run=args.run),
              theme=args.theme).run()
    sys.exit(0)
