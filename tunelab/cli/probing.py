"""The probing verbs: `tunelab probe` (which layer knows the label), `tunelab fill` (the masked-LM probe) and
`tunelab check` (the model sanity check). A thin layer over core.probe, core.fill_mask and core.check; loaded by
tunelab.cli through COMMAND_MODULES. Each `run_*` returns the exit status."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from tunelab.cli.common import (add_data, add_device, add_json, add_model, add_trust_remote_code, console, err_console,
                                print_json)

SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
POOLING_TITLES = {"cls": "[CLS]", "mean": "mean", "word": "word"}   # core.probe's poolings, as columns
MARKS = {"pass": "[green]✓ pass[/]", "warn": "[yellow]! warn[/]", "fail": "[red]✗ fail[/]"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe", help="which layer knows the label: a linear probe on every layer's [CLS] and mean vectors (a "
                      "token task: each word's vector against its tag)",
        description="Fit a logistic regression on each layer's [CLS] vector and mean-pooled vector (embeddings "
                    "first, then every transformer layer) over a sample of the train split, and report held-out "
                    "accuracy per layer against the majority-class baseline. For a token task (classify_tokens) the "
                    "probe reads each word's vector at its first sub-word and predicts the word's tag. --compare "
                    "probes a second model (e.g. the base of a fine-tuned run) on the same examples, side by side.")
    add_model(p)
    add_model(p, "--compare", default=None, help="a second model to probe side by side: a run directory, a model directory, a hub id or minilm-l6")
    add_data(p)
    p.add_argument("--limit", type=int, default=1000, help="at most this many train and this many held-out examples (a seeded sample; default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="seeds the sample and the probes (default: %(default)s)")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run_probe)

    p = subparsers.add_parser(
        "fill", help="the masked-LM probe: the most likely words for each [MASK]",
        description="For a model with a masked-language-model head, the top-k fillers for each [MASK] (or <mask>) "
                    "with their probabilities. Bare encoders (such as the bundled MiniLM) and fine-tuned classifiers "
                    "have no such head.")
    add_model(p)
    p.add_argument("text", help='a sentence with one or more masks, e.g. "The cat sat on the [MASK]."')
    p.add_argument("--top-k", type=int, default=5, help="fillers to show per mask (default: %(default)s)")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run_fill)

    p = subparsers.add_parser(
        "check", help="a sanity check of a model in seconds: loads, tokenizer, labels, probabilities, attention, data",
        description="Run a battery of checks on a model, each passing, warning or failing with its reason: it loads "
                    "with its tokenizer, the tokenizer round-trips text, the label mapping matches the head, "
                    "probabilities are finite and sum to 1, predictions vary, attention rows sum to 1. With --data: "
                    "scores against the majority-class baseline, and whether the model can overfit one batch. "
                    "Exit status 1 when a check fails.")
    add_model(p)
    add_data(p, default=None, note=" (adds the data checks)")
    p.add_argument("--limit", type=int, default=300, help="held-out examples to score with --data (default: %(default)s)")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run_check)


# ---------------------------------------------------------------- probe

def run_probe(args) -> int:
    from tunelab.core.probe import probe

    with err_console.status("probing: extracting every layer's vectors and fitting the probes ..."):
        report = probe(args.model, args.data, args.eqn, compare=args.compare, columns=args.columns,
                       limit=args.limit, seed=args.seed, trust_remote_code=args.trust_remote_code, device=args.device)
    if args.json:
        print_json(asdict(report))
        return 0
    floor = report.majority_accuracy
    sample = (f"{report.train_examples} {escape(report.train_split)} / {report.eval_examples} "
              f"{escape(report.eval_split)} examples")
    if report.train_words or report.eval_words:
        sample += (f", {report.train_words} / {report.eval_words} words (each read at its first sub-word"
                   + (f"; {report.words_cut} beyond the max length left out" if report.words_cut else "") + ")")
    console.print(f"[bold]probe[/] {escape(report.data)} · {escape(report.equation)} · {sample}")
    console.print(f"majority baseline {floor:.3f} (always {escape(repr(report.majority_label))}); bars: baseline → 1.0")
    table = Table(title_justify="left")
    table.add_column("layer", justify="right")
    for curve in report.curves:
        short = escape(_short(curve.model)) if len(report.curves) > 1 else ""
        for pooling in report.poolings:
            table.add_column(f"{short} {POOLING_TITLES[pooling]}".strip(), justify="right")
        table.add_column("best", no_wrap=True)
    for i in range(max(len(c.layers) for c in report.curves)):
        row = ["emb" if i == 0 else str(i)]
        for curve in report.curves:
            if i < len(curve.layers):
                s = curve.layers[i]
                row += [_accuracy(s.score(p), floor) for p in report.poolings] + [_bar(s.best, floor)]
            else:
                row += [""] * (len(report.poolings) + 1)
        table.add_row(*row)
    console.print(table)
    for curve in report.curves:
        best = curve.best_layer
        sparks = "  ".join(f"{POOLING_TITLES[p]} {_spark([s.score(p) for s in curve.layers], floor)}"
                           for p in report.poolings)
        console.print(f"{escape(curve.model)}: {escape(sparks)}  best: layer {best.layer} "
                      f"({escape(POOLING_TITLES[best.best_pooling])} {best.best:.3f}), {curve.seconds:.1f}s")
    return 0


def _short(name: str, width: int = 16) -> str:
    name = Path(name).name or name
    return name if len(name) <= width else name[: width - 1] + "…"


def _accuracy(value: float, floor: float) -> str:
    return f"{value:.3f}" if value > floor else f"[dim]{value:.3f}[/]"


def _scaled(value: float, floor: float) -> float:
    return 0.0 if floor >= 1 else min(1.0, max(0.0, (value - floor) / (1 - floor)))


def _bar(value: float, floor: float, width: int = 12) -> str:
    eighths = round(_scaled(value, floor) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def _spark(values: list[float], floor: float) -> str:
    return "".join(SPARKS[min(len(SPARKS) - 1, int(_scaled(v, floor) * len(SPARKS)))] for v in values)


# ---------------------------------------------------------------- fill

def run_fill(args) -> int:
    from tunelab.core.fill_mask import fill

    result = fill(args.model, args.text, top_k=args.top_k, trust_remote_code=args.trust_remote_code, device=args.device)
    if args.json:
        print_json(asdict(result))
        return 0
    console.print(f"[bold]{escape(result.model)}[/] · {escape(result.text)}")
    console.print(f"→ [bold]{escape(result.filled)}[/]")
    for n, mask in enumerate(result.masks, 1):
        table = Table(title=f"{escape(result.mask_token)} {n} of {len(result.masks)} (token {mask.position})", title_justify="left")
        for col in ("#", "filler", "probability", ""):
            table.add_column(col, justify="right" if col in ("#", "probability") else "left", no_wrap=True)
        for rank, f in enumerate(mask.fillers, 1):
            table.add_row(str(rank), escape(f.token), f"{f.probability:.4f}", _bar(f.probability, 0.0, 20))
        console.print(table)
    return 0


# ---------------------------------------------------------------- check

def run_check(args) -> int:
    from tunelab.core.check import run_checks

    with err_console.status("checking the model ..."):
        report = run_checks(args.model, args.data, args.eqn, columns=args.columns, limit=args.limit,
                            trust_remote_code=args.trust_remote_code, device=args.device)
    if args.json:
        print_json(report.to_dict())
        return 1 if report.failed else 0
    console.print(f"[bold]check[/] {escape(report.model)}" + (f" on {escape(args.data)}" if args.data else "")
                  + f" ({report.seconds:.1f}s)")
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for c in report.checks:
        table.add_row(MARKS[c.status], c.name.replace("_", " "), escape(c.detail))
    console.print(table)
    counts = {s: sum(c.status == s for c in report.checks) for s in MARKS}
    console.print(f"overall: {MARKS[report.status]} ({counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed)")
    return 1 if report.failed else 0
