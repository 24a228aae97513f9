"""A label or sentence that holds terminal sequences is drawn as text by the app: it never clears the screen,
retitles the window or turns a row around (found by the fifth sweep: the Data screen of a file whose labels held
ESC [2J blanked most of the screen)."""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

import tunelab.tui.app  # noqa: F401  (installs the terminal safety net, as the app does)


def test_segment_text_never_drives_the_terminal():
    console = Console(color_system="truecolor", force_terminal=True)
    strip = Strip([Segment("pos\x1b[2J"), Segment(" neg\x1b]0;PWNED\x07", Style(bold=True)), Segment(" odd\u202eevil\x9b")])
    out = strip.render(console)
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out and "\u202e" not in out and "\x9b" not in out
    assert "pos[2J" in out and "neg]0;PWNED" in out and "oddevil" in out
    assert "\x1b[1m" in out            # the app's own styling still reaches the terminal


def test_plain_text_renders_as_before():
    console = Console(color_system="truecolor", force_terminal=True)
    assert Strip([Segment("the cat [b] \\ 😀 שלום\tx")]).render(console) == "the cat [b] \\ 😀 שלום\tx"
