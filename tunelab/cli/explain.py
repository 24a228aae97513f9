"""`tunelab explain`: which words drove a prediction (a signed bar per word), as JSON, JSONL for a file of inputs, or a
self-contained HTML page; with --faithfulness, the deletion check over a split. A thin layer over core.explain,
core.explain_html and core.faithfulness; loaded by tunelab.cli through COMMAND_MODULES."""

from __future__ import annotations

import sys

from .common import (add_data, add_device, add_json, add_model, add_question_and_context, add_trust_remote_code, console,
                     err_console, literal, print_json, take_question_and_context)

BAR = 20    # characters on each side of the axis


def register(sub) -> None:
    from tunelab.core.explain import DEFAULT_STEPS, METHODS
    from tunelab.core.faithfulness import DEFAULT_K, DEFAULT_LIMIT

    p = sub.add_parser("explain", help="which words drove a prediction: attributions per word (IG, gradients, rollout)",
                       description="Attribute a model's prediction to the input's words: Integrated Gradients (ig, the "
                                   "default), gradient x input (grad-input), the gradient's L2 norm (grad-norm) or "
                                   "attention rollout (rollout, attention-based). Each word's score is its sub-words' "
                                   "sum; blue/+ pushed towards the target, red/- against it. With --faithfulness: "
                                   "delete each sentence's top-k words and measure the drop in the predicted class's "
                                   "probability, against random words.")
    add_model(p, default=None, help="a fine-tuned model: a run directory, a model directory or a hub id")
    p.add_argument("text", nargs="?", help="the sentence to explain")
    p.add_argument("--pair", default=None, help="the second sentence of a pair")
    add_question_and_context(p)
    p.add_argument("--method", default="ig", metavar="|".join(METHODS),
                   help="the attribution method (default: ig)")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="the class (or tag, or output) to explain (default: the predicted one); a question-answering "
                        "model: answer or no-answer")
    p.add_argument("--word", type=int, default=None, metavar="N",
                   help="a token-tagging model: explain the tag of the N-th word (1 = the first; default: the first "
                        "word tagged other than O)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"Integrated Gradients' integration steps (default: {DEFAULT_STEPS}); more steps, smaller "
                        "delta")
    p.add_argument("--max-length", type=int, default=None,
                   help="cut inputs at N tokens (default: a run's own --max-length, else the model's limit)")
    p.add_argument("--input", default=None, metavar="FILE",
                   help="explain every line of FILE (- for stdin; one sentence or tab-separated pair a line): "
                        "JSONL out")
    p.add_argument("--out", default=None, metavar="FILE", help="with --input: write the JSONL here (default: stdout)")
    p.add_argument("--html", default=None, metavar="OUT",
                   help="write a self-contained page (no scripts) with the sentence coloured by score")
    p.add_argument("--faithfulness", action="store_true",
                   help="the deletion check over --data: the probability drop after deleting each method's top-k "
                        "words, against k random words, and the area over each deletion curve")
    add_data(p, default=None, note=" (with --faithfulness; --eqn defaults to a run's own)")
    p.add_argument("--split", default=None, help="with --faithfulness: the split (default: validation, else test)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                   help="with --faithfulness: sentences (a seeded sample; default: %(default)s)")
    p.add_argument("--k", type=int, default=DEFAULT_K,
                   help="with --faithfulness: delete 1..K words (default: %(default)s)")
    add_trust_remote_code(p)
    add_device(p)
    add_json(p)
    p.set_defaults(func=run)


def _check_args(args) -> None:
    """Everything refused before a model is loaded, each in one line."""
    from tunelab.core.errors import TuneLabError
    from tunelab.core.explain import check_method, check_steps
    from tunelab.core.predictor import MAX_LENGTH, check_setting, is_blank

    take_question_and_context(args)
    check_method(args.method)
    check_steps(args.steps)
    check_setting(MAX_LENGTH, args.max_length)
    if args.model is None:
        raise TuneLabError("--model is required: a fine-tuned run directory, model directory or hub id")
    if args.word is not None and args.word < 1:
        raise TuneLabError(f"--word {args.word}: words count from 1 (the first word)")
    if args.faithfulness:
        if args.data is None:
            raise TuneLabError("--faithfulness needs --data: the sentences to delete words from")
        for flag, value in (("a sentence", args.text), ("--input", args.input), ("--html", args.html),
                            ("--target", args.target), ("--word", args.word), ("--pair", args.pair)):
            if value is not None:
                raise TuneLabError(f"--faithfulness reads its sentences from --data; drop {flag}")
        if args.limit < 1:
            raise TuneLabError(f"--limit {args.limit}: give at least 1 sentence")
        if not 1 <= args.k <= 50:
            raise TuneLabError(f"--k {args.k}: delete from 1 to 50 words")
        return
    from tunelab.core.explain_html import check_page_path

    if args.html is not None:
        check_page_path(args.html)
    if args.out is not None and args.out != "-":
        check_page_path(args.out, "--out")
    from tunelab.core.faithfulness import DEFAULT_K, DEFAULT_LIMIT

    for flag, given in (("--data", args.data is not None), ("--eqn", args.eqn is not None),
                        ("--split", args.split is not None), ("--limit", args.limit != DEFAULT_LIMIT),
                        ("--k", args.k != DEFAULT_K)):
        if given:
            raise TuneLabError(f"{flag} is for --faithfulness; give a sentence (or --input FILE) to explain")
    if args.input is not None:
        if args.text is not None:
            raise TuneLabError("give a sentence or --input, not both")
        if args.html is not None:
            raise TuneLabError("--html writes the page of one sentence; drop --input (or --html)")
        if args.pair is not None:
            raise TuneLabError("--pair is for a single sentence; in --input write each pair on one line, tab-separated")
        return
    if args.out is not None:
        raise TuneLabError("--out is for --input's JSONL; a single explanation prints here (--json, or --html OUT)")
    if args.text is None:
        raise TuneLabError("give a sentence to explain, or --input FILE (or --faithfulness --data D)")
    if is_blank(args.text):
        raise TuneLabError("the sentence to explain is empty (nothing but spaces or invisible characters)")


def run(args) -> int:
    from tunelab.core.explain import Explainer
    from tunelab.core.predictor import Predictor

    _check_args(args)
    predictor = Predictor(args.model, max_length=args.max_length, backend="torch", device=args.device,
                          trust_remote_code=args.trust_remote_code)
    explainer = Explainer(predictor)
    if args.faithfulness:
        return _faithfulness(args, explainer)
    if args.input is not None:
        return _explain_file(args, explainer)
    e = explainer.explain(args.text, args.pair, method=args.method, target=args.target, word=args.word,
                          steps=args.steps)
    if args.html is not None:
        from tunelab.core.explain_html import write_explanation_page

        write_explanation_page(e, args.html, predictor.name)
    if args.json:
        print_json(e.record())
    else:
        print_explanation(e)
        if args.html is not None:
            console.print(f"page written to {literal(args.html)}")
    if e.warning:
        err_console.print(f"[yellow]warning: {literal(e.warning)}[/]")
    if predictor.new_head:
        err_console.print("[yellow]warning: this model's classification head is untrained (random); "
                          "fine-tune it first[/]")
    return 0


def signed_bar(score: float, largest: float, width: int = BAR) -> tuple[str, str]:
    """(left, right) halves of a bar about an axis: a negative score fills leftwards, a positive one rightwards."""
    cells = 0 if largest <= 0 else round(abs(score) / largest * width)
    bar = "█" * cells
    return (bar.rjust(width), " " * width) if score < 0 else (" " * width, bar.ljust(width))


def print_explanation(e) -> None:
    from rich.text import Text

    from tunelab.core.explain import METHOD_TITLES

    kind = "attention-based" if e.attention_based else ("signed" if e.signed else "unsigned")
    head = Text.assemble((e.target, "bold"), f"  {e.output:.4f}   {METHOD_TITLES[e.method]} ({kind})")
    if e.delta is not None:
        head.append(f"   {e.steps} steps; scores sum to {sum(e.scores):+.4f}: output - baseline "
                    f"{e.output - e.baseline_output:+.4f}, delta {e.delta:+.2g}")
    console.print(head)
    largest = max((abs(s) for s in e.scores), default=0.0)
    width = min(24, max((len(w) for w in e.words), default=1))
    segment = 0
    for word, seg, score in zip(e.words, e.segments, e.scores):
        if seg != segment:
            console.print("  " + "·" * width, style="dim")
            segment = seg
        left, right = signed_bar(score, largest)
        shown = word if len(word) <= width else word[:width - 1] + "…"
        console.print(Text.assemble(f"  {shown:<{width}}  {score:+.4f} ", (left, "red"), "│", (right, "blue")))


def _explain_file(args, explainer) -> int:
    from pathlib import Path

    from tunelab.core import strict_json
    from tunelab.core.atomic_write import write_atomic
    from tunelab.core.errors import TuneLabError
    from tunelab.core.predict_input import read_predict_input

    out = Path(args.out).expanduser() if args.out is not None and args.out != "-" else None
    given = read_predict_input(args.input, stdin_allowed=True)
    pairs = given.pairs or [None] * len(given.texts)
    lines, warned = [], 0
    for number, text, pair in zip(given.numbers, given.texts, pairs):
        try:
            e = explainer.explain(text, pair, method=args.method, target=args.target, word=args.word,
                                  steps=args.steps)
        except TuneLabError as err:
            raise TuneLabError(f"line {number}: {err}") from None
        warned += e.warning is not None
        line = strict_json.dumps({"line": number, **e.record()}, ensure_ascii=False) + "\n"
        if out is None:
            sys.stdout.write(line)
            sys.stdout.flush()
        else:
            lines.append(line)
    if out is not None:
        try:
            write_atomic(out, "".join(lines))
        except OSError as err:
            raise TuneLabError(f"cannot write {args.out!r}: {err.strerror or err}") from None
        console.print(f"{len(lines)} explanations written to {literal(args.out)}")
    if warned:
        err_console.print(f"[yellow]warning: {warned} explanation(s) carry a warning (see their \"warning\" field)[/]")
    return 0


def _faithfulness(args, explainer) -> int:
    from tunelab.core.data import load_task_data
    from tunelab.core.errors import TuneLabError
    from tunelab.core.faithfulness import faithfulness, sentences_of

    eqn = args.eqn or explainer.predictor.run_config.get("equation")   # a run's own equation by default
    data = load_task_data(args.data, eqn, columns=args.columns)
    split = args.split or data.eval_split_name()
    if split not in data.splits:
        raise TuneLabError(f"--split {split!r}: {data.name} has {', '.join(data.splits)}")
    texts = sentences_of(data, split, args.limit)
    report = faithfulness(explainer, texts, split=split, k=args.k, steps=args.steps)
    if args.json:
        print_json(report.to_dict())
        return 0
    from rich.table import Table

    console.print(f"[bold]deletion curves[/]: the drop in the predicted class's probability after deleting each "
                  f"method's top k words, {report.sentences} sentences of {literal(split)}")
    table = Table()
    table.add_column("method")
    for k in range(1, report.k + 1):
        table.add_column(f"k={k}", justify="right")
    table.add_column("AOPC", justify="right")
    for method, curve in report.curves.items():
        table.add_row(method, *(f"{v:.3f}" for v in curve), f"{report.aopc[method]:.3f}")
    console.print(table)
    console.print(("[yellow]flagged: [/]" if report.flagged else "") + literal(report.detail))
    return 0
