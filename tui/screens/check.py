"""The Check screen: the model sanity battery (`tunelab.core.check.run_checks`) on the selected model, with the
selected data if any, each check shown as pass, warn or fail with its reason, what it checks and what to do
about a failure.

The battery runs in a thread worker (it loads torch and, with data, trains a copy of the model on one batch);
`x` cancels it (the result is dropped when it arrives, since the battery takes no cancel flag). For an open
run the data field starts with the data it was trained on.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, ProgressBar, Static

from tunelab.themes import theme_color
from tunelab.tui.screens.base import JobScreen
from tunelab.tui.screens.target import run_config_of, selected_target

# What each check of core.check looks at, and what to do when it fails or warns.
CHECK_GUIDE: dict[str, tuple[str, str, str]] = {
    "loads": ("Loads",
              "The model and its tokenizer load, and the tokenizer's vocabulary fits the embedding matrix.",
              "Point at a folder with config.json, the weights and the tokenizer files (a run's model/ folder); "
              "a tokenizer taken from another model does not fit."),
    "tokenizer_round_trip": ("Tokenizer round trip",
                             "Varied sentences come back unchanged from tokenize → decode.",
                             "Characters lost to [UNK] are missing from the vocabulary: use the model's own "
                             "tokenizer, or normalise the text (accents, symbols) before training."),
    "label_mapping": ("Label mapping",
                      "The config names one label per output of the classification head, and they are the data's.",
                      "A random head needs fine-tuning first (tunelab fit); otherwise set id2label/label2id in "
                      "config.json, or check the model against data with the same labels."),
    "probabilities": ("Probabilities",
                      "Outputs are finite and the class probabilities of each input sum to 1.",
                      "NaN or infinite logits mean broken weights or an fp16 overflow: reload the checkpoint, "
                      "or score in fp32."),
    "predictions_vary": ("Predictions vary",
                         "Different inputs get different predictions.",
                         "A model that answers the same for everything has collapsed: lower the learning rate, "
                         "check the labels are balanced and right, and train again."),
    "attention_rows": ("Attention rows",
                       "Every attention row is a probability distribution over the tokens (it sums to 1).",
                       "Broken weights or a custom attention implementation: reload the model, or load it with "
                       "eager attention."),
    "train_overlap": ("No held-out input in train",
                      "No validation or test input (the same text, or the same pair) also occurs in train.",
                      "Scores on inputs the model trained on measure its memory: remove them from train or from "
                      "the held-out split (duplicated rows in a file split at random leak the same way)."),
    "beats_baseline": ("Beats the baseline",
                       "On a sample of the held-out split the model beats always answering the most common label.",
                       "Train longer or with another learning rate, and check that the equation names the right "
                       "columns and that the labels are right."),
    "overfits_batch": ("Overfits one batch",
                       "A copy of the model can learn one small batch by heart, so its weights are trainable.",
                       "Unfreeze layers, check the loss and the labels, or try another learning rate."),
    "faithfulness": ("Faithful attributions",
                     "Deleting the words Integrated Gradients ranks first moves the predicted class's probability "
                     "more than deleting as many random words (the area over each method's deletion curve is in "
                     "the figures).",
                     "A model whose top words matter no more than random ones may rest on a shortcut the words do "
                     "not show (position, length, [SEP]) or IG may not converge on it: look with tunelab explain, "
                     "raise --steps, run tunelab explain --faithfulness on more sentences."),
}
STATUS_MARKS = {"pass": ("✓ pass", "success"), "warn": ("! warn", "warning"), "fail": ("✗ fail", "error")}


class CheckScreen(JobScreen):
    """The sanity battery on one model, one row per check, with the selected check explained below."""

    MODE = "check"

    JOB_GROUP, JOB_TITLE, JOB_FAILED = "check", "Check", "not checked"

    DEFAULT_CSS = """
    CheckScreen { layout: vertical; background: $background; }
    CheckScreen #check-form { height: 1; }
    CheckScreen #check-form Input { width: 1fr; margin-right: 1; }
    CheckScreen #check-form #check-eqn { margin-right: 0; }
    CheckScreen #check-status { height: 1; }
    CheckScreen #check-message { width: 1fr; color: $foreground-muted; }
    CheckScreen #check-progress { width: 22; display: none; }
    CheckScreen.-running #check-progress { display: block; }
    CheckScreen #check-table { height: 1fr; }
    CheckScreen #check-detail { height: auto; max-height: 9; padding: 0 1; background: $surface;
                                color: $foreground; }
    """

    BINDINGS = [
        Binding("r", "run", "Run checks", tooltip="run the battery on the model, with the data if one is given"),
        Binding("x", "cancel", "Cancel", tooltip="stop waiting for the checks in progress"),
    ]

    AUTO_FOCUS = "#check-table"

    def __init__(self, model: str | None = None, data: str | None = None, *, autorun: bool = False,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        """`model`/`data` override the app's selection (data "" means: no data checks). The battery starts on
        `r` (with data it trains a copy of the model for a few dozen steps), or at once with `autorun`."""
        super().__init__(name=name, id=id, classes=classes)
        self._preset = (model, data)
        self._autorun = autorun
        self.report = None

    def compose_body(self) -> ComposeResult:
        target = selected_target(self.app)
        model, data = self._preset
        self._columns = target.columns
        with Horizontal(id="check-form"):
            yield Input(model or target.model, placeholder="model or run directory", id="check-model", compact=True)
            yield Input(data if data is not None else (target.data or ""),
                        placeholder="data (empty: model checks only)", id="check-data", compact=True)
            yield Input(target.eqn or "", placeholder="equation (empty: the run's)", id="check-eqn", compact=True)
        with Horizontal(id="check-status"):
            yield Static("", id="check-message")
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="check-progress")
        yield DataTable(id="check-table", cursor_type="row")
        yield Static("", id="check-detail")

    def on_mount(self) -> None:
        self._add_columns()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._fill())
        self._prefill_run_data()
        if self._autorun:
            self.action_run()
        else:
            self._set_message("r: run the checks (x cancels)")

    def _add_columns(self) -> None:
        """The reason column takes the rest of the width (its full text is shown below the table)."""
        table = self.query_one("#check-table", DataTable)
        table.clear(columns=True)
        table.add_column("status", width=6)
        table.add_column("check", width=20)
        table.add_column("reason", width=max(20, (self.size.width or 80) - 37))

    def on_resize(self) -> None:
        self._add_columns()
        self._fill()

    # --- running ------------------------------------------------------------------------------------------------

    def action_run(self) -> None:
        model = self.query_one("#check-model", Input).value.strip() or None
        data = self.query_one("#check-data", Input).value.strip() or None
        eqn = self.query_one("#check-eqn", Input).value.strip() or None
        extra = " with data (trains a copy on one batch)" if data else ""
        token = self.start_job(f"checking {model or 'the model'}{extra} ...  (x cancels)")
        self._check(token, model, data, eqn, self._columns)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def _check(self, token: int, model, data, eqn, columns) -> None:
        from tunelab.core.check import run_checks

        def call():
            nonlocal eqn
            if data and not eqn and data != "demo":  # a run knows its equation
                eqn = (run_config_of(model) or {}).get("equation") if model else None
            return run_checks(model, data, eqn, columns)

        self.report_job(token, call)

    def job_status(self, elapsed: float) -> str:
        return f"checking ... {elapsed:.0f} s  (x cancels)"

    def _set_message(self, text: str | Text) -> None:
        self.query_one("#check-message", Static).update(text if isinstance(text, Text) else Text(text))

    @on(Input.Submitted, "#check-form Input")
    def _submitted(self) -> None:
        self.action_run()

    def job_finished(self, report) -> None:
        self.show_report(report)

    def _prefill_run_data(self) -> None:
        """An open run with no data picked: offer the data it was trained on (its run.json is a small file)."""
        data = self.query_one("#check-data", Input)
        if data.value or self._preset[1] is not None:
            return
        model = self.query_one("#check-model", Input).value.strip()
        if not model or not Path(model).expanduser().is_dir():  # only a local run has a run.json (no hub lookups)
            return
        try:
            run = run_config_of(model) or {}
        except Exception:  # a model that does not resolve: the check itself will say why
            return
        config = run.get("config") or {}
        if config.get("data"):
            data.value = str(config["data"])
            self.query_one("#check-eqn", Input).value = self.query_one("#check-eqn", Input).value or run.get("equation", "")
            self._columns = self._columns or config.get("columns")

    def on_selection_changed(self, selection) -> None:
        """Another screen picked a model, run or data: refill the form (the checks wait for `r`)."""
        target = selected_target(self.app)
        self._columns = target.columns
        self.query_one("#check-model", Input).value = target.model
        self.query_one("#check-data", Input).value = target.data or ""
        self.query_one("#check-eqn", Input).value = target.eqn or ""
        self._prefill_run_data()
        if not self.has_class("-running"):
            self._set_message(f"r: check {target.model}")

    # --- the report ---------------------------------------------------------------------------------------------

    def show_report(self, report) -> None:
        self.report = report
        counts = {s: sum(c.status == s for c in report.checks) for s in STATUS_MARKS}
        summary = Text.assemble((f"{report.model}: ", "bold"), self._mark(report.status),
                                f"  {counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed "
                                f"in {report.seconds:.1f} s")
        self._set_message(summary)
        self._fill()

    def _mark(self, status: str) -> tuple[str, str]:
        text, variable = STATUS_MARKS.get(status, (status, "foreground"))
        return text, f"bold {theme_color(self.app, variable).hex}"

    def _fill(self) -> None:
        if self.report is None:
            return
        table = self.query_one("#check-table", DataTable)
        row = table.cursor_row
        table.clear()
        for check in self.report.checks:
            title = CHECK_GUIDE.get(check.name, (check.name,))[0]
            table.add_row(Text(*self._mark(check.status)), Text(title), Text(check.detail), key=check.name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        self._explain()

    @on(DataTable.RowHighlighted, "#check-table")
    def _explain(self) -> None:
        detail = self.query_one("#check-detail", Static)
        table = self.query_one("#check-table", DataTable)
        if self.report is None or not table.row_count:
            detail.update("")
            return
        check = self.report.checks[min(table.cursor_row, len(self.report.checks) - 1)]
        title, explains, fix = CHECK_GUIDE.get(check.name, (check.name, "", ""))
        text = Text.assemble(self._mark(check.status), " ", (title, "bold"), "\n", check.detail, "\n")
        if explains:
            text.append("What it checks: ", style="bold")
            text.append(explains + "\n")
        if fix and check.status != "pass":
            text.append("What to do: ", style="bold")
            text.append(fix)
        detail.update(text)
