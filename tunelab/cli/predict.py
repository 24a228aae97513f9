"""`tunelab predict`: label a sentence or a pair, or a file / stdin of them in batch (JSONL out)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from .common import add_json, add_model, console, print_json


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict labels for sentences or pairs (gft predict)",
                       description="Predict. Give a sentence (and --pair), or --input FILE / '-' for stdin with one "
                                   "sentence or one tab-separated pair per line; batch mode writes JSON lines.")
    add_model(p, default=None, help="a fine-tuned model: a run directory, a model directory or a hub id")
    p.add_argument("text", nargs="?", help="the sentence to label")
    p.add_argument("--pair", default=None, help="the second sentence of a pair")
    p.add_argument("--input", default=None, metavar="FILE", help="batch mode: a text file, or - for stdin")
    p.add_argument("--output", default=None, metavar="FILE", help="batch mode: write JSONL here (default: stdout)")
    p.add_argument("--batch-size", type=int, default=64)
    add_json(p)
    p.set_defaults(func=run)


def _read_lines(source: str) -> list[str]:
    from tunelab.core.errors import TuneLabError

    try:
        if source == "-":
            return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
        with open(source, encoding="utf-8") as fh:
            return [line.rstrip("\r\n") for line in fh if line.strip()]
    except FileNotFoundError:
        raise TuneLabError(f"input file {source!r} does not exist") from None
    except UnicodeDecodeError:
        raise TuneLabError(f"input {source!r} is not UTF-8 text") from None
    except OSError as err:
        raise TuneLabError(f"cannot read {source!r}: {err.strerror}") from None


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.predictor import Predictor

    if args.model is None:
        raise TuneLabError("--model is required: a fine-tuned run directory, model directory or hub id")
    if args.input is None and args.text is None:
        raise TuneLabError("give a sentence to label, or --input FILE (or - for stdin) for batch mode")
    if args.input is not None:
        lines = _read_lines(args.input)
        if not lines:
            raise TuneLabError(f"input {args.input!r} holds no sentences")
        parts = [line.split("\t") for line in lines]
        if any(len(p) > 2 for p in parts):
            raise TuneLabError("a batch line holds more than two tab-separated fields; give one sentence or a pair per line")
        predictor = Predictor(args.model)
        paired = [len(p) == 2 for p in parts]
        if any(paired) and not all(paired):
            raise TuneLabError("mix of single sentences and tab-separated pairs in the input; use one kind")
        texts = [p[0] for p in parts]
        pairs = [p[1] for p in parts] if all(paired) else None
        preds = predictor.predict_batch(texts, pairs, batch_size=args.batch_size)
        rows = "".join(json.dumps(asdict(pr), ensure_ascii=False) + "\n" for pr in preds)
        if args.output:
            from pathlib import Path

            tmp = Path(args.output + ".tmp")
            tmp.write_text(rows, encoding="utf-8")
            tmp.replace(args.output)
            console.print(f"{len(preds)} predictions written to {args.output}")
        else:
            sys.stdout.write(rows)
        return 0
    predictor = Predictor(args.model)
    pred = predictor.predict(args.text, args.pair)
    if args.json:
        print_json(asdict(pred))
        return 0
    if predictor.new_head:
        console.print("[yellow]warning: this model's classification head is untrained (random); fine-tune it first[/]")
    console.print(f"[bold]{pred.label}[/]  {pred.score:.4f}   ({pred.latency_ms:.1f} ms)")
    for name, p in sorted(pred.probabilities.items(), key=lambda kv: -kv[1]):
        console.print(f"  {name:<20} {p:.4f}  {'█' * round(p * 30)}")
    return 0
