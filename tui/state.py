"""tui.json: what the app remembers between sessions (its theme, the model directories opened on the Models screen,
the Predict screen's history), in TuneLab's state directory.

The file is read as plain JSON and any damage is tolerated: unreadable, not UTF-8, not JSON, nested too deep, too
large, or a value of the wrong type is read as if it were not there, never an error. Several apps may share one
$TUNELAB_HOME: a save merges this app's own changes since its last save into what is on disk now, under an
exclusive lock (fcntl.flock on tui.json.lock), so a theme one app switched and a history entry another kept both
survive. No Textual import: the app (tui/app.py) calls it, and tests use it directly.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import stat
from pathlib import Path

MAX_BYTES = 8 << 20                 # a state file larger than this is not TuneLab's: read as empty
NEWEST_FIRST = {"predict_history": 200}   # lists whose new items go on top, and how many are kept (as PredictHistory)


def read_state(path: Path) -> dict:
    """The state in `path` as a dict; {} for a missing or damaged file, and known keys of the wrong type left out."""
    try:
        # non-blocking, and only a plain file: a named pipe left where tui.json belongs would hold the app before
        # its first paint until someone wrote to it
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return {}
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            return {}
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):   # ValueError covers bad UTF-8 and bad JSON
        return {}
    return _clean(data) if isinstance(data, dict) else {}


def _clean(data: dict) -> dict:
    """Drop known keys whose values the screens could trip on (the Predict history's entries are checked by its
    widget, one by one)."""
    clean = dict(data)
    if "theme" in clean and not isinstance(clean["theme"], str):
        del clean["theme"]
    if "model_dirs" in clean:
        dirs = clean["model_dirs"]
        clean["model_dirs"] = [d for d in dirs if isinstance(d, str) and d and "\x00" not in d] \
            if isinstance(dirs, list) else []
    if "predict_history" in clean and not isinstance(clean["predict_history"], list):
        clean["predict_history"] = []
    return clean


def merge(before: dict, ours: dict, disk: dict) -> dict:
    """What to write: `disk` (what other apps saved) with this app's changes from `before` to `ours` applied.
    A value this app did not change keeps the disk's; a changed one is ours; in a list only the items this app
    added or removed count, so items another app added are kept."""
    merged = dict(disk)
    for key in set(before) | set(ours):
        if key not in ours:
            if key in merged and merged[key] == before.get(key):
                del merged[key]          # removed here and untouched there
            continue
        mine, old = ours[key], before.get(key)
        if mine == old:
            continue
        theirs = merged.get(key)
        if isinstance(mine, list) and isinstance(old, (list, type(None))) and isinstance(theirs, list):
            added = [item for item in mine if item not in (old or [])]
            removed = [item for item in (old or []) if item not in mine]
            rest = [item for item in theirs if item not in added and item not in removed]
            if key in NEWEST_FIRST:
                merged[key] = (added + rest)[:NEWEST_FIRST[key]]
            else:
                merged[key] = rest + added
        else:
            merged[key] = copy.deepcopy(mine)
    return merged


class StateFile:
    """One app's view of tui.json: `load()` at start, `save(state)` after each change (merged, under the lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._saved: dict = {}           # the state as this app last loaded or saved it: its changes are since then

    def load(self) -> dict:
        data = read_state(self.path)
        self._saved = copy.deepcopy(data)
        return data

    def save(self, state: dict) -> dict:
        """Write this app's changes into the file, keeping what other apps saved meanwhile; returns what was written.
        OSError (a read-only or full disk) propagates: the caller decides that remembering is only a convenience."""
        from tunelab.core.atomic_write import write_json_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock():
            merged = merge(self._saved, state, read_state(self.path))
            write_json_atomic(self.path, merged)
        self._saved = copy.deepcopy(state)
        return merged

    @contextlib.contextmanager
    def _lock(self):
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)                 # closing releases the lock
