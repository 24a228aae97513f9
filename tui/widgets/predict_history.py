"""`PredictHistory`: the inputs kept on the Predict screen, newest first, with the label and probability they got.

The screen calls `keep(entry)` when the user presses enter and reads `entries` to recall one with up and down.
Entries are plain dicts ({"text", "pair", "label", "score"}) so the app can remember them between sessions in its
state file: `entries` is what to save and `set_entries` what was saved (anything malformed in it is skipped).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

HISTORY_LIMIT = 200   # inputs kept in the history
PAIR_SHOWN = 24      # characters of a second input shown (a pasted context can be pages long)


class PredictHistory(DataTable):
    """Kept inputs, newest first: label, probability, input (a pair shown as `a  ‖  b`)."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type="row")
        self.entries: list[dict] = []
        self.can_focus = False

    def on_mount(self) -> None:
        self.add_column("label", width=14)
        self.add_column("p", width=5)
        self.add_column("input")
        self._fill()

    def keep(self, entry: dict) -> None:
        """Put `entry` on top; the same input kept twice in a row is updated, not repeated."""
        top = self.entries[0] if self.entries else None
        if top is not None and (top["text"], top["pair"]) == (entry["text"], entry["pair"]):
            self.entries[0] = entry
        else:
            self.entries.insert(0, entry)
            del self.entries[HISTORY_LIMIT:]
        self._fill()

    def set_entries(self, saved) -> None:
        """Entries saved earlier (a list of dicts); anything that is not a well-formed entry is left out."""
        self.entries = [e for e in (saved if isinstance(saved, list) else []) if _well_formed(e)][:HISTORY_LIMIT]
        self._fill()

    def _fill(self) -> None:
        if not self.columns:
            return
        self.clear()
        for item in self.entries:
            pair = item["pair"]
            if pair is not None and len(pair) > PAIR_SHOWN:        # a QA model's context: its start is enough
                pair = pair[:PAIR_SHOWN - 1] + "…"
            shown = item["text"] if pair is None else f"{item['text']}  ‖  {pair}"
            self.add_row(Text(item["label"]), f"{item['score']:.2f}", Text(shown))


def _well_formed(entry) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("text"), str) and isinstance(entry.get("label"), str)
            and (entry.get("pair") is None or isinstance(entry.get("pair"), str))
            and isinstance(entry.get("score"), (int, float)) and not isinstance(entry.get("score"), bool))
