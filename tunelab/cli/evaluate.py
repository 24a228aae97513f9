"""`tunelab eval`: score a model on a split or on any labelled file."""

from __future__ import annotations

from dataclasses import fields

from rich.table import Table
from rich.text import Text

from .common import add_backend, add_data, add_device, add_json, add_model, add_trust_remote_code, console, literal, print_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="score a model on a split or on another labelled file (gft eval)",
                       description="Evaluate a model. For a TuneLab run, --data and --eqn default to the run's own.")
    add_model(p, default=None, help="the model to score: a run directory, a model directory or a hub id")
    add_data(p, default=None, note=" (default: the run's own data and equation)")
    p.add_argument("--split", default=None, help="the split to score, e.g. test or validation (dev and val also work; "
                                                 "default: test, else validation, else the whole file)")
    p.add_argument("--metric", default=None,
                   help="figure of merit: accuracy, f1, macro_f1, mcc, pearson, spearman, mse, entity_f1, entity_precision, "
                        "entity_recall, token_accuracy, exact_match, HasAns_f1, NoAns_f1, or a hub metric name for "
                        "evaluate (default: the run's, else the task's); a local metric script only as a path, "
                        "e.g. ./mymetric/mymetric.py")
    p.add_argument("--max-length", type=int, default=None, help="cut inputs at N tokens (default: a run's own --max-length, else the model's limit, at most 512)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--mistakes", type=int, default=10, help="how many of the most confident mistakes to show (default: 10; 0: none)")
    from tunelab.core.config import SETTINGS_BY_NAME, TASK_OPTIONS

    from .fit import _typed

    for name in TASK_OPTIONS:                # question answering's windows and answer picking (default: the run's)
        s = SETTINGS_BY_NAME[name]
        if s.kind in (int, float):
            p.add_argument(s.flag, type=_typed(s.kind), default=None, metavar=s.metavar,
                           help=s.help + " (default: the run's own)")
    add_trust_remote_code(p)
    add_backend(p, "eval")
    add_device(p)
    add_json(p)
    p.add_argument("--full-confusion", action="store_true",
                   help="with --json: the whole confusion matrix (default: that of the 100 classes with the most "
                        "examples, when there are more: core.top_classes.JSON_CLASSES)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.config import TASK_OPTIONS
    from tunelab.core.errors import TuneLabError
    from tunelab.core.evaluation import evaluate_model
    from tunelab.core.top_classes import SHOWN_CLASSES, sub_confusion, sub_entity_confusion, top_classes

    if args.model is None:
        raise TuneLabError("--model is required: the run directory, model directory or hub id to score")
    r = evaluate_model(args.model, args.data, args.eqn, split=args.split, columns=args.columns, metric=args.metric,
                       max_length=args.max_length, batch_size=args.batch_size, mistakes=args.mistakes,
                       trust_remote_code=args.trust_remote_code, device=args.device,
                       settings={name: getattr(args, name, None) for name in TASK_OPTIONS},
                       backend=args.backend, int8=args.int8)
    if args.json:
        print_json(report_json(r, full_confusion=args.full_confusion))
        return 0
    console.print(f"[bold]{literal(r.model)}[/] on {literal(r.data)} (split {literal(r.split)}), {r.examples} examples, {r.task}")
    base = f"  (majority-class baseline {r.majority_baseline:.4f})" if r.majority_baseline is not None else ""
    if base and r.majority_label is not None:
        accuracy = f", accuracy {r.majority_accuracy:.4f}" if r.majority_accuracy is not None else ""
        base = base[:-1] + f": always {literal(repr(r.majority_label))}{accuracy})"
    console.print(f"[bold]{literal(r.figure_of_merit)} {r.value:.4f}[/]{base}")
    covered = _print_scores(r.scores, r.figure_of_merit, r.per_class)
    if r.int8_agreement is not None:                 # scored with the int8 graph: how far it is from fp32 here
        from tunelab.core.int8_agreement import Agreement

        record = {k: v for k, v in r.int8_agreement.items() if k != "label_agreement"}
        console.print("  " + Agreement(**record).line(), markup=False, highlight=False)
    if r.in_train is not None:                       # plain text: a data path is never read as markup
        from tunelab.core.overlap import Overlap, overlap_line

        console.print(overlap_line([Overlap(r.split, r.in_train, r.examples)], r.train_data or "train"),
                      markup=False, highlight=False)
    if r.per_class and not covered:
        shown = top_classes(r, SHOWN_CLASSES)
        more = len(r.labels or r.per_class) - len(shown)
        which = f", the {len(shown)} with the most examples" if more else ""
        table = Table(title=f"{r.per_class_title}{which}", title_justify="left")
        columns = list(r.per_class[0])      # each row's own scores: label, precision, recall, f1, support for
        for col in columns:                 # classes; label, pearson, spearman, mse, support for outputs
            table.add_column(col, justify="left" if col == "label" else "right")
        for i in shown:
            c = r.per_class[i]
            table.add_row(Text(c["label"]), *(f"{c[k]:.3f}" if isinstance(c[k], float) else str(c[k]) for k in columns[1:]))
        console.print(table)
        if more:
            console.print(f"  … and {more:,} more classes (--json for every class)", style="dim")
        if r.confusion:
            cm = Table(title=f"confusion (rows: gold, columns: predicted){which}", title_justify="left")
            cm.add_column("")
            for i in shown:
                cm.add_column(Text(r.labels[i]), justify="right")
            for i, row in zip(shown, sub_confusion(r, shown)):
                cm.add_row(Text(r.labels[i]), *(str(x) for x in row))
            console.print(cm)
            if more:
                console.print(f"  … and {more:,} more classes (--json --full-confusion for the whole matrix)", style="dim")
    if r.entity_confusion:           # thousands of types: the most frequent, as the per-class table shows them
        shown = top_classes(r, SHOWN_CLASSES)
        more = len(r.labels) - len(shown)
        names, matrix = sub_entity_confusion(r, shown)
        which = f", the {len(shown)} types with the most entities" if more else ""
        console.print(f"entity types (rows: gold, columns: predicted; O: no entity there){which}", style="italic")
        cm = Table()
        cm.add_column("")
        for name in names:
            cm.add_column(Text(name), justify="right")
        for name, row in zip(names, matrix):
            cm.add_row(Text(name), *(str(x) for x in row))
        console.print(cm)
        if more:
            console.print(f"  … and {more:,} more types (--json --full-confusion for the whole matrix)", style="dim")
    if r.words_cut:
        console.print(f"  {r.words_cut:,} words beyond --max-length were scored as missed (predicted O)", style="dim")
    if r.mistakes:
        _print_mistakes(r.mistakes, r.mistakes_title)
    return 0


def _print_scores(scores: dict, figure_of_merit: str, per_class: list = ()) -> bool:
    """The scores besides the figure of merit. Scores of parts of the data, two or more named `PART_score` beside
    `score` itself (SQuAD v2's HasAns_f1, HasAns_exact_match, NoAns_...), as a table with a row per part; the others
    as `name value` pairs, a pair never split across lines. Where the report's per-class rows are those parts
    ("all" and each part: QA's per kind of question), the table gains their counts and True says it showed them."""
    split = [k.split("_", 1) for k in scores if "_" in k and k.split("_", 1)[1] in scores]
    parts = [part for part in dict.fromkeys(p for p, _ in split)
             if part not in scores and sum(1 for p, _ in split if p == part) >= 2]
    grouped = [m for m in scores if any(f"{part}_{m}" in scores for part in parts)]
    rest = [k for k in scores if k != figure_of_merit and k not in grouped
            and not any(k == f"{part}_{m}" for part in parts for m in grouped)]
    counts = {row.get("label"): row.get("support") for row in per_class}
    covered = bool(grouped) and {"all", *parts} == set(counts)
    if grouped:
        from rich.padding import Padding

        table = Table(box=None, pad_edge=False, padding=(0, 1))
        table.add_column("")
        for m in grouped:
            table.add_column(m.replace("_", " "), justify="right")
        if covered:
            table.add_column("count", justify="right")
        for part in ["all", *parts]:
            row = [scores.get(m if part == "all" else f"{part}_{m}") for m in grouped]
            count = [f"{counts[part]:,}"] if covered else []
            table.add_row(Text(part), *("" if v is None else f"{v:.4f}" for v in row), *count)
        console.print(Padding(table, (0, 0, 0, 2), expand=False))
    pairs = [f"{k} {scores[k]:.4f}" for k in rest]
    line, width = "", max(20, console.width - 2)
    for pair in pairs:
        if line and len(line) + 2 + len(pair) > width:
            console.print("  " + line, markup=False, highlight=False)
            line = ""
        line = f"{line}, {pair}" if line else pair
    if line:
        console.print("  " + line, markup=False, highlight=False)
    return covered


def _print_mistakes(mistakes: list, title: str) -> None:
    """The most confident mistakes: a table when its columns fit the terminal with the widest folded to two lines at
    most, else a block per mistake (its numbers on its first line, each text field on its own line below, wrapped under itself), so
    that a long question or context stays readable at 80 columns. Fields holding lists or mappings: --json only."""
    from rich.padding import Padding

    columns = [k for k, v in mistakes[0].items() if isinstance(v, (str, int, float))]

    def cell(m, c):
        return f"{m[c]:.3f}" if isinstance(m[c], float) else str(m[c])

    widths = {c: max(len(c), *(len(cell(m, c)) for m in mistakes)) for c in columns}
    widest = max(columns, key=widths.get)
    room = console.width - sum(widths[c] for c in columns if c != widest) - 3 * len(columns) - 1
    if room >= 12 and widths[widest] <= 2 * room:       # the widest column folds to two lines at most
        mt = Table(title=title, title_justify="left")
        for col in columns:
            mt.add_column(col.replace("_", " "), overflow="fold")
        for m in mistakes:
            mt.add_row(*(cell(m, c) if isinstance(m[c], float) else Text(str(m[c])) for c in columns))
        console.print(mt)
        return
    console.print(Text(title, style="italic"))
    numbers = [c for c in columns if not isinstance(mistakes[0][c], str)]
    texts = [c for c in columns if c not in numbers]
    label = max(len(c) for c in texts) if texts else 0
    for n, m in enumerate(mistakes, 1):
        head = "  ".join(f"{c.replace('_', ' ')} {cell(m, c)}" for c in numbers)
        console.print(Text(f"{n:>2}. {head}".rstrip(), style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for c in texts:
            grid.add_row(c.replace("_", " ").ljust(label), Text(str(m[c])))
        console.print(Padding(grid, (0, 0, 0, 4), expand=False))


def report_json(r, full_confusion: bool = False) -> dict:
    """The report as JSON: everything, except that the confusion matrix of more than JSON_CLASSES classes is cut to
    those with the most examples (3,000 classes made an 81 MB file) unless `full_confusion`; `confusion_labels`
    always names its rows and columns."""
    from tunelab.core.top_classes import JSON_CLASSES, sub_confusion, sub_entity_confusion, top_classes

    out = {f.name: getattr(r, f.name) for f in fields(r)}   # not asdict: it would deep-copy a large matrix
    shown = top_classes(r, None if full_confusion else JSON_CLASSES)
    out["confusion_labels"] = [r.labels[i] for i in shown] if r.confusion else []
    if r.entity_confusion:
        out["entity_confusion_labels"], out["entity_confusion"] = sub_entity_confusion(r, shown)
    if len(shown) < len(r.labels):
        if r.confusion:
            out["confusion"] = sub_confusion(r, shown)
        which = "entity-type confusion" if r.entity_confusion else "confusion matrix"
        out["confusion_note"] = (f"the {which} of the {len(shown)} classes with the most examples, of "
                                 f"{len(r.labels):,}; --full-confusion writes all of it")
    return out
