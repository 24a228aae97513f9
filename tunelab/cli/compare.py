"""`tunelab compare RUN... | SWEEP`: runs side by side by cost and score (core/compare.py), as a table, JSON or CSV."""

from __future__ import annotations

import csv
import sys

from .common import add_json, console, print_json

HEADINGS = {"best_validation": "best valid", "test": "test", "train_seconds": "time", "samples_per_second": "samples/s",
            "peak_memory_mb": "peak MB", "trainable_parameters": "trainable", "total_parameters": "params"}


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


def cells(result, row) -> list[str]:
    """The text of one row's cells, in the order of `columns(result)` (shared with the TUI's Compare view)."""
    from tunelab.core.compare import _value_text

    out = [_value_text(row.settings.get(k)) for k in result.differing if not (result.grouped and k == "seed")]
    if not out:
        out = [row.runs[0].name]
    if result.grouped:
        out.append(str(row.count))
    f = row.figures
    out += [f["best_validation"].text(), f["test"].text(), f["train_seconds"].text(".0f") + ("s" if f["train_seconds"].mean is not None else ""),
            f["samples_per_second"].text(".0f"), f["peak_memory_mb"].text(".0f"),
            _count(f["trainable_parameters"].mean), _count(f["total_parameters"].mean)]
    return out


def columns(result) -> list[str]:
    names = [k for k in result.differing if not (result.grouped and k == "seed")] or ["run"]
    if result.grouped:
        names.append("seeds")
    metric = result.figure_of_merit or "figure"
    return names + [f"valid {metric}", f"test {metric}", "time", "samples/s", "peak MB", "trainable", "params"]


def _count(value) -> str:
    if value is None:
        return ""
    value = float(value)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def render_table(result):
    from rich.table import Table
    from rich.text import Text

    better = "higher" if result.higher_is_better else "lower"
    title = f"sorted by validation {result.figure_of_merit or 'figure'} ({better} is better)"
    if result.grouped:
        title += "; runs differing only by seed grouped: mean ± std"
    table = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
    names = columns(result)
    settings = len(names) - 7
    for i, name in enumerate(names):
        table.add_column(name, justify="left" if i < settings else "right", overflow="fold")
    for row in result.rows:
        table.add_row(*(Text(c) for c in cells(result, row)))
    return table
