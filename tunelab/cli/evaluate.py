"""`tunelab eval`: score a model on a split or on any labelled file."""

from __future__ import annotations

from dataclasses import fields

from rich.table import Table
from rich.text import Text

from .common import add_data, add_json, add_model, add_trust_remote_code, console, literal, print_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="score a model on a split or on another labelled file (gft eval)",
                       description="Evaluate a model. For a TuneLab run, --data and --eqn default to the run's own.")
    add_model(p, default=None, help="the model to score: a run directory, a model directory or a hub id")
    add_data(p, default=None, note=" (default: the run's own data and equation)")
    p.add_argument("--split", default=None, help="the split to score, e.g. test or validation (dev and val also work; "
                                                 "default: test, else validation, else the whole file)")
    p.add_argument("--metric", default=None,
                   help="figure of merit: accuracy, f1, macro_f1, mcc, pearson, spearman, mse, entity_f1, entity_precision, "
                        "entity_recall, token_accuracy, or a hub metric name for "
                        "evaluate (default: the run's, else the task's); a local metric script only as a path, "
                        "e.g. ./mymetric/mymetric.py")
    p.add_argument("--max-length", type=int, default=None, help="cut inputs at N tokens (default: a run's own --max-length, else the model's limit, at most 512)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--mistakes", type=int, default=10, help="how many of the most confident mistakes to show (default: 10; 0: none)")
    add_trust_remote_code(p)
    add_json(p)
    p.add_argument("--full-confusion", action="store_true",
                   help="with --json: the whole confusion matrix (default: that of the 100 classes with the most "
                        "examples, when there are more: core.top_classes.JSON_CLASSES)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.evaluation import evaluate_model
    from tunelab.core.top_classes import SHOWN_CLASSES, sub_confusion, sub_entity_confusion, top_classes

    if args.model is None:
        raise TuneLabError("--model is required: the run directory, model directory or hub id to score")
    r = evaluate_model(args.model, args.data, args.eqn, split=args.split, columns=args.columns, metric=args.metric,
                       max_length=args.max_length, batch_size=args.batch_size, mistakes=args.mistakes,
                       trust_remote_code=args.trust_remote_code)
    if args.json:
        print_json(report_json(r, full_confusion=args.full_confusion))
        return 0
    console.print(f"[bold]{literal(r.model)}[/] on {literal(r.data)} (split {literal(r.split)}), {r.examples} examples, {r.task}")
    base = f"  (majority-class baseline {r.majority_baseline:.4f})" if r.majority_baseline is not None else ""
    if r.majority_label is not None and r.majority_accuracy is not None:
        base = base[:-1] + f": always {literal(repr(r.majority_label))}, accuracy {r.majority_accuracy:.4f})"
    console.print(f"[bold]{literal(r.figure_of_merit)} {r.value:.4f}[/]{base}")
    console.print("  " + literal(", ".join(f"{k} {v:.4f}" for k, v in r.scores.items() if k != r.figure_of_merit)))
    if r.in_train is not None:                       # plain text: a data path is never read as markup
        from tunelab.core.overlap import Overlap, overlap_line

        console.print(overlap_line([Overlap(r.split, r.in_train, r.examples)], r.train_data or "train"),
                      markup=False, highlight=False)
    if r.per_class:
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
        mt = Table(title=r.mistakes_title, title_justify="left")
        columns = [k for k, v in r.mistakes[0].items() if isinstance(v, (str, int, float))]   # lists: --json only
        for col in columns:
            mt.add_column(col.replace("_", " "), overflow="fold")
        for m in r.mistakes:
            mt.add_row(*(f"{m[c]:.3f}" if isinstance(m[c], float) else Text(str(m[c])) for c in columns))
        console.print(mt)
    return 0


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
