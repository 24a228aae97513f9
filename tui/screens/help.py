"""The help screen: every key of the app and of each screen, read from their BINDINGS (so it cannot drift from
what the keys do), plus how runs outlive the app. Opened with ? or F9 from anywhere; escape closes it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = ("Runs started here are detached `tunelab fit` processes: quitting the app, closing tmux or losing SSH "
         "does not stop them. Open them again on the Runs screen. Every key below is also in the command "
         "palette (ctrl+p), with the themes.")


def key_text(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "enter": "enter", "escape": "esc"}
    return "/".join(names.get(k, k) for k in key.split(","))


def binding_rows(bindings) -> list[tuple[str, str]]:
    """(keys, what) per action, keys of one action joined."""
    rows: dict[str, list] = {}
    for b in bindings:
        if isinstance(b, tuple):
            b = Binding(*b)
        if not b.description:
            continue
        keys, text = rows.setdefault(b.action, [[], b.tooltip or b.description])
        keys.append(key_text(b.key))
        if b.tooltip:
            rows[b.action][1] = f"{b.description}: {b.tooltip}"
    return [(" ".join(keys), text) for keys, text in rows.values()]


class HelpScreen(ModalScreen):
    """Keys of the app and of every screen."""

    BINDINGS = [Binding("escape,question_mark,f9,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Content.from_markup("[b $text-primary]TuneLab keys[/]  [dim]esc closes[/]"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(self.help_text(), id="help-text")

    def help_text(self) -> Content:
        app = self.app
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        screens = [(mode, key, label) for mode, key, label in getattr(app, "nav_entries", [])]
        sections.append(("Screens", [(key.upper() + (f" or {i + 1}" if i < 9 else ""), label)
                                     for i, (mode, key, label) in enumerate(screens)]))
        sections.append(("Everywhere", binding_rows([b for b in app.BINDINGS if _bind(b).show or _bind(b).tooltip
                                                     if not _bind(b).action.startswith("switch_screen_mode")])
                         + [("ctrl+p", "command palette: every action, the themes")]))
        for mode, _, label in screens:
            cls = app.screen_class(mode) if hasattr(app, "screen_class") else None
            if cls is not None and getattr(cls, "BINDINGS", None):
                sections.append((label, binding_rows(cls.BINDINGS)))
            if mode == "runs":                   # the Compare view opens from the Runs screen (c)
                from .compare import CompareScreen

                sections.append(("Compare (c on Runs)", binding_rows(CompareScreen.BINDINGS)))
        lines = [Content.from_markup("[dim]$t[/]", t=INTRO)]
        for title, rows in sections:
            if not rows:
                continue
            lines.append(Content(""))
            lines.append(Content.from_markup("[b $text-accent]$t[/]", t=title))
            width = max(len(k) for k, _ in rows)
            for keys, what in rows:
                lines.append(Content.assemble((f"  {keys:<{width}}  ", "bold"), what))
        return Content("\n").join(lines)


def _bind(b) -> Binding:
    return b if isinstance(b, Binding) else Binding(*b)
