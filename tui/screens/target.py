"""What the Evaluate, Predict, Attention and Check screens work on, and how they hand an input to each other.

`selected_target(app)` reads the app's selection (`app.selection`, see tui/selection.py): the run when one is
open and no other model was picked (so `tunelab tui --run runs/demo` evaluates runs/demo), else the picked
model; the data, where a run with the default data keeps its own. A host app without a selection (a test) gets
the bundled model on the demo data. `open_with` shows another screen with an input: in TuneLab's app it
switches to that screen's mode and hands the input over; in a plain app it pushes a new screen.
Nothing here loads a model; `base_model_of` and `run_config_of` read a run's run.json (a small file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

DEFAULT_MODEL = "minilm-l6"  # the bundled encoder: always there, offline
DEFAULT_DATA = "demo"        # the bundled demo set


@dataclass(frozen=True)
class Target:
    model: str                       # what to load: the open run, or the picked model
    data: str | None                 # a --data value, or None to let a run's own data stand
    eqn: str | None                  # an equation, or None for the run's (or the demo data's)
    columns: list[str] | None = None
    run: str | None = None           # the open run directory, if any


def selected_target(app) -> Target:
    """The app's current selection as a `Target` (defaults: the bundled model on the demo data)."""
    selection = getattr(app, "selection", None)
    if selection is None:
        return Target(DEFAULT_MODEL, DEFAULT_DATA, None)
    run = getattr(selection, "run", None) or None
    model = getattr(selection, "model", None) or DEFAULT_MODEL
    use_run = run is not None and model == DEFAULT_MODEL
    data = getattr(selection, "data", None)
    if use_run and data == DEFAULT_DATA:
        data = None  # the run's own data (which is the demo data for a run trained on it)
    columns = getattr(selection, "columns", None)
    return Target(model=str(run if use_run else model), data=data, eqn=getattr(selection, "eqn", None),
                  columns=list(columns) if columns else None, run=run)


def run_config_of(model: str) -> dict | None:
    """The run.json of `model` when it is a TuneLab run, else None (or a TuneLabError for a bad model)."""
    from tunelab.core.models import read_run_config, resolve_model

    return read_run_config(resolve_model(model))


def base_model_of(model: str) -> tuple[str, dict] | None:
    """(base model, run.json) when `model` is a TuneLab run fine-tuned from another model, else None."""
    run = run_config_of(model)
    base = ((run or {}).get("config") or {}).get("model")
    return (str(base), run) if base else None


def open_with(app, mode: str, make: Callable[[], object], **inputs) -> None:
    """Show the screen of `mode` with `inputs` (text, pair, model) handed to its `show_input`."""
    screen_class = getattr(app, "screen_class", None)
    if callable(screen_class) and screen_class(mode) is not None and hasattr(app, "made_screen"):
        app.action_switch_screen_mode(mode)
        screen = app.made_screen(mode)
        if screen is not None and hasattr(screen, "show_input"):
            screen.show_input(**inputs)
            return
    screen = make()
    screen.show_input(**inputs)
    app.push_screen(screen)
