"""`tunelab summary` (describe a model or a dataset) and `tunelab cat` (print data as the equation sees it)."""

from __future__ import annotations

import json
import sys

from rich.table import Table

from .common import add_data, add_json, add_model, console, print_json


def register(sub) -> None:
    p = sub.add_parser("summary", help="describe a model (--model) or a dataset (--data --eqn)",
                       description="Describe a model: layers, heads, sizes, parameters per layer. "
                                   "With --data: rows per split, label balance, token lengths, truncation, majority baseline.")
    add_model(p, default=None, help="the model to describe, or whose tokenizer measures --data: " + "hub id, directory, run directory or minilm-l6")
    add_data(p, default=None, note=" (describes the dataset instead of the model)")
    p.add_argument("--max-length", type=int, default=None, help="the truncation length to report on (default: 128, or the model's limit)")
    p.add_argument("--freeze-layers", type=int, default=-1, help="show trainable parameters with embeddings and the first N layers frozen")
    add_json(p)
    p.set_defaults(func=run)

    c = sub.add_parser("cat", help="print a dataset as the equation maps it (TSV: label, input[, input2])",
                       description="Print examples as the equation sees them, tab-separated, or JSON lines with --json.")
    add_data(c)
    c.add_argument("--split", default=None, help="only this split (default: all)")
    c.add_argument("--limit", type=int, default=0, help="at most N rows per split (default: all)")
    add_json(c)
    c.set_defaults(func=run_cat)


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.summary import summarize_data, summarize_model

    if args.data is None and args.model is None:
        raise TuneLabError("give --model M to describe a model, or --data D --eqn E to describe a dataset")
    if args.data is not None:
        s = summarize_data(args.data, args.eqn, columns=args.columns, model=args.model, max_length=args.max_length)
        if args.json:
            print_json(s)
            return 0
        console.print(f"[bold]{s.name}[/]  {s.equation}" + ("  (validation: a seeded 10% of train)" if s.held_out_validation else ""))
        table = Table(title_justify="left")
        table.add_column("split")
        table.add_column("rows", justify="right")
        table.add_column("labels", min_width=26, overflow="fold")
        for col in ("tokens p50/90/99/max", f">{s.max_length} tok", f"majority {s.figure_of_merit}"):
            table.add_column(col, justify="right", no_wrap=True)
        for split, n in s.rows.items():
            bal = s.label_balance.get(split, {})
            labels = ", ".join(f"{k}: {v} ({v / max(1, n):.0%})" for k, v in bal.items()) if "mean" not in bal else \
                f"mean {bal['mean']:.3f} sd {bal['std']:.3f}"
            t = s.token_lengths[split]
            base = s.majority_baseline.get(split)
            table.add_row(split, str(n), labels or "(unlabelled)", f"{t['p50']}/{t['p90']}/{t['p99']}/{t['max']}",
                          f"{s.truncated_share[split]:.1%}", "" if base is None else f"{base:.3f}")
        console.print(table)
        return 0
    m = summarize_model(args.model, args.freeze_layers)
    if args.json:
        print_json(m)
        return 0
    console.print(f"[bold]{m.name}[/]  {m.architecture} ({m.model_type})  {m.path}")
    console.print(f"layers {m.layers}  heads {m.heads}  hidden {m.hidden_size}  intermediate {m.intermediate_size}  "
                  f"vocab {m.vocab_size}  max positions {m.max_positions}")
    console.print(f"parameters {m.total_parameters:,} total, {m.trainable_parameters:,} trainable"
                  + (f"  labels: {', '.join(m.labels)}" if m.labels else "  (no task head: fit adds one)"))
    table = Table(title_justify="left")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    table.add_column("trainable", justify="right")
    for row in m.per_layer:
        table.add_row(row["name"], f"{row['parameters']:,}", f"{row['trainable']:,}")
    console.print(table)
    return 0


def run_cat(args) -> int:
    from tunelab.core.data import load_task_data

    task = load_task_data(args.data, args.eqn, columns=args.columns, hold_out=False)
    splits = [args.split] if args.split else list(task.splits)
    eq = task.equation
    out = sys.stdout
    if not args.json:
        out.write("\t".join(("split", eq.label) + eq.inputs) + "\n")
    for split in splits:
        ds = task.split(split)
        n = len(ds) if not args.limit else min(args.limit, len(ds))
        for row in ds.select(range(n)):
            values = [row.get(eq.label, "")] + [row[c] for c in eq.inputs]
            if args.json:
                out.write(json.dumps({"split": split, eq.label: values[0], **{c: row[c] for c in eq.inputs}}, ensure_ascii=False) + "\n")
            else:
                out.write("\t".join([split] + [str(v).replace("\t", " ").replace("\n", " ") for v in values]) + "\n")
    return 0
