"""The top line of every TuneLab screen: the screens with their keys (F1 Models, F2 Data, ...), the current one
highlighted. Clicking an entry switches to it, as its key does. The entries come from `app.nav_entries`
(tui/app.py), so screens added by other modules show up without changes here.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget


class NavBar(Widget):
    """One row: ` F1 Models  F2 Data  F3 Train ...` with the active screen highlighted."""

    DEFAULT_CSS = """
    NavBar {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text-muted;
        link-style: none;
        link-color: $text-muted;
        link-background: $panel;
        link-style-hover: bold;
        link-color-hover: $text;
        link-background-hover: $primary 30%;
    }
    """

    def __init__(self, active: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.active = active

    def render(self) -> Content:
        entries = getattr(self.app, "nav_entries", [])
        parts: list[Content] = []
        width = self.size.width or 80
        used = 0
        for mode, key, label in entries:
            short = label
            piece = f" {key.upper()} {short} "
            if used + len(piece) > width:
                break
            used += len(piece)
            if mode == self.active:
                parts.append(Content.from_markup("[bold reverse $primary]$piece[/]", piece=piece))
            else:
                parts.append(Content.from_markup(f"[@click=app.switch_screen_mode('{mode}')][bold $text-primary]$key[/] $label [/]",
                                                 key=f" {key.upper()}", label=short))
        title = " TuneLab "
        if width - used > len(title) + 1:
            parts.append(Content(" " * (width - used - len(title))))
            parts.append(Content.from_markup("[b $text-accent]$t[/]", t=title))
        return Content("").join(parts)
