"""The Evaluate screen: score a model or run on a split (or any labelled file) and read where it goes wrong.

Scoring is `tunelab.core.evaluation.evaluate_model`, run in a thread worker (torch loads there, never on the
event loop); it can be cancelled. The report shows the metrics with the figure of merit beside the majority-class
baseline, the confusion matrix as a coloured grid (`ConfusionGrid`), per-class precision, recall and F1, and a
browser of the mistakes, most confident first, filterable by true and by predicted class (or by picking a
confusion cell). `p` sends the selected mistake to the Predict screen and `a` to the Attention screen.

A model that tags words (`classify_tokens`) gets the same screen, read from what its report holds: the per-type
precision, recall and F1 (the table's heading is the report's `per_class_title`), the confusion of entity types
(O: no entity there), and a browser of the sentences with the most entity errors, each error typed (missed,
spurious, wrong type, wrong boundary); the selected sentence is shown with its gold and predicted entities in
brackets, coloured by type, the entities in error underlined. A confusion cell, `t` and `o` filter the sentences
by the (gold, predicted) types of their errors. Tags without entities (POS) list each wrong word instead.
On a screen too narrow for the per-type table beside the confusion grid, `g` switches between the two.

A model that answers questions from a context (`classify_spans`: its mistakes carry their character `spans`) gets
exact match and F1 with SQuAD v2's parts as rows of the per-class table (all questions, HasAns, NoAns: EM, F1 and
how many), the figure of merit and the best null threshold beside them, and a browser of the most confident wrong
answers; the selected one shows its question and the context around both answers, the predicted span and the
gold answer(s) marked in different colours over a legend (`widgets/answer_spans.py`). `p` and `a` take its
question and whole context to Predict and Attention.

`w` shows why the selected mistake went wrong: its words coloured by Integrated Gradients (core/explain.py) for the
predicted class and for the gold class, side by side (`AttributionWords`; red against, blue for each class): what
pushed it wrong, and what would have pushed it right. Computed in a thread worker, the newest selection only; a
sentence label's mistakes (tags and answers are explained with `tunelab explain --word` / `--question`).

The model, data and equation come from the app's selection (see `target.py`) and can be edited in the form;
a new selection elsewhere in the app refills the form.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.worker import get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, ProgressBar, Static

from tunelab.core.top_classes import SHOWN_CLASSES, sub_confusion, top_classes
from tunelab.tui.widgets.attribution_words import AttributionWords
from tunelab.tui.screens.base import JobScreen
from tunelab.tui.screens.target import DEFAULT_MODEL, open_with, selected_target
from tunelab.tui.widgets.answer_spans import legend, marked_context, span_styles
from tunelab.tui.widgets.confusion import ConfusionGrid
from tunelab.tui.widgets.tagged_words import marked_entities, tagged_inline, type_colors

_ONE_SCORING = threading.Lock()   # the screen's scorings run one after another (see _score)
MISTAKES = 500  # mistakes kept for the browser (the most confident first); the rest only count
PAIR_JOIN = " [SEP] "  # how the evaluation report joins the two sentences of a pair


KIND_WORDS = {"missed": "missed", "spurious": "spurious", "wrong_type": "wrong type", "wrong_boundary": "wrong boundary"}
KIND_SHORT = {"missed": "missed", "spurious": "spurious", "wrong_type": "type", "wrong_boundary": "boundary"}
NONE = "O"   # the entity confusion's name for "no entity there"


def is_tagged(mistake: dict) -> bool:
    """Whether a mistake is a sentence of tagged words (a token model's) rather than one wrong label."""
    return "words" in mistake and "gold_tags" in mistake


def answers_in_context(mistake: dict) -> bool:
    """Whether a mistake is a wrong answer to a question about a context (a QA model's): it holds the character
    spans of the predicted and gold answers in that context."""
    return isinstance(mistake.get("spans"), dict) and "context" in mistake["spans"]


def gold_text(mistake: dict) -> str:
    """A wrong answer's gold answers, each once (SQuAD's annotators often gave the same answer three times)."""
    answers = mistake["spans"].get("gold_answers") or []
    return " | ".join(dict.fromkeys(answers)) if answers else mistake["gold"]


def answers_questions(report) -> bool:
    """Whether a report is of a model that answers questions from a context: what its mistakes hold, or (none) what
    its task says."""
    if report.mistakes:
        return answers_in_context(report.mistakes[0])
    from tunelab.core.tasks.base import canonical_keyword, task_for

    keyword = str(report.task).split(":", 1)[0].strip()
    return bool(canonical_keyword(keyword)) and task_for(keyword).answers_from_context


def tags_words(report) -> bool:
    """Whether a report is of a model that tags words: what its mistakes hold, or (none) what its task says."""
    if report.mistakes:
        return is_tagged(report.mistakes[0])
    from tunelab.core.tasks.base import canonical_keyword, task_for

    keyword = str(report.task).split(":", 1)[0].strip()
    return bool(canonical_keyword(keyword)) and task_for(keyword).per_token


def entity_errors_of(mistake: dict) -> list:
    """The typed entity errors of a tagged sentence (core.entities.EntityError), [] for tags without entities."""
    from tunelab.core.entities import entity_errors

    if "kinds" not in mistake:
        return []
    return entity_errors(mistake["gold_tags"], mistake["pred_tags"], mistake["words"])


def mistake_pairs(mistake: dict) -> set[tuple[str, str]]:
    """The (true, predicted) pairs a mistake holds, as the confusion grid names them: one wrong label; an entity
    error's two types (O for a missed or spurious entity); a wrongly tagged word's two tags."""
    if not is_tagged(mistake):
        return {(mistake["gold"], mistake["predicted"])}
    if "kinds" in mistake:
        return {(e.gold.type if e.gold else NONE, e.predicted.type if e.predicted else NONE)
                for e in entity_errors_of(mistake)}
    return {(g, p) for g, p in zip(mistake["gold_tags"], mistake["pred_tags"]) if g != p}


def error_summary(mistake: dict) -> str:
    """A tagged mistake's errors in a few words for the browser: "wrong boundary ×2", "missed, spurious", or
    (tags without entities) the wrong tags "NN→VB, DT→NN". Wrong type and wrong boundary read "type", "boundary"."""
    if "kinds" not in mistake:
        wrong = [f"{g}→{p}" for g, p in zip(mistake["gold_tags"], mistake["pred_tags"]) if g != p]
        return ", ".join(wrong[:3]) + (", …" if len(wrong) > 3 else "")
    counts: dict[str, int] = {}
    for kind in mistake["kinds"]:
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(KIND_SHORT.get(k, k) + (f" ×{n}" if n > 1 else "") for k, n in counts.items())


def error_line(error) -> Text:
    """One typed entity error in words: the kind in bold, then what was read."""
    g, p = error.gold, error.predicted
    kind = Text(KIND_WORDS.get(error.kind, error.kind), style="bold")
    if error.kind == "missed":
        said = f" {g.type} {g.text!r}"
    elif error.kind == "spurious":
        said = f" {p.type} {p.text!r}"
    elif error.kind == "wrong_type":
        said = f" {g.text!r} {g.type} read as {p.type}"
    else:
        said = f" {g.type} {g.text!r} read as {p.text!r}"
    return Text.assemble(kind, said)


def split_pair(text: str) -> tuple[str, str | None]:
    """A mistake's text back as (sentence, second sentence or None)."""
    first, sep, second = text.partition(PAIR_JOIN)
    return (first, second) if sep else (text, None)


class EvaluateScreen(JobScreen):
    """Metrics, confusion matrix, per-class scores and a mistakes browser for one model on one split."""

    MODE = "evaluate"

    JOB_GROUP, JOB_TITLE, JOB_FAILED = "evaluate", "Evaluate", "not scored"

    DEFAULT_CSS = """
    EvaluateScreen { layout: vertical; background: $background; }
    EvaluateScreen #eval-form { height: 1; }
    EvaluateScreen #eval-form Input { width: 1fr; margin-right: 1; }
    EvaluateScreen #eval-form #eval-split { width: 14; margin-right: 0; }
    EvaluateScreen #eval-status { height: 1; }
    EvaluateScreen #eval-message { width: 1fr; color: $foreground-muted; }
    EvaluateScreen #eval-progress { width: 22; display: none; }
    EvaluateScreen #eval-train-overlap { height: 1; color: $foreground-muted; display: none; }
    EvaluateScreen #eval-train-overlap.-leak { color: $warning; }
    EvaluateScreen.-running #eval-progress { display: block; }
    EvaluateScreen #eval-top { height: auto; max-height: 50%; }
    EvaluateScreen #eval-metrics { width: auto; max-width: 40; margin-right: 1; }
    EvaluateScreen #eval-right { width: 1fr; height: auto; }
    EvaluateScreen #eval-confusion { margin-bottom: 1; }
    EvaluateScreen #eval-classes { width: auto; }
    EvaluateScreen #eval-filter { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    EvaluateScreen #eval-mistakes { height: 1fr; }
    EvaluateScreen #eval-example { height: 3; padding: 0 1; background: $surface; color: $foreground; }
    EvaluateScreen.-tagged #eval-example { height: auto; max-height: 7; }
    EvaluateScreen.-answers #eval-example { height: auto; max-height: 9; }
    EvaluateScreen.-answers #eval-top { max-height: 40%; }
    EvaluateScreen.-answers #eval-metrics { max-width: 46; }
    EvaluateScreen #eval-why { display: none; height: auto; max-height: 6; background: $surface; padding: 0 1; }
    EvaluateScreen.-why #eval-why { display: block; }
    EvaluateScreen #eval-why > AttributionWords { width: 1fr; margin-right: 2; }
    EvaluateScreen.-beside #eval-right { layout: horizontal; width: auto; }
    EvaluateScreen.-beside #eval-confusion { margin-bottom: 0; margin-right: 2; }
    """

    BINDINGS = [
        Binding("r", "run", "Run", tooltip="score the model in the form on the data and split in the form"),
        Binding("x", "cancel", "Cancel", tooltip="stop waiting for the scoring in progress"),
        Binding("t", "cycle_filter('gold')", "True", tooltip="mistakes of the next true class (then all)"),
        Binding("o", "cycle_filter('predicted')", "Output",
                tooltip="mistakes predicted as the next class (then all); enter on a confusion cell sets both"),
        Binding("c", "clear_filters", "All", tooltip="show the mistakes of every class"),
        Binding("p", "to_predict", "Predict", tooltip="edit the selected mistake on the Predict screen"),
        Binding("a", "to_attention", "Attention", tooltip="the selected mistake's attention heads"),
        Binding("w", "toggle_why", "Why", tooltip="the selected mistake's words coloured by Integrated Gradients, "
                                                  "for the predicted and the gold class"),
        Binding("g", "toggle_grid", "Grid/table",
                tooltip="on a narrow screen: the confusion grid or the per-type table (they do not fit side by side)"),
    ]

    AUTO_FOCUS = "#eval-mistakes"

    def __init__(self, model: str | None = None, data: str | None = None, split: str | None = None, *,
                 report=None, explainer_factory=None, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        """`model`/`data` override the app's selection; a `report` (an EvalReport) is shown as it is, with no
        scoring until `r` is pressed; `explainer_factory(model)` replaces loading an Explainer (snapshot tests)."""
        super().__init__(name=name, id=id, classes=classes)
        self._explainer_factory = explainer_factory
        self._explainers: dict = {}     # model -> its Explainer, loaded once (in the worker)
        self.why: tuple | None = None   # (the mistake's key, predicted-class Explanation, gold-class Explanation)
        self._preset = (model, data, split)
        self._report = report
        self._filters: dict[str, str | None] = {"gold": None, "predicted": None}
        self._shown: list[dict] = []   # the mistakes in the table, in table order
        self._eqn: str | None = None
        self._columns: list[str] | None = None
        self._model_used: str | None = None
        self._wrong = 0                # wrong answers in the report (the mistakes table keeps the surest MISTAKES)
        self._pairs: list[set] = []     # per mistake of the report: its (true, predicted) pairs (mistake_pairs)
        self._grid_labels: list[str] = []   # the grid's rows and columns, which the filters step through
        self._one_of_two: str | None = None   # narrow screen: "classes" or "grid", the one of the two shown
        self._per_word = False          # the report is of a model that tags words (tags_words)
        self._answers = False           # the report's mistakes are wrong answers in a context (answers_in_context)
        self._colors: dict[str, str] = {}     # entity type -> colour from the theme (type_colors)
        self._filter_line: Text | None = None  # the tagged mistakes' filter line, before the `g` hint

    # --- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        target = selected_target(self.app)
        model, data, split = self._preset
        self._eqn, self._columns = target.eqn, target.columns
        with Horizontal(id="eval-form"):
            yield Input(model or target.model, placeholder="model or run directory", id="eval-model", compact=True)
            yield Input(data if data is not None else (target.data or ""), placeholder="data (empty: the run's)",
                        id="eval-data", compact=True)
            yield Input(split or "", placeholder="split: auto", id="eval-split", compact=True)
        with Horizontal(id="eval-status"):
            yield Static("", id="eval-message")
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="eval-progress")
        yield Static("", id="eval-train-overlap")     # the scored inputs also trained on: one line
        with Horizontal(id="eval-top"):
            yield DataTable(id="eval-metrics", cursor_type="none", zebra_stripes=False)
            with Vertical(id="eval-right"):
                yield ConfusionGrid(id="eval-confusion")
                yield DataTable(id="eval-classes", cursor_type="none")
        yield Static("", id="eval-filter")
        yield DataTable(id="eval-mistakes", cursor_type="row")
        yield Static("", id="eval-example")
        with Horizontal(id="eval-why"):
            yield AttributionWords(id="eval-why-predicted")
            yield AttributionWords(id="eval-why-gold")

    def on_mount(self) -> None:
        for table_id in ("#eval-metrics", "#eval-classes"):
            self.query_one(table_id, DataTable).can_focus = False
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._recolor())
        if self._report is not None:
            self._show_report(self._report)
            return
        self.query_one("#eval-top").display = False
        model = self.query_one("#eval-model", Input).value.strip()
        if model == DEFAULT_MODEL and self._preset[0] is None:
            # The bundled encoder has no trained head: scoring it would only fail. Wait for a run or a model.
            self._set_message(f"r: evaluate · {DEFAULT_MODEL} has no trained head: open a run (Runs screen) first")
        else:
            self.action_run()  # a run or a chosen model: what the user came here to see

    # --- running ------------------------------------------------------------------------------------------------

    def action_run(self) -> None:
        """Score the model in the form on the data and split in the form (replaces a run in progress)."""
        model = self.query_one("#eval-model", Input).value.strip() or None
        data = self.query_one("#eval-data", Input).value.strip() or None
        split = self.query_one("#eval-split", Input).value.strip() or None
        if self.has_class("-running"):
            self.cancel_job()      # the scoring under way stops after its batch; the new one waits for it (below)
        self._progress = (0, 0)
        token = self.start_job(f"scoring {model or 'the model'} ...  (x cancels)")
        self._score(token, model, data, split, self._eqn, self._columns)

    @work(thread=True, exclusive=True, group="evaluate", exit_on_error=False)
    def _score(self, token: int, model, data, split, eqn, columns) -> None:
        from tunelab.core.evaluation import evaluate_model
        from tunelab.core.inference import ScoringCancelled

        cancel = self._cancel = threading.Event()

        def progress(done: int, total: int) -> None:
            self._progress = (done, total)           # read by job_status on the event loop

        try:
            # one scoring at a time: a second `r` while one runs (or its first import of transformers, which is not
            # thread-safe: "cannot import name 'AutoTokenizer'") waits for the cancelled one to stop
            with _ONE_SCORING:
                if get_current_worker().is_cancelled:
                    return
                self.report_job(token, lambda: evaluate_model(model, data, eqn, split=split, columns=columns,
                                                              mistakes=MISTAKES, progress=progress, cancel=cancel))
        except ScoringCancelled:
            return                                   # stopped between two batches: nothing to show

    def cancel_job(self) -> None:
        if getattr(self, "_cancel", None) is not None:
            self._cancel.set()                       # the scoring stops after its current batch

    def job_status(self, elapsed: float) -> str:
        done, total = getattr(self, "_progress", (0, 0))
        shown = f"{done:,}/{total:,} examples ({100 * done / total:.0f}%) · " if total else ""
        return f"scoring ... {shown}{elapsed:.0f} s  (x cancels)"

    def job_finished(self, report) -> None:
        self._model_used = self.query_one("#eval-model", Input).value.strip() or None
        self._show_report(report)

    def on_selection_changed(self, selection) -> None:
        """Another screen picked a model, run or data: refill the form (scoring waits for `r`)."""
        target = selected_target(self.app)
        self._eqn, self._columns = target.eqn, target.columns
        self.query_one("#eval-model", Input).value = target.model
        self.query_one("#eval-data", Input).value = target.data or ""
        if not self.has_class("-running"):
            self._set_message(f"r: evaluate {target.model}")

    @on(Input.Submitted, "#eval-form Input")
    def _submitted(self) -> None:
        self.action_run()

    # --- the report ---------------------------------------------------------------------------------------------

    def _set_message(self, text: str) -> None:
        self.query_one("#eval-message", Static).update(Text(text))

    @property
    def report(self):
        return self._report

    def _show_report(self, report) -> None:
        self._report = report
        self.query_one("#eval-top").display = True
        self._filters = {"gold": None, "predicted": None}
        self._set_message(f"{report.model} on {report.data} ({report.split}, {report.examples} examples): "
                          f"{report.figure_of_merit} {report.value:.3f}")
        self._show_train_overlap(report)
        self._fill_metrics(report)
        self._fill_classes(report)
        grid = self.query_one(ConfusionGrid)
        entity_confusion = getattr(report, "entity_confusion", None)
        grid.display = bool(report.labels) and bool(report.confusion or entity_confusion)   # outputs have none
        self._grid_labels = list(report.labels)
        self._per_word = tags_words(report)
        self.set_class(self._per_word, "-tagged")
        self._answers = answers_questions(report)
        self.set_class(self._answers, "-answers")
        self.refresh_bindings()
        if entity_confusion:
            # entity types and O (no entity there): few, so the whole matrix
            self._grid_labels = [*report.labels, NONE]
            grid.set_matrix(entity_confusion, self._grid_labels)
        elif report.labels and report.confusion:
            # thousands of classes: the grid (and the class table) show those with the most examples, so the
            # screen stays responsive; the message says how many more there are
            shown = top_classes(report, SHOWN_CLASSES)
            grid.set_matrix(sub_confusion(report, shown), [report.labels[i] for i in shown])
            if len(shown) < len(report.labels):
                self._set_message(f"{report.model} on {report.data} ({report.split}, {report.examples:,} examples): "
                                  f"{report.figure_of_merit} {report.value:.3f} · the {len(shown)} classes with the "
                                  f"most examples shown, of {len(report.labels):,}")
        if self._per_word:
            self._wrong = len(report.mistakes)      # sentences with errors (the report keeps the worst MISTAKES)
        elif self._answers:                         # answers that are not an exact match
            self._wrong = max(len(report.mistakes), round(report.examples * (1 - report.scores.get("exact_match", 0))))
        else:
            self._wrong = (report.examples - sum(row[i] for i, row in enumerate(report.confusion))) if report.confusion else 0
        self._pairs = [mistake_pairs(m) for m in report.mistakes]
        self._colors = type_colors(self.app, report.labels) if entity_confusion else {}
        self._arrange()
        self._fill_mistakes()

    def _recolor(self) -> None:
        """Entity types take their colours from the theme: a new theme repaints the selected sentence."""
        report = self._report
        if report is not None and getattr(report, "entity_confusion", None):
            self._colors = type_colors(self.app, report.labels)
            self._show_example()
        elif report is not None and self._answers:
            self._show_example()

    def _show_train_overlap(self, report) -> None:
        from tunelab.core.overlap import Overlap, overlap_line

        line = self.query_one("#eval-train-overlap", Static)
        in_train = getattr(report, "in_train", None)
        line.display = in_train is not None
        line.set_class(bool(in_train), "-leak")
        if in_train is not None:
            line.update(Text(overlap_line([Overlap(report.split, in_train, report.examples)], report.train_data or "train")))

    # --- arranging the per-class table and the grid ----------------------------------------------------------------

    def _arrange(self) -> None:
        """For a report with an entity confusion: the per-type table beside the grid when the screen is wide enough,
        else one of the two (`g` switches). Other reports keep the grid over the table."""
        report = self._report
        grid, classes = self.query_one(ConfusionGrid), self.query_one("#eval-classes", DataTable)
        if report is None or not getattr(report, "entity_confusion", None):
            self.remove_class("-beside")
            self._one_of_two = None
            return
        metrics = 2 + max(len(name) + 4 for name in report.scores) + 9 + 10
        table = 2 + max([len(self._class_heading(report)), *(min(14, len(r["label"])) for r in report.per_class)]) + 4 * 8
        wanted = metrics + 1 + table + 1 + grid.get_content_width(None, None)
        wide = wanted <= self.size.width
        self.set_class(wide, "-beside")
        if wide:
            self._one_of_two = None
            grid.display = classes.display = True
        else:
            self._one_of_two = self._one_of_two or "classes"
            classes.display = self._one_of_two == "classes"
            grid.display = self._one_of_two == "grid"
        self.refresh_bindings()

    def action_toggle_grid(self) -> None:
        if self._one_of_two is not None:
            self._one_of_two = "grid" if self._one_of_two == "classes" else "classes"
            self._arrange()
            self._show_filter_line()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "toggle_grid":
            return self._one_of_two is not None
        if action in ("cycle_filter", "clear_filters") and self._answers:
            return False       # answers have no classes to filter by
        return super().check_action(action, parameters)

    @staticmethod
    def _class_heading(report) -> str:
        """The per-class table's first heading from the report's title: "per entity type" -> "entity type"."""
        title = getattr(report, "per_class_title", "per class") or "per class"
        return title[4:] if title.startswith("per ") else title

    def _fill_metrics(self, report) -> None:
        table = self.query_one("#eval-metrics", DataTable)
        table.clear(columns=True)
        table.add_columns("metric", "value", "majority")
        baseline = "" if report.majority_baseline is None else f"{report.majority_baseline:.3f}"
        table.add_row(Text(f"★ {report.figure_of_merit}", style="bold"), Text(f"{report.value:.3f}", style="bold"),
                      baseline)
        # a score the per-class table holds as a row's column (QA's HasAns_f1: row HasAns, column f1) is not repeated
        in_rows = {f"{row['label']}_{key}" for row in report.per_class for key in row}
        for name, value in report.scores.items():
            if name != report.figure_of_merit and isinstance(value, (int, float)) and name not in in_rows:
                table.add_row(Text(f"  {name}"), f"{value:.3f}", "")
        cut = getattr(report, "words_cut", None)
        if cut:                                   # a token model: words past the maximum length, scored as missed
            table.add_row(Text("  words cut (missed)"), f"{cut:,}", "")

    def _fill_classes(self, report) -> None:
        table = self.query_one("#eval-classes", DataTable)
        table.clear(columns=True)
        table.display = bool(report.per_class)
        if not report.per_class:
            return
        keys = [k for k in report.per_class[0] if k != "label"]    # a class's P/R/F1, or an output's correlations
        headings = {"precision": "prec", "recall": "recall", "f1": "F1", "support": "n", "exact_match": "EM"}
        table.add_columns(self._class_heading(report), *(headings.get(k, k) for k in keys))
        for row in (report.per_class[i] for i in top_classes(report, SHOWN_CLASSES)):
            label = row["label"] if len(row["label"]) <= 14 else row["label"][:13] + "…"
            table.add_row(Text(label), *(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in keys))

    def _fill_mistakes(self) -> None:
        report = self._report
        table = self.query_one("#eval-mistakes", DataTable)
        table.clear(columns=True)
        if report is None:
            return
        gold, predicted = self._filters["gold"], self._filters["predicted"]
        self._shown = [m for m, pairs in zip(report.mistakes, self._pairs)
                       if any((gold is None or g == gold) and (predicted is None or p == predicted) for g, p in pairs)]
        if self._per_word:
            self._fill_tagged_mistakes(table, gold, predicted)
            return
        if self._answers:
            self._fill_wrong_answers(table)
            return
        label_width = max([6, *(min(12, len(label)) for label in report.labels)])
        text_width = max(20, self.size.width - 2 * label_width - 17)
        table.add_column("conf", width=4)
        table.add_column("true", width=label_width)
        table.add_column("predicted", width=label_width)
        table.add_column("text", width=text_width)
        for i, m in enumerate(self._shown):
            table.add_row(f"{m['confidence']:.2f}", Text(m["gold"]), Text(m["predicted"]), Text(m["text"]), key=str(i))
        wrong = self._wrong
        kept = "" if wrong <= len(report.mistakes) else f" (top {len(report.mistakes)} kept)"
        self.query_one("#eval-filter", Static).update(Text.assemble(
            ("Mistakes ", "bold"), f"{len(self._shown)} of {wrong}{kept}, surest first · true ",
            (gold or "any", "bold"), " · predicted ", (predicted or "any", "bold")))
        self._show_example()

    def _fill_tagged_mistakes(self, table: DataTable, gold: str | None, predicted: str | None) -> None:
        """The sentences of a token model, the most errors first: the count, the errors' types, the sentence."""
        report = self._report
        kinds_width = max([10, *(len(error_summary(m)) for m in self._shown[:200])])
        kinds_width = min(kinds_width, 26 if self.size.width >= 100 else 18)
        table.add_column("err", width=3)
        table.add_column("errors", width=kinds_width)
        table.add_column("sentence", width=max(20, self.size.width - kinds_width - 13))
        for i, m in enumerate(self._shown):
            table.add_row(str(m["errors"]), Text(error_summary(m)), Text(m["text"]), key=str(i))
        kept = f" (the worst {len(report.mistakes)} kept)" if len(report.mistakes) >= MISTAKES else ""
        self._filter_line = Text.assemble(
            ("Sentences with errors ", "bold"), f"{len(self._shown)} of {self._wrong}{kept} · true ",
            (gold or "any", "bold"), " · predicted ", (predicted or "any", "bold"))
        self._show_filter_line()
        self._show_example()

    def _fill_wrong_answers(self, table: DataTable) -> None:
        """A QA model's wrong answers, the most confident first: its probability, the predicted and gold answers,
        the question."""
        report = self._report
        answer_width = 20 if self.size.width >= 100 else 15
        table.add_column("p", width=4)
        table.add_column("predicted", width=answer_width)
        table.add_column("gold", width=answer_width)
        table.add_column("question", width=max(20, self.size.width - 2 * answer_width - 14))
        for i, m in enumerate(self._shown):
            table.add_row(f"{m['probability']:.2f}", Text(m["predicted"]), Text(gold_text(m)), Text(m["question"]),
                          key=str(i))
        kept = f" (the surest {len(report.mistakes)} kept)" if self._wrong > len(report.mistakes) else ""
        self._filter_line = None
        self.query_one("#eval-filter", Static).update(Text.assemble(
            ("Wrong answers ", "bold"), f"{len(self._shown)} of {self._wrong}{kept}, surest first"))
        self._show_example()

    def _answer_example(self, m: dict) -> Text:
        """A wrong answer: its question, the context around both answers with the predicted span and the gold
        answer(s) marked, and a legend saying which is which."""
        spans = m["spans"]
        styles = span_styles(self.app)
        predicted = [spans["predicted"]] if spans.get("predicted") else []
        marks = {"gold": spans.get("gold") or [], "predicted": predicted}
        around = max(40, self.size.width)            # about two lines of context either side
        context = marked_context(spans["context"], marks, styles, around=around)
        # each chip names its colour and the answer beside it: a legend and the two answers in one line
        said = Text.assemble(legend(styles, ["predicted"]), (m["predicted"], "bold"), f" {m['probability']:.0%}  ",
                             legend(styles, ["gold"]), (gold_text(m), "bold"))
        if predicted and marks["gold"] and any(p0 < g1 and g0 < p1 for p0, p1 in predicted for g0, g1 in marks["gold"]):
            said.append_text(Text.assemble("  ", legend(styles, ["both"])))
        said.append(f" F1 {spans.get('f1', 0.0):.2f}", style="dim")
        return Text("\n").join([Text.assemble(("Q ", "dim"), (m["question"], "bold")), context, said])

    def _show_filter_line(self) -> None:
        """The tagged mistakes' filter line, with the `g` hint on a screen too narrow for the grid and the table."""
        line = self._filter_line
        if line is None:
            return
        hint = {"classes": "  g: confusion", "grid": "  g: per type"}.get(self._one_of_two or "", "")
        self.query_one("#eval-filter", Static).update(Text.assemble(line, (hint, "dim")))

    def on_resize(self) -> None:
        if self._report is not None:
            self._arrange()
            self._fill_mistakes()

    @property
    def selected_mistake(self) -> dict | None:
        table = self.query_one("#eval-mistakes", DataTable)
        if not self._shown or table.row_count == 0:
            return None
        return self._shown[min(table.cursor_row, len(self._shown) - 1)]

    @on(DataTable.RowHighlighted, "#eval-mistakes")
    def _show_example(self) -> None:
        m = self.selected_mistake
        example = self.query_one("#eval-example", Static)
        if m is None:
            example.update(Text("no mistakes to show" if self._report else "", style="italic"))
            return
        if is_tagged(m):
            example.update(self._tagged_example(m))
            return
        if answers_in_context(m):
            example.update(self._answer_example(m))
            return
        example.update(Text.assemble(("true ", ""), (m["gold"], "bold"), "  predicted ", (m["predicted"], "bold"),
                                     f" ({m['confidence']:.0%})  p: Predict  a: Attention\n", m["text"]))
        if self.has_class("-why"):
            self._explain_selected()

    # --- why: attributions for the predicted and the gold class -------------------------------------------------

    class WhyReady(Message):
        def __init__(self, key: tuple, predicted, gold, error: str | None = None) -> None:
            super().__init__()
            self.key, self.predicted, self.gold, self.error = key, predicted, gold, error

    def action_toggle_why(self) -> None:
        self.set_class(not self.has_class("-why"), "-why")
        if self.has_class("-why"):
            self._explain_selected()

    def _why_key(self, m: dict | None) -> tuple | None:
        if m is None or is_tagged(m) or answers_in_context(m) or "predicted" not in m:
            return None
        return (self._model_for_onward(), m["text"], str(m["predicted"]), str(m["gold"]))

    def _explain_selected(self) -> None:
        m = self.selected_mistake
        key = self._why_key(m)
        predicted, gold = self.query_one("#eval-why-predicted", AttributionWords), \
            self.query_one("#eval-why-gold", AttributionWords)
        self.why = None
        if key is None:
            what = "no mistake selected" if m is None else \
                "a tag's or an answer's words: tunelab explain --word N / --question ... --context ..."
            predicted.show(None, what)
            gold.show(None, "")
            return
        if key[0] is None:
            predicted.show(None, "no model to explain: give one in the form")
            gold.show(None, "")
            return
        predicted.show(None, f"why {key[2]} ...")
        gold.show(None, f"why not {key[3]} ...")
        self._why(key)

    @work(thread=True, exclusive=True, group="why", exit_on_error=False)
    def _why(self, key: tuple) -> None:
        from tunelab.core.errors import TuneLabError

        model, text, predicted, gold = key
        first, second = split_pair(text)
        try:
            explainer = self._explainers.get(model)
            if explainer is None:
                if self._explainer_factory is not None:
                    explainer = self._explainer_factory(model)
                else:
                    from tunelab.core.explain import Explainer
                    from tunelab.core.predictor import Predictor

                    explainer = Explainer(Predictor(model, backend="torch"))
                self._explainers[model] = explainer
            if get_current_worker().is_cancelled:
                return
            for_predicted = explainer.explain(first, second, method="ig", target=predicted)
            if get_current_worker().is_cancelled:
                return
            for_gold = explainer.explain(first, second, method="ig", target=gold)
        except TuneLabError as err:
            self.post_message(self.WhyReady(key, None, None, str(err)))
            return
        self.post_message(self.WhyReady(key, for_predicted, for_gold))

    @on(WhyReady)
    def _why_ready(self, event: WhyReady) -> None:
        if event.key != self._why_key(self.selected_mistake) or not self.has_class("-why"):
            return      # another mistake is selected by now
        if event.error:
            self.query_one("#eval-why-predicted", AttributionWords).show(None, event.error)
            self.query_one("#eval-why-gold", AttributionWords).show(None, "")
            return
        self.why = (event.key, event.predicted, event.gold)
        for which, e, side in (("#eval-why-predicted", event.predicted, "predicted"), ("#eval-why-gold", event.gold, "true")):
            title = Text.assemble((f"{side} ", "dim"), (e.target, "bold"))   # red: against it, blue: for it
            if e.warning:
                title.append(" !", style="bold")
            self.query_one(which, AttributionWords).show(e, title=title)

    def _tagged_example(self, m: dict) -> Text:
        """A tagged sentence with its gold and predicted entities marked (those in error underlined) and its errors,
        or, for tags without entities, both tag rows and the wrong words."""
        words, gold_tags, pred_tags = m["words"], m["gold_tags"], m["pred_tags"]
        muted = "dim"
        errors = entity_errors_of(m)
        if errors or "kinds" in m:
            wrong_gold = {(e.gold.type, e.gold.word_start, e.gold.word_end) for e in errors if e.gold}
            wrong_pred = {(e.predicted.type, e.predicted.word_start, e.predicted.word_end) for e in errors if e.predicted}
            lines = [Text.assemble(("gold ", muted), marked_entities(words, gold_tags, self._colors, wrong_gold)),
                     Text.assemble(("pred ", muted), marked_entities(words, pred_tags, self._colors, wrong_pred)),
                     Text(" · ").join(error_line(e) for e in errors)]
        else:
            lines = [Text.assemble(("gold ", muted), tagged_inline(words, gold_tags, {})),
                     Text.assemble(("pred ", muted), tagged_inline(words, pred_tags, {})),
                     Text(m.get("what", ""))]
        lines[-1].append("   p: Predict  a: Attention", style=muted)
        return Text("\n").join(lines)

    # --- filters ------------------------------------------------------------------------------------------------

    def action_cycle_filter(self, which: str) -> None:
        if self._report is None or not self._grid_labels:
            return
        labels = self._grid_labels
        if len(labels) > SHOWN_CLASSES:    # thousands of classes: step through those that have mistakes to show
            side = 0 if which == "gold" else 1
            seen = {pair[side] for pairs in self._pairs for pair in pairs}
            labels = [label for label in labels if label in seen]
        options = [None, *labels]
        self._filters[which] = options[(options.index(self._filters[which]) + 1) % len(options)]
        self._fill_mistakes()

    def action_clear_filters(self) -> None:
        self._filters = {"gold": None, "predicted": None}
        self._fill_mistakes()

    @on(ConfusionGrid.CellSelected)
    def _cell_selected(self, event: ConfusionGrid.CellSelected) -> None:
        self._filters = {"gold": event.gold, "predicted": event.predicted}
        self._fill_mistakes()
        if event.gold == event.predicted:
            what = "entities found" if getattr(self._report, "entity_confusion", None) else "right answers"
            self.notify(f"{event.count} {what} for {event.gold}: the browser lists mistakes only",
                        title="Evaluate")
        else:
            self.query_one("#eval-mistakes", DataTable).focus()

    # --- onward -------------------------------------------------------------------------------------------------

    def _selected_text(self) -> tuple[str, str | None] | None:
        m = self.selected_mistake
        if m is None:
            self.notify("no mistake selected", title="Evaluate", severity="warning")
            return None
        if is_tagged(m):
            return m["text"], None           # the words joined by spaces: the sentence as a user would type it
        if answers_in_context(m):
            return m["question"], m["spans"]["context"]      # the question about its whole context
        return split_pair(m["text"])

    def _model_for_onward(self) -> str | None:
        return self._model_used or self.query_one("#eval-model", Input).value.strip() or None

    def action_to_predict(self) -> None:
        chosen = self._selected_text()
        if chosen is not None:
            from tunelab.tui.screens.predict import PredictScreen

            open_with(self.app, "predict", PredictScreen, text=chosen[0], pair=chosen[1],
                      model=self._model_for_onward())

    def action_to_attention(self) -> None:
        chosen = self._selected_text()
        if chosen is not None:
            from tunelab.tui.screens.attention import AttentionScreen

            open_with(self.app, "attention", AttentionScreen, text=chosen[0], pair=chosen[1],
                      model=self._model_for_onward())
