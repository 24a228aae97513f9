"""A small modal that asks for one or more paths (or any short values) and returns them, or None when the
user presses escape. The Predict screen asks for an input file and an output JSONL file with it.

    self.app.push_screen(PathPrompt("Run a file", [("input file", ""), ("output JSONL", "")]), callback)
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PathPrompt(ModalScreen[list[str] | None]):
    """Ask for `fields` (label, initial value); enter on the last field (or ctrl+s) accepts, escape cancels."""

    DEFAULT_CSS = """
    PathPrompt { align: center middle; background: $background 60%; }
    PathPrompt > Vertical {
        width: 70; max-width: 100%; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    PathPrompt Label { color: $foreground-muted; margin-top: 1; }
    PathPrompt .path-prompt--help { color: $foreground-muted; margin-top: 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "accept", "Run"),
    ]

    def __init__(self, title: str, fields: list[tuple[str, str]], help_text: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.help_text = help_text

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            for i, (label, value) in enumerate(self.fields):
                yield Label(label)
                yield Input(value, id=f"path-prompt-{i}", compact=True)
            yield Static(self.help_text or "enter: next field / run · escape: cancel", classes="path-prompt--help")

    @property
    def values(self) -> list[str]:
        return [self.query_one(f"#path-prompt-{i}", Input).value.strip() for i in range(len(self.fields))]

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        index = int(event.input.id.rsplit("-", 1)[1])
        if index + 1 < len(self.fields):
            self.query_one(f"#path-prompt-{index + 1}", Input).focus()
        else:
            self.action_accept()

    def action_accept(self) -> None:
        self.dismiss(self.values)

    def action_cancel(self) -> None:
        self.dismiss(None)
