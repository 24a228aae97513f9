"""`tunelab tui`: open the workbench, optionally with a model, data and equation preselected or a run opened.
A bare `tunelab` on a terminal opens it too (tunelab/cli/__init__.py)."""

from __future__ import annotations

from .common import add_data, add_model


def register(sub) -> None:
    p = sub.add_parser("tui", help="open the terminal workbench (also: tunelab with no arguments)",
                       description="Pick a model and data, train while watching live curves, follow, compare, "
                                   "stop and resume runs. Runs started here outlive the app.")
    add_model(p)
    add_data(p)
    p.add_argument("--run", default=None, metavar="DIR", help="open this run directory on the Runs screen")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.tui.app import run_app
    from tunelab.tui.selection import Selection

    if args.run is not None:
        from pathlib import Path

        if not Path(args.run).is_dir():
            raise TuneLabError(f"--run {args.run!r} is not a directory")
    import sys

    if not (sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty()):
        raise TuneLabError("the workbench needs a terminal (its input and output are not one); "
                           "the other verbs work without one, e.g. tunelab fit, tunelab runs")
    selection = Selection(model=args.model or "minilm-l6", data=args.data or "demo", eqn=args.eqn,
                          columns=tuple(args.columns) if args.columns else None)
    return run_app(selection, open_run=args.run)


def open_default() -> int:
    """A bare `tunelab` on a terminal: the bundled model and the demo data, ready to train."""
    from tunelab.tui.app import run_app

    return run_app()
