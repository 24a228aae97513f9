"""Arguments and output helpers shared by the CLI verbs."""

from __future__ import annotations

import sys

from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text

MODEL_HELP = "a hub id (bert-base-uncased), a local model directory, a run directory, or minilm-l6 (bundled, the default)"
DATA_HELP = ("demo (bundled, the default), demo-ner (bundled NER), a CSV/TSV/JSON/JSONL/Parquet/CoNLL file, a "
             "directory of train/validation/test files, explicit splits train=a.tsv,validation=b.tsv, or a hub dataset "
             "H:glue,cola")
EQN_HELP = ("gft equation: 'classify: label ~ sentence', 'classify: label ~ sentence1 + sentence2', 'regress: score ~ a + b', "
            "'classify_tokens: ner_tags ~ tokens' (or 'ner: ...')")


class SafeStream:
    """A terminal stream whose writes never raise: when the terminal is gone (a dropped SSH session, a killed tmux:
    EIO), output is dropped from then on instead of failing whatever was printing. Training must outlive its terminal."""

    def __init__(self, name: str):
        self.name = name            # "stdout" or "stderr": looked up at each write, so redirection still works
        self.gone = False

    @property
    def stream(self):
        stream = getattr(sys, self.name)
        return getattr(stream, "rich_proxied_file", stream)   # under a Rich live display: the real stream beneath

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):   # EIO/EPIPE from a hung-up terminal; ValueError: the stream was closed
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self.gone = True

    def isatty(self) -> bool:
        try:
            return not self.gone and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")


# Characters that drive a terminal or reorder what it shows, made visible instead: C0 controls (ESC starts colour,
# clear-screen, title and hyperlink sequences; BEL ends them) but tab and newline as control pictures (ESC shows as
# U+241B), DEL as U+2421, and the C1 controls and the bidi embeddings, overrides and isolates (U+202A-E, U+2066-9:
# the "Trojan source" marks that make a label read backwards) as U+FFFD. One character for one, so widths and
# spans hold. Data, labels, paths and model names reach the screen through this; Rich's own styles do not.
SHOWN_CONTROLS = ({c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)} | {0x7F: 0x2421}
                  | {c: 0xFFFD for c in (*range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def visible(text: str) -> str:
    """`text` with every character that would drive the terminal shown as a visible stand-in (see SHOWN_CONTROLS)."""
    return text.translate(SHOWN_CONTROLS)


UNWRAPPED = 100_000   # the width of output that is not a terminal: a file or a pager gets whole lines


class CliConsole(Console):
    """A Rich console that wraps at the terminal's width only when it writes to a terminal: piped to a file or
    `less`, a table's cells and long lines stay whole (Rich would otherwise wrap at the width of whichever other
    standard stream is a terminal, or at 80 columns). A width set explicitly ($COLUMNS, or width=) still holds."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._asked_width = kwargs.get("width")

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._asked_width is None and not self.is_terminal:
            columns = self._environ.get("COLUMNS", "")
            return ConsoleDimensions(int(columns) if columns.isdigit() else UNWRAPPED, size.height)
        return size

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(visible(text), **kwargs)

    def render(self, renderable, options=None):
        """Every string and Text, also a table's cells (rendered through here), with its control characters made
        visible before layout: a sentence or label holding ESC [2J or ESC ]0;title BEL prints, not clears the
        screen or retitles the window. Rich's own control segments (cursor moves of a live display) pass."""
        if isinstance(renderable, Text) and visible(renderable.plain) != renderable.plain:
            renderable = renderable.copy()
            renderable.plain = visible(renderable.plain)
        for segment in super().render(renderable, options):
            if segment.control or visible(segment.text) == segment.text:
                yield segment
            else:   # a renderable other than Text (a Syntax, a Panel's title) that held one: shown, widths aside
                yield Segment(visible(segment.text), segment.style, segment.control)


def literal(value) -> str:
    """`value` as text that Rich prints as it is: data, labels, paths and model names may hold brackets
    ([pos], [/neg], runs/[/x]run) that Rich would read as markup (and fail on, or drop). Escape once, here,
    where a string from outside meets a markup-rendering call."""
    return escape(str(value))


stdout_stream, stderr_stream = SafeStream("stdout"), SafeStream("stderr")
console = CliConsole(file=stdout_stream, highlight=False)
err_console = CliConsole(file=stderr_stream, highlight=False)


def terminal_gone() -> None:
    """Stop writing to the terminal (called on SIGHUP: it is gone, and a write would block or fail)."""
    stdout_stream.gone = stderr_stream.gone = True


def add_model(parser, flag: str = "--model", default: str | None = "minilm-l6", help: str = MODEL_HELP) -> None:
    parser.add_argument(flag, default=default, help=help + (f" (default: {default})" if default else ""))


def add_device(parser) -> None:
    """--device: where the model runs, checked by name here and against the machine by core.device.pick_device."""
    parser.add_argument("--device", default="auto", type=_device,
                        help="where the model runs: auto (a GPU when torch can use one, else the CPU), cpu, cuda, "
                             "cuda:N or mps (default: auto)")


def _device(text: str) -> str:
    import argparse

    from tunelab.core.config import device_text_problem

    problem = device_text_problem(text)
    if problem:
        shown = problem.removeprefix("unknown device ").replace("; use", " is not a device; use", 1)
        raise argparse.ArgumentTypeError(shown)
    return text.strip().lower()


def add_trust_remote_code(parser) -> None:
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run Python code that a model ships in its own files (an auto_map in config.json or "
                             "tokenizer_config.json); without it such a model is refused. Only for models whose "
                             "source you trust")


def add_backend(parser, verb: str) -> None:
    """--backend and --int8: what serves the model's outputs (`predict` and `eval`)."""
    default = ("ONNX Runtime on the CPU, with the fused graph, else PyTorch" if verb == "predict" else
               "PyTorch; onnx scores with the fused graph the Predictor uses on the CPU")
    parser.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                        help=f"what runs the model (default auto: {default})")
    parser.add_argument("--int8", action="store_true",
                        help="run the dynamically quantized int8 ONNX graph on the CPU (opt-in; faster, slightly "
                             "different): prints its agreement with fp32 on the same inputs (label agreement, "
                             "largest probability difference)")


def add_data(parser, default: str | None = "demo", note: str = "") -> None:
    """--data, --eqn and --columns; default=None makes the data optional (the verb says what that means)."""
    data_help = DATA_HELP if default == "demo" else DATA_HELP.replace("demo (bundled, the default)", "demo (bundled)")
    parser.add_argument("--data", default=default, help=data_help + note)
    parser.add_argument("--eqn", default=None, help=EQN_HELP + " (default for demo data: 'classify: label ~ sentence')")
    parser.add_argument("--columns", default=None, type=_columns,
                        help="names for the columns of a headerless CSV/TSV, e.g. source,label,mark,sentence, or of a "
                             "CoNLL file, e.g. tokens,pos_tags,chunk_tags,ner_tags")


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def _columns(text: str) -> list[str]:
    import argparse

    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated names, none of them empty, e.g. label,sentence")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: a column name appears twice")
    return names


def print_json(data) -> None:
    from tunelab.core import strict_json

    sys.stdout.write(strict_json.dumps(data, indent=2, ensure_ascii=False, default=_plain) + "\n")


def _plain(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return str(obj)


def add_question_and_context(p, sentence: str = "the sentence", pair: str = "--pair") -> None:
    """--question and --context: a question-answering model's two inputs, by their names (`sentence` and `pair`
    are what they stand in for)."""
    p.add_argument("--question", default=None, help=f"question answering: the question (instead of {sentence})")
    p.add_argument("--context", default=None, help=f"question answering: the paragraph to find the answer in "
                                                   f"(instead of {pair})")


def take_question_and_context(args, text: str = "text") -> None:
    """Move --question and --context into the sentence (`args.<text>`) and --pair, refusing either given twice."""
    from tunelab.core.errors import TuneLabError

    if args.question is not None:
        if getattr(args, text) is not None:
            raise TuneLabError("give the question once: as --question or as the sentence, not both")
        setattr(args, text, args.question)
    if args.context is not None:
        if args.pair is not None:
            raise TuneLabError("give the context once: as --context or as --pair, not both")
        args.pair = args.context

