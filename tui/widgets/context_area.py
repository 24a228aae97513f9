"""`ContextArea`: the Predict screen's editable context for a question-answering model, with the answer highlighted
in place.

A `TextArea` (paste a long paragraph, edit it anywhere, soft-wrapped) that can mark one character span of its own
text: `mark(start, end)` paints the answer with the theme's `$accent` under contrasting bold text, `mark(None,
None)` clears it. The mark belongs to the text it was computed for: an edit of the context drops it (its offsets
would point at other characters) until the next answer marks the new text; `mark_stale()` dims it meanwhile, for
an edited question. A new mark scrolls into view unless the user is editing the context (their cursor leads). The
paint goes through TextArea's own highlight map (what syntax highlighting uses), so the cursor, the selection and
wrapping keep working.
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.widgets import TextArea

from tunelab.themes import theme_color

ANSWER = "tunelab.answer"          # the highlight's name in the text area's syntax styles


class ContextArea(TextArea):
    """A text area whose answer span is highlighted (`mark`)."""

    DEFAULT_CSS = """
    ContextArea { height: 1fr; min-height: 3; }
    """

    def __init__(self, text: str = "", **kwargs) -> None:
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("show_line_numbers", False)
        kwargs.setdefault("tab_behavior", "focus")
        super().__init__(text, **kwargs)
        self.marked: tuple[int, int] | None = None   # the answer's characters in `marked_text`
        self.marked_text: str | None = None          # the text the mark was computed for
        self.mark_is_stale = False

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    # --- the mark -----------------------------------------------------------------------------------------------

    def mark(self, start: int | None, end: int | None, text: str | None = None) -> None:
        """Highlight characters start..end of `text` (the context the answer was found in; default: what is shown),
        or nothing when start is None. A mark for other text than what is shown is not drawn."""
        self.marked = (start, end) if start is not None and end is not None and end > start else None
        self.marked_text = self.text if text is None else text
        self.mark_is_stale = False
        self._build_highlight_map()
        self.refresh()
        if self.answer_shown is not None and not self.has_focus:
            self.call_after_refresh(self._scroll_to_mark)

    def _scroll_to_mark(self) -> None:
        """Bring the answer into view (a long context's answer may be pages down); not while the user edits here,
        where the view follows their cursor."""
        if self.answer_shown is None or self.has_focus:
            return
        start = self.wrapped_document.location_to_offset(self.document.get_location_from_index(self.marked[0]))
        end = self.wrapped_document.location_to_offset(self.document.get_location_from_index(self.marked[1]))
        self.scroll_to_region(Region(0, start.y, 1, max(1, end.y - start.y + 1)), animate=False, force=True)

    def mark_stale(self) -> None:
        """The answer on screen is for an older question: dim its highlight until the new one comes."""
        if not self.mark_is_stale:
            self.mark_is_stale = True
            self._line_cache.clear()
            self.refresh()

    @property
    def answer_shown(self) -> str | None:
        """The highlighted text, if the highlight is drawn (None when there is none)."""
        if self.marked is None or self.marked_text != self.text:
            return None
        return self.text[self.marked[0]:self.marked[1]]

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()             # clears the map (and the line cache)
        if getattr(self, "marked", None) is None or self.marked_text != self.text:
            return
        start, end = self.marked
        document = self.document
        first, last = document.get_location_from_index(start), document.get_location_from_index(end)
        for row in range(first[0], last[0] + 1):
            line = document.get_line(row)
            lo = first[1] if row == first[0] else 0
            hi = last[1] if row == last[0] else len(line)
            if hi > lo:     # the map counts bytes of UTF-8, as tree-sitter does
                self._highlights[row].append((len(line[:lo].encode()), len(line[:hi].encode()), ANSWER))

    # --- drawing ------------------------------------------------------------------------------------------------

    def _answer_style(self) -> Style:
        background = theme_color(self.app, "accent")
        style = Style(color=background.get_contrast_text(1.0).rich_color, bgcolor=background.rich_color, bold=True)
        return style + Style(dim=True) if self.mark_is_stale else style

    def _restyle(self) -> None:
        self._line_cache.clear()
        self.refresh()

    def render_lines(self, crop):
        theme = self._theme
        if theme is not None:
            # a dict of its own: the theme object's styles dict is shared with other text areas
            theme.syntax_styles = {**theme.syntax_styles, ANSWER: self._answer_style()}
        return super().render_lines(crop)
