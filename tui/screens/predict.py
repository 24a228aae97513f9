"""The Predict screen: type a sentence (or a pair) and watch the label and the class probabilities update.

One thread worker owns the model (`tunelab.core.predictor.Predictor`: ONNX Runtime on CPU) for the life of the
screen. Keystrokes go to it through a one-slot mailbox that keeps only the newest request, so the worker never
works through a backlog; each request carries a sequence number and a result is shown only if no newer request
was sent after it (stale results are dropped). Requests are debounced: a keystroke goes to the model at once
when the model is idle and the last request went out at least `DEBOUNCE_S` ago; otherwise it waits until
`DEBOUNCE_S` after the latest keystroke, so a burst of typing becomes one request (and steady typing about one
request per `DEBOUNCE_S`).

A token-classification model (the Predictor says so: `per_token`) answers with a `TokenPrediction`: the screen
then shows the sentence with each entity highlighted in its type's theme colour over a legend of the model's types
(`EntitySentence`; tags that name no entities, such as POS tags, read `word/TAG`), and a table of each word's tag
and probability (`WordTagTable`) in place of the class bars. Debounce, stale results, history and files work the
same way for both kinds of model.

A regression with several outputs (`regress: valence + arousal + dominance ~ word`; the Predictor's
`is_regression` with more than one label) answers with one value per output (`Prediction.values`): the screen shows
a bar per output with its name and value (`OutputBars`), each on that output's range in training when the run
recorded it (`Predictor.output_ranges`), else on a shared symmetric scale, and says which.

A model that answers questions from a context (its task says so: `answers_from_context`; it answers with a
`SpanPrediction`) gets a question field and a context area (`ContextArea`: paste a long paragraph, edit it
anywhere) in place of the sentence and pair fields. As the question or the context changes, the best answer is
highlighted in the context itself, with its probability, the next few answers with theirs, and the probability of
"no answer"; when "no answer" wins, the screen says so in words. A context longer than the model's maximum length
is read in windows by the model; nothing on screen changes for it.

The latency shown is the model's own (tokenizer + forward pass) and the time from the keystroke to the label on
screen. Enter keeps the input and its prediction in the history (`PredictHistory`, remembered in the app's state
file for the next session); up and down recall it. ctrl+o labels a whole
file of inputs (one sentence, or one tab-separated pair, per line) into JSONL, as `tunelab predict --input`
does; ctrl+t opens the current input in the Attention screen. ctrl+n (shown where ONNX Runtime serves the model)
switches to the dynamically quantized int8 graph and back: opt-in, off for every model loaded, said in the model line
(in the theme's warning colour) and the latency while on, and a file labelled with it on also says how far int8's
labels and probabilities are from fp32's on that file. Other screens hand it an input with `show_input`
(Evaluate sends a mistake here); a new model picked elsewhere in the app is loaded in place of the old one.

ctrl+g colours the sentence by which words drove the prediction (`AttributionWords`: Integrated Gradients from
core/explain.py, red against and blue for the explained class). The same model thread computes it, after the
prediction is on screen and no newer keystroke has arrived for `SETTLE_S` (the prediction settled), so typing never
waits for an explanation of text already gone; ctrl+r changes what is explained: the predicted class, then each class
(tag, output; a QA model: its answer, then "no answer") in turn.
"""

from __future__ import annotations

import json
import threading
import time

from pathlib import Path
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Select, Static, TextArea
from textual.worker import Worker, get_current_worker

from tunelab.tui.screens.base import TuneLabScreen
from tunelab.tui.screens.target import open_with, selected_target
from tunelab.tui.widgets.attribution_words import AttributionWords
from tunelab.tui.widgets.context_area import ContextArea
from tunelab.tui.widgets.entity_sentence import EntitySentence
from tunelab.tui.widgets.output_bars import OutputBars
from tunelab.tui.widgets.path_prompt import PathPrompt
from tunelab.tui.widgets.predict_history import PredictHistory
from tunelab.tui.widgets.probability_bars import ProbabilityBars
from tunelab.tui.widgets.word_tags import WordTagTable

DEBOUNCE_S = 0.15     # keystrokes closer together than this are folded into one prediction
FILE_BATCH = 64       # inputs per forward pass when labelling a file (progress and cancel checks between them)
HISTORY_STATE = "predict_history"   # the key of the kept inputs in the app's state file
ALTERNATIVES = 3      # the next best answers shown under a QA model's answer
SETTLE_S = 0.2        # no newer keystroke for this long after a prediction: explain it (when colouring is on)


class LatestRequest:
    """A one-slot mailbox between the event loop and the model thread: `put` replaces whatever is waiting,
    `take` waits for something (up to `timeout`) and empties the slot. Files to label and settings to change (int8
    on or off) queue separately, in the order they were asked for, and go before the newest text."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._request: tuple | None = None
        self._files: list[tuple[str, object]] = []

    def put(self, request: tuple) -> None:
        with self._condition:
            self._request = request
            self._condition.notify()

    def put_file(self, source: str, output: str) -> None:
        with self._condition:
            self._files.append(("file", (source, output)))
            self._condition.notify()

    def put_int8(self, on: bool) -> None:
        with self._condition:
            self._files.append(("int8", on))
            self._condition.notify()

    def take(self, timeout: float) -> tuple[str, tuple] | None:
        """("file", (source, output)), ("int8", on) or ("text", request), or None after `timeout` seconds of
        nothing."""
        with self._condition:
            if self._request is None and not self._files:
                self._condition.wait(timeout)
            if self._files:
                return self._files.pop(0)
            if self._request is not None:
                request, self._request = self._request, None
                return "text", request
            return None


def write_jsonl_atomic(path: str, rows: list[dict]) -> None:
    """Write JSON lines through a temporary file and a rename: a reader never sees half a file."""
    from tunelab.core.atomic_write import write_atomic
    from tunelab.core.errors import TuneLabError

    target = Path(path).expanduser()
    try:
        write_atomic(target, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    except OSError as err:
        raise TuneLabError(f"cannot write {str(target)!r}: {err.strerror or err}") from None


def _is_tagged(prediction) -> bool:
    """Whether `prediction` is a token model's TokenPrediction (words and tags) rather than one label."""
    from tunelab.core.predictor import TokenPrediction   # torch comes with it: loaded by then, not at start-up

    return isinstance(prediction, TokenPrediction)


def _is_answer(prediction) -> bool:
    """Whether `prediction` is a QA model's SpanPrediction (an answer span in a context)."""
    from tunelab.core.tasks.spans import SpanPrediction

    return isinstance(prediction, SpanPrediction)


def answer_lines(p) -> tuple[Text, Text]:
    """A QA model's answer in words: the answer (or "no answer", said plainly) with its probability; then the next
    answers with theirs and the probability of no answer."""
    if p.start is None:
        head = Text.assemble(("no answer", "bold"), f"  {p.no_answer_probability:.3f}",
                             ("  the model finds no answer in the context", "italic"))
    else:
        head = Text.assemble(("answer ", "dim"), (p.answer, "bold"), f"  {p.score:.3f}")
    more = Text("next  ", style="dim")
    shown = p.alternatives[:ALTERNATIVES]
    for i, alt in enumerate(shown):
        if i:
            more.append(" · ", style="dim")
        more.append(alt["answer"])
        more.append(f" {alt['score']:.3f}", style="dim")
    if not shown:
        more.append("(none)", style="dim")
    if p.start is not None:
        more.append("\n")
        more.append("no answer ", style="dim")
        more.append(f"{p.no_answer_probability:.3f}")
    return head, more


def _tagged_summary(p, groups_entities: bool) -> dict:
    """A token prediction as one history line: its entity types (or its word count for tags without entities) and
    the mean probability of its entities' (or words') tags."""
    if groups_entities and p.entities:
        label = " ".join(e.type for e in p.entities)
        scores = [e.score for e in p.entities if e.score is not None]
    else:
        label = "no entities" if groups_entities else f"{len(p.words)} words"
        scores = [s for s in p.scores if s is not None]
    return {"label": label, "score": sum(scores) / len(scores) if scores else 0.0}


def short_value(value: float) -> str:
    """A value in two decimals without a leading zero (-.81, .72, 3.50): three outputs fit the history's label."""
    text = f"{value:.2f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def default_output(source: str) -> str:
    path = Path(source)
    return str(path.with_name(f"{path.stem}.predictions.jsonl"))


class PredictScreen(TuneLabScreen):
    """Live predictions as you type, with the probability of each class, latency and a history."""

    MODE = "predict"

    DEFAULT_CSS = """
    PredictScreen { layout: vertical; background: $background; }
    PredictScreen #predict-model { height: 1; color: $foreground-muted; margin: 0 1; }
    PredictScreen.-int8 #predict-model { color: $warning; }
    PredictScreen #predict-device-row { height: 1; margin: 0 1; }
    PredictScreen #predict-device-row > Static { width: 9; color: $foreground-muted; }
    PredictScreen #predict-device { width: 40; }
    PredictScreen .predict-prompt { height: 1; margin: 1 1 0 1; }
    PredictScreen .predict-prompt > Static { width: 8; color: $foreground-muted; }
    PredictScreen .predict-prompt > Input { width: 1fr; }
    PredictScreen #predict-pair-row { display: none; margin-top: 0; }
    PredictScreen.-pair #predict-pair-row { display: block; }
    PredictScreen #predict-result { height: auto; margin: 1 1 0 1; padding: 0 1; background: $surface; }
    PredictScreen #predict-label { height: 1; }
    PredictScreen #predict-bars { margin-bottom: 0; }
    PredictScreen #predict-latency { height: 1; color: $foreground-muted; }
    PredictScreen #predict-history-title { height: 1; margin: 1 1 0 1; color: $foreground-muted; }
    PredictScreen #predict-history { height: 1fr; margin: 0 1; }
    PredictScreen #predict-entities { display: none; margin-bottom: 1; }
    PredictScreen #predict-words { display: none; }
    PredictScreen.-tokens #predict-bars { display: none; }
    PredictScreen.-tokens #predict-entities { display: block; }
    PredictScreen.-tokens #predict-words { display: block; height: 1fr; min-height: 4; }
    PredictScreen.-tokens #predict-result { height: 3fr; }
    PredictScreen.-tokens #predict-history-title { margin-top: 0; }
    PredictScreen.-tokens #predict-history { height: 1fr; min-height: 4; }
    PredictScreen #predict-values { display: none; }
    PredictScreen.-values #predict-bars { display: none; }
    PredictScreen.-values #predict-values { display: block; }
    PredictScreen #predict-context-row { display: none; height: 2fr; min-height: 3; margin: 0 1; }
    PredictScreen #predict-context-row > Static { width: 11; color: $foreground-muted; }
    PredictScreen #predict-context-row > ContextArea { width: 1fr; height: 1fr; background: $surface; }
    PredictScreen #predict-answer-more { display: none; height: auto; }
    PredictScreen #predict-why { display: none; margin-bottom: 1; }
    PredictScreen.-why #predict-why { display: block; }
    PredictScreen.-context .predict-prompt > Static { width: 11; }
    PredictScreen.-context #predict-context-row { display: block; layout: horizontal; }
    PredictScreen.-context #predict-pair-row { display: none; }
    PredictScreen.-context #predict-bars { display: none; }
    PredictScreen.-context #predict-answer-more { display: block; }
    PredictScreen.-context #predict-result { margin-top: 0; }
    PredictScreen.-context #predict-history-title { margin-top: 0; }
    PredictScreen.-context #predict-history { height: 1fr; min-height: 3; }
    """

    BINDINGS = [
        # priority: the text field would otherwise take the arrows (a one-line field has nothing to scroll)
        Binding("up", "history(1)", "Older", key_display="↑", priority=True,
                tooltip="recall an older input from the history (enter keeps the current one there)"),
        Binding("down", "history(-1)", "Newer", key_display="↓", priority=True, tooltip="recall a newer input"),
        Binding("ctrl+t", "to_attention", "Attention", tooltip="look at this input's attention heads"),
        Binding("ctrl+o", "run_file", "Run file", tooltip="label a file of inputs, one per line, into JSONL"),
        Binding("ctrl+b", "toggle_pair", "Pair", tooltip="show or hide the second sentence of a pair"),
        Binding("ctrl+n", "toggle_int8", "int8", tooltip="predict with the quantized int8 graph (faster, slightly "
                "different; a file labelled then says how far it is from fp32), or back to fp32"),
        Binding("ctrl+g", "toggle_why", "Why", tooltip="colour the sentence by which words drove the prediction "
                                                        "(Integrated Gradients)"),
        Binding("ctrl+r", "next_why_target", "Why class", show=False,
                tooltip="explain the next class (the predicted one first)"),
    ]

    AUTO_FOCUS = "#predict-text"

    class ModelReady(Message):
        def __init__(self, spec: str, name: str, backend: str, labels: list[str], is_pair: bool | None,
                     new_head: bool, per_token: bool = False, is_regression: bool = False,
                     output_ranges: dict | None = None, context: bool = False) -> None:
            super().__init__()
            self.spec, self.name, self.backend, self.labels = spec, name, backend, labels
            self.is_pair, self.new_head, self.per_token = is_pair, new_head, per_token
            self.is_regression, self.output_ranges = is_regression, dict(output_ranges or {})
            self.context = context         # the model answers a question from a context (QA)

        @property
        def outputs(self) -> list[str]:
            """The named outputs of a several-output regression ([] for any other model)."""
            return list(self.labels) if self.is_regression and len(self.labels) > 1 else []

    class ModelFailed(Message):
        def __init__(self, spec: str, error: str) -> None:
            super().__init__()
            self.spec, self.error = spec, error

    class PredictionReady(Message):
        def __init__(self, seq: int, prediction, keyed_at: float) -> None:
            super().__init__()
            self.seq, self.prediction, self.keyed_at = seq, prediction, keyed_at

    class PredictionFailed(Message):
        def __init__(self, seq: int, error: str) -> None:
            super().__init__()
            self.seq, self.error = seq, error

    class ExplanationReady(Message):
        def __init__(self, seq: int, explanation, error: str | None = None) -> None:
            super().__init__()
            self.seq, self.explanation, self.error = seq, explanation, error

    class FileProgress(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

    class FileDone(Message):
        def __init__(self, output: str, count: int, truncated: int, error: str | None = None,
                     agreement: str | None = None) -> None:
            super().__init__()
            self.output, self.count, self.truncated, self.error = output, count, truncated, error
            self.agreement = agreement      # with int8 on: how far int8's labels are from fp32's on the file

    class PrecisionChanged(Message):
        """The model thread now predicts with the int8 graph (`int8`) or the fp32 one; `error` when it could not."""

        def __init__(self, spec: str, int8: bool, error: str | None = None) -> None:
            super().__init__()
            self.spec, self.int8, self.error = spec, int8, error

    def __init__(self, text: str | None = None, pair: str | None = None, model: str | None = None, *,
                 predictor_factory: Callable[[str], object] | None = None,
                 explainer_factory: Callable[[object], object] | None = None,
                 clock: Callable[[], float] = time.perf_counter, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        """`text`/`pair` preset the input; `model` overrides the app's selection; `predictor_factory(model)`
        replaces `Predictor`, `explainer_factory(predictor)` the `Explainer`, and `clock` the timer of keystroke-to-label
        (snapshot tests fix them)."""
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock
        self._preset_text, self._preset_pair, self._preset_model = text, pair, model
        self._factory = predictor_factory
        self._explainer_factory = explainer_factory
        self._mailbox = LatestRequest()
        self._seq = 0                 # the newest request sent
        self._shown_seq = 0           # the request whose result is on screen
        self._keyed_at = 0.0          # when the input last changed
        self._last_sent = 0.0
        self._timer: Timer | None = None
        self._ready = False
        self._pending_keep = False
        self._model_name = ""
        self._labels: list[str] = []
        self.per_token = False        # the model tags words (TokenPrediction) rather than labelling the input
        self.outputs: list[str] = []  # a several-output regression's outputs: a bar per output
        self._regression = False
        self.reads_context = False    # the model answers a question from a context (SpanPrediction)
        self.int8 = False             # predictions come from the quantized int8 graph (opt-in: ctrl+n)
        self._backend = ""            # what serves the model ("onnx": int8 can be turned on)
        self._model_notes: tuple = ()  # what the model line says besides the backend (name, shape, ...)
        self.prediction = None        # the prediction on screen
        self.key_to_label_ms: float | None = None  # from the input changing to its label on screen
        self.shown_at: float | None = None          # when the prediction on screen was put there (clock time)
        self._history_pos: int | None = None
        self._draft: tuple[str, str] = ("", "")
        self.explaining = False       # ctrl+g: colour the sentence by its attributions (read by the model thread)
        self.why_target: str | None = None   # what is explained (None: the predicted class), read by the thread
        self.explanation = None       # the Explanation on screen
        self.device = "auto"          # where the model runs: the device picker's value (auto: the best one)

    # --- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        self.model_spec = self._preset_model or selected_target(self.app).model
        yield Static(Text(f"{self.model_spec} · loading ..."), id="predict-model")
        from tunelab.core.gpu_status import device_choices   # NVML, no torch: [] GPUs on a machine without one

        choices = device_choices()
        if len(choices) > 2:        # GPUs to choose between: the picker (a CPU-only machine has nothing to pick)
            with Horizontal(id="predict-device-row"):
                yield Static("device ›")
                yield Select(choices, value="auto", allow_blank=False, compact=True, id="predict-device")
        with Horizontal(classes="predict-prompt"):
            yield Static("text  ›", id="predict-text-prompt")
            yield Input(self._preset_text or "", placeholder="type a sentence", id="predict-text", compact=True,
                        select_on_focus=False)
        with Horizontal(classes="predict-prompt", id="predict-pair-row"):
            yield Static("pair  ›")
            yield Input(self._preset_pair or "", placeholder="the second sentence of the pair", id="predict-pair",
                        compact=True, select_on_focus=False)
        with Horizontal(id="predict-context-row"):
            yield Static("context ›")
            yield ContextArea(self._preset_pair or "", id="predict-context", compact=True,
                              placeholder="paste or type the passage the answer is in")
        with Vertical(id="predict-result"):
            yield Static("", id="predict-label")
            yield Static("", id="predict-answer-more")
            yield AttributionWords(id="predict-why", placeholder="working out which words drove it ...")
            yield ProbabilityBars(id="predict-bars", placeholder="the probability of each class shows here")
            yield OutputBars(id="predict-values", placeholder="each output's value shows here")
            yield EntitySentence(id="predict-entities", placeholder="the sentence's entities show here")
            yield WordTagTable(id="predict-words")
            yield Static("", id="predict-latency")
        yield Static("History  (enter keeps the input; ↑/↓ recall)", id="predict-history-title")
        yield PredictHistory(id="predict-history")

    def on_mount(self) -> None:
        self.set_class(self._preset_pair is not None, "-pair")
        self.query_one(PredictHistory).set_entries(getattr(self.app, "state", {}).get(HISTORY_STATE))
        self._serve(self.model_spec)

    # --- the model thread ---------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def _serve(self, model: str) -> None:
        """Load the model, then answer requests from the mailbox until the screen goes away."""
        from tunelab.core.errors import TuneLabError

        worker = get_current_worker()
        try:
            if self._factory is not None:
                predictor = self._factory(model) if self.device == "auto" else self._factory(model, device=self.device)
            else:
                from tunelab.core.predictor import Predictor

                predictor = Predictor(model, device=self.device)
        except TuneLabError as err:
            self.post_message(self.ModelFailed(model, str(err)))
            return
        self.post_message(self.ModelReady(model, predictor.name, predictor.backend, list(predictor.labels),
                                          predictor.is_pair, bool(predictor.new_head),
                                          bool(getattr(predictor, "per_token", False)),
                                          bool(getattr(predictor, "is_regression", False)),
                                          getattr(predictor, "output_ranges", None),
                                          bool(getattr(getattr(predictor, "kind", None), "answers_from_context",
                                                       False))))
        explainer, pending = None, None
        while not worker.is_cancelled:
            job, pending = pending or self._mailbox.take(timeout=0.1), None
            if job is None:
                continue
            kind, request = job
            if kind == "file":
                self._label_file(predictor, *request)
                continue
            if kind == "int8":
                self._set_int8(predictor, model, request)
                continue
            seq, text, pair, keyed_at = request
            try:
                prediction = predictor.predict(text, pair)
            except TuneLabError as err:
                self.post_message(self.PredictionFailed(seq, str(err)))
                continue
            self.post_message(self.PredictionReady(seq, prediction, keyed_at))
            if not self.explaining:
                continue
            pending = self._mailbox.take(timeout=SETTLE_S)    # a newer keystroke first: explain only what settles
            if pending is not None:
                continue
            try:
                if explainer is None and self._explainer_factory is not None:
                    explainer = self._explainer_factory(predictor)
                elif explainer is None:
                    from tunelab.core.explain import Explainer

                    if not hasattr(predictor, "model"):
                        raise TuneLabError(f"{predictor.name} has no PyTorch model to explain")
                    explainer = Explainer(predictor)
                explanation = explainer.explain(text, pair, method="ig", target=self.why_target)
            except TuneLabError as err:
                self.post_message(self.ExplanationReady(seq, None, str(err)))
                continue
            self.post_message(self.ExplanationReady(seq, explanation))

    def _set_int8(self, predictor, model: str, on: bool) -> None:
        """Switch the predictor to the int8 graph or back to fp32 (model thread; the first switch quantizes)."""
        from tunelab.core.errors import TuneLabError

        try:
            if not hasattr(predictor, "set_int8"):
                raise TuneLabError("this model's predictor has no int8 graph")
            predictor.set_int8(on)
        except TuneLabError as err:
            self.post_message(self.PrecisionChanged(model, bool(getattr(predictor, "int8", False)), str(err)))
            return
        self.post_message(self.PrecisionChanged(model, on))

    def _label_file(self, predictor, source: str, output: str) -> None:
        """Label every line of `source` into `output` (JSONL), in batches, posting progress (model thread)."""
        from tunelab.core.errors import TuneLabError
        from tunelab.core.predict_input import read_predict_input

        worker = get_current_worker()
        try:
            given = read_predict_input(source)
            texts, pairs = given.texts, given.pairs
            if getattr(predictor, "per_token", False) and pairs is not None:
                raise TuneLabError(f"{predictor.name} tags the words of one sentence, but the lines of {source!r} "
                                   f"are tab-separated pairs; give one sentence per line")
            if predictor.is_pair is not None and predictor.is_pair != (pairs is not None):
                kind = "tab-separated pairs" if predictor.is_pair else "single sentences"
                raise TuneLabError(f"{predictor.name} expects {kind}, one per line of {source!r}")
            predictions = []
            for start in range(0, len(texts), FILE_BATCH):
                if worker.is_cancelled:
                    return
                chunk_pairs = pairs[start:start + FILE_BATCH] if pairs is not None else None
                predictions += predictor.predict_batch(texts[start:start + FILE_BATCH], chunk_pairs,
                                                       batch_size=FILE_BATCH)
                self.post_message(self.FileProgress(len(predictions), len(texts)))
            from tunelab.core.predictor import prediction_record   # in the worker: torch stays out of start-up

            write_jsonl_atomic(output, [prediction_record(p) for p in predictions])
            agreement = None
            if getattr(predictor, "int8", False) and predictions and not worker.is_cancelled:   # fp32 on it too
                agreement = predictor.agreement(texts, pairs, FILE_BATCH, predictions=predictions).line()
        except TuneLabError as err:
            self.post_message(self.FileDone(output, 0, 0, str(err)))
            return
        self.post_message(self.FileDone(output, len(predictions), sum(bool(p.truncated) for p in predictions),
                                        agreement=agreement))

    @on(ModelReady)
    def _model_ready(self, event: ModelReady) -> None:
        if event.spec != self.model_spec:
            return  # a model this screen has since replaced
        self._ready = True
        self._model_name = event.name
        self._backend, self.int8 = event.backend, False       # a model is loaded in fp32: int8 is asked for
        self.set_class(False, "-int8")
        self._labels = event.labels
        self.per_token = event.per_token
        self._regression, self.outputs = event.is_regression, event.outputs
        self.set_class(event.per_token, "-tokens")
        self.set_class(bool(self.outputs), "-values")
        self.query_one(OutputBars).set_outputs(self.outputs, event.output_ranges)
        self._set_reads_context(event.context)
        self.refresh_bindings()
        if event.per_token:
            self.remove_class("-pair")      # a tagger reads one sentence
            self.query_one(EntitySentence).set_tags(event.labels)
            self.query_one(WordTagTable).set_tags(event.labels)
        if event.is_pair and not event.context:
            self.add_class("-pair")
        kinds = "tags" if event.per_token else "classes"
        if event.is_regression:     # a regression's labels name its outputs (or are a placeholder), not classes
            shape = f"regression · {len(event.outputs)} outputs" if event.outputs else "regression"
        else:
            shape = f"{len(event.labels)} {kinds}" if event.labels else "regression"
        notes = [shape]
        if event.context:
            notes = ["answers a question from the context"]
        elif event.per_token:
            notes.append("tags words")
        elif event.is_pair is not None:
            notes.append("pairs" if event.is_pair else "single sentences")
        self._model_notes = (event.name, notes, event.new_head)
        self._show_model_line()
        self._keyed_at = self._clock()  # the first prediction waits for the model, not for a keystroke
        if self._has_input():
            self._send()
        else:
            self._show_idle()

    def _show_model_line(self) -> None:
        """The model's name, what runs it (int8 said plainly, in bold, when it is on), its shape."""
        name, notes, new_head = self._model_notes
        line = Text(f"{name} · ")
        if self.int8:
            line.append(f"{self._backend} int8 (ctrl+n: fp32)", style="bold reverse")
        else:
            line.append(self._backend)
        line.append("".join(f" · {note}" for note in notes))
        if new_head:
            line.append("  head untrained (random): fine-tune it first", style="bold")
        self.query_one("#predict-model", Static).update(line)

    def action_toggle_int8(self) -> None:
        """Predict with the int8 graph, or back with fp32 (the model thread switches; the input is predicted again)."""
        if not self._ready:
            self.notify("the model is still loading", title="Predict", severity="warning")
            return
        if self._backend != "onnx":
            self.notify(f"int8 is the quantized ONNX graph; this model runs with {self._backend or 'PyTorch'}",
                        title="Predict", severity="warning")
            return
        self.query_one("#predict-latency", Static).update(Text("int8: quantizing ..." if not self.int8 else
                                                               "back to fp32 ..."))
        self._mailbox.put_int8(not self.int8)

    @on(PrecisionChanged)
    def _precision_changed(self, event: PrecisionChanged) -> None:
        if event.spec != self.model_spec:
            return
        self.int8 = event.int8
        self.set_class(event.int8, "-int8")
        self._show_model_line()
        if event.error:
            self.query_one("#predict-latency", Static).update(Text(f"int8 not turned on: {event.error}"))
            self.notify(event.error, title="Predict", severity="error")
            return
        self.notify("int8 on: predictions come from the quantized graph" if event.int8 else
                    "back to fp32", title="Predict")
        if self._has_input():
            self._mark_stale()
            self._keyed_at = self._clock()      # the new prediction waits for the switch, not for a keystroke
            self._send()
        else:
            self._show_idle()

    @on(ModelFailed)
    def _model_failed(self, event: ModelFailed) -> None:
        if event.spec != self.model_spec:
            return
        self.query_one("#predict-model", Static).update(Text(f"{self.model_spec} · could not load: {event.error}"))
        self.notify(event.error, title="Predict", severity="error")

    def worker_failed(self, worker: Worker, error: BaseException | None) -> None:
        if worker.group == "predict":
            self._ready = False
            self.query_one("#predict-model", Static).update(Text(f"{self.model_spec} · stopped (a bug); reopen it"))

    # --- what to work on ----------------------------------------------------------------------------------------

    def load_model(self, model: str) -> None:
        """Serve predictions from `model` from now on (the old model's thread ends, its answers are dropped)."""
        if model == getattr(self, "model_spec", None) and (self._ready or self.is_running_model()):
            return
        self.model_spec = model
        self._ready = False
        self._seq += 1
        self.query_one("#predict-model", Static).update(Text(f"{model} · loading ..."))
        self._serve(model)

    @on(Select.Changed, "#predict-device")
    def _device_picked(self, event: Select.Changed) -> None:
        """Another device: the model is loaded again there (a device that cannot be used says so in the model line)."""
        if str(event.value) == self.device:
            return
        self.device = str(event.value)
        self._ready = False
        self._seq += 1
        self.query_one("#predict-model", Static).update(Text(f"{self.model_spec} · loading on {self.device} ..."))
        self._serve(self.model_spec)

    def _set_reads_context(self, context: bool) -> None:
        """A QA model: a question field and a context area (the context takes what the pair field held)."""
        if context == self.reads_context:
            return
        self.reads_context = context
        self.set_class(context, "-context")
        field = self.query_one("#predict-text", Input)
        self.query_one("#predict-text-prompt", Static).update("question ›" if context else "text  ›")
        field.placeholder = "ask a question about the context" if context else "type a sentence"
        area = self.query_one(ContextArea)
        if context:
            self.remove_class("-pair")
            if not area.text and self.query_one("#predict-pair", Input).value:
                area.text = self.query_one("#predict-pair", Input).value

    def is_running_model(self) -> bool:
        return any(w.group == "predict" and not w.is_finished for w in self.workers)

    def show_input(self, text: str | None = None, pair: str | None = None, model: str | None = None) -> None:
        """Put `text` (and `pair`) in the fields and predict it, with `model` if given (other screens call this)."""
        if not self.is_mounted:
            self._preset_text, self._preset_pair = text, pair
            self._preset_model = model or self._preset_model
            return
        if model:
            self.load_model(model)
        if not self.reads_context:
            self.set_class(pair is not None or self.has_class("-pair"), "-pair")
        self._history_pos = None
        self._set_inputs(text or "", pair or "")
        self.query_one("#predict-text", Input).focus()

    def on_selection_changed(self, selection) -> None:
        self.load_model(selected_target(self.app).model)

    # --- typing -------------------------------------------------------------------------------------------------

    def _inputs(self) -> tuple[str, str | None]:
        text = self.query_one("#predict-text", Input).value
        if self.reads_context:
            return text, self.query_one(ContextArea).text
        pair = self.query_one("#predict-pair", Input).value if self.has_class("-pair") else None
        return text, pair

    def _has_input(self) -> bool:
        text, pair = self._inputs()
        return bool(text.strip()) and (pair is None or bool(pair.strip()))

    @on(TextArea.Changed, "#predict-context")
    def _context_changed(self) -> None:
        if self.reads_context:
            self._changed()

    @on(Input.Changed, ".predict-prompt Input")
    def _changed(self) -> None:
        self._keyed_at = self._clock()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self._ready:
            return
        if not self._has_input():
            self._seq += 1  # whatever is on its way is for text that is gone
            self._show_idle()
            return
        self._mark_stale()
        in_flight = self._seq != self._shown_seq
        if not in_flight and time.monotonic() - self._last_sent >= DEBOUNCE_S:
            self._send()       # a keystroke after a quiet spell: no reason to wait
        else:
            self._timer = self.set_timer(DEBOUNCE_S, self._send)

    def _send(self) -> None:
        self._timer = None
        if not self._ready or not self._has_input():
            return
        text, pair = self._inputs()
        self._seq += 1
        self._last_sent = time.monotonic()
        self._mailbox.put((self._seq, text, pair, self._keyed_at or self._clock()))

    @on(PredictionReady)
    def _prediction_ready(self, event: PredictionReady) -> None:
        if event.seq != self._seq:
            return  # stale: the input changed after this request was sent
        self._shown_seq = event.seq
        self.prediction = p = event.prediction
        self.shown_at = self._clock()
        self.key_to_label_ms = (self.shown_at - event.keyed_at) * 1000
        if _is_tagged(p):
            self._show_tagged(p)
        elif self.outputs and getattr(p, "values", None):
            self._show_values(p)
        elif _is_answer(p):
            self._show_answer(p)
        else:
            label = Text.assemble((p.label, "bold"), f"  {p.score:.3f}" if p.probabilities else "")
            if getattr(p, "truncated", False):
                label.append("  (input cut at the model's maximum length)", style="italic")
            self.query_one("#predict-label", Static).update(label)
            self.query_one(ProbabilityBars).set_probabilities(p.probabilities)
        self.query_one("#predict-latency", Static).update(Text(
            f"model {p.latency_ms:.1f} ms{' (int8)' if self.int8 else ''} · keystroke to label "
            f"{self.key_to_label_ms:.0f} ms"))
        if self._pending_keep:
            self._pending_keep = False
            self._keep(p)

    @on(ExplanationReady)
    def _explanation_ready(self, event: ExplanationReady) -> None:
        if event.seq != self._seq or not self.explaining:
            return  # stale, or colouring was switched off meanwhile
        self.explanation = event.explanation
        self.query_one(AttributionWords).show(event.explanation, None if event.error is None else event.error)

    def action_toggle_why(self) -> None:
        """Colour the sentence by its attributions, or stop (what is explained starts at the predicted class)."""
        self.explaining = not self.explaining
        self.set_class(self.explaining, "-why")
        self.explanation = None
        self.query_one(AttributionWords).show(None, "working out which words drove it ...")
        if self.explaining and self._ready and self._has_input():
            self._send()          # predict again, then explain once it settles

    def why_targets(self) -> list:
        """What ctrl+r steps through: the predicted class, then each class (tag, output) by name; a QA model: its
        answer, then its null score."""
        if self.reads_context:
            return [None, "no-answer"]
        return [None, *self._labels]

    def action_next_why_target(self) -> None:
        if not self.explaining:
            self.action_toggle_why()
            return
        targets = self.why_targets()
        at = targets.index(self.why_target) if self.why_target in targets else 0
        self.why_target = targets[(at + 1) % len(targets)]
        self.notify(f"explaining {self.why_target or 'the predicted class'}", title="Why", timeout=2)
        self.query_one(AttributionWords).mark_stale()
        if self._ready and self._has_input():
            self._send()

    def _show_values(self, p) -> None:
        """A several-output regression's answer: a bar per output, and what the bars are drawn against."""
        bars = self.query_one(OutputBars)
        bars.set_values(p.values)
        shared = bars.shared_scale()
        if shared is None:
            scale = "bars span each output's range in training"
        else:
            scale = f"bars span {shared[0]:.4g}…{shared[1]:.4g} (no range from training in the run)"
        label = Text.assemble((f"{len(p.values)} outputs", "bold"), f"  {scale}")
        if getattr(p, "truncated", False):
            label.append("  (input cut at the model's maximum length)", style="italic")
        self.query_one("#predict-label", Static).update(label)

    def _show_tagged(self, p) -> None:
        """A token model's answer: how many entities (or words), the highlighted sentence and the word table."""
        sentence = self.query_one(EntitySentence)
        if sentence.groups_entities:
            n = len(p.entities)
            label = Text.assemble((f"{n} {'entity' if n == 1 else 'entities'}", "bold"), f" in {len(p.words)} words")
        else:
            label = Text.assemble((f"{len(p.words)} words", "bold"), " tagged")
        if p.truncated:
            label.append(f"  (its last {p.words_cut} words were past the model's maximum length: not read, tagged O)",
                         style="italic")
        self.query_one("#predict-label", Static).update(label)
        sentence.show(p)
        self.query_one(WordTagTable).show(p)

    def _show_answer(self, p) -> None:
        """A QA model's answer: highlighted in the context (when the context is still the one it was found in), the
        answer and its probability, the next answers, the probability of no answer."""
        head, more = answer_lines(p)
        self.query_one("#predict-label", Static).update(head)
        self.query_one("#predict-answer-more", Static).update(more)
        self.query_one(ContextArea).mark(p.start, p.end, p.context)

    def _mark_stale(self) -> None:
        """The input changed: dim what is shown until the new prediction replaces it."""
        self.query_one(ContextArea).mark_stale()
        self.query_one(AttributionWords).mark_stale()
        self.query_one(ProbabilityBars).mark_stale()
        self.query_one(OutputBars).mark_stale()
        self.query_one(EntitySentence).mark_stale()
        self.query_one(WordTagTable).mark_stale()

    @on(PredictionFailed)
    def _prediction_failed(self, event: PredictionFailed) -> None:
        if event.seq == self._seq:
            self._shown_seq = event.seq
            self.query_one("#predict-label", Static).update(Text(event.error, style="italic"))
            self.query_one("#predict-answer-more", Static).update("")
            self.query_one(ContextArea).mark(None, None)
            self.query_one(ProbabilityBars).set_probabilities({})
            self.query_one(OutputBars).set_values({}, stale=True)
            self.query_one(EntitySentence).show(None)
            self.query_one(WordTagTable).show(None)

    def _show_idle(self) -> None:
        self._shown_seq = self._seq
        self.prediction = None
        idle = "ask a question about the context" if self.reads_context else "type a sentence to label it"
        self.query_one("#predict-label", Static).update(Text(idle, style="italic"))
        self.query_one("#predict-answer-more", Static).update("")
        self.query_one(ContextArea).mark(None, None)
        classes = [] if self._regression else self._labels    # a regression's labels are no classes
        self.query_one(ProbabilityBars).set_probabilities({label: 0.0 for label in classes}, stale=True)
        self.query_one(OutputBars).set_values({}, stale=True)
        self.query_one(EntitySentence).show(None)
        self.query_one(WordTagTable).show(None)
        self.explanation = None
        self.query_one(AttributionWords).show(None, "type a sentence to see which words drive it")
        self.query_one("#predict-latency", Static).update("")

    # --- history ------------------------------------------------------------------------------------------------

    @on(Input.Submitted, ".predict-prompt Input")
    def _submitted(self) -> None:
        self.action_keep()

    def action_keep(self) -> None:
        """Keep the current input and its prediction in the history (once the prediction is in)."""
        if not self._has_input():
            return
        self._history_pos = None
        if self.prediction is not None and self._shown_seq == self._seq and not self._timer:
            self._keep(self.prediction)
        else:
            self._pending_keep = True
            if self._timer is not None:  # no reason to wait out the debounce
                self._timer.stop()
                self._send()

    def _keep(self, prediction) -> None:
        if _is_tagged(prediction):
            entry = {"text": prediction.text, "pair": None, **_tagged_summary(prediction, self.query_one(EntitySentence).groups_entities)}
        elif self.outputs and getattr(prediction, "values", None):   # each output's value, in the model's order
            entry = {"text": prediction.text, "pair": prediction.pair, "score": prediction.score,
                     "label": " ".join(short_value(v) for v in prediction.values.values())}
        elif _is_answer(prediction):
            entry = {"text": prediction.question, "pair": prediction.context,
                     "label": prediction.answer or "(no answer)",
                     "score": prediction.score if prediction.start is not None else prediction.no_answer_probability}
        else:
            entry = {"text": prediction.text, "pair": prediction.pair, "label": prediction.label,
                     "score": prediction.score}
        history = self.query_one(PredictHistory)
        history.keep(entry)
        state, save = getattr(self.app, "state", None), getattr(self.app, "save_state", None)
        if isinstance(state, dict) and save is not None:      # kept for the next session too
            state[HISTORY_STATE] = history.entries
            save()

    @property
    def history(self) -> list[dict]:
        """The kept inputs, newest first."""
        return self.query_one(PredictHistory).entries

    def action_history(self, step: int) -> None:
        """Recall an older (step 1) or newer (step -1) input; past the newest comes back to the draft. With the
        word table focused (tab), the arrows move through its words instead."""
        if isinstance(self.focused, WordTagTable):
            self.focused.move_cursor(row=self.focused.cursor_row - step)
            return
        if isinstance(self.focused, TextArea):   # the context: the arrows move its cursor
            (self.focused.action_cursor_up if step > 0 else self.focused.action_cursor_down)()
            return
        if not self.history:
            return
        if self._history_pos is None:
            if step < 0:
                return
            text, pair = self._inputs()
            self._draft = (text, pair or "")
            position = 0
        else:
            position = self._history_pos + step
        if position < 0:
            self._history_pos = None
            self._set_inputs(*self._draft)
            return
        position = min(position, len(self.history) - 1)
        self._history_pos = position
        entry = self.history[position]
        self._set_inputs(entry["text"], entry["pair"] or "")
        table = self.query_one(PredictHistory)
        if table.row_count:
            table.move_cursor(row=position)

    def _set_inputs(self, text: str, pair: str) -> None:
        field = self.query_one("#predict-text", Input)
        field.value = text
        field.cursor_position = len(text)
        self.query_one("#predict-pair", Input).value = pair
        if self.reads_context:
            area = self.query_one(ContextArea)
            if area.text != pair:
                area.text = pair
        elif self.is_mounted and pair:
            self.query_one(ContextArea).text = pair          # kept for a QA model still loading

    # --- onward and files ---------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """A tagger reads one sentence: no pair field, so its key leaves the footer."""
        if action == "toggle_int8":     # only where the ONNX graph serves the model
            return self._backend == "onnx"
        return not (action == "toggle_pair" and (self.per_token or self.reads_context))

    def action_toggle_pair(self) -> None:
        if self.reads_context:
            self.notify("this model answers a question from the context: both are always read", title="Predict",
                        severity="warning")
            return
        if self.per_token:
            self.notify("this model tags the words of one sentence; it reads no pairs", title="Predict",
                        severity="warning")
            return
        self.toggle_class("-pair")
        if self.has_class("-pair"):
            self.query_one("#predict-pair", Input).focus()
        else:
            self.query_one("#predict-text", Input).focus()
        self._changed()

    def action_to_attention(self) -> None:
        text, pair = self._inputs()
        if not text.strip():
            self.notify("type a sentence first", title="Predict", severity="warning")
            return
        from tunelab.tui.screens.attention import AttentionScreen

        if self.per_token:   # the word chosen in the table: its row is the one that decides its tag
            open_with(self.app, "attention", AttentionScreen, text=text, pair=None, model=self.model_spec,
                      word=max(0, self.query_one(WordTagTable).cursor_row))
            return
        open_with(self.app, "attention", AttentionScreen, text=text, pair=pair or None, model=self.model_spec)

    def action_run_file(self) -> None:
        if not self._ready:
            self.notify("the model is still loading", title="Predict", severity="warning")
            return

        def chosen(values: list[str] | None) -> None:
            if not values or not values[0]:
                return
            source = values[0]
            output = values[1] or default_output(source)
            self._mailbox.put_file(source, output)
            self.query_one("#predict-latency", Static).update(Text(f"labelling {source} ..."))

        what = ("one sentence per line" if self.per_token else "a question and its context, tab-separated, per line"
                if self.reads_context else "one sentence, or a tab-separated pair, per line")
        self.app.push_screen(PathPrompt("Label a file of inputs (JSONL out)",
                                        [(f"input: {what}", ""),
                                         ("output JSONL (empty: INPUT.predictions.jsonl beside it)", "")]), chosen)

    @on(FileProgress)
    def _file_progress(self, event: FileProgress) -> None:
        self.query_one("#predict-latency", Static).update(Text(f"labelling a file: {event.done}/{event.total}"))

    @on(FileDone)
    def _file_done(self, event: FileDone) -> None:
        if event.error:
            self.query_one("#predict-latency", Static).update(Text(f"file not labelled: {event.error}"))
            self.notify(event.error, title="Predict", severity="error")
            return
        cut = f"; {event.truncated} cut at the maximum length" if event.truncated else ""
        message = f"{event.count} predictions written to {event.output}{cut}"
        if event.agreement:
            message += f"; {event.agreement}"
        self.query_one("#predict-latency", Static).update(Text(message))
        self.notify(message, title="Predict")
