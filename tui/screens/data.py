"""The Data screen: `tunelab summary` as a screen. A source field (demo, a file, a directory, explicit splits
train=a.tsv,validation=b.tsv, or a hub id H:glue,cola), names for a headerless file's columns, an equation
builder (every task keyword the engine knows, a label column, one input or a pair, picked from the data's own
columns; for a task that takes several outputs, `regress: valence + arousal ~ word`, a row that adds or drops
numeric output columns one at a time), a preview table, and the summary: rows per split, label balance, token
lengths, the share cut at the maximum length, and the majority-class baseline.

For a task that tags words (`classify_tokens: ner_tags ~ tokens`), the preview shows each sentence as
`word/TAG` (O words bare) and the highlighted sentence whole below it, words over their tags; the summary shows
the tag counts, the entities per type, sentences with no entity, words past the maximum length and rows that
break the tag scheme. For a task that answers a question from a context (`classify_spans: answers ~ question +
context`), the preview shows the question, the context cut around its answer (marked) and the answer, and the
highlighted row whole below it; data whose rows hold SQuAD-shaped answers ({"text": [...], "answer_start": [...]})
gets that equation guessed. The screen asks the task (`task_for(...).per_token`, `max_inputs`, `several_outputs`,
`answers_from_context`, `default_max_length`), never its keyword.

Bad data gets the engine's one-line message under the fields and the screen stays usable. Reading the data
and summarising it (the tokenizer, the data) run in thread workers; a summary that went through becomes the
app's selection, which the Train form uses.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Input, Label, Select, Static
from textual.worker import get_current_worker

from tunelab.core.errors import TuneLabError
from tunelab.core.tasks.base import keywords

from ..messages import DataPreviewReady, DataSummaryReady
from ..widgets.answer_spans import marked_context, span_styles
from ..widgets.tagged_words import tagged_inline, tagged_rows, type_colors
from .base import TuneLabScreen, error_text

PREVIEW_ROWS = 50
BAR = "█"
TAG_COLUMNS = ("ner_tags", "tags", "labels", "pos_tags", "chunk_tags", "ner", "pos", "label")   # a guess's order
WORD_COLUMNS = ("tokens", "words", "token", "text", "sentence")


def equation_text(task: str, label: str, first: str, second: str | None) -> str:
    return f"{task}: {label} ~ {first}" + (f" + {second}" if second else "")


def numeric_columns(columns: list[str], rows: list[dict]) -> list[str]:
    """The columns whose preview cells are all numbers (empty cells aside, at least one): what a regression's
    outputs can be."""
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    return [c for c in columns if any(row.get(c) is not None for row in rows)
            and all(number(row[c]) for row in rows if row.get(c) is not None)]


def output_choices(numeric: list[str], outputs: list[str], inputs: list[str]) -> list[tuple[str, str]]:
    """The outputs picker's entries: `+ name` for a numeric column to add, `− name` for an output to drop (never
    the last one); the inputs are not offered."""
    choices = []
    for column in numeric:
        if column in inputs:
            continue
        if column not in outputs:
            choices.append((f"+ {column}", column))
        elif len(outputs) > 1:
            choices.append((f"− {column}", column))
    return choices


def equation_fits(eqn: str, columns: list[str]) -> bool:
    """Whether an equation names only columns the data has (a test split may lack the label; the preview shows
    train's columns). An equation that does not parse is kept for the user to fix."""
    from tunelab.core.equation import parse_equation
    from tunelab.core.errors import TuneLabError

    try:
        equation = parse_equation(eqn)
    except TuneLabError:
        return True
    return all(c in columns for c in (*equation.inputs, *equation.outputs))


def guess_equation(columns: list[str]) -> tuple[str, str, str | None] | None:
    """(label, input, pair input) from common column names: label/sentence, label/sentence1+sentence2, ..."""
    names = [c.lower() for c in columns]
    label = next((columns[names.index(n)] for n in ("label", "labels", "score", "target", "y") if n in names), None)
    pairs = [("sentence1", "sentence2"), ("premise", "hypothesis"), ("question", "sentence"), ("text_a", "text_b"),
             ("question1", "question2")]
    for a, b in pairs:
        if a in names and b in names and label:
            return label, columns[names.index(a)], columns[names.index(b)]
    first = next((columns[names.index(n)] for n in ("sentence", "text", "review", "content") if n in names), None)
    if label and first:
        return label, first, None
    return None


def guess_token_equation(columns: list[str], rows: list[dict]) -> tuple[str, str] | None:
    """(tags, words) for data whose rows hold a list of words and a list of tags of the same length (or gft's form:
    a text column and a tag column, both whitespace-separated, named like tokens/ner_tags)."""
    names = [c.lower() for c in columns]
    first = rows[0] if rows else {}

    def listed(column: str) -> bool:
        return isinstance(first.get(column), (list, tuple))

    words = next((columns[names.index(n)] for n in WORD_COLUMNS if n in names and listed(columns[names.index(n)])),
                 None) or next((c for c in columns if listed(c) and all(isinstance(w, str) for w in first[c])), None)
    if words is None:                 # gft's form: whitespace strings, known only by their names
        words = next((columns[names.index(n)] for n in ("tokens", "words") if n in names), None)
        if words is None:
            return None
    size = len(first[words]) if listed(words) else len(str(first.get(words, "")).split())
    fits = [c for c in columns if c != words and (len(first[c]) == size if listed(c) else
                                                   c.lower() in TAG_COLUMNS and len(str(first.get(c, "")).split()) == size)]
    tags = next((c for n in TAG_COLUMNS for c in fits if c.lower() == n), None) or (fits[-1] if fits else None)
    return (tags, words) if tags else None


def token_keyword() -> str | None:
    """The equation keyword of the task that tags words, from the registry (None if there is none)."""
    from tunelab.core.tasks.base import all_tasks

    return next((task.keyword for task in all_tasks() if task.per_token), None)


def span_keyword() -> str | None:
    """The equation keyword of the task that answers a question from a context, from the registry (None if none)."""
    from tunelab.core.tasks.base import all_tasks

    return next((task.keyword for task in all_tasks() if task.answers_from_context), None)


def is_answers(value) -> bool:
    """Whether a cell holds SQuAD-shaped answers: {"text": [...], "answer_start": [...]}."""
    return isinstance(value, dict) and {"text", "answer_start"} <= set(value)


def guess_span_equation(columns: list[str], rows: list[dict]) -> tuple[str, str, str] | None:
    """(answers, question, context) for data whose rows hold SQuAD-shaped answers: the question and context columns
    by name, else the first two text columns other than an id or a title."""
    first = rows[0] if rows else {}
    answers = next((c for c in columns if is_answers(first.get(c))), None)
    if answers is None:
        return None
    names = {c.lower(): c for c in columns}
    texts = [c for c in columns if isinstance(first.get(c), str) and c.lower() not in ("id", "title")]
    question = names.get("question") or (texts[0] if texts else None)
    context = names.get("context") or next((c for c in texts if c != question), None)
    return (answers, question, context) if question and context else None


def answer_spans(value) -> list[tuple[int, int]]:
    """The character spans of a row's answers in its context."""
    if not is_answers(value):
        return []
    return [(int(s), int(s) + len(str(t))) for t, s in zip(value["text"] or [], value["answer_start"] or [])]


def answer_words(value) -> Text:
    """A row's answers as a cell: the texts joined, or a muted (no answer)."""
    texts = [str(t) for t in (value.get("text") or [])] if is_answers(value) else []
    return Text(" | ".join(dict.fromkeys(texts))) if texts else Text("(no answer)", style="dim")


def task_of(keyword: str | None):
    """The task for a keyword, or None for an unknown or missing one."""
    from tunelab.core.tasks.base import canonical_keyword, task_for

    return task_for(keyword) if keyword and canonical_keyword(keyword) else None


def bar(share: float, width: int = 12) -> str:
    filled = int(round(max(0.0, min(1.0, share)) * width))
    return BAR * filled + "░" * (width - filled)


SPLIT_ORDER = ("train", "validation", "test")
BLOCKS = " ▁▂▃▄▅▆▇█"


def histogram_lines(edges: list, counts: list, max_length: int | None, width: int = 36, height: int = 3) -> list:
    """The token-length histogram as `height` rows of block characters, `width` cells wide at most, with the bins
    cut at `max_length` drawn in the error colour, and an axis line below (first edge, max length, last edge)."""
    if not counts or len(edges) != len(counts) + 1:
        return []
    cells = max(1, width // len(counts))
    top = max(counts) or 1
    steps = height * 8
    levels = [0 if c == 0 else max(1, round(steps * c / top)) for c in counts]   # a non-empty bin stays visible
    cut = [max_length is not None and edges[i] >= max_length for i in range(len(counts))]
    lines = []
    for row in range(height - 1, -1, -1):
        parts = []
        for level, over in zip(levels, cut):
            char = BLOCKS[max(0, min(8, level - row * 8))]
            parts.append((char * cells, "$error" if over else "$primary"))
        lines.append(Content.assemble("  ", *parts))
    span = cells * len(counts)
    left, right = f"{edges[0]:.0f}", f"{edges[-1]:.0f} tokens"
    axis = left + " " * max(1, span - len(left) - len(right)) + right
    lines.append(Content.assemble("  ", (axis, "$text-muted")))
    return lines


def in_split_order(mapping: dict) -> list:
    """(split, value) pairs train, validation, test first, then any others."""
    return sorted(mapping.items(), key=lambda kv: SPLIT_ORDER.index(kv[0]) if kv[0] in SPLIT_ORDER else 9)


SHOWN_LABELS = 20   # labels the balance lists (the most frequent); a dataset may have thousands of classes


def summary_text(summary) -> Content:
    """The data summary: what `tunelab summary --data` prints, arranged for a column ~40 cells wide."""
    muted = "$text-muted"
    lines = [Content.from_markup("[bold $text-primary]$n[/]  [dim]$e[/]", n=summary.name, e=summary.equation),
             Content.assemble(("figure of merit ", muted), summary.figure_of_merit)]
    rows = " · ".join(f"{split} {n:,}" for split, n in in_split_order(summary.rows))
    lines.append(Content.assemble(("rows ", muted), rows))
    if summary.held_out_validation:
        lines.append(Content.from_markup("[dim]validation: held out of train (seeded)[/]"))
    overlaps = sorted(summary.overlaps() if hasattr(summary, "overlaps") else [],
                      key=lambda o: SPLIT_ORDER.index(o.split) if o.split in SPLIT_ORDER else 9)
    if overlaps:                                  # test rows also in train: the leak people most often miss
        from tunelab.core.overlap import overlap_brief

        leak = any(o.in_train for o in overlaps)
        lines.append(Content.assemble((overlap_brief(overlaps), "$warning" if leak else muted)))
    for note in getattr(summary, "notes", ()):
        lines.append(Content.assemble((note, muted)))
    for warning in getattr(summary, "warnings", ()):
        lines.append(Content.assemble((warning, "$warning")))
    split = "train" if "train" in summary.label_balance else next(iter(summary.label_balance), None)
    if split is not None:
        balance = summary.label_balance[split]
        lines.append(Content(""))
        if {"mean", "std"} <= set(balance):
            lines.append(Content.assemble((f"label values ({split})", "bold")))
            lines.append(Content(f"  mean {balance['mean']:.3g} · std {balance['std']:.3g} · "
                                 f"min {balance['min']:.3g} · max {balance['max']:.3g}"))
        elif balance and all(isinstance(v, dict) for v in balance.values()):     # several regression outputs
            lines.append(Content.assemble((f"label values ({split})", "bold")))     # a row each, in a column ~40 wide
            width = min(12, max(len(str(k)) for k in balance))
            lines.append(Content.assemble((f"  {'':<{width}} {'mean':>7} {'std':>7}  range", muted)))
            for output, v in balance.items():
                name = str(output) if len(str(output)) <= width else str(output)[: width - 1] + "…"
                lines.append(Content(f"  {name:<{width}} {v['mean']:>7.3g} {v['std']:>7.3g}  "
                                     f"{v['min']:.3g}…{v['max']:.3g}"))
        else:
            total = sum(balance.values()) or 1
            per_word = bool(getattr(summary, "token_details", None))      # tags are counted per word
            lines.append(Content.assemble((f"{'tag counts' if per_word else 'label balance'} ({split})", "bold")))
            width = max(len(str(k)) for k in balance) if balance else 5
            shown = list(balance.items())
            if len(shown) > SHOWN_LABELS:     # thousands of classes: the most frequent, and how many more
                shown = sorted(shown, key=lambda kv: -kv[1])[:SHOWN_LABELS]
            for name, count in shown:
                lines.append(Content.assemble(f"  {str(name)[:16]:<{min(width, 16)}} ", (bar(count / total), "$accent"),
                                              f" {count:,} {100 * count / total:.0f}%"))
            if len(balance) > len(shown):
                lines.append(Content.assemble((f"  … and {len(balance) - len(shown):,} more labels", muted)))
    lines.extend(token_detail_lines(summary))
    split = "train" if "train" in summary.token_lengths else next(iter(summary.token_lengths), None)
    if split is not None:
        lengths = summary.token_lengths[split]
        lines.append(Content(""))
        lines.append(Content.assemble((f"token lengths ({split})", "bold")))
        histogram = (getattr(summary, "length_histogram", None) or {}).get(split)
        if histogram:
            lines.extend(histogram_lines(histogram["edges"], histogram["counts"], summary.max_length))
        lines.append(Content("  " + " · ".join(f"{name} {value}" for name, value in lengths.items())))
        cut = " · ".join(f"{s} {100 * v:.1f}%" for s, v in in_split_order(summary.truncated_share))
        lines.append(Content.assemble((f"cut at {summary.max_length}: ", muted), cut))
    if summary.majority_baseline:
        lines.append(Content(""))
        lines.append(Content.assemble(("majority baseline", "bold")))
        for split, value in in_split_order(summary.majority_baseline):
            lines.append(Content(f"  {split} {summary.figure_of_merit} {value:.3f}" if abs(value) < 1e9
                                 else f"  {split} {summary.figure_of_merit} {value:.3g}"))
    return Content("\n").join(lines)


def token_detail_lines(summary) -> list[Content]:
    """For data that tags words: entities per type (train), then per split the words, the words past the maximum
    length, the sentences without an entity and the tag rows that break the scheme."""
    details = getattr(summary, "token_details", None) or {}
    if not details:
        return []
    muted = "$text-muted"
    lines: list[Content] = []
    split = "train" if "train" in details else next(iter(details))
    entities = details[split].get("entities")
    if entities is not None:
        lines.append(Content(""))
        lines.append(Content.assemble((f"entities ({split})", "bold")))
        total = sum(entities.values()) or 1
        width = min(16, max([len(k) for k in entities] or [4]))
        for name, count in entities.items():
            lines.append(Content.assemble(f"  {name[:16]:<{width}} ", (bar(count / total), "$accent"),
                                          f" {count:,} {100 * count / total:.0f}%"))
        if not entities:
            lines.append(Content.assemble(("  none", muted)))
    splits = in_split_order(details)
    names = " · ".join(name for name, _ in splits)

    def row(label: str, values: list, style: str = "", note: str = "") -> Content:
        shown = " · ".join(f"{v:,}" if isinstance(v, int) else "–" for v in values)   # –: an unlabelled split
        return Content.assemble(("  " + label.ljust(13), muted), (shown, style), (note, muted))

    lines.append(Content(""))
    lines.append(Content.assemble(("words", "bold"), (f" ({names})", muted)))
    lines.append(row("words", [d["words"] for _, d in splits]))
    w = details[split]["words_per_sentence"]
    lines.append(Content.assemble(("  " + "a sentence".ljust(13), muted), f"p50 {w['p50']} · max {w['max']}",
                                  (f" ({split})", muted)))
    cut = [d["words_beyond_max_length"] for _, d in splits]
    lines.append(row(f"cut at {summary.max_length}", cut, "$warning" if any(cut) else "", " scored as missed"
                     if any(cut) else ""))
    if any("sentences_without_entity" in d for _, d in splits):
        lines.append(row("no entity", [d.get("sentences_without_entity") for _, d in splits], note=" sentences"))
        breaks = [d.get("scheme_breaks") for _, d in splits]
        if any(breaks):
            lines.append(row("break IOB2", breaks, "$warning", " tag rows"))
            for name, d in splits:
                for example in d.get("scheme_break_examples", ())[:2]:
                    lines.append(Content.assemble((f"    {name} {example}", muted)))
    return lines


class DataScreen(TuneLabScreen):
    MODE = "data"
    BINDINGS = [
        Binding("ctrl+l", "load", "Load", tooltip="read the source again and summarise it"),
        Binding("ctrl+t", "train", "Train on it", tooltip="use this data and equation on the Train screen"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self._syncing = False
        self._summary_key: tuple | None = None
        self._summary_timer = None
        self.summary = None
        self._rows: list[dict] = []
        self._tagged: tuple[str, str] | None = None   # (words, tags) columns the preview shows as word/TAG
        self._more_outputs: list[str] = []   # outputs after the label's, for a task that takes several
        self._answers: tuple[str, str, str] | None = None   # (question, context, answers) columns of a QA preview
        self._waited_for_layout = False               # the QA preview was filled again once the table had a width

    def compose_body(self) -> ComposeResult:
        blank = Select.NULL
        with Vertical(id="data-fields"):
            with Horizontal(classes="data-row"):
                yield Label("source", classes="data-label")
                yield Input(placeholder="demo, a file, a directory, train=a.tsv,validation=b.tsv, H:glue,cola",
                            id="data-source", compact=True)
                yield Label("columns", classes="data-label-short")
                yield Input(placeholder="headerless: a,b,c", id="data-columns", compact=True)
            with Horizontal(classes="data-row"):
                yield Label("task", classes="data-label")
                yield Select([(t, t) for t in keywords()], value=keywords()[0], allow_blank=False, id="eqn-task",
                             compact=True)
                yield Label("label", classes="data-label-short")
                yield Select([], prompt="label", id="eqn-label", compact=True, value=blank)
                yield Label("input", classes="data-label-short")
                yield Select([], prompt="input", id="eqn-input", compact=True, value=blank)
                yield Label("pair", classes="data-label-short")
                yield Select([], prompt="(none)", id="eqn-pair", compact=True, value=blank)
            with Horizontal(classes="data-row", id="eqn-outputs-row"):     # shown for a task with several outputs
                yield Label("outputs", classes="data-label")
                yield Select([], prompt="+/− an output", id="eqn-more", compact=True, value=blank)
                yield Static("", id="eqn-outputs", markup=False)
            with Horizontal(classes="data-row"):
                yield Label("equation", classes="data-label")
                yield Input(placeholder="classify: label ~ sentence", id="data-eqn", compact=True)
                yield Label("max length", classes="data-label-short")
                yield Input(placeholder="128", id="data-max-length", compact=True, restrict=r"\d*")
        yield Static("", id="data-error", markup=False)
        with Horizontal(id="data-body"):
            with Vertical(id="data-left"):
                yield DataTable(id="data-preview", zebra_stripes=True, cursor_type="row")
                yield Static("", id="data-row")     # the highlighted sentence whole, words over tags
            with VerticalScroll(id="data-summary"):
                yield Static("", id="data-summary-text")

    def on_mount(self) -> None:
        selection = self.app.selection
        self._syncing = True
        self.query_one("#data-source", Input).value = selection.data
        self.query_one("#data-columns", Input).value = ",".join(selection.columns or ())
        self.query_one("#data-eqn", Input).value = selection.eqn or ""
        self._syncing = False
        self.app.theme_changed_signal.subscribe(
            self, lambda _theme: self._fill_preview() if self._tagged or self._answers else None)
        self.action_load()

    # --- reading the source -------------------------------------------------------------------------------------

    def _source(self) -> tuple[str, list[str] | None]:
        data = self.query_one("#data-source", Input).value.strip() or "demo"
        text = self.query_one("#data-columns", Input).value.strip()
        columns = [c.strip() for c in text.split(",")] if text else None
        return data, columns

    def action_load(self) -> None:
        data, columns = self._source()
        self._show_error("")
        self._summary_key = None
        self.query_one("#data-summary-text", Static).update(Content.from_markup("[dim]reading $d…[/]", d=data))
        self._preview(data, columns)

    @on(Input.Submitted, "#data-source, #data-columns")
    def _source_submitted(self) -> None:
        self.action_load()

    @work(thread=True, exclusive=True, group="data-preview", exit_on_error=False)
    def _preview(self, data: str, columns: list[str] | None) -> None:
        from tunelab.core.data import load_raw_splits

        try:
            raw = load_raw_splits(data, columns)
        except (TuneLabError, OSError, ValueError) as err:
            self.post_message(DataPreviewReady(data, [], [], {}, error=error_text(err)))
            return
        splits = {name: len(ds) for name, ds in raw.items()}
        first = "train" if "train" in raw else next(iter(raw))
        ds = raw[first]
        names = list(ds.column_names)
        head = ds[: min(PREVIEW_ROWS, len(ds))]
        rows = [{name: head[name][i] for name in names} for i in range(len(head[names[0]]) if names else 0)]
        for name in names:                    # tags stored as ids with names (the hub's conll2003): by name
            tag_names = _list_class_names(ds.features.get(name))
            if tag_names:
                for row in rows:
                    row[name] = [tag_names[i] if isinstance(i, int) and 0 <= i < len(tag_names) else i
                                 for i in row[name] or []]
        self.post_message(DataPreviewReady(data, names, rows, splits))

    def on_data_preview_ready(self, message: DataPreviewReady) -> None:
        if message.error:
            self.columns, self._rows, self._tagged, self._answers = [], [], None, None
            self._fill_preview()
            self._set_column_options([])
            self._show_error(message.error)
            self.notify(message.error, severity="error", timeout=8)
            self.query_one("#data-summary-text", Static).update("")
            return
        self.columns, self._rows, self._tagged, self._answers = message.columns, message.rows, None, None
        self._set_column_options(message.columns)
        eqn = self.query_one("#data-eqn", Input).value.strip()
        if not eqn or not equation_fits(eqn, message.columns):   # none yet, or the last source's: guess anew
            from tunelab.core.data import demo_equation

            guess = demo_equation(message.data)
            tokens = guess_token_equation(message.columns, message.rows)
            keyword = token_keyword()
            spans, span_task = guess_span_equation(message.columns, message.rows), span_keyword()
            if guess is None and spans and span_task:
                guess = equation_text(span_task, *spans)
            elif guess is None and tokens and keyword:
                guess = equation_text(keyword, *tokens, None)
            elif guess is None and guess_equation(message.columns):
                guess = equation_text(self.query_one("#eqn-task", Select).value, *guess_equation(message.columns))
            if guess:
                self._set_equation(guess)
        else:
            self._equation_to_pickers(eqn)
        self._fill_preview()
        self.summarize()

    def _tagged_columns(self) -> tuple[str, str] | None:
        """(words, tags) when the equation's task tags words and both columns are in the preview."""
        from tunelab.core.equation import parse_equation

        try:
            equation = parse_equation(self.query_one("#data-eqn", Input).value.strip())
        except TuneLabError:
            return None
        task = task_of(equation.task)
        words, tags = equation.inputs[0], equation.label
        if task is None or not task.per_token or words not in self.columns or tags not in self.columns:
            return None
        return words, tags

    def _answer_columns(self) -> tuple[str, str, str] | None:
        """(question, context, answers) when the equation's task answers from a context and its columns are in the
        preview."""
        from tunelab.core.equation import parse_equation

        try:
            equation = parse_equation(self.query_one("#data-eqn", Input).value.strip())
        except TuneLabError:
            return None
        task = task_of(equation.task)
        if task is None or not task.answers_from_context or len(equation.inputs) != 2:
            return None
        wanted = (*equation.inputs, equation.label)
        return wanted if all(c in self.columns for c in wanted) else None

    def _preview_changed(self) -> bool:
        return self._tagged_columns() != self._tagged or self._answer_columns() != self._answers

    def _fill_preview(self) -> None:
        """The preview table: the columns as they are, or, for a task that tags words, each sentence as word/TAG, or,
        for a task that answers from a context, the question, the context around its answer and the answer."""
        table = self.query_one("#data-preview", DataTable)
        self._tagged = self._tagged_columns()
        self._answers = None if self._tagged else self._answer_columns()
        table.clear(columns=True)
        row_view = self.query_one("#data-row", Static)
        row_view.display = self._tagged is not None or self._answers is not None
        self._set_max_length_hint()
        if self._answers is not None:
            self._fill_answers(table)
            return
        if self._tagged is None:
            for name in self.columns:
                table.add_column(Text(str(name)), key=name)     # a column's name and cells are data, never markup
            for row in self._rows:
                table.add_row(*[_cell(row.get(name)) for name in self.columns])
            return
        words, tags = self._tagged
        rows = [(_words(row.get(words)), _words(row.get(tags))) for row in self._rows]
        colors = type_colors(self.app, (t[2:] for _, row_tags in rows for t in row_tags if t[1:2] == "-"))
        self._colors = colors
        # the equation's two columns only, as wide as the table (other columns are an equation away)
        width = max(20, table.size.width - 4) if table.size.width else 60   # padding and the scroll bar
        table.add_column(Text(f"{words} / {tags}"), key="tagged", width=width)
        for row_words, row_tags in rows:
            table.add_row(tagged_inline(row_words, row_tags, colors))
        self._show_row()

    def _fill_answers(self, table: DataTable) -> None:
        """QA rows: the question, the context cut around its answer (marked) to one line, the answer."""
        question, context, answers = self._answers
        if not table.size.width and not self._waited_for_layout:   # not laid out yet: once more when it is
            self._waited_for_layout = True
            self.call_after_refresh(self._fill_preview)
        width = max(30, table.size.width - 4) if table.size.width else 76          # padding and the scroll bar
        with_answer = width >= 60                    # narrow: the answer is the mark in the context
        a_width = max(12, width // 6) if with_answer else 0
        q_width = max(12, width // 3)
        c_width = max(12, width - q_width - a_width - (6 if with_answer else 4))
        styles = span_styles(self.app)
        table.add_column(Text(str(question)), key="question", width=q_width)
        table.add_column(Text(str(context)), key="context", width=c_width)
        if with_answer:
            table.add_column(Text(str(answers)), key="answers", width=a_width)
        for row in self._rows:
            spans = answer_spans(row.get(answers))
            around = max(2, (c_width - 2 - max((e - s for s, e in spans[:1]), default=0)) // 2)
            cut = marked_context(str(row.get(context) or ""), {"answer": spans[:1]}, styles, around=around,
                                 whole_words=False)
            cut.no_wrap, cut.overflow = True, "ellipsis"
            cells = [Text(str(row.get(question) or ""), no_wrap=True, overflow="ellipsis"), cut]
            table.add_row(*cells, *([answer_words(row.get(answers))] if with_answer else []))
        self._show_row()

    def _answer_row(self, row: dict) -> Text:
        """One QA row whole: its question, its context with the answers marked, the answers."""
        question, context, answers = self._answers
        styles = span_styles(self.app)
        text = str(row.get(context) or "")
        marked = marked_context(text, {"answer": answer_spans(row.get(answers))}, styles,
                                around=None if len(text) <= 400 else 200)
        return Text("\n").join([Text.assemble(("Q ", "dim"), (str(row.get(question) or ""), "bold")),
                                 Text.assemble(("A ", "dim"), answer_words(row.get(answers))), marked])

    def _set_max_length_hint(self) -> None:
        """The max length field's placeholder: the equation's task's own default (QA reads 384), else 128."""
        from tunelab.core.equation import parse_equation

        try:
            task = task_of(parse_equation(self.query_one("#data-eqn", Input).value.strip()).task)
        except TuneLabError:
            task = None
        default = getattr(task, "default_max_length", None) or 128
        self.query_one("#data-max-length", Input).placeholder = str(default)

    @on(DataTable.RowHighlighted, "#data-preview")
    def _show_row(self) -> None:
        if self._answers is not None:
            table = self.query_one("#data-preview", DataTable)
            if self._rows:
                row = self._rows[min(max(0, table.cursor_row), len(self._rows) - 1)]
                self.query_one("#data-row", Static).update(self._answer_row(row))
            return
        if self._tagged is None:
            return
        table = self.query_one("#data-preview", DataTable)
        view = self.query_one("#data-row", Static)
        if not self._rows:
            view.update("")
            return
        row = self._rows[min(max(0, table.cursor_row), len(self._rows) - 1)]
        words, tags = self._tagged
        width = max(20, view.size.width - 2 if view.size.width else table.size.width - 2)
        view.update(tagged_rows(_words(row.get(words)), _words(row.get(tags)), self._colors, width))

    def on_resize(self) -> None:
        if self._tagged is not None or self._answers is not None:
            self.call_after_refresh(self._fill_preview)

    def _set_column_options(self, columns: list[str]) -> None:
        self._syncing = True
        try:
            for select_id in ("#eqn-label", "#eqn-input", "#eqn-pair"):
                self.query_one(select_id, Select).set_options([(Text(c), c) for c in columns])   # names, not markup
        finally:
            self._syncing = False
        self._show_outputs()

    # --- the equation builder -----------------------------------------------------------------------------------

    def _set_equation(self, text: str) -> None:
        self._syncing = True
        try:
            self.query_one("#data-eqn", Input).value = text
        finally:
            self._syncing = False
        self._equation_to_pickers(text)

    def _equation_to_pickers(self, text: str) -> None:
        from tunelab.core.equation import parse_equation

        try:
            equation = parse_equation(text)
        except TuneLabError:
            return
        self._syncing = True
        try:
            self.query_one("#eqn-task", Select).value = equation.task
            self._pair_for(equation.task)
            for select_id, name in (("#eqn-label", equation.label), ("#eqn-input", equation.inputs[0]),
                                    ("#eqn-pair", equation.inputs[1] if equation.is_pair else None)):
                select = self.query_one(select_id, Select)
                if name is None or name not in self.columns:
                    select.clear()
                else:
                    select.value = name
            self._more_outputs = [name for name in equation.outputs[1:] if name in self.columns]
        finally:
            self._syncing = False
        self._show_outputs()

    @on(Select.Changed)
    def _picker_changed(self, event: Select.Changed) -> None:
        if self._syncing or event.select.id == "eqn-more":
            return
        values = [self.query_one(i, Select).value for i in ("#eqn-task", "#eqn-label", "#eqn-input", "#eqn-pair")]
        task, label, first, second = (None if v == Select.NULL else v for v in values)
        if event.select.id == "eqn-task":
            second = None if self._pair_for(task) else second
        several = getattr(task_of(task), "several_outputs", False)    # a task of one output keeps only the label
        self._more_outputs = [name for name in self._more_outputs if several and name not in (label, first, second)]
        self._show_outputs()
        if task and label and first:
            self._write_equation(task, [label, *self._more_outputs], first, second)

    @on(Select.Changed, "#eqn-more")
    def _output_toggled(self, event: Select.Changed) -> None:
        """`+ name` adds an output after the others, `− name` drops one (the label's too: the next one takes its
        place); the picker goes back to its prompt, ready for the next."""
        if self._syncing or event.value == Select.NULL:
            return
        outputs = self._outputs()
        column = event.value
        outputs = [name for name in outputs if name != column] if column in outputs else [*outputs, column]
        self._syncing = True
        try:
            self.query_one("#eqn-label", Select).value = outputs[0]
        finally:
            self._syncing = False
        self._more_outputs = outputs[1:]
        self._show_outputs()
        values = [self.query_one(i, Select).value for i in ("#eqn-task", "#eqn-input", "#eqn-pair")]
        task, first, second = (None if v == Select.NULL else v for v in values)
        if task and first:
            self._write_equation(task, outputs, first, second)

    def _outputs(self) -> list[str]:
        """The equation's outputs as the pickers hold them: the label's column, then any more."""
        label = self.query_one("#eqn-label", Select).value
        return ([] if label == Select.NULL else [label]) + [n for n in self._more_outputs if n != label]

    def _write_equation(self, task: str, outputs: list[str], first: str, second: str | None) -> None:
        self._syncing = True
        try:
            self.query_one("#data-eqn", Input).value = equation_text(task, " + ".join(outputs), first, second)
        finally:
            self._syncing = False
        if self._preview_changed():
            self._fill_preview()
        self._schedule_summary()

    def _show_outputs(self) -> None:
        """The outputs row, for a task that takes several outputs when the data has a numeric column to add or the
        equation names more than one: a picker that adds (+) or drops (−) one, and the outputs so far."""
        task = self.query_one("#eqn-task", Select).value
        several = getattr(task_of(None if task == Select.NULL else task), "several_outputs", False)
        outputs = self._outputs()
        inputs = [self.query_one(i, Select).value for i in ("#eqn-input", "#eqn-pair")]
        choices = output_choices(numeric_columns(self.columns, self._rows), outputs, inputs) if several else []
        row = self.query_one("#eqn-outputs-row")
        row.display = several and (len(outputs) > 1 or any(text.startswith("+") for text, _ in choices))
        picker = self.query_one("#eqn-more", Select)
        self._syncing = True
        try:
            picker.set_options([(Text(text), value) for text, value in choices])    # names, not markup
        finally:
            self._syncing = False
        picker.disabled = not choices
        count = f"{len(outputs)} outputs: " if len(outputs) > 1 else "one output: " if outputs else ""
        self.query_one("#eqn-outputs", Static).update(count + " + ".join(outputs))

    def _pair_for(self, keyword: str | None) -> bool:
        """Disable the pair picker for a task that reads one input (the words); True when it is disabled."""
        task = task_of(keyword)
        single = task is not None and task.max_inputs < 2
        pair = self.query_one("#eqn-pair", Select)
        pair.disabled = single
        if single and pair.value != Select.NULL:
            pair.clear()
        return single

    @on(Input.Changed, "#data-eqn, #data-max-length")
    def _equation_typed(self, event: Input.Changed) -> None:
        if self._syncing:
            return
        if event.input.id == "data-eqn":
            self._equation_to_pickers(event.value)
            if self._preview_changed():
                self._fill_preview()
        self._schedule_summary()

    def _schedule_summary(self) -> None:
        if self._summary_timer is not None:
            self._summary_timer.stop()
        self._summary_timer = self.set_timer(0.5, self.summarize)

    # --- the summary --------------------------------------------------------------------------------------------

    def summarize(self) -> None:
        data, columns = self._source()
        eqn = self.query_one("#data-eqn", Input).value.strip() or None
        from tunelab.core.data import demo_equation

        if eqn is None and demo_equation(data) is None:
            self._show_error("pick the label and input columns (or type an equation) to summarise the data")
            return
        text = self.query_one("#data-max-length", Input).value.strip()
        max_length = int(text) if text else None
        key = (data, eqn, tuple(columns) if columns else None, self.app.selection.model, max_length)
        if key == self._summary_key:
            return
        self._summary_key = key
        self._show_error("")
        self.query_one("#data-summary-text", Static).update(
            Content.from_markup("[dim]summarising (tokenizer of $m)…[/]", m=self.app.selection.model))
        self._summarize(key)

    @work(thread=True, exclusive=True, group="data-summary", exit_on_error=False)
    def _summarize(self, key: tuple) -> None:
        from tunelab.core.summary import summarize_data

        data, eqn, columns, model, max_length = key
        worker = get_current_worker()
        shown = [0.0]

        def progress(text: str) -> None:
            if worker.is_cancelled:          # a newer summary replaced this one: stop tokenizing for nothing
                raise _Superseded
            now = time.monotonic()
            if now - shown[0] >= 0.25:
                shown[0] = now
                self.app.call_from_thread(self._show_progress, key, text)

        try:
            summary = summarize_data(data, eqn, columns=list(columns) if columns else None, model=model,
                                     max_length=max_length, on_phase=progress)
        except _Superseded:
            return
        except (TuneLabError, OSError, ValueError) as err:
            self.post_message(DataSummaryReady(key, error=error_text(err)))
            return
        self.post_message(DataSummaryReady(key, summary))

    def _show_progress(self, key: tuple, text: str) -> None:
        if key == self._summary_key:
            self.query_one("#data-summary-text", Static).update(Content.from_markup("[dim]$t…[/]", t=text))

    def on_data_summary_ready(self, message: DataSummaryReady) -> None:
        if message.key != self._summary_key:
            return
        text = self.query_one("#data-summary-text", Static)
        if message.error:
            self._show_error(message.error)
            self.notify(message.error, severity="error", timeout=8)
            text.update("")
            self.summary = None
            return
        self.summary = message.summary
        text.update(summary_text(message.summary))
        data, eqn, columns, _, _ = message.key
        self.app.select(data=data, eqn=eqn, columns=columns)

    def worker_failed(self, worker, error) -> None:
        self._summary_key = None
        self._show_error(error_text(error))

    def _show_error(self, text: str) -> None:
        error = self.query_one("#data-error", Static)
        error.update(text)
        error.set_class(bool(text), "-shown")

    def action_train(self) -> None:
        if self.summary is None:
            self.notify("load data that summarises without errors first", severity="warning")
            return
        self.app.switch_screen_mode("train")


class _Superseded(Exception):
    """Raised inside a summary whose result nobody waits for any more."""


def _list_class_names(feature) -> list[str] | None:
    """The names of a list-of-ClassLabel column's ids (datasets' Sequence(ClassLabel) or List(ClassLabel)), or None."""
    inner = getattr(feature, "feature", None)
    return list(inner.names) if type(inner).__name__ == "ClassLabel" else None


def _words(value) -> list[str]:
    """A list cell as strings, or a whitespace-separated string (gft's form) as its words."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value or "").split()


def _cell(value) -> Text:
    text = "" if value is None else " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return Text(text if len(text) <= 60 else text[:59] + "…")
