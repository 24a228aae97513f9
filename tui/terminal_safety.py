"""Text from data, models and paths reaches the terminal as text, never as terminal commands.

Textual writes each segment's text between its own cursor moves and colour codes, as it is: a label or sentence
holding ESC [2J cleared the screen, ESC ]0;...BEL retitled the window, and a bidi override (U+202E) turned the rest
of a row around. Escaping markup (brackets) does not cover these. `install()` makes Textual's last step, the strip
of segments rendered to terminal sequences, drop every character that would drive the terminal (C0 controls but
tab and newline, DEL, the C1 controls, the bidi embeddings, overrides and isolates). Textual measured them as zero
cells wide, so dropping them keeps every widget's layout exact. Textual's own sequences are not segment text and
pass untouched. Installed once, when the app module is imported."""

from __future__ import annotations

from rich.color import ColorSystem
from textual.strip import Strip

DRIVERS = dict.fromkeys([*(c for c in range(0x20) if c not in (0x09, 0x0A)), 0x7F, *range(0x80, 0xA0),
                         *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _render(self: Strip, console) -> str:
    """Strip.render, with each segment's text cleaned of terminal drivers (see the module docstring)."""
    if self._render_cache is None:
        color_system = console._color_system or ColorSystem.TRUECOLOR
        render = self.render_style
        self._render_cache = "".join(
            text.translate(DRIVERS) if style is None else render(style, text.translate(DRIVERS), color_system=color_system)
            for text, style, _ in self._segments
        )
    return self._render_cache


def install() -> None:
    Strip.render = _render
