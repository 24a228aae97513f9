"""The attention verbs: `tunelab attention` (bertviz export), `tunelab heads` (per-head statistics) and
`tunelab attention-diff` (what fine-tuning changed). A thin layer over core.attention, core.bertviz_export,
core.head_stats and core.attention_diff; loaded by tunelab.cli through COMMAND_MODULES."""

from __future__ import annotations

from dataclasses import asdict

from rich.markup import escape
from rich.table import Table

from tunelab.cli.common import (add_data, add_device, add_json, add_model, add_question_and_context,
                                add_trust_remote_code, console, err_console, print_json, take_question_and_context)

LIMIT_HELP = "how many sentences of the split to average over (a seeded sample; default: %(default)s)"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "attention", help="export a sentence's attention as bertviz pages and raw arrays",
        description="Write bertviz's head view and model view (HTML) and the raw attention (attention.npz + "
                    "tokens.json, which load back into bertviz) for a sentence or a pair.")
    add_model(p)
    p.add_argument("sentence", nargs="?", default=None, help="the sentence to look at")
    p.add_argument("--pair", default=None, help="a second sentence, for a sentence pair")
    add_question_and_context(p)
    p.add_argument("--out", default=None,
                   help="folder for head_view.html, model_view.html, attention.npz, tokens.json (required)")
    p.add_argument("--layers", default=None, help="layers to keep, e.g. 0,3 or 2-5 (default: all)")
    p.add_argument("--heads", default=None, help="heads to keep, e.g. 1,2 (default: all)")
    p.add_argument("--max-length", type=int, default=None,
                   help="cut longer inputs to this many tokens (default: a run's own --max-length, else the model's "
                        "limit, at most 512)")
    p.add_argument("--self-contained", action="store_true",
                   help="inline require.js, d3 and jQuery in the pages so they open with no network (from "
                        "--scripts, $TUNELAB_BERTVIZ_JS or the script cache, filled from bertviz's CDN when online)")
    p.add_argument("--scripts", default=None, metavar="DIR",
                   help="a folder holding require.min.js, d3.min.js and jquery.min.js to inline, each checked "
                        "against a pinned sha256 (implies --self-contained; default: $TUNELAB_BERTVIZ_JS, else the "
                        "script cache)")
    p.add_argument("--fetch-scripts", action="store_true",
                   help="download those three scripts from bertviz's CDN into the script cache (or --scripts DIR), "
                        "checking their sha256, so that --self-contained works offline later; with no sentence, "
                        "do only that")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run_attention)

    p = subparsers.add_parser(
        "heads", help="per-head attention statistics over a dataset (entropy, [CLS], [SEP], self, prev, next)",
        description="For every head: the entropy of its attention and the share of attention a token gives to "
                    "[CLS], [SEP], itself, the previous and the next token (Clark et al. 2019), averaged over "
                    "sentences of a split; printed as a table, saved as CSV, with the heads that stand out.")
    add_model(p)
    add_data(p)
    _add_sample(p)
    p.add_argument("--out", default="heads.csv", help="CSV file to save (default: %(default)s)")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run_heads)

    p = subparsers.add_parser(
        "attention-diff", help="what fine-tuning changed: per-head attention of a base and a tuned model",
        description="Run a base model and its fine-tuned version on the same sentences; report per head how much "
                    "attention moved and how each head statistic changed, and the ten most changed heads.")
    add_model(p, "--base", help="the model before fine-tuning: " + "a hub id, a local model directory, or minilm-l6")
    add_model(p, "--tuned", default=None, help="the fine-tuned model: a run directory or a model directory")
    add_data(p)
    _add_sample(p)
    p.add_argument("--out", default=None, help="also save every head's changes to this CSV file")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run_attention_diff)


def _add_sample(p) -> None:
    from tunelab.core.head_stats import DEFAULT_LIMIT

    p.add_argument("--split", default=None, help="the split to read (default: validation)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=LIMIT_HELP)
    p.add_argument("--max-length", type=int, default=None,
                   help="cut longer inputs to this many tokens (default: a run's own --max-length, else the model's "
                        "limit, at most 512)")


def parse_indices(text: str | None, what: str) -> list[int] | None:
    """'0,3' or '2-5' or '0,2-4' -> list of ints; None stays None (all)."""
    from tunelab.core.errors import TuneLabError

    if text is None:
        return None
    indices: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, dash, last = part.partition("-")
            if dash and first:
                indices.extend(range(int(first), int(last) + 1))
            else:
                indices.append(int(part))
    except ValueError:
        raise TuneLabError(f"--{what}s {text!r}: give {what} numbers like 0,3 or a range like 2-5") from None
    if not indices:
        raise TuneLabError(f"--{what}s {text!r} names no {what}")
    return indices


def _say_note(model: str, note: str) -> None:
    """Say what stood in for a run that has no final model yet (its best checkpoint, or its base model); on stderr,
    so --json output stays JSON."""
    if note:
        err_console.print(f"note: {escape(model)} is read through {escape(note)}", style="yellow", soft_wrap=True)


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


# ---------------------------------------------------------------- tunelab attention

def run_attention(args) -> int:
    from tunelab.core.attention import attention_for, check_text, load_attention_model_noted
    from tunelab.core.bertviz_export import export_attention
    from tunelab.core.errors import TuneLabError

    take_question_and_context(args, "sentence")
    if args.fetch_scripts:
        fetched = _fetch_scripts(args)
        if args.sentence is None:
            if args.json:
                print_json({"scripts": [str(p) for p in fetched]})
            else:
                console.print(f"require.js, d3 and jQuery checked and ready in {escape(str(fetched[0].parent))}")
            return 0
    if args.sentence is None:
        raise TuneLabError("give a sentence to look at, or --question and --context (or --fetch-scripts alone to fill "
                           "the script cache)")
    if args.out is None:
        raise TuneLabError("--out is required: the folder for head_view.html, model_view.html, attention.npz "
                           "and tokens.json")
    if args.max_length is not None and args.max_length < 2:
        raise TuneLabError(f"--max-length must be at least 2 (got {args.max_length})")
    check_text(args.sentence, args.pair)
    layers, heads = parse_indices(args.layers, "layer"), parse_indices(args.heads, "head")
    self_contained = args.self_contained or args.scripts is not None
    if self_contained:  # before the model loads: offline with no scripts is told at once (and a fetch happens now)
        from tunelab.core.bertviz_scripts import load_scripts

        load_scripts(args.scripts)
    model, tokenizer, note = load_attention_model_noted(args.model, trust_remote_code=args.trust_remote_code,
                                                        device=args.device)
    _say_note(args.model, note)
    result = attention_for(model, tokenizer, args.sentence, args.pair, max_length=args.max_length)
    meta = {"model": args.model, "sentence": args.sentence, "pair": args.pair}
    export = export_attention(result, args.out, layers=layers, heads=heads, meta=meta,
                              self_contained=self_contained, scripts_dir=args.scripts)
    if args.json:
        print_json({**asdict(export), "tokens": result.tokens, "sentence_b_start": result.sentence_b_start})
        return 0
    for warning in export.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"{export.n_tokens} tokens, {_count(export.layers, 'layer')} x {_count(export.heads, 'head')} "
                  f"of {escape(args.model)}")
    for role, path in export.files.items():
        console.print(f"  {role:<10} {escape(path)}")
    if export.self_contained:
        console.print("open the .html files in a browser (self-contained: they need no network)", style="dim")
    else:
        console.print("open the .html files in a browser (they load d3 and jQuery from a CDN; "
                      "--self-contained makes pages that need no network)", style="dim")
    return 0


def _fetch_scripts(args) -> list:
    import os

    from tunelab.core import bertviz_scripts

    folder = args.scripts or os.environ.get(bertviz_scripts.ENV) or None
    with err_console.status("downloading require.js, d3 and jQuery ..."):
        return bertviz_scripts.fetch_scripts(folder)


# ---------------------------------------------------------------- tunelab heads

def run_heads(args) -> int:
    from tunelab.core.attention import load_attention_model_noted
    from tunelab.core.head_stats import DESCRIPTIONS, STATISTICS, head_stats, sample_texts

    texts, split = sample_texts(args.data, args.eqn, split=args.split, limit=args.limit, columns=args.columns)
    model, tokenizer, note = load_attention_model_noted(args.model, trust_remote_code=args.trust_remote_code,
                                                        device=args.device)
    _say_note(args.model, note)
    with err_console.status(f"attention of {len(texts)} sentences ..."):
        stats = head_stats(model, tokenizer, texts, max_length=args.max_length)
    csv_path = stats.write_csv(args.out)
    if args.json:
        print_json({"model": args.model, "data": args.data, "split": split, "csv": str(csv_path), **stats.to_json()})
        return 0
    standouts = stats.standouts()
    marked = {(s.statistic, s.layer, s.head) for s in standouts}
    table = Table(title=f"attention per head of {escape(args.model)}: {stats.n_sentences} sentences of "
                        f"{escape(args.data)} ({escape(split)}), {stats.n_tokens} tokens")
    table.add_column("layer", justify="right")
    table.add_column("head", justify="right")
    for stat in STATISTICS:
        table.add_column("entropy" if stat == "entropy" else f"→{stat}" if stat in ("cls", "sep") else stat,
                         justify="right")
    for row in stats.to_rows():
        cells = [f"{row[s]:.2f}" if s == "entropy" else f"{row[s]:.0%}" for s in STATISTICS]
        cells = [f"[bold yellow]{c}[/]" if (s, row["layer"], row["head"]) in marked else c
                 for s, c in zip(STATISTICS, cells)]
        table.add_row(str(row["layer"]), str(row["head"]), *cells, end_section=row["head"] == stats.shape[1] - 1)
    console.print(table)
    console.print("Columns: " + "; ".join(f"{s}: {DESCRIPTIONS[s]}" for s in STATISTICS), style="dim")
    if standouts:
        console.print("[bold]Heads that stand out[/] (far from their layer's mean):")
        for s in standouts:
            console.print(f"  {escape(s.describe())}")
    console.print(f"saved {escape(str(csv_path))}")
    return 0


# ---------------------------------------------------------------- tunelab attention-diff

def run_attention_diff(args) -> int:
    from tunelab.core.attention import load_attention_model, load_attention_model_noted
    from tunelab.core.attention_diff import attention_diff
    from tunelab.core.errors import TuneLabError
    from tunelab.core.head_stats import sample_texts

    if not args.tuned:
        raise TuneLabError("--tuned is required: the fine-tuned model (a run directory or a model directory)")
    texts, split = sample_texts(args.data, args.eqn, split=args.split, limit=args.limit, columns=args.columns)
    trust = args.trust_remote_code
    base = load_attention_model(args.base, trust_remote_code=trust, device=args.device)
    tuned_model, tuned_tokenizer, note = load_attention_model_noted(args.tuned, trust_remote_code=trust,
                                                                    device=args.device)
    tuned = (tuned_model, tuned_tokenizer)
    _say_note(args.tuned, note)
    with err_console.status(f"attention of {len(texts)} sentences, two models ..."):
        diff = attention_diff(base, tuned, texts, max_length=args.max_length)
    csv_path = diff.write_csv(args.out) if args.out else None
    if args.json:
        print_json({"base": args.base, "tuned": args.tuned, "data": args.data, "split": split,
                    "csv": str(csv_path) if csv_path else None, **diff.to_json()})
        return 0
    table = Table(title=f"most changed heads, {escape(args.base)} -> {escape(args.tuned)}: "
                        f"{diff.n_sentences} sentences of {escape(args.data)} ({escape(split)})")
    for name in ("layer", "head", "attention moved", "entropy", "biggest change of a share"):
        table.add_column(name, justify="left" if name.startswith("biggest") else "right")
    for change in diff.most_changed(10):
        table.add_row(str(change.layer), str(change.head), f"{change.mean_abs_change:.1%}",
                      f"{change.entropy_change:+.2f}",
                      f"{change.statistic} {change.base_value:.0%} → {change.tuned_value:.0%}")
    console.print(table)
    console.print("attention moved: the share of a token's attention that went elsewhere, averaged over tokens; "
                  "entropy: its change in nats", style="dim")
    if csv_path:
        console.print(f"saved {escape(str(csv_path))}")
    return 0
