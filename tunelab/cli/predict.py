"""`tunelab predict`: label a sentence or a pair, or a file / stdin of them in batch (JSONL out). A token-classification
model tags the words of each sentence: the entities they make are printed (type, text, character span, score). A
question-answering model answers a question about a context: the answer, its score and character span, the next
best answers and the probability of no answer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tunelab.core import strict_json

from .common import (add_backend, add_device, add_json, add_model, add_question_and_context, add_trust_remote_code,
                     console, err_console, literal, print_json, take_question_and_context)

TOP_K = 5   # classes a single prediction lists by default (a model may have thousands)


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict labels for sentences or pairs, or answer questions (gft predict)",
                       description="Predict. Give a sentence (and --pair), a --question and its --context, or --input "
                                   "FILE / '-' for stdin with one sentence or one tab-separated pair (question<TAB>"
                                   "context) per line; batch mode writes JSON lines.")
    add_model(p, default=None, help="a fine-tuned model: a run directory, a model directory or a hub id")
    p.add_argument("text", nargs="?", help="the sentence to label")
    p.add_argument("--pair", default=None, help="the second sentence of a pair")
    add_question_and_context(p, pair="--pair; any length: it is read in windows")
    p.add_argument("--input", default=None, metavar="FILE", help="batch mode: a text file, or - for stdin")
    p.add_argument("--output", default=None, metavar="FILE", help="batch mode: write JSONL here (default: stdout)")
    p.add_argument("--max-length", type=int, default=None,
                   help="cut inputs at N tokens (default: a run's own --max-length, else the model's limit, at "
                        "most 512); cut inputs are flagged")
    p.add_argument("--batch-size", type=int, default=64, help="batch mode: inputs per forward pass (default: 64)")
    from tunelab.core.config import SETTINGS_BY_NAME, TASK_OPTIONS

    from .fit import _typed

    for name in TASK_OPTIONS:                # question answering's windows and answer picking (default: the run's)
        s = SETTINGS_BY_NAME[name]
        if s.kind in (int, float):
            p.add_argument(s.flag, type=_typed(s.kind), default=None, metavar=s.metavar,
                           help=s.help + " (default: the run's own)")
    add_trust_remote_code(p)
    add_backend(p, "predict")
    add_device(p)
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help=f"a single sentence: list the K most probable classes, or a question's K best answers "
                        f"(default: {TOP_K}; 0: all); "
                        "--json and batch mode always give every class's probability")
    add_json(p)
    p.set_defaults(func=run)


def _check_args(args) -> None:
    """Everything that can be refused before a model is loaded."""
    from tunelab.core.errors import TuneLabError
    from tunelab.core.predictor import BATCH_SIZE, MAX_LENGTH, check_setting, is_blank

    take_question_and_context(args)
    check_setting(BATCH_SIZE, args.batch_size)
    check_setting(MAX_LENGTH, args.max_length)
    if args.top_k is not None and args.top_k < 0:
        raise TuneLabError(f"--top-k {args.top_k}: give 0 (every class) or more")
    if args.model is None:
        raise TuneLabError("--model is required: a fine-tuned run directory, model directory or hub id")
    if args.input is not None:
        if args.text is not None:
            raise TuneLabError(f"give a sentence or --input, not both (the sentence {_short(args.text)!r} would be ignored)")
        if args.pair is not None:
            raise TuneLabError("--pair is for a single sentence; in batch mode write each pair on one line, tab-separated")
        return
    if args.text is None:
        raise TuneLabError("give a sentence to label, or --input FILE (or - for stdin) for batch mode")
    if args.output is not None:
        raise TuneLabError("--output is for batch mode (--input FILE); a single prediction prints here (--json for JSON)")
    if is_blank(args.text):
        what = "the question (--question)" if args.question is not None else "the sentence to predict"
        raise TuneLabError(f"{what} is empty (nothing but spaces or invisible characters)")
    if args.pair is not None and is_blank(args.pair):
        what = "the context (--context)" if args.context is not None else "the second sentence of the pair (--pair)"
        raise TuneLabError(f"{what} is empty (nothing but spaces or invisible characters)")


def _task_settings(args) -> dict:
    from tunelab.core.config import TASK_OPTIONS

    return {name: getattr(args, name, None) for name in TASK_OPTIONS}


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_output(output: str | None, source: str) -> Path | None:
    """The --output file, refused at once if it cannot be written or is the input itself (None: stdout)."""
    from tunelab.core.errors import TuneLabError

    if output is None or output == "-":
        return None
    if not output.strip():
        raise TuneLabError("--output is empty; name a file to write the predictions to (or - for standard output)")
    path = Path(output).expanduser()
    if path.is_dir():
        raise TuneLabError(f"--output {output!r} is a directory; name a file to write the predictions to")
    parent = path.parent
    if not parent.is_dir():
        raise TuneLabError(f"--output {output!r}: the directory {str(parent)!r} does not exist")
    if source != "-" and path.exists():
        try:
            same = os.path.samefile(source, path)
        except OSError:
            same = False
        if same:
            raise TuneLabError(f"--output {output!r} is the input file; writing there would overwrite it, so name another file")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise TuneLabError(f"cannot write {output!r}: permission denied")
    return path


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file beside `path`, then rename: a reader never sees half a file,
    and a failure leaves neither a partial output nor the temporary file."""
    from tunelab.core.atomic_write import write_atomic
    from tunelab.core.errors import TuneLabError

    try:
        write_atomic(path, text)
    except OSError as err:
        raise TuneLabError(f"cannot write {str(path)!r}: {err.strerror or err}") from None


STREAM_LINES = 1024   # --input lines labelled (and, to stdout, written) at a time


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.predict_input import read_predict_input
    from tunelab.core.predictor import prediction_record

    _check_args(args)
    if args.input is not None:
        output = _check_output(args.output, args.input)
        given = read_predict_input(args.input, stdin_allowed=True)
        if given.skipped:
            shown = ", ".join(map(str, given.skipped[:10])) + (", ..." if len(given.skipped) > 10 else "")
            err_console.print(f"[yellow]warning: skipped {len(given.skipped)} line(s) holding only spaces or invisible "
                              f"characters (line {shown})[/]")
        texts, pairs = given.texts, given.pairs
        predictor = _predictor(args)
        if predictor.per_token and pairs is not None:
            raise TuneLabError(f"{predictor.name} tags the words of one sentence, but the input lines are tab-separated "
                               f"pairs; give one sentence per line")
        if predictor.is_pair is not None and predictor.is_pair != (pairs is not None):
            trained = " + ".join(predictor.inputs)
            raise TuneLabError(f"{predictor.name} was trained on pairs ({trained}) but the input lines are single sentences; "
                               f"write each pair on one line, tab-separated: {predictor.inputs[0]}<TAB>"
                               f"{predictor.inputs[1]}" if predictor.is_pair else
                               f"{predictor.name} was trained on single sentences ({trained}) but the input lines are "
                               f"tab-separated pairs; give one sentence per line")
        preds, rows = [], []
        for start in range(0, len(texts), STREAM_LINES):   # to stdout, each part as soon as it is labelled
            part = predictor.predict_batch(texts[start:start + STREAM_LINES],
                                           pairs[start:start + STREAM_LINES] if pairs is not None else None,
                                           batch_size=args.batch_size)
            preds += part
            lines = "".join(strict_json.dumps(prediction_record(pr), ensure_ascii=False) + "\n" for pr in part)
            if output is None:
                sys.stdout.write(lines)
                sys.stdout.flush()       # a closed pipe (| head) ends the work here, not after the whole file
            else:
                rows.append(lines)
        cut = [number for number, pr in zip(given.numbers, preds) if pr.truncated]
        if output is not None:
            _write_atomic(output, "".join(rows))
            console.print(f"{len(preds)} predictions written to {literal(args.output)}")
        if predictor.int8:   # both graphs on the same inputs: beside the summary, or on stderr beside the JSON lines
            agreement = predictor.agreement(texts, pairs, args.batch_size, predictions=preds)
            if args.json:
                stream = sys.stdout if output is not None else sys.stderr
                stream.write(strict_json.dumps({"int8_agreement": agreement.record()}, ensure_ascii=False) + "\n")
            else:
                (console if output is not None else err_console).print(agreement.line(), markup=False, highlight=False)
        if cut:
            shown = ", ".join(map(str, cut[:10])) + (", ..." if len(cut) > 10 else "")
            what = " (their last words are tagged O, unread)" if predictor.per_token else ""
            err_console.print(f"[yellow]warning: {len(cut)} of {len(preds)} inputs were longer than {predictor.max_length} "
                              f"tokens and were cut{what} (\"truncated\": true; line {shown})[/]")
        if predictor.new_head:
            err_console.print("[yellow]warning: this model's classification head is untrained (random); fine-tune it first[/]")
        return 0
    predictor = _predictor(args)
    if predictor.per_token and args.top_k is not None:
        raise TuneLabError(f"--top-k lists the most probable classes of a sentence, but {predictor.name} tags each "
                           "word; drop --top-k (--json gives every word's probability of every tag)")
    pred = predictor.predict(args.text, args.pair)
    agreement = predictor.agreement([args.text], [args.pair] if args.pair is not None else None,
                                    predictions=[pred]) if predictor.int8 else None
    if args.json:
        record = prediction_record(pred)
        if agreement is not None:
            record["int8_agreement"] = agreement.record()
        print_json(record)
        return 0
    _print_single(pred, predictor, args)
    if agreement is not None:       # the answer first, as always; then how int8 compares
        console.print(agreement.line(), markup=False, highlight=False)
    return 0


def _predictor(args):
    from tunelab.core.predictor import Predictor

    return Predictor(args.model, max_length=args.max_length, trust_remote_code=args.trust_remote_code,
                     device=args.device, settings=_task_settings(args), backend=args.backend, int8=args.int8)


def _print_single(pred, predictor, args) -> int:
    """One prediction as a person reads it."""
    if predictor.new_head:
        console.print("[yellow]warning: this model's classification head is untrained (random); fine-tune it first[/]")
    if hasattr(pred, "alternatives"):       # an answer span in a context
        _print_answer(pred, TOP_K if args.top_k is None else args.top_k)
        return 0
    if predictor.per_token:
        _print_tagged(pred, predictor)
        return 0
    if pred.values:                         # a several-output regression: every output by name
        console.print(f"[bold]{len(pred.values)} outputs[/]   ({pred.latency_ms:.1f} ms)")
        width = max(len(name) for name in pred.values)
        for name, value in pred.values.items():
            console.print(f"  {literal(f'{name:<{width}}')}  {value:.4f}")
        if pred.truncated:
            console.print(f"[yellow]note: input truncated at {predictor.max_length} tokens; the rest was not read[/]")
        return 0
    console.print(f"[bold]{literal(pred.label)}[/]  {pred.score:.4f}   ({pred.latency_ms:.1f} ms)")
    ranked = sorted(pred.probabilities.items(), key=lambda kv: -kv[1])
    top_k = TOP_K if args.top_k is None else args.top_k
    shown = ranked if top_k == 0 else ranked[:top_k]
    for name, p in shown:
        console.print(f"  {literal(f'{name:<20}')} {p:.4f}  {'█' * round(p * 30)}")
    if len(shown) < len(ranked):
        rest = sum(p for _, p in ranked[len(shown):])
        console.print(f"  … and {len(ranked) - len(shown):,} more classes ({rest:.4f} in all; --top-k 0 lists every one)",
                      style="dim")
    if pred.truncated:
        console.print(f"[yellow]note: input truncated at {predictor.max_length} tokens; the rest was not read[/]")
    return 0


def _print_tagged(pred, predictor) -> None:
    """A token model's answer: each entity with its type, text, character span and score (a model whose tags name
    no entities, such as POS tags: each word with its tag)."""
    from rich.table import Table
    from rich.text import Text

    if predictor.groups_entities:
        n = len(pred.entities)
        console.print(f"[bold]{n} {'entity' if n == 1 else 'entities'}[/] in {len(pred.words)} words   "
                      f"({pred.latency_ms:.1f} ms)")
        if pred.entities:
            table = Table(title_justify="left")
            for col in ("type", "text", "span", "score"):
                table.add_column(col, justify="right" if col in ("span", "score") else "left")
            for e in pred.entities:
                table.add_row(Text(e.type), Text(e.text), f"{e.start}-{e.end}", f"{e.score:.4f}")
            console.print(table)
    else:
        console.print(f"[bold]{len(pred.words)} words[/]   ({pred.latency_ms:.1f} ms)")
        table = Table(title_justify="left")
        for col in ("word", "tag", "score"):
            table.add_column(col, justify="right" if col == "score" else "left")
        for word, tag, score in zip(pred.words, pred.tags, pred.scores):
            table.add_row(Text(word), Text(tag), "-" if score is None else f"{score:.4f}")
        console.print(table)
    if pred.truncated:
        console.print(f"[yellow]note: input truncated at {predictor.max_length} tokens; its last {pred.words_cut} "
                      f"word(s) were not read (tagged O)[/]")


def _print_answer(pred, top_k: int) -> None:
    """A question's answer: its text, probability and character span, the next best spans, and the probability of
    no answer."""
    from rich.text import Text

    if pred.start is None:
        console.print(Text.assemble(("(no answer)", "bold"), f"  {pred.score:.4f}   ({pred.latency_ms:.1f} ms)"))
    else:
        console.print(Text.assemble((pred.answer, "bold"), f"  {pred.score:.4f}  characters {pred.start}-{pred.end}"
                                    f"   ({pred.latency_ms:.1f} ms)"))
    shown = pred.alternatives if top_k == 0 else pred.alternatives[:max(0, top_k - 1)]
    for alt in shown:
        console.print(Text(f"  {alt['score']:.4f}  {alt['answer']!r}  characters {alt['start']}-{alt['end']}"))
    windows = f"; read in {pred.windows} windows" if pred.windows > 1 else ""
    console.print(f"  no answer: {pred.no_answer_probability:.4f}{windows}", style="dim")

