"""`tunelab eval`: score a model on a split or on any labelled file."""

from __future__ import annotations

from dataclasses import asdict

from rich.table import Table

from .common import add_data, add_json, add_model, add_trust_remote_code, console, print_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="score a model on a split or on another labelled file (gft eval)",
                       description="Evaluate a model. For a TuneLab run, --data and --eqn default to the run's own.")
    add_model(p, default=None, help="the model to score: a run directory, a model directory or a hub id")
    add_data(p, default=None, note=" (default: the run's own data and equation)")
    p.add_argument("--split", default=None, help="the split to score, e.g. test or validation (dev and val also work; "
                                                 "default: test, else validation, else the whole file)")
    p.add_argument("--metric", default=None,
                   help="figure of merit: accuracy, f1, macro_f1, mcc, pearson, spearman, or a hub metric name for "
                        "evaluate (default: the run's, else the task's); a local metric script only as a path, "
                        "e.g. ./mymetric/mymetric.py")
    p.add_argument("--max-length", type=int, default=None, help="cut inputs at N tokens (default: a run's own --max-length, else the model's limit, at most 512)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--mistakes", type=int, default=10, help="how many of the most confident mistakes to show (default: 10; 0: none)")
    add_trust_remote_code(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.evaluation import evaluate_model

    if args.model is None:
        raise TuneLabError("--model is required: the run directory, model directory or hub id to score")
    r = evaluate_model(args.model, args.data, args.eqn, split=args.split, columns=args.columns, metric=args.metric,
                       max_length=args.max_length, batch_size=args.batch_size, mistakes=args.mistakes,
                       trust_remote_code=args.trust_remote_code)
    if args.json:
        print_json(asdict(r))
        return 0
    console.print(f"[bold]{r.model}[/] on {r.data} (split {r.split}), {r.examples} examples, {r.task}")
    base = f"  (majority-class baseline {r.majority_baseline:.4f})" if r.majority_baseline is not None else ""
    if r.majority_label is not None and r.majority_accuracy is not None:
        base = base[:-1] + f": always {r.majority_label!r}, accuracy {r.majority_accuracy:.4f})"
    console.print(f"[bold]{r.figure_of_merit} {r.value:.4f}[/]{base}")
    console.print("  " + ", ".join(f"{k} {v:.4f}" for k, v in r.scores.items() if k != r.figure_of_merit))
    if r.in_train is not None:                       # plain text: a data path is never read as markup
        from tunelab.core.overlap import Overlap, overlap_line

        console.print(overlap_line([Overlap(r.split, r.in_train, r.examples)], r.train_data or "train"),
                      markup=False, highlight=False)
    if r.per_class:
        table = Table(title="per class", title_justify="left")
        for col in ("label", "precision", "recall", "f1", "support"):
            table.add_column(col, justify="left" if col == "label" else "right")
        for c in r.per_class:
            table.add_row(c["label"], f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"]))
        console.print(table)
        cm = Table(title="confusion (rows: gold, columns: predicted)", title_justify="left")
        cm.add_column("")
        for name in r.labels:
            cm.add_column(name, justify="right")
        for name, row in zip(r.labels, r.confusion):
            cm.add_row(name, *(str(x) for x in row))
        console.print(cm)
    if r.mistakes:
        mt = Table(title="most confident mistakes", title_justify="left")
        for col in ("confidence", "gold", "predicted", "text"):
            mt.add_column(col, overflow="fold")
        for m in r.mistakes:
            mt.add_row(f"{m['confidence']:.3f}", m["gold"], m["predicted"], m["text"])
        console.print(mt)
    return 0
