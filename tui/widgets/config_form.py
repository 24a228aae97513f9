"""The Train screen's hyperparameter form, generated from FitConfig's declarations (core/config.py SETTINGS):
one labelled input per setting, grouped as the declarations say (data, training, evaluation, saving, advanced),
checked as you type with the same `Setting.check` the CLI uses, so a value the form accepts is one
`tunelab fit` accepts. The line under the form explains the focused setting.

Settings with a fixed set of values are pickers (Select): the device (auto, cpu and each GPU NVML reports, no
torch import) and the attention kernel.

`values()` gives the parsed values, `problems()` the one-line complaints, `config()` a validated FitConfig.
Posts `ConfigForm.Changed` when a value changes, so the screen can keep `app.selection` in step.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from tunelab.core.config import ATTENTION_CHOICES, SETTINGS, FitConfig, Setting
from tunelab.core.errors import TuneLabError

FORM_HINT = "tab: next setting. A value out of range is named under it; ctrl+s starts the run."
GROUPS = ("data", "training", "adaptation", "evaluation", "saving", "device", "advanced")


def _device_choices() -> list[tuple[str, str]]:
    from tunelab.core.gpu_status import device_choices

    return device_choices()


CHOICES = {   # settings picked from a list: (label, value) pairs, asked when the form is built
    "device": _device_choices,
    "attention": lambda: [(word, word) for word in ATTENTION_CHOICES],
}
PLACEHOLDERS = {
    "eqn": "the demo data's own",
    "columns": "for a headerless CSV/TSV",
    "max_length": "128, or the model's limit",
    "metric": "the task's default",
    "out": "runs/<time>-<model>",
    "gpus": "every visible GPU",
    "lora_r": "off",
    "lora_targets": "PEFT's default",
}


def setting_label(s: Setting) -> str:
    return (s.flag or s.name).lstrip("-").replace("_", "-")


def value_text(value) -> str:
    """A setting's value as the form shows it: '' for None, 5e-05, 4, a,b,c."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    if isinstance(value, float):
        text = f"{value:g}"
        return text if float(text) == value else repr(value)
    return str(value)


def parse_value(s: Setting, text: str):
    """The typed value for `text`, or the text itself when it does not parse (Setting.check then names the
    problem in the same words as the CLI)."""
    text = text.strip()
    if s.kind is tuple:
        return tuple(c.strip() for c in text.split(",")) if text else None
    if s.kind is bool:
        word = text.lower()
        if word in ("true", "yes", "on", "1"):
            return True
        return False if word in ("false", "no", "off", "0", "") else text
    if text == "":
        return None if (s.optional or s.kind in (int, float)) else ""
    if text.lower() in s.words:                     # a word a number setting also takes: --batch-size auto
        return text.lower()
    if s.kind is int:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text
    if s.kind is float:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def range_text(s: Setting) -> str:
    """The setting's valid range in words ('' when it has none). Setting.range_text formats both ends even when
    one is None, so it is only asked when both are there."""
    if s.minimum is not None and s.maximum is not None:
        return s.range_text()
    if s.minimum is not None:
        return f"above {value_text(s.minimum)}" if s.above else f"at least {value_text(s.minimum)}"
    if s.maximum is not None:
        return f"at most {value_text(s.maximum)}"
    return ""


def check_value(s: Setting, value) -> str | None:
    problem = s.check(value)
    if problem is None and s.name == "eqn" and value:
        from tunelab.core.equation import parse_equation

        try:
            parse_equation(value)
        except TuneLabError as err:
            return str(err)
    if problem is None and s.name == "columns" and value is not None:
        if not all(value):
            return "columns: give comma-separated names, none of them empty, e.g. label,sentence"
        if len(set(value)) != len(value):
            return "columns: a column name appears twice"
    return problem


class ConfigForm(Vertical):
    """Inputs for every FitConfig setting, validated as you type."""

    DEFAULT_CSS = """
    ConfigForm {
        height: 1fr;
    }
    ConfigForm > VerticalScroll {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ConfigForm .form-group {
        color: $text-accent;
        text-style: bold;
        margin-top: 1;
    }
    ConfigForm .form-group.first {
        margin-top: 0;
    }
    ConfigForm .form-row {
        height: 1;
    }
    ConfigForm .form-row Label {
        width: 18;
        color: $text-muted;
    }
    ConfigForm .form-row Input {
        width: 1fr;
    }
    ConfigForm .form-row Input.-invalid {
        color: $text-error;
    }
    ConfigForm .form-problem {
        color: $text-error;
        padding-left: 2;
        display: none;
    }
    ConfigForm .form-problem.-shown {
        display: block;
    }
    ConfigForm #form-help {
        height: 3;
        color: $text-muted;
        border-top: solid $panel;
    }
    """

    class Changed(Message):
        """A setting's text changed: its parsed value and the problem with it (None when fine)."""

        def __init__(self, form: "ConfigForm", name: str, value, problem: str | None, text: str = "") -> None:
            super().__init__()
            self.form = form
            self.name = name
            self.value = value
            self.problem = problem
            self.text = text

        @property
        def stale(self) -> bool:
            """The field's text changed again before this message was handled (a newer one is on its way)."""
            return self.form.input_for(self.name).value != self.text

    def __init__(self, values: dict | None = None, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._initial = {s.name: s.default for s in SETTINGS} | (values or {})
        self._problems: dict[str, str] = {}
        self._ready = False             # the inputs exist (set_values before that is kept for on_mount)
        self._pending: dict = {}
        self._quiet_texts: dict[str, str] = {}  # texts set by set_values(quiet=True): no Changed for them

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            for index, group in enumerate(GROUPS):
                settings = [s for s in SETTINGS if s.group == group]
                if not settings:
                    continue
                yield Static(group, classes="form-group" + (" first" if index == 0 else ""))
                for s in settings:
                    with Horizontal(classes="form-row"):
                        yield Label(setting_label(s))
                        if s.name in CHOICES:
                            yield self._picker(s)
                        else:
                            yield Input(value_text(self._initial.get(s.name)), placeholder=PLACEHOLDERS.get(s.name, ""),
                                        id=f"setting-{s.name}", compact=True, select_on_focus=False)
                    yield Static("", id=f"problem-{s.name}", classes="form-problem", markup=False)
        yield Static(FORM_HINT, id="form-help", markup=False)

    def _picker(self, s: Setting) -> Select:
        options = CHOICES[s.name]()
        value = value_text(self._initial.get(s.name))
        if value and value not in {v for _, v in options}:
            options.append((value, value))          # a run's cuda:3 on a machine that shows fewer GPUs: kept, and
        return Select(options, value=value or s.default, allow_blank=False, compact=True,   # checked by fit
                      id=f"setting-{s.name}")

    def on_mount(self) -> None:
        self._ready = True
        for s in SETTINGS:
            self._check(s, str(self.input_for(s.name).value))
        if self._pending:
            pending, self._pending = self._pending, {}
            self.set_values(pending)

    # --- values -------------------------------------------------------------------------------------------------

    def input_for(self, name: str) -> Input | Select:
        return self.query_one(f"#setting-{name}")

    def values(self) -> dict:
        return {s.name: parse_value(s, str(self.input_for(s.name).value)) for s in SETTINGS}

    def problems(self) -> dict[str, str]:
        return dict(self._problems)

    def config(self) -> FitConfig:
        """A validated FitConfig of the form's values; TuneLabError names the first problem."""
        for s in SETTINGS:
            if s.name in self._problems:
                raise TuneLabError(self._problems[s.name])
        values = {k: v for k, v in self.values().items()}
        for name in ("model", "data"):
            values[name] = values[name] or FitConfig.__dataclass_fields__[name].default
        config = FitConfig(**values)
        config.validate()
        return config

    def set_values(self, values: dict, *, quiet: bool = True) -> None:
        """Fill some settings (from a selection or a run's run.json); `quiet` posts no Changed for them."""
        values = {k: v for k, v in values.items() if k in self._initial}
        if not self._ready:
            self._initial.update(values)
            self._pending.update(values)
            return
        for name, value in values.items():
            field = self.input_for(name)
            s = next(s for s in SETTINGS if s.name == name)
            if parse_value(s, str(field.value)) == parse_value(s, value_text(value)):
                continue                         # the same value (maybe written differently): leave the text
            text = value_text(value) or str(s.default)
            if isinstance(field, Select):
                if text not in {v for _, v in field._options}:
                    field.set_options([*field._options, (text, text)])
            if quiet:
                self._quiet_texts[name] = text
            field.value = text
            self._check(s, text)

    # --- checking as you type -----------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if not (event.input.id or "").startswith("setting-"):
            return
        event.stop()
        if event.value != event.input.value:
            return     # stale: the text changed again since (set_values, typing); the newer event speaks for it
        name = event.input.id.removeprefix("setting-")
        s = next(s for s in SETTINGS if s.name == name)
        value, problem = self._check(s, event.value)
        if self._quiet_texts.get(name) == event.value:
            del self._quiet_texts[name]
            return
        self.post_message(self.Changed(self, name, value, problem, event.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        if not (event.select.id or "").startswith("setting-"):
            return
        event.stop()
        name = event.select.id.removeprefix("setting-")
        s = next(s for s in SETTINGS if s.name == name)
        text = str(event.value)
        value, problem = self._check(s, text)
        if self._quiet_texts.get(name) == text:
            del self._quiet_texts[name]
            return
        self.post_message(self.Changed(self, name, value, problem, text))

    def _check(self, s: Setting, text: str):
        value = parse_value(s, text)
        problem = check_value(s, value)
        field = self.input_for(s.name)
        note = self.query_one(f"#problem-{s.name}", Static)
        if problem:
            self._problems[s.name] = problem
            field.add_class("-invalid")
            note.update(problem)
            note.add_class("-shown")
        else:
            self._problems.pop(s.name, None)
            field.remove_class("-invalid")
            note.update("")
            note.remove_class("-shown")
        return value, problem

    def on_descendant_focus(self, event) -> None:
        widget = event.widget
        if isinstance(widget, (Input, Select)) and (widget.id or "").startswith("setting-"):
            s = next(s for s in SETTINGS if s.name == widget.id.removeprefix("setting-"))
            extra = range_text(s)
            default = "" if s.default in (None, "") else f"; default {value_text(s.default)}"
            self.query_one("#form-help", Static).update(f"{setting_label(s)}: {s.help}" + (f" ({extra}{default})" if extra else (f" ({default[2:]})" if default else "")))
