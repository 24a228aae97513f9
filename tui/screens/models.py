"""The Models screen: the bundled model, local directories you have pointed at, models in the Hugging Face
cache and recent runs' trained models, a field for a hub id or a path, and a model card for the highlighted one
(architecture, layers, heads, hidden size, vocabulary, maximum length, total and trainable parameters).

Listing (core.summary.list_models) and the card (core.summary.summarize_model, which builds the model on the
meta device, so torch loads but no weights do) run in thread workers. Enter makes the model the app's
selection, which the Train form and the other screens use.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ..messages import ModelCardReady, ModelsListed
from ..widgets.status_panel import shown_path
from .base import TuneLabScreen, error_text

SOURCE_TITLES = {"bundled": "bundled", "local": "local directories", "hf-cache": "Hugging Face cache",
                 "run": "recent runs"}


def count_text(n: int) -> str:
    """22,713,216 -> 22.7M."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


def list_detail(entry) -> str:
    """The few words the list shows beside a model's name (its card says the rest)."""
    if entry.source == "run":
        return entry.detail.split(";")[-1].strip()[:22]       # "test mcc 0.973"
    if entry.source == "hf-cache":
        return entry.detail[:12]                              # its size on disk
    return ""


def model_card(summary) -> Content:
    """The model card as text: what `tunelab summary --model` prints, in a column."""
    rows = [
        ("architecture", f"{summary.architecture} ({summary.model_type})"),
        ("layers", str(summary.layers)),
        ("heads", f"{summary.heads} per layer"),
        ("hidden size", f"{summary.hidden_size:,} (feed-forward {summary.intermediate_size:,})"),
        ("vocabulary", f"{summary.vocab_size:,} tokens"),
        ("max length", f"{summary.max_positions:,} tokens"),
        ("parameters", f"{count_text(summary.total_parameters)} total ({summary.total_parameters:,})"),
        ("trainable", f"{count_text(summary.trainable_parameters)} ({summary.trainable_parameters:,})"),
        ("task head", ", ".join(map(str, summary.labels)) if summary.labels else "none yet: fit trains a new one"),
    ]
    if summary.fine_tuning:         # a TuneLab run's model: how it was trained, and how much of it
        from tunelab.core.adaptation import trained_text

        rows.append(("fine-tuned", summary.fine_tuning.get("method", "")))
        trained = trained_text(summary.fine_tuning, count_text)
        if trained:
            rows.append(("trained", trained.replace(" parameters trained", "")))
    where = "bundled with TuneLab" if summary.name == "minilm-l6" else shown_path(summary.path)
    lines = [Content.from_markup("[bold $text-primary]$name[/]", name=summary.name),
             Content.from_markup("[dim]$path[/]", path=where), Content("")]
    for label, value in rows:
        lines.append(Content.assemble((f"{label:<13}", "$text-muted"), value))
    return Content("\n").join(lines)


class ModelsScreen(TuneLabScreen):
    MODE = "models"
    BINDINGS = [
        Binding("enter", "use", "Use", tooltip="use the highlighted model for training and the other screens"),
        Binding("slash", "focus_spec", "Hub id/path", tooltip="type a hub id or a local directory"),
        Binding("ctrl+l", "reload", "Reload", tooltip="list the models again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list = []
        self._card_spec: str | None = None
        self._card_timer = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="models-body"):
            with Vertical(id="models-left"):
                yield Input(placeholder="hub id or local directory, then enter", id="model-spec", compact=True)
                yield OptionList(id="model-list")
            with VerticalScroll(id="model-card"):
                yield Static("", id="model-card-text")

    @property
    def option_list(self) -> OptionList:
        return self.query_one(OptionList)

    def on_mount(self) -> None:
        self.query_one("#model-card-text", Static).update(Content.from_markup("[dim]loading the list of models…[/]"))
        self.option_list.focus()
        self.action_reload()

    # --- listing ------------------------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self._list()

    @work(thread=True, exclusive=True, group="list-models", exit_on_error=False)
    def _list(self) -> None:
        from tunelab.core.summary import ModelEntry, list_models

        entries = list_models()
        for directory in self.app.state.get("model_dirs", []):
            if Path(directory).is_dir() and not any(e.path == directory for e in entries):
                entries.append(ModelEntry(directory, "local", directory, "a directory you opened"))
        self.post_message(ModelsListed(entries))

    def on_models_listed(self, message: ModelsListed) -> None:
        order = ("bundled", "local", "hf-cache", "run")
        self.entries = sorted(message.entries, key=lambda e: order.index(e.source) if e.source in order else 9)
        options: list = []
        current = None
        for source in order:
            group = [e for e in self.entries if e.source == source]
            if not group:
                continue
            options.append(Option(Content.from_markup("[b $text-accent]$t[/]", t=SOURCE_TITLES[source]), disabled=True))
            for entry in group:
                spec = entry.name if entry.source in ("bundled", "hf-cache") else entry.path
                prompt = Text.assemble("  ", entry.name, (f"  {list_detail(entry)}", "dim"), no_wrap=True,
                                       overflow="ellipsis")
                options.append(Option(prompt, id=spec))
                if spec == self.app.selection.model or entry.path == self.app.selection.model:
                    current = spec
        option_list = self.option_list
        option_list.clear_options()
        option_list.add_options(options)
        if current is None:
            current = next((o.id for o in options if not o.disabled), None)
        if current is not None:
            option_list.highlighted = option_list.get_option_index(current)

    # --- the card -----------------------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#model-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        spec = event.option.id
        if spec:
            if self._card_timer is not None:
                self._card_timer.stop()
            self._card_timer = self.set_timer(0.2, lambda: self.load_card(spec))   # skip cards scrolled past

    @on(OptionList.OptionSelected, "#model-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.use(event.option.id)

    def load_card(self, spec: str) -> None:
        if spec == self._card_spec:
            return
        self._card_spec = spec
        self.query_one("#model-card-text", Static).update(Content.from_markup("[dim]reading $s…[/]", s=spec))
        self._card(spec)

    @work(thread=True, exclusive=True, group="model-card", exit_on_error=False)
    def _card(self, spec: str) -> None:
        from tunelab.core.errors import TuneLabError
        from tunelab.core.summary import summarize_model

        try:
            self.post_message(ModelCardReady(spec, summarize_model(spec)))
        except (TuneLabError, OSError, ValueError) as err:
            self.post_message(ModelCardReady(spec, error=error_text(err)))

    def on_model_card_ready(self, message: ModelCardReady) -> None:
        if message.spec != self._card_spec:
            return
        text = self.query_one("#model-card-text", Static)
        if message.error:
            text.update(Content.from_markup("[$text-error]$e[/]", e=message.error))
            self.notify(message.error, severity="error", timeout=8)
        else:
            text.update(model_card(message.summary))

    def worker_failed(self, worker, error) -> None:
        if worker.group == "model-card":
            self._card_spec = None
            self.query_one("#model-card-text", Static).update(
                Content.from_markup("[$text-error]$e[/]", e=error_text(error)))

    # --- choosing -----------------------------------------------------------------------------------------------

    def use(self, spec: str) -> None:
        self.app.select(model=spec)
        self.notify(f"model: {spec}", timeout=3)
        self.load_card(spec)

    def action_use(self) -> None:
        option_list = self.option_list
        if option_list.highlighted is not None:
            option = option_list.get_option_at_index(option_list.highlighted)
            if option.id:
                self.use(option.id)

    def action_focus_spec(self) -> None:
        self.query_one("#model-spec", Input).focus()

    @on(Input.Submitted, "#model-spec")
    def _spec_submitted(self, event: Input.Submitted) -> None:
        spec = event.value.strip()
        if not spec:
            return
        path = Path(spec).expanduser()
        if path.is_dir():
            spec = str(path.resolve())
            dirs = self.app.state.setdefault("model_dirs", [])
            if spec not in dirs:
                dirs.append(spec)
                self.app.save_state()
                self.action_reload()
        self.use(spec)
