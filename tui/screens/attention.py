"""The Attention screen: what each head of the encoder attends to for one sentence (or pair), and what
fine-tuning changed.

Two views share the screen: the layer x head grid of thumbnails (`HeadGrid`; arrow keys move between layers and
heads, enter opens one) and the chosen head as a token x token heatmap (`AttentionHeatmap`; both axes labelled,
the weight under the cursor read out). `[`/`]` and `{`/`}` step heads and layers from either view. The side panel
shows the statistics of the highlighted head (entropy and the shares of attention to [CLS], [SEP], itself, the
previous and the next token; `tunelab.core.head_stats`) with the heads that stand out from their layer marked ★,
first for this sentence, and over a sample of the data after `s`. For a fine-tuned run (a run directory whose
run.json names its base model) `d` measures the attention change against the base (`core.attention_diff`) and
lists the heads that moved most (enter jumps to one), and `p` draws the per-layer probe curve of both models
(`core.probe`). `e` exports the sentence for bertviz (`core.bertviz_export`) and shows the files written. `w` puts
beside the heads the same sentence explained by attention rollout and by Integrated Gradients (`RolloutVsIG`, from
`tunelab.tui.workers.explain`) with their Spearman rank correlation: attention is what the heads looked at, IG what
the prediction depends on, and they need not agree.

One query token's row is kept chosen and shown under the status line as the sentence painted by its weights
(`AttentionRow`), in both views: `,` and `.` step from word to word (a word's first sub-word), the heat map's cursor
row is the same row, and a head picked in the grid shows that row at once. For a token-tagging model (its encoder
keeps its architecture, so the task says so) the row starts on the first word, since a word's row is what decides
its tag; for a sentence model it starts on [CLS], whose row feeds the classifier. A model that answers a question
from a context (its task says so) reads the two as a pair: the fields become "question" and "context", the context
field shows even when no screen handed one over, and a context past the maximum length is cut (the status says so).

Other screens hand it a sentence with `show_input` (Evaluate's mistakes, Predict's input); a new model picked
elsewhere in the app replaces the old one. Every model call runs in a thread worker over
`tunelab.tui.workers.attention` (torch and transformers are imported there); the side panel's words come from
`tunelab.tui.widgets.head_panel`. This module is the layout and the wiring.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Input, OptionList, Static
from textual.worker import Worker, get_current_worker

from tunelab.tui.screens.base import TuneLabScreen
from tunelab.tui.screens.target import Target, selected_target
from tunelab.tui.widgets.attention_row import AttentionRow
from tunelab.tui.widgets.head_grid import HeadGrid
from tunelab.tui.widgets.head_panel import changed_option, export_summary, head_info, head_status, standout_option
from tunelab.tui.widgets.heatmap import AttentionHeatmap
from tunelab.tui.widgets.path_prompt import PathPrompt
from tunelab.tui.widgets.probe_curve import ProbeCurve
from tunelab.tui.widgets.rollout_ig import RolloutVsIG
from tunelab.tui.workers.attention import (AttentionModels, attention_change, dataset_stats, export_for_bertviz,
                                           probe_curves, sentence_attention, tail)

DEFAULT_TEXT = "The keys to the cabinet are on the table."
RETYPE_DEBOUNCE_S = 0.3   # recompute the attention this long after the last keystroke in the sentence


class _Cancelled(Exception):
    """Raised from a progress callback to stop a cancelled computation."""


class AttentionScreen(TuneLabScreen):
    """Layer x head thumbnails, one head in full, per-head statistics, the change against the base model,
    the probe curve, and a bertviz export."""

    MODE = "attention"

    DEFAULT_CSS = """
    AttentionScreen { layout: vertical; background: $background; }
    AttentionScreen .att-prompt { height: 1; }
    AttentionScreen .att-prompt > Static { width: 8; color: $foreground-muted; padding-left: 1; }
    AttentionScreen.-context .att-prompt > Static { width: 12; }
    AttentionScreen .att-prompt > Input { width: 1fr; }
    AttentionScreen #att-pair-row { display: none; }
    AttentionScreen.-pair #att-pair-row { display: block; }
    AttentionScreen #att-status { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    AttentionScreen #att-row { margin-bottom: 0; }
    AttentionScreen #att-body { height: 1fr; }
    AttentionScreen #att-views { width: 1fr; height: 1fr; }
    AttentionScreen #att-side { width: 26; height: 1fr; background: $surface; padding: 0 0 0 1;
                                border-left: vkey $panel; }
    AttentionScreen.-head.-narrow #att-side { display: none; }
    AttentionScreen #att-head-info { height: auto; margin-bottom: 1; }
    AttentionScreen #att-extra-title { height: 1; color: $foreground-muted; text-style: bold; }
    AttentionScreen #att-extra { height: auto; }
    AttentionScreen #att-extra OptionList { height: auto; max-height: 12; border: none; padding: 0;
                                            background: $surface; }
    AttentionScreen #att-export { height: auto; }
    """

    BINDINGS = [
        Binding("i", "edit", "Edit", tooltip="edit the sentence (enter: back to the heads)"),
        Binding("v", "toggle_view", "View", show=False, tooltip="switch between the head grid and one head"),
        Binding("escape", "grid_view", "Grid", show=False, tooltip="back to the head grid"),
        Binding("right_square_bracket", "step(0, 1)", "Head", key_display="[ ]", tooltip="next head (] ) or previous ([)"),
        Binding("left_square_bracket", "step(0, -1)", "Previous head", show=False),
        Binding("right_curly_bracket", "step(1, 0)", "Layer", key_display="{ }", tooltip="next layer (}) or previous ({)"),
        Binding("left_curly_bracket", "step(-1, 0)", "Previous layer", show=False),
        Binding("full_stop", "word(1)", "Word", key_display=", .",
                tooltip="the row of the next word (.) or the previous one (,): what that word attends to"),
        Binding("comma", "word(-1)", "Previous word", show=False),
        Binding("s", "stats", "Stats", tooltip="head statistics over a sample of the data; standouts marked"),
        Binding("d", "diff", "Diff", tooltip="a fine-tuned run: how much each head changed against the base model"),
        Binding("p", "probe", "Probe", tooltip="a fine-tuned run: probe accuracy per layer, run and base (slow)"),
        Binding("e", "export", "Export", tooltip="write bertviz's head and model views and the raw arrays"),
        Binding("w", "why", "Why", tooltip="attention rollout beside Integrated Gradients for this sentence, with "
                                          "their rank correlation"),
        Binding("x", "cancel", "Cancel", show=False, tooltip="stop the statistics, diff or probe in progress"),
    ]

    AUTO_FOCUS = "#att-grid"

    class AttentionReady(Message):
        def __init__(self, seq: int, result, stats, word_starts: list[int], per_token: bool, context: bool,
                     model: str) -> None:
            super().__init__()
            self.seq, self.result, self.stats, self.model = seq, result, stats, model
            self.word_starts, self.per_token, self.context = word_starts, per_token, context

    class TaskProgress(Message):
        def __init__(self, task: str, text: str) -> None:
            super().__init__()
            self.task, self.text = task, text

    class TaskFailed(Message):
        def __init__(self, task: str, error: str) -> None:
            super().__init__()
            self.task, self.error = task, error

    class StatsReady(Message):
        def __init__(self, spec: str, stats, source: str) -> None:
            super().__init__()
            self.spec, self.stats, self.source = spec, stats, source

    class DiffReady(Message):
        def __init__(self, spec: str, diff, base: str) -> None:
            super().__init__()
            self.spec, self.diff, self.base = spec, diff, base

    class ProbeReady(Message):
        def __init__(self, spec: str, report) -> None:
            super().__init__()
            self.spec, self.report = spec, report

    class WhyReady(Message):
        def __init__(self, key: tuple, found) -> None:
            super().__init__()
            self.key, self.found = key, found

    class Exported(Message):
        def __init__(self, export, self_contained: bool, note: str) -> None:
            super().__init__()
            self.export, self.self_contained, self.note = export, self_contained, note

    def __init__(self, text: str | None = None, pair: str | None = None, model: str | None = None, *,
                 word: int | None = None, explainers=None, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        """`text`/`pair` preset the sentence; `model` overrides the app's selection; `word` chooses the row of that
        word (0: the first) once the attention is in; `explainers` replaces the Explainers cache of `w` (snapshot
        tests give fixed explanations)."""
        super().__init__(name=name, id=id, classes=classes)
        self._preset = (text, pair, model)
        self._pending_word = word                 # the word whose row to choose when the next result comes
        self.row = 0                              # the query token whose row is chosen (a token index)
        self.word_starts: list[int] = []          # each word's first token in the result on screen
        self.per_token = False                    # the model tags words
        self.reads_context = False                # the model answers a question from a context (QA)
        self._seq = 0
        self._retype_timer: Timer | None = None
        self._models = AttentionModels()          # loaded once per screen, by its workers
        self.result = None                        # the AttentionResult on screen
        self.sentence_stats = None                # HeadStats of the sentence on screen
        self.dataset_stats = None                 # HeadStats over a sample of the data (after `s`)
        self.diff = None                          # AttentionDiff against the base model (after `d`)
        self.probe_report = None                  # ProbeReport (after `p`)
        self.export = None                        # ExportResult (after `e`)
        self._stats_source = ""
        self._busy: dict[str, str] = {}           # task -> what it is doing, for the status line
        self._last_request: tuple | None = None   # (text, pair, model) last sent to the attention worker
        self.why = None                           # RolloutBesideIG of the sentence (after `w`)
        self._why_key: tuple | None = None        # (text, pair, model) it was computed for
        self._explainers = explainers             # tui.workers.explain.Explainers, made by the first `w`

    # --- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        text, pair, model = self._preset
        self.target: Target = selected_target(self.app)
        self.model_spec = model or self.target.model
        with Horizontal(classes="att-prompt"):
            yield Static("text ›", id="att-text-prompt")
            yield Input(text or DEFAULT_TEXT, placeholder="a sentence to look at", id="att-text", compact=True,
                        select_on_focus=False)
        with Horizontal(classes="att-prompt", id="att-pair-row"):
            yield Static("pair ›", id="att-pair-prompt")
            yield Input(pair or "", placeholder="the second sentence", id="att-pair", compact=True,
                        select_on_focus=False)
        yield Static(Text(f"{self.model_spec} · loading ..."), id="att-status")
        yield AttentionRow(id="att-row")
        with Horizontal(id="att-body"):
            with ContentSwitcher(initial="att-grid", id="att-views"):
                yield HeadGrid(id="att-grid")
                yield AttentionHeatmap(id="att-heatmap")
            with VerticalScroll(id="att-side"):
                yield Static("", id="att-head-info")
                yield Static("", id="att-extra-title")
                with ContentSwitcher(initial="att-standouts", id="att-extra"):
                    yield OptionList(id="att-standouts")
                    yield OptionList(id="att-changed")
                    yield ProbeCurve(id="att-probe")
                    yield Static("", id="att-export")
                    yield RolloutVsIG(id="att-why")

    def on_mount(self) -> None:
        self.set_class(self._preset[1] is not None, "-pair")
        for list_id in ("#att-standouts", "#att-changed"):
            self.query_one(list_id, OptionList).can_focus = True
        self._compute()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")

    # --- what to work on ----------------------------------------------------------------------------------------

    def show_input(self, text: str | None = None, pair: str | None = None, model: str | None = None,
                   word: int | None = None) -> None:
        """Look at `text` (and `pair`), with `model` if given, and the row of word number `word` if given (other
        screens call this)."""
        self._pending_word = word
        if not self.is_mounted:
            self._preset = (text, pair, model or self._preset[2])
            return
        if model and model != self.model_spec:
            self._use_model(model)
        self.set_class(pair is not None or self.reads_context, "-pair")
        self.query_one("#att-text", Input).value = text or ""
        self.query_one("#att-pair", Input).value = pair or ""
        if self._retype_timer is not None:
            self._retype_timer.stop()
            self._retype_timer = None
        seq = self._seq
        self._compute()
        if seq == self._seq and self.result is not None and self._pending_word is not None:
            self._choose_word(self._pending_word)     # the sentence on screen already: only the row changes
        self._focus_view()

    def on_selection_changed(self, selection) -> None:
        self.target = selected_target(self.app)
        if self.target.model != self.model_spec:
            self._use_model(self.target.model)
            self._compute()

    def _set_reads_context(self, context: bool) -> None:
        """A QA model reads a question and a context: name the fields so, and keep the context field shown."""
        self.reads_context = context
        self.set_class(context, "-context")
        self.query_one("#att-text-prompt", Static).update("question ›" if context else "text ›")
        self.query_one("#att-pair-prompt", Static).update("context ›" if context else "pair ›")
        self.query_one("#att-pair", Input).placeholder = ("the passage the answer is in" if context
                                                           else "the second sentence")
        if context:
            self.add_class("-pair")

    def _use_model(self, model: str) -> None:
        """Switch to another model: what was computed for the old one goes."""
        self.model_spec = model
        for task in ("stats", "diff", "probe"):
            self.workers.cancel_group(self, task)
            self._busy.pop(task, None)
        self.result = self.sentence_stats = self.dataset_stats = self.diff = self.probe_report = None
        self.query_one(HeadGrid).set_marks(())
        self.query_one("#att-standouts", OptionList).clear_options()
        self.query_one("#att-changed", OptionList).clear_options()
        self._show_extra("att-standouts", "")
        self.query_one("#att-status", Static).update(Text(f"{model} · loading ..."))

    # --- the sentence -------------------------------------------------------------------------------------------

    def _inputs(self) -> tuple[str, str | None]:
        text = self.query_one("#att-text", Input).value
        pair = self.query_one("#att-pair", Input).value if self.has_class("-pair") else None
        return text, (pair or None) if pair is not None else None

    def _compute(self) -> None:
        text, pair = self._inputs()
        if not text.strip() or (text, pair, self.model_spec) == self._last_request:
            return  # nothing to look at, or what is on screen (or on its way) already
        self._last_request = (text, pair, self.model_spec)
        self._seq += 1
        self._attention(self._seq, self.model_spec, text, pair)

    @work(thread=True, exclusive=True, group="attention", exit_on_error=False)
    def _attention(self, seq: int, spec: str, text: str, pair: str | None) -> None:
        from tunelab.core.errors import TuneLabError

        try:
            found = sentence_attention(self._models, spec, text, pair, lambda: get_current_worker().is_cancelled)
        except TuneLabError as err:
            self.post_message(self.TaskFailed("attention", str(err)))
            return
        if found is not None:
            self.post_message(self.AttentionReady(seq, *found, spec))

    @on(AttentionReady)
    def _attention_ready(self, event: AttentionReady) -> None:
        if event.seq != self._seq:
            return
        first = self.result is None
        self.result = event.result
        self.sentence_stats = event.stats
        self.word_starts, self.per_token = list(event.word_starts), event.per_token
        self._set_reads_context(event.context)
        n = len(event.result.tokens)
        if self._pending_word is not None and self.word_starts:
            self.row = self.word_starts[max(0, min(self._pending_word, len(self.word_starts) - 1))]
        elif first and self.per_token and self.word_starts:
            self.row = self.word_starts[0]     # a tagger: a word's row decides its tag
        self._pending_word = None
        self.row = max(0, min(self.row, n - 1))
        self.query_one(HeadGrid).set_maps(event.result.attentions)
        if self.query_one("#att-extra", ContentSwitcher).current == "att-why":
            self.action_why()                   # a new sentence: its rollout and IG follow
        if self.dataset_stats is None:
            self._fill_standouts(event.stats, "this sentence")
        else:
            self._mark_standouts()
        self._show_head()

    @on(Input.Changed, ".att-prompt Input")
    def _retyped(self) -> None:
        if self._retype_timer is not None:
            self._retype_timer.stop()
        self._retype_timer = self.set_timer(RETYPE_DEBOUNCE_S, self._compute)

    @on(Input.Submitted, ".att-prompt Input")
    def _submitted(self) -> None:
        if self._retype_timer is not None:
            self._retype_timer.stop()
            self._retype_timer = None
        self._compute()
        self._focus_view()

    def action_edit(self) -> None:
        self.query_one("#att-text", Input).focus()

    # --- moving between heads -----------------------------------------------------------------------------------

    @property
    def head(self) -> tuple[int, int]:
        """(layer, head) on screen, as positions in the result (the model's indices unless filtered)."""
        return self.query_one(HeadGrid).cursor

    def action_step(self, d_layer: int, d_head: int) -> None:
        grid = self.query_one(HeadGrid)
        grid.move_cursor(grid.cursor[0] + d_layer, grid.cursor[1] + d_head)

    @on(HeadGrid.HeadHighlighted)
    def _highlighted(self) -> None:
        self._show_head()

    @on(HeadGrid.HeadSelected)
    def _selected(self) -> None:
        self._open_head_view()
        self._show_head()

    def _show_head(self) -> None:
        if self.result is None:
            return
        layer, head = self.head
        result = self.result
        heatmap = self.query_one(AttentionHeatmap)
        heatmap.set_matrix(result.attentions[layer, head], result.tokens)
        heatmap.move_cursor(self.row, heatmap.cursor[1])      # the chosen row, in the heat map too
        self._show_row()
        self._show_head_info()
        self._show_status()

    def _show_row(self) -> None:
        if self.result is None:
            return
        layer, head = self.head
        row = min(self.row, len(self.result.tokens) - 1)
        self.query_one(AttentionRow).set_row(self.result.tokens, self.result.attentions[layer, head, row], row)

    def action_word(self, step: int) -> None:
        """Choose the row of the next (step 1) or previous (step -1) word: its first sub-word."""
        if self.result is None:
            return
        starts = self.word_starts or list(range(len(self.result.tokens)))
        if step > 0:
            found = next((i for i in starts if i > self.row), None)
        else:
            found = next((i for i in reversed(starts) if i < self.row), None)
        if found is None:
            return
        self.row = found
        heatmap = self.query_one(AttentionHeatmap)
        heatmap.move_cursor(found, heatmap.cursor[1])
        self._show_row()
        self._show_status()

    def _choose_word(self, word: int) -> None:
        self._pending_word = None
        if self.word_starts:
            self.row = self.word_starts[max(0, min(word, len(self.word_starts) - 1))]
            self._show_head()

    @property
    def word(self) -> str:
        """The token whose row is chosen."""
        return result_token(self.result, self.row) if self.result is not None else ""

    def _open_head_view(self) -> None:
        self.query_one(ContentSwitcher).current = "att-heatmap"
        self.add_class("-head")
        self.query_one(AttentionHeatmap).focus()

    def action_toggle_view(self) -> None:
        if self.has_class("-head"):
            self.action_grid_view()
        else:
            self._open_head_view()
        self._show_status()

    def action_grid_view(self) -> None:
        self.query_one(ContentSwitcher).current = "att-grid"
        self.remove_class("-head")
        self.query_one(HeadGrid).focus()
        self._show_status()

    def _focus_view(self) -> None:
        (self.query_one(AttentionHeatmap) if self.has_class("-head") else self.query_one(HeadGrid)).focus()

    @on(AttentionHeatmap.CursorMoved)
    def _cursor_moved(self, event: AttentionHeatmap.CursorMoved) -> None:
        if self.result is not None and event.row != self.row and event.row < len(self.result.tokens):
            self.row = event.row          # the heat map's cursor row is the chosen row
            self._show_row()
        self._show_status()

    def _show_status(self) -> None:
        status = self.query_one("#att-status", Static)
        if self.result is None:
            return
        layer, head = self.head
        model_layer, model_head = self.result.layers[layer], self.result.heads[head]
        line = Text.assemble((f"L{model_layer} H{model_head}", "bold"))
        stats = self._current_stats()
        if self.has_class("-head") and stats is not None:
            line.append_text(head_status(stats, model_layer, model_head))
        else:
            line.append(f" · {len(self.result.tokens)} tokens · {tail(self.model_spec, 24)}")
            note = self._models.note(self.model_spec)
            if note:                           # a run still training: its best checkpoint, or its base model
                line.append(f" ({note})", style="italic")
            line.append(" · enter opens the head")
        if self.result.truncated:
            line.append(" · cut at the maximum length")
        for doing in self._busy.values():
            line.append(f" · {doing}")
        status.update(line)

    # --- statistics ---------------------------------------------------------------------------------------------

    def _current_stats(self):
        return self.dataset_stats or self.sentence_stats

    def _show_head_info(self) -> None:
        info = self.query_one("#att-head-info", Static)
        stats = self._current_stats()
        if stats is None or self.result is None:
            info.update("")
            return
        layer, head = self.head
        info.update(head_info(stats, self.result.layers[layer], self.result.heads[head], self._stats_source, self.diff))

    def _mark_standouts(self) -> None:
        """★ under the grid's thumbnails of the heads that stand out in the statistics on screen."""
        stats, result = self._current_stats(), self.result
        marks = set()
        if stats is not None and result is not None:
            marks = {(result.layers.index(s.layer), result.heads.index(s.head)) for s in stats.standouts()
                     if s.layer in result.layers and s.head in result.heads}
        self.query_one(HeadGrid).set_marks(marks)

    def _fill_standouts(self, stats, source: str) -> None:
        self._mark_standouts()
        self._stats_source = source
        options = self.query_one("#att-standouts", OptionList)
        options.clear_options()
        options.add_options([standout_option(s) for s in stats.standouts()])
        if self.query_one("#att-extra", ContentSwitcher).current == "att-standouts":
            self._set_extra_title(f"Standouts: {source}")

    def _set_extra_title(self, title: str) -> None:
        self.query_one("#att-extra-title", Static).update(Text(title))   # may name a data source: not markup

    def _show_extra(self, pane: str, title: str) -> None:
        self.query_one("#att-extra", ContentSwitcher).current = pane
        self._set_extra_title(title)

    @on(OptionList.OptionSelected)
    def _jump(self, event: OptionList.OptionSelected) -> None:
        _, layer, head = event.option.id.split(":")
        if self.result is None:
            return
        layer, head = int(layer), int(head)
        if layer in self.result.layers and head in self.result.heads:
            self.query_one(HeadGrid).move_cursor(self.result.layers.index(layer), self.result.heads.index(head))
            self._open_head_view()
            self._show_head()

    def action_stats(self) -> None:
        if self.dataset_stats is not None:
            self._show_extra("att-standouts", f"Standouts: {self._stats_source}")
            return
        self._start("stats", "head statistics ...")
        self._dataset_stats(self.model_spec)

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def _dataset_stats(self, spec: str) -> None:
        self._run_task("stats", lambda: self.StatsReady(spec, *dataset_stats(
            self._models, spec, self.target, self._progress("stats", "head statistics"))))

    def _run_task(self, task: str, call) -> None:
        """In a worker: post the message `call()` makes, or the task's failure; nothing once cancelled."""
        from tunelab.core.errors import TuneLabError

        try:
            message = call()
        except _Cancelled:
            return
        except TuneLabError as err:
            message = self.TaskFailed(task, str(err))
        if not get_current_worker().is_cancelled:
            self.post_message(message)

    def _progress(self, task: str, what: str):
        """A progress callback for core's long loops: posts a status every 10 items and stops when cancelled."""
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise _Cancelled()
            if done % 10 == 0 or done == total:
                self.post_message(self.TaskProgress(task, f"{what} {done}/{total}"))

        return progress

    @on(StatsReady)
    def _stats_ready(self, event: StatsReady) -> None:
        if event.spec != self.model_spec:
            return  # computed for a model this screen has since replaced
        self._finish("stats")
        self.dataset_stats = event.stats
        self._fill_standouts(event.stats, event.source)
        self._show_extra("att-standouts", f"Standouts: {event.source}")
        self._show_head_info()

    # --- fine-tuning: change against the base model, probe curve -----------------------------------------------

    def action_diff(self) -> None:
        if self.diff is not None:
            self._show_extra("att-changed", "Most changed heads (enter: open)")
            return
        self._start("diff", "attention change ...")
        self._attention_diff(self.model_spec)

    @work(thread=True, exclusive=True, group="diff", exit_on_error=False)
    def _attention_diff(self, spec: str) -> None:
        self._run_task("diff", lambda: self.DiffReady(spec, *attention_change(
            self._models, spec, self.target, self._progress("diff", "attention change"))))

    @on(DiffReady)
    def _diff_ready(self, event: DiffReady) -> None:
        if event.spec != self.model_spec:
            return
        self._finish("diff")
        self.diff = event.diff
        options = self.query_one("#att-changed", OptionList)
        options.clear_options()
        options.add_options([changed_option(c) for c in event.diff.most_changed(12)])
        self._show_extra("att-changed", "Most changed vs base")
        self.notify(f"attention of {self.model_spec} against its base {event.base}", title="Attention")
        options.focus()
        options.highlighted = 0
        self._show_head_info()

    def action_probe(self) -> None:
        if self.probe_report is not None:
            self._show_extra("att-probe", "Probe accuracy per layer")
            return
        self._start("probe", "probing layers (slow) ...")
        self._probe(self.model_spec)

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def _probe(self, spec: str) -> None:
        self._run_task("probe", lambda: self.ProbeReady(spec, probe_curves(spec, self.target,
                                                                           self._progress("probe", "probing"))))

    @on(ProbeReady)
    def _probe_ready(self, event: ProbeReady) -> None:
        if event.spec != self.model_spec:
            return
        self._finish("probe")
        self.probe_report = event.report
        names = ["run", "base"] if len(event.report.curves) == 2 else None
        self.query_one(ProbeCurve).set_report(event.report, names)
        self._show_extra("att-probe", "Probe accuracy per layer")

    # --- rollout beside IG ---------------------------------------------------------------------------------------

    def action_why(self) -> None:
        text, pair = self._inputs()
        if not text.strip():
            self.notify("no sentence to explain", title="Attention", severity="warning")
            return
        key = (text, pair, self.model_spec)
        if self.why is not None and self._why_key == key:
            self._show_extra("att-why", "Rollout vs IG")
            return
        if self._explainers is None:
            from tunelab.tui.workers.explain import Explainers

            self._explainers = Explainers()
        self._why_key = key
        self._start("why", "rollout and IG ...")
        self._explain(key)

    @work(thread=True, exclusive=True, group="why", exit_on_error=False)
    def _explain(self, key: tuple) -> None:
        from tunelab.tui.workers.explain import rollout_beside_ig

        text, pair, spec = key
        self._run_task("why", lambda: self.WhyReady(key, rollout_beside_ig(self._explainers, spec, text, pair)))

    @on(WhyReady)
    def _why_ready(self, event: WhyReady) -> None:
        self._finish("why")
        if event.key != self._why_key:
            return      # the sentence or the model changed meanwhile
        self.why = event.found
        self.query_one(RolloutVsIG).show(event.found)
        self._show_extra("att-why", "Rollout vs IG")

    # --- export -------------------------------------------------------------------------------------------------

    def action_export(self) -> None:
        if self.result is None:
            self.notify("no attention to export yet", title="Attention", severity="warning")
            return
        folder = f"exports/attention-{datetime.now():%Y%m%d-%H%M%S}"

        def chosen(values: list[str] | None) -> None:
            if values and values[0]:
                text, pair = self._inputs()
                self._start("export", "exporting ...")
                self._export(self.result, values[0], {"model": self.model_spec, "sentence": text, "pair": pair})

        self.app.push_screen(PathPrompt("Export for bertviz", [("folder (created if missing)", folder)],
                                        "head_view.html, model_view.html, attention.npz, tokens.json · "
                                        "enter: export · escape: cancel"), chosen)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, result, folder: str, meta: dict) -> None:
        self._run_task("export", lambda: self.Exported(*export_for_bertviz(result, folder, meta)))

    @on(Exported)
    def _exported(self, event: Exported) -> None:
        self._finish("export")
        self.export = event.export
        self.query_one("#att-export", Static).update(export_summary(event.export, event.self_contained, event.note))
        self._show_extra("att-export", "Exported for bertviz")
        self.notify(f"wrote {event.export.out_dir}/head_view.html and 3 more files", title="Attention")

    # --- task bookkeeping ---------------------------------------------------------------------------------------

    def _start(self, task: str, doing: str) -> None:
        self._busy[task] = doing
        self._show_status()

    def _finish(self, task: str) -> None:
        self._busy.pop(task, None)
        self._show_status()

    def action_cancel(self) -> None:
        for task in list(self._busy):
            self.workers.cancel_group(self, task)
            self._finish(task)

    @on(TaskProgress)
    def _task_progress(self, event: TaskProgress) -> None:
        if event.task in self._busy:
            self._busy[event.task] = event.text
            self._show_status()

    @on(TaskFailed)
    def _task_failed(self, event: TaskFailed) -> None:
        self._finish(event.task)
        if event.task == "attention":
            self._last_request = None  # the same sentence may be tried again
            self.query_one("#att-status", Static).update(Text(f"no attention: {event.error}"))
        self.notify(event.error, title="Attention", severity="error")

    def worker_failed(self, worker: Worker, error: BaseException | None) -> None:
        self._finish(worker.group)


def result_token(result, index: int) -> str:
    return result.tokens[index] if 0 <= index < len(result.tokens) else "?"
