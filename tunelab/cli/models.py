"""`tunelab models`: the bundled model, models in the Hugging Face cache, and recent runs."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from .common import add_json, console, print_json


def register(sub) -> None:
    p = sub.add_parser("models", help="list the bundled model, cached hub models and recent run outputs",
                       description="List models TuneLab can load without a download.")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.summary import list_models

    entries = list_models()
    if args.json:
        print_json(entries)
        return 0
    table = Table(title="Models", title_justify="left")
    for col in ("name", "source", "detail", "path"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(*(Text(str(v)) for v in (e.name, e.source, e.detail, e.path)))
    console.print(table)
    return 0
