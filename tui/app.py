"""TuneLab's Textual app: the screen registry (one mode per screen), app-wide keys, the command palette's
commands, the shared selection (`app.selection`, see tui/selection.py) and the remembered theme.

Screens own their layout, their workers own the long work, core owns the logic; this file only wires them.
`tunelab` (no arguments, on a terminal) and `tunelab tui` start it (tunelab/cli/tui.py). Nothing heavy is
imported here: torch and transformers load in the screens' thread workers, after the first paint.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tunelab.themes import DEFAULT_THEME, THEMES, register_themes, theme_variable_defaults

from . import terminal_safety
from .screens.base import one_line
from .selection import Selection

terminal_safety.install()   # data, labels and paths never drive the terminal (ESC sequences, bidi overrides)

# (mode, key, label in the navigation line, module, class). Each module is imported when its screen is first shown:
# a broken import is a bug that fails loudly, never a screen silently missing from the navigation line.
SCREENS = (
    ("models", "f1", "Models", "tunelab.tui.screens.models", "ModelsScreen"),
    ("data", "f2", "Data", "tunelab.tui.screens.data", "DataScreen"),
    ("train", "f3", "Train", "tunelab.tui.screens.train", "TrainScreen"),
    ("runs", "f4", "Runs", "tunelab.tui.screens.runs", "RunsScreen"),
    ("evaluate", "f5", "Eval", "tunelab.tui.screens.evaluate", "EvaluateScreen"),
    ("predict", "f6", "Predict", "tunelab.tui.screens.predict", "PredictScreen"),
    ("attention", "f7", "Attn", "tunelab.tui.screens.attention", "AttentionScreen"),
    ("check", "f8", "Check", "tunelab.tui.screens.check", "CheckScreen"),
)
STATE_FILE = "tui.json"


def state_path() -> Path:
    from tunelab.core.run_dir import state_dir

    return state_dir() / STATE_FILE


def _switch_bindings() -> list[Binding]:
    bindings = []
    for index, (mode, key, label, _, _) in enumerate(SCREENS):
        bindings.append(Binding(key, f"switch_screen_mode('{mode}')", label, show=False, tooltip=f"the {label} screen"))
        bindings.append(Binding(str(index + 1), f"switch_screen_mode('{mode}')", label, show=False))
    return bindings


class TuneLabApp(App):
    """The TuneLab workbench. Arguments exist mostly for tests and `tunelab tui`:

    selection        what is picked at start (model, data, equation, columns, run)
    start            the first screen's mode (default: train, or runs when `open_run` is given)
    open_run         a run directory to open on the Runs screen at start
    runs_dirs        folders (or run directories) the Runs screen lists; None: the run history and ./runs
    clock            wall-clock for ages and elapsed times (tests pass a fixed one)
    refresh_seconds  how often the Runs screen lists runs again (None: only when shown or asked)
    state_file       where the theme and the model directories are remembered (default: state_dir()/tui.json)
    """

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute, so subclasses elsewhere find it
    TITLE = "TuneLab"
    BINDINGS = [
        *_switch_bindings(),
        Binding("question_mark,f9", "help", "Help", tooltip="every key of every screen"),
        Binding("f10", "next_theme", "Theme", show=False, tooltip="switch to the next TuneLab theme (remembered)"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="leave the app; runs keep going"),
    ]

    def __init__(self, selection: Selection | None = None, *, start: str | None = None, open_run: str | None = None,
                 runs_dirs: list | None = None, clock: Callable[[], float] = time.time,
                 refresh_seconds: float | None = 2.0, state_file: str | Path | None = None,
                 follow_on_train: bool = False) -> None:
        super().__init__()
        self.selection = selection or Selection()
        if open_run:
            self.selection = self.selection.replace(run=str(Path(open_run).resolve()))
        self.open_run = str(Path(open_run).resolve()) if open_run else None
        self.start_mode = start or ("runs" if open_run else "train")
        self.runs_dirs = list(runs_dirs) if runs_dirs is not None else None
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.follow_on_train = follow_on_train
        self.pending_train_run: str | None = None
        self.state_file = Path(state_file) if state_file else None
        self.state: dict = {}
        self.nav_entries = [(mode, key, label) for mode, key, label, _, _ in SCREENS]
        self._screen_table = {entry[0]: entry for entry in SCREENS}
        self._made: dict[str, Screen] = {}
        for mode in self._screen_table:
            self._modes[mode] = functools.partial(self._make_screen, mode)

    # --- start-up -----------------------------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_mount(self) -> None:
        # Followers, chart redraws and engine calls are thread workers: give them more room than the default pool
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=max(16, (os.cpu_count() or 2) + 8), thread_name_prefix="tunelab"))
        register_themes(self)
        self.state = self.load_state()
        theme = self.state.get("theme")
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        mode = self.start_mode if self.start_mode in self._screen_table else "train"
        self.switch_mode(mode)

    # --- screens ------------------------------------------------------------------------------------------------

    def screen_class(self, mode: str) -> type | None:
        """The screen class of `mode`, imported now (None for a mode that is not a screen)."""
        entry = self._screen_table.get(mode)
        return None if entry is None else getattr(importlib.import_module(entry[3]), entry[4])

    def _make_screen(self, mode: str) -> Screen:
        entry = self._screen_table[mode]
        screen = getattr(importlib.import_module(entry[3]), entry[4])()
        self._made[mode] = screen
        return screen

    def made_screen(self, mode: str) -> Screen | None:
        """The screen of `mode` if it has been shown once (screens are made on first use and then kept)."""
        return self._made.get(mode)

    def action_switch_screen_mode(self, mode: str) -> None:
        entry = self._screen_table.get(mode)
        if entry is None:
            self.notify(f"the {mode} screen is not part of this TuneLab yet", severity="warning")
            return
        if mode not in self._made:
            try:
                getattr(importlib.import_module(entry[3]), entry[4])
            except Exception as err:   # a screen that fails to import must not take the app down
                self.notify(f"the {entry[2]} screen cannot open: {type(err).__name__}: {err}", severity="error")
                return
        if self.current_mode != mode:
            self.switch_mode(mode)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "switch_screen_mode" and parameters and parameters[0] not in self._screen_table:
            return False
        return True

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def show_run_on_train(self, root: str | Path) -> None:
        """Switch to the Train screen and follow `root` there, its settings in the form."""
        screen = self.made_screen("train")
        if screen is None:
            self.pending_train_run = str(root)      # the Train screen follows it when it mounts
            self.action_switch_screen_mode("train")
            return
        self.action_switch_screen_mode("train")
        self.call_after_refresh(screen.show_run, root)

    # --- the selection ------------------------------------------------------------------------------------------

    def select(self, **changes) -> Selection:
        """Change what is selected (model, data, eqn, columns, run) and tell every screen made so far."""
        new = self.selection.replace(**changes)
        if new == self.selection:
            return new
        self.selection = new
        for screen in list(self._made.values()):
            handler = getattr(screen, "on_selection_changed", None)
            if handler is not None and screen.is_mounted:
                handler(new)
        return new

    # --- themes and remembered state ----------------------------------------------------------------------------

    def load_state(self) -> dict:
        """tui.json as plain JSON (any damage reads as empty; see tui/state.py)."""
        from .state import StateFile

        self._state_store = StateFile(self.state_file or state_path())
        return self._state_store.load()

    def save_state(self) -> None:
        """Merge this app's changes to `state` into tui.json under its lock: another app's saves are kept."""
        store = getattr(self, "_state_store", None)
        if store is None:
            from .state import StateFile

            store = self._state_store = StateFile(self.state_file or state_path())
        try:
            store.save(self.state)
        except OSError:
            pass   # remembering the theme is a convenience; never fail over it

    def _remember_theme(self, theme) -> None:
        name = getattr(theme, "name", str(theme))
        if self.state.get("theme") != name:
            self.state["theme"] = name
            self.save_state()

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """A notification, shown literally (TuneLab's messages quote labels, sentences and paths, which may hold
        [brackets]) and on one line's worth: see `one_line`."""
        kwargs = {} if timeout is None else {"timeout": timeout}
        super().notify(one_line(message), title=title, severity=severity, markup=markup, **kwargs)

    def action_next_theme(self) -> None:
        names = [t.name for t in THEMES]
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    # --- a bug must not leave a traceback on the user's terminal -----------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """In a real terminal, an unexpected exception (a bug) ends the app with one line and the traceback in
        the state directory; runs are separate processes and go on. Tests (headless) get Textual's behaviour."""
        if self._driver is None or self.is_headless:
            return super()._handle_exception(error)
        import traceback

        from tunelab.core.run_dir import state_dir

        where = state_dir() / "tui-error.log"
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            with open(where, "a", encoding="utf-8") as log:
                log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + "".join(
                    traceback.format_exception(type(error), error, error.__traceback__)) + "\n")
        except OSError:
            where = None
        detail = f"; the traceback is in {where}" if where else ""
        from rich.text import Text

        # a Text, not a string: the error may quote a label or path with brackets, which Rich would read as markup
        self.exit(return_code=1, message=Text(f"tunelab: internal error ({type(error).__name__}: {error}){detail}. "
                                              "Runs started from the app keep going."))

    # --- the command palette ------------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, key, label in self.nav_entries:
            yield SystemCommand(f"Screen: {label}", f"{key.upper()}: go to the {label} screen",
                                functools.partial(self.action_switch_screen_mode, mode))
        yield SystemCommand("Help: keys", "? or F9: every key of every screen", self.action_help)
        for theme in THEMES:
            yield SystemCommand(f"Theme: {theme.name}", "switch to this theme (remembered for next time)",
                                functools.partial(setattr, self, "theme", theme.name))
        seen = set()
        for binding in getattr(type(screen), "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            if screen.check_action(binding.action, ()) is False:
                continue
            yield SystemCommand(binding.description, f"{binding.key}: {binding.tooltip or binding.description}",
                                functools.partial(screen.run_action, binding.action))


def run_app(selection: Selection | None = None, open_run: str | None = None) -> int:
    """Start the app in this terminal (used by `tunelab` and `tunelab tui`)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app = TuneLabApp(selection, open_run=open_run)
    app.run()
    return app.return_code or 0
