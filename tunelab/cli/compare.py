"""`tunelab compare RUN... | SWEEP`: runs side by side by cost and score (core/compare.py), as a table, JSON or CSV."""

from __future__ import annotations

import csv
import sys

from .common import add_json, console, print_json


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare runs (or a sweep's runs) by cost and score",
                       description="A table sorted by the figure of merit: the settings that differ, parameters, "
                                   "training time, samples/s, peak memory, best validation and test figures. Runs "
                                   "that differ only by seed are grouped (mean ± std and count).")
    p.add_argument("paths", nargs="+", metavar="RUN|SWEEP", help="run directories, or a sweep's folder")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.add_argument("--no-group", action="store_true", help="one row per run, even when runs differ only by seed")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.compare import compare

    result = compare(args.paths, group_seeds=not args.no_group)
    if args.json:
        print_json({"figure_of_merit": result.figure_of_merit, "higher_is_better": result.higher_is_better,
                    "differing": result.differing, "grouped_by_seed": result.grouped, "rows": result.as_dicts()})
        return 0
    if args.csv:
        rows = result.as_dicts()
        writer = csv.DictWriter(sys.stdout, fieldnames=[k for k in rows[0] if k != "run_dirs"] + ["run_dirs"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "run_dirs": " ".join(row["run_dirs"])})
        return 0
    console.print(render_table(result))
    return 0


def render_table(result):
    from rich.table import Table
    from rich.text import Text

    better = "higher" if result.higher_is_better else "lower"
    title = f"sorted by validation {result.figure_of_merit or 'figure'} ({better} is better)"
    if result.grouped:
        title += "; runs differing only by seed grouped: mean ± std"
    table = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
    names = result.columns()
    settings = len(names) - 7
    for i, name in enumerate(names):
        table.add_column(name, justify="left" if i < settings else "right", overflow="fold")
    for row in result.rows:
        table.add_row(*(Text(c) for c in result.cells(row)))
    return table
