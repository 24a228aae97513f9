"""The one atomic write every file TuneLab replaces goes through (run.json, heartbeat.json, exports, ...)."""

import json
import os
import threading

import pytest

from tunelab.core import atomic_write
from tunelab.core.atomic_write import write_atomic, write_json_atomic


def test_readers_see_a_whole_file_while_two_writers_race(tmp_path):
    path = tmp_path / "heartbeat.json"
    write_json_atomic(path, {"writer": "none", "pad": "x" * 50_000})
    stop = threading.Event()
    seen, torn = set(), []

    def writer(name):
        for i in range(150):
            write_json_atomic(path, {"writer": name, "i": i, "pad": "x" * 50_000})

    def reader():
        while not stop.is_set():
            try:
                seen.add(json.loads(path.read_text(encoding="utf-8"))["writer"])
            except ValueError as err:
                torn.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    assert not torn and seen <= {"none", "a", "b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heartbeat.json"]      # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    path.write_text("old\n", encoding="utf-8")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n" and os.listdir(tmp_path) == ["run.json"]


def test_a_directory_in_the_way_is_an_error_and_leaves_nothing(tmp_path):
    (tmp_path / "out.jsonl").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "out.jsonl", b"{}\n")
    assert os.listdir(tmp_path) == ["out.jsonl"] and not os.listdir(tmp_path / "out.jsonl")


def test_a_link_is_followed_and_a_device_is_written_into(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("old\n", encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(real)
    write_atomic(tmp_path / "link.jsonl", "new\n")
    assert (tmp_path / "link.jsonl").is_symlink() and real.read_text(encoding="utf-8") == "new\n"
    write_atomic("/dev/null", "discarded\n")                   # still a device afterwards
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    if os.path.exists("/dev/full"):
        with pytest.raises(OSError):                           # a full disk is an error, not a silent success
            write_atomic("/dev/full", "x" * 10_000)
        assert not os.path.isfile("/dev/full")
