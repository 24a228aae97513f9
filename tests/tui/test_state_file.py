"""tui.json, as two apps on one $TUNELAB_HOME and a damaged file meet it: nothing either app saved is lost, and no
damage to the file is an error (tui/state.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tunelab.tui.state import StateFile, read_state

ENTRY_A = {"text": "the cat is good .", "pair": None, "label": "acceptable", "score": 0.9}
ENTRY_B = {"text": "the cats is good .", "pair": None, "label": "unacceptable", "score": 0.8}


def test_two_apps_keep_each_others_changes(tmp_path):
    """The issue's case: app A keeps a Predict history entry, app B (started before A saved) switches theme."""
    path = tmp_path / "tui.json"
    path.write_text(json.dumps({"theme": "tunelab-dark", "model_dirs": ["/m/one"]}))
    a, b = StateFile(path), StateFile(path)
    state_a, state_b = a.load(), b.load()
    state_a["predict_history"] = [ENTRY_A]
    a.save(state_a)
    state_b["theme"] = "tunelab-light"
    b.save(state_b)
    state_b.setdefault("model_dirs", []).append("/m/two")
    b.save(state_b)
    state_a["predict_history"] = [ENTRY_B, ENTRY_A]          # A keeps another one, still not knowing B's changes
    a.save(state_a)
    saved = json.loads(path.read_text())
    assert saved == {"theme": "tunelab-light", "model_dirs": ["/m/one", "/m/two"],
                     "predict_history": [ENTRY_B, ENTRY_A]}


def test_history_entries_of_two_apps_interleave_newest_first(tmp_path):
    path = tmp_path / "tui.json"
    a, b = StateFile(path), StateFile(path)
    state_a, state_b = a.load(), b.load()
    state_a["predict_history"] = [ENTRY_A]
    a.save(state_a)
    state_b["predict_history"] = [ENTRY_B]
    b.save(state_b)
    updated = {**ENTRY_A, "score": 0.95}                     # A updates its top entry in place (same input again)
    state_a["predict_history"] = [updated]
    a.save(state_a)
    assert json.loads(path.read_text())["predict_history"] == [updated, ENTRY_B]


WRITER = """
import sys
from tunelab.tui.state import StateFile
store = StateFile(sys.argv[1])
state = store.load()
for i in range(int(sys.argv[3])):
    state.setdefault("model_dirs", []).append(f"/{sys.argv[2]}/{i}")
    store.save(state)
"""


def test_two_processes_saving_at_once_lose_nothing(tmp_path):
    path = tmp_path / "tui.json"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "40"]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    dirs = json.loads(path.read_text())["model_dirs"]
    assert sorted(dirs) == sorted([f"/a/{i}" for i in range(40)] + [f"/b/{i}" for i in range(40)])


@pytest.mark.parametrize("content", [b"", b"\xff\xfe not utf-8", b"{not json", b"[1, 2, 3]", b"null", b"3",
                                     b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 5000 + b"1" + b"}" * 5000])
def test_any_damage_reads_as_an_empty_state(tmp_path, content):
    path = tmp_path / "tui.json"
    path.write_bytes(content)
    assert read_state(path) == {}
    store = StateFile(path)
    state = store.load()
    state["theme"] = "tunelab-light"
    store.save(state)
    assert read_state(path)["theme"] == "tunelab-light"      # and the next save replaces the damage


def test_values_of_the_wrong_type_are_left_out(tmp_path):
    path = tmp_path / "tui.json"
    path.write_text(json.dumps({"theme": ["x"], "model_dirs": "/not/a/list", "predict_history": {"a": 1},
                                "other": [1, 2]}))
    assert read_state(path) == {"model_dirs": [], "predict_history": [], "other": [1, 2]}
    path.write_text(json.dumps({"model_dirs": ["/ok", 3, None, "", "/nul\u0000"]}))
    assert read_state(path) == {"model_dirs": ["/ok"]}


def test_a_directory_or_a_huge_file_where_the_state_belongs(tmp_path):
    folder = tmp_path / "tui.json"
    folder.mkdir()
    assert read_state(folder) == {}
    with pytest.raises(OSError):
        StateFile(folder).save({"theme": "x"})               # the app ignores it: remembering is a convenience
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"theme": "tunelab-light", "pad": "x" * (9 << 20)}))
    assert read_state(huge) == {}


def test_two_apps_on_one_home_through_the_apps_own_load_and_save(tmp_path):
    """As TuneLabApp does it: each app loads at start and saves its whole state after a change."""
    from tunelab.tui.app import TuneLabApp

    path = tmp_path / "tui.json"
    first, second = TuneLabApp(state_file=path, runs_dirs=[]), TuneLabApp(state_file=path, runs_dirs=[])
    first.state, second.state = first.load_state(), second.load_state()
    first.state["predict_history"] = [ENTRY_A]                # Predict: enter keeps an input
    first.save_state()
    second.state["theme"] = "tunelab-light"                   # f10 in the other app
    second.save_state()
    assert json.loads(path.read_text()) == {"predict_history": [ENTRY_A], "theme": "tunelab-light"}


def test_a_named_pipe_where_tui_json_belongs_is_no_state_not_a_wait(tmp_path):
    """A fifo left as tui.json held `tunelab tui` before its first paint (found by the fifth sweep)."""
    import os
    import threading

    path = tmp_path / "tui.json"
    os.mkfifo(path)
    result = {}
    reader = threading.Thread(target=lambda: result.setdefault("state", read_state(path)), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():                        # release the blocked reader before failing
        with open(path, "w") as fh:
            fh.write("{}")
    assert result == {"state": {}}
