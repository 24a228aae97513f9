"""`tunelab summary` (describe a model or a dataset) and `tunelab cat` (print data as the equation sees it)."""

from __future__ import annotations

import sys

from rich.table import Table
from rich.text import Text

from tunelab.core import strict_json

from .common import add_data, add_json, add_model, add_trust_remote_code, console, literal, print_json, visible


def register(sub) -> None:
    p = sub.add_parser("summary", help="describe a model (--model) or a dataset (--data --eqn)",
                       description="Describe a model: layers, heads, sizes, parameters per layer. "
                                   "With --data: rows per split, label balance, token lengths, truncation, majority baseline.")
    add_model(p, default=None, help="the model to describe, or whose tokenizer measures --data: " + "hub id, directory, run directory or minilm-l6")
    add_data(p, default=None, note=" (describes the dataset instead of the model)")
    p.add_argument("--max-length", type=int, default=None, help="the truncation length to report on (default: 128, or the model's limit)")
    p.add_argument("--freeze-layers", type=int, default=-1, help="show trainable parameters with embeddings and the first N layers frozen")
    p.add_argument("--lora-r", type=int, default=None, metavar="R",
                   help="show trainable parameters as fit --lora-r R trains them (adapters and the head)")
    p.add_argument("--lora-targets", default="", metavar="NAMES",
                   help="with --lora-r: the modules that get adapters (default: PEFT's for the architecture)")
    add_trust_remote_code(p)
    add_json(p)
    p.set_defaults(func=run, first_words=lambda a: f"reading {a.data}" if a.data is not None else None)

    c = sub.add_parser("cat", help="print a dataset as the equation maps it (TSV: label, input[, input2])",
                       description="Print examples as the equation sees them, tab-separated, or JSON lines with --json.")
    add_data(c)
    c.add_argument("--split", default=None, help="only this split (default: all)")
    c.add_argument("--limit", type=int, default=0, help="at most N rows per split (default 0: all)")
    add_json(c)
    c.set_defaults(func=run_cat)


def run(args) -> int:
    from tunelab.core.config import SETTINGS_BY_NAME
    from tunelab.core.errors import TuneLabError

    from tunelab.core.summary import summarize_data, summarize_model

    from .progress import said, say

    if args.data is None and args.model is None:
        raise TuneLabError("give --model M to describe a model, or --data D --eqn E to describe a dataset")
    _check(SETTINGS_BY_NAME["max_length"], args.max_length)      # the ranges and complaints of fit's flags
    _check(SETTINGS_BY_NAME["freeze_layers"], args.freeze_layers)
    if args.data is not None and args.freeze_layers != -1:
        raise TuneLabError("--freeze-layers is for describing a model; with --data the summary is of the dataset")
    _check(SETTINGS_BY_NAME["lora_r"], args.lora_r)
    if args.lora_r is not None or args.lora_targets:
        from tunelab.core.config import FitConfig, refuse_conflicting_adaptation

        if args.data is not None:
            raise TuneLabError("--lora-r is for describing a model; with --data the summary is of the dataset")
        refuse_conflicting_adaptation(FitConfig(lora_r=args.lora_r, lora_targets=args.lora_targets,
                                                freeze_layers=args.freeze_layers))
    if args.data is None and args.max_length is not None:
        raise TuneLabError("--max-length is for describing a dataset (--data D --eqn E); a model summary does not use it")
    if args.data is not None:
        try:
            s = summarize_data(args.data, args.eqn, columns=args.columns, model=args.model, max_length=args.max_length,
                               on_phase=say, trust_remote_code=args.trust_remote_code)
        finally:
            said()
        if args.json:
            print_json(s)
            return 0
        console.print(f"[bold]{literal(s.name)}[/]  {literal(s.equation)}" + ("  (validation: a seeded 10% of train)" if s.held_out_validation else ""))
        table = Table(title_justify="left")
        table.add_column("split", no_wrap=True)
        table.add_column("rows", justify="right", no_wrap=True)
        table.add_column("labels", min_width=16, overflow="fold")
        # two-line headers keep every column in sight at 80 columns (a too-wide table would crop the last ones)
        for col in ("tokens\np50/90/99/max", f">{s.max_length}\ntokens", f"majority\n{s.figure_of_merit}"):
            table.add_column(col, justify="right", no_wrap=True)
        for split, n in s.rows.items():
            bal = s.label_balance.get(split, {})
            per = s.token_details.get(split, {}).get("words", n)    # tags are counted per word, labels per row
            if bal and all(isinstance(v, dict) for v in bal.values()):     # several regression outputs: each its own
                labels = "\n".join(f"{name}: {_moments(v)}" for name, v in bal.items())
            else:
                labels = _balance(bal, per) if "mean" not in bal else _moments(bal)
            t = s.token_lengths[split]
            base = s.majority_baseline.get(split)
            table.add_row(Text(split), str(n), Text(labels or "(unlabelled)"), f"{t['p50']}/{t['p90']}/{t['p99']}/{t['max']}",
                          f"{s.truncated_share[split]:.1%}", "" if base is None else _number(base))
        console.print(table)
        if s.task_details:
            console.print(_task_table(s.task_details))
        from tunelab.core.overlap import overlap_line

        for line in [overlap_line([o]) for o in s.overlaps()] + _token_lines(s) + s.notes + s.warnings:   # plain text
            console.print(line, markup=False, highlight=False)
        return 0
    m = summarize_model(args.model, args.freeze_layers, lora_r=args.lora_r, lora_targets=args.lora_targets,
                        trust_remote_code=args.trust_remote_code)
    if args.json:
        print_json(m)
        return 0
    console.print(f"[bold]{literal(m.name)}[/]  {literal(m.architecture)} ({literal(m.model_type)})  {literal(m.path)}")
    console.print(f"layers {m.layers}  heads {m.heads}  hidden {m.hidden_size}  intermediate {m.intermediate_size}  "
                  f"vocab {m.vocab_size}  max positions {m.max_positions}")
    console.print(f"parameters {m.total_parameters:,} total, {m.trainable_parameters:,} trainable"
                  + (f"  labels: {literal(_some_labels(m.labels))}" if m.labels else "  (no task head: fit adds one)"))
    if m.fine_tuning:
        from tunelab.core.adaptation import trained_text

        trained = trained_text(m.fine_tuning)
        console.print(Text(f"fine-tuned: {m.fine_tuning['method']}" + (f"; {trained}" if trained else "")))
    table = Table(title_justify="left")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    table.add_column("trainable", justify="right")
    for row in m.per_layer:
        table.add_row(Text(row["name"]), f"{row['parameters']:,}", f"{row['trainable']:,}")
    console.print(table)
    return 0


def _task_table(details: dict) -> Table:
    """A task's own figures (DataSummary.task_details: extractive QA's question and context lengths, windows,
    answers), a row per figure and a column per split: lengths as p50/p90/max, shares as percentages, counts."""
    splits = list(details)
    names = list(dict.fromkeys(k for info in details.values() for k in info))
    table = Table(title_justify="left", title="per split (lengths in tokens: p50/p90/max)")
    table.add_column("")
    for split in splits:
        table.add_column(Text(split), justify="right", no_wrap=True)

    def shown(name, value) -> str:
        if value is None:
            return ""
        if isinstance(value, dict):
            return "/".join(str(value[k]) for k in ("p50", "p90", "max") if k in value) or "-"
        if isinstance(value, float):
            return f"{value:.1%}" if name.endswith("share") else _number(value)
        return f"{value:,}" if isinstance(value, int) else str(value)

    for name in names:
        label = name.replace("_", " ").removesuffix(" share")
        table.add_row(Text(label), *(shown(name, details[split].get(name)) for split in splits))
    return table


def _token_lines(s) -> list[str]:
    """For token tags, per split: words per sentence, words past --max-length, entities per type, scheme breaks."""
    lines = []
    for split, d in s.token_details.items():
        w = d["words_per_sentence"]
        cut = d["words_beyond_max_length"]
        parts = [f"{split}: {d['words']:,} words, p50/p90/p99/max {w['p50']}/{w['p90']}/{w['p99']}/{w['max']} a sentence",
                 f"{cut:,} words ({cut / max(1, d['words']):.2%}) beyond --max-length {s.max_length} (scored as missed)"]
        if "entities" in d:
            parts.append("entities " + (_most_entities(d["entities"]) or "none"))
            parts.append(f"{d['sentences_without_entity']:,} sentences without an entity")
            if d["scheme_breaks"]:
                parts.append(f"{d['scheme_breaks']:,} tag rows break IOB2 ({'; '.join(d['scheme_break_examples'])})")
        lines.append("; ".join(parts))
    return lines


def _most_entities(counts: dict) -> str:
    """Entity counts per type, the SHOWN_LABELS most frequent (in type order) and how many more: a dataset may have
    thousands of types, and one line naming them all fills the screen."""
    top = sorted(sorted(counts, key=lambda k: -counts[k])[:SHOWN_LABELS])
    more = len(counts) - len(top)
    return ", ".join(f"{k} {counts[k]:,}" for k in top) + (f" and {more:,} more types (--json for all)" if more else "")


def _number(value: float) -> str:
    """A label statistic: 3 decimals, or 3 significant digits for a value too large for them (1e+308)."""
    return f"{value:.3f}" if abs(value) < 1e9 else f"{value:.3g}"


SHOWN_LABELS = 20   # label counts a split's row lists (the most frequent); a dataset may have thousands of classes


def _moments(bal: dict) -> str:
    return f"mean {_number(bal['mean'])} sd {_number(bal['std'])}"


def _balance(counts: dict, rows: int) -> str:
    """A split's label counts, one per line: all of them up to SHOWN_LABELS, else the most frequent and how many more."""
    items = list(counts.items())
    if len(items) > SHOWN_LABELS:
        items = sorted(items, key=lambda kv: -kv[1])[:SHOWN_LABELS]
    lines = [f"{k}: {v} ({v / max(1, rows):.0%})" for k, v in items]
    if len(counts) > len(items):
        lines.append(f"… and {len(counts) - len(items):,} more labels")
    return "\n".join(lines)


def _some_labels(labels: list) -> str:
    from tunelab.core.errors import some_of

    return some_of(labels, 20)


def _check(setting, value) -> None:
    """A flag's value against its declared range (tunelab.core.config.Setting), as one line."""
    from tunelab.core.errors import TuneLabError

    problem = setting.check(value)
    if problem:
        raise TuneLabError(problem)


def _limit_setting():
    from tunelab.core.config import Setting

    return Setting("limit", int, 0, "at most N rows per split (0: all)", minimum=0, maximum=10**12, flag="--limit",
                   metavar="N", group="data")


def run_cat(args) -> int:
    from tunelab.core.data import SPLIT_ALIASES, load_task_data
    from tunelab.core.errors import TuneLabError

    _check(_limit_setting(), args.limit)
    task = load_task_data(args.data, args.eqn, columns=args.columns, hold_out=False)
    if args.split is None:
        splits = list(task.splits)
    else:
        name = args.split if args.split in task.splits else SPLIT_ALIASES.get(args.split.strip().lower(), args.split)
        if name not in task.splits:  # before the header line, so nothing is half-written
            raise TuneLabError(f"there is no split {args.split!r} in {task.name}; its splits are: {', '.join(task.splits)}")
        splits = [name]
    from tunelab.core.tasks.base import task_for

    kind, out = task_for(task), sys.stdout
    header = kind.cat_header(task.equation)
    if header and not args.json:
        out.write(visible("\t".join(header).replace("\n", " ")) + "\n")
    for split in splits:
        for record, lines in kind.cat_rows(task, split, args.limit or None):
            if args.json:
                out.write(strict_json.dumps({"split": split, **record}, ensure_ascii=False) + "\n")
            else:
                out.writelines("\t".join(visible(str(v).replace("\t", " ").replace("\n", " ")) for v in line) + "\n"
                               for line in lines)
    return 0
