"""The run-status classifier, the event tailer and the run lock, on crafted run directories (no training)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tunelab.core.errors import TuneLabError
from tunelab.core.events import (CheckpointSaved, EvalDone, EvalStarted, EventLog, EventTailer, RunFailed,
                                 RunFinished, RunStarted, SaveStarted, StepLogged, event_to_json, read_events)
from tunelab.core.liveness import Owner, RunLock, RunOwnership, process_start_time
from tunelab.core.run_status import RunStatus, run_info


_HELD: list = []


@pytest.fixture(autouse=True)
def _release_locks():
    yield
    while _HELD:
        _HELD.pop().release()


def make_run(root, events=(), owner=None, heartbeat=None, run_json=True, locked=None):
    """A crafted run directory. An owner that is this process also holds the run's lock (as a trainer does),
    unless `locked` says otherwise."""
    root.mkdir(parents=True, exist_ok=True)
    if locked if locked is not None else (owner is not None and owner.pid == os.getpid() and owner.host == socket.gethostname()):
        _HELD.append(RunLock(root).acquire("--out"))
    if run_json:
        (root / "run.json").write_text(json.dumps({"config": {"model": "m", "data": "d"}, "total_steps": 100,
                                                   "figure_of_merit": "mcc"}))
    (root / "events.jsonl").write_text("".join(event_to_json(e) + "\n" for e in events))
    if owner is not None:
        (root / "owner.json").write_text(json.dumps({"pid": owner.pid, "host": owner.host, "started": owner.started}))
    if heartbeat is not None:
        (root / "heartbeat.json").write_text(json.dumps({"time": heartbeat}))
    return root


def started(step=0):
    return RunStarted("r", "m", "classify: label ~ sentence", "cpu", 100, 1, 10, resumed_from_step=step)


def step(n, loss=0.5):
    return StepLogged(n, n / 100, loss, 1e-4, 10.0, 100.0)


@pytest.fixture
def dead_owner():
    """An Owner whose process has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started_at = process_start_time(proc.pid) or time.time()
    proc.wait()
    return Owner(proc.pid, socket.gethostname(), started_at)


def me():
    return Owner.of_pid(os.getpid())


@pytest.mark.parametrize("final, status", [
    (RunFinished(100, "completed", 0.9, "mcc", "model", 5.0), RunStatus.COMPLETED),
    (RunFinished(40, "early_stopped", 0.9, "mcc", "model", 5.0), RunStatus.EARLY_STOPPED),
    (RunFinished(40, "stopped", 0.9, "mcc", "", 5.0), RunStatus.STOPPED),
    (RunFailed(40, "the disk is full"), RunStatus.FAILED),
])
def test_a_final_event_decides_the_status_whatever_the_process(tmp_path, dead_owner, final, status):
    info = run_info(make_run(tmp_path / "r", [started(), step(1), step(40), final], owner=dead_owner))
    assert info.status == status
    assert info.step == final.step and info.total_steps == 100
    if status == RunStatus.FAILED:
        assert info.reason == "the disk is full"


def test_a_live_owner_with_a_fresh_heartbeat_is_running_and_says_what_it_does(tmp_path):
    info = run_info(make_run(tmp_path / "r", [started(), step(7)], owner=me(), heartbeat=time.time()))
    assert info.status == RunStatus.RUNNING and info.phase == "training" and info.step == 7


@pytest.mark.parametrize("last, phase", [
    (None, "starting"),
    (EvalStarted(7, "validation", 100), "evaluating"),
    (EvalStarted(7, "test", 100, final=True), "final scoring"),
    (EvalDone(7, 0.07, "validation", {"mcc": 0.1}, "mcc", True), "training"),
    (SaveStarted(7, "best"), "saving"),
    (CheckpointSaved(7, "checkpoints/best", "best"), "training"),
    (CheckpointSaved(7, "checkpoints/last", "periodic"), "training"),
])
def test_the_phase_of_a_running_run_follows_its_last_event(tmp_path, last, phase):
    events = [started(), step(7)] + ([last] if last is not None else [])
    if last is None:
        events = [started()]
    info = run_info(make_run(tmp_path / "r", events, owner=me(), heartbeat=time.time()))
    assert info.status == RunStatus.RUNNING and info.phase == phase


def test_a_live_owner_whose_heartbeat_stopped_is_stalled(tmp_path):
    info = run_info(make_run(tmp_path / "r", [started(), step(7)], owner=me(), heartbeat=time.time() - 600))
    assert info.status == RunStatus.STALLED and "no heartbeat" in info.reason


def test_a_gone_process_with_no_final_event_is_crashed(tmp_path, dead_owner):
    info = run_info(make_run(tmp_path / "r", [started(), step(7)], owner=dead_owner, heartbeat=time.time()))
    assert info.status == RunStatus.CRASHED
    assert str(dead_owner.pid) in info.reason


def test_a_reused_pid_is_not_mistaken_for_the_run(tmp_path):
    # this very process has the pid, but it started at another time: the run's process is gone
    reused = Owner(os.getpid(), socket.gethostname(), me().started - 3600)
    info = run_info(make_run(tmp_path / "r", [started(), step(7)], owner=reused, heartbeat=time.time(), locked=False))
    assert info.status == RunStatus.CRASHED


def test_a_run_on_another_host_is_running_while_its_heartbeat_is_fresh_and_unknown_after(tmp_path):
    far = Owner(12345, "some-other-host", time.time() - 100)
    fresh = run_info(make_run(tmp_path / "a", [started(), step(3)], owner=far, heartbeat=time.time()))
    stale = run_info(make_run(tmp_path / "b", [started(), step(3)], owner=far, heartbeat=time.time() - 600))
    assert fresh.status == RunStatus.RUNNING
    assert stale.status == RunStatus.UNKNOWN and "some-other-host" in stale.reason


def test_a_torn_last_line_does_not_hide_the_events_before_it(tmp_path, dead_owner):
    root = make_run(tmp_path / "r", [started(), step(1), step(2)], owner=dead_owner)
    with open(root / "events.jsonl", "a") as fh:
        fh.write(event_to_json(step(3))[:25])               # killed mid-write
    info = run_info(root)
    assert info.status == RunStatus.CRASHED and info.step == 2
    assert [e.step for e in read_events(root / "events.jsonl") if isinstance(e, StepLogged)] == [1, 2]


def test_a_resumed_segment_after_a_stop_is_live_again(tmp_path):
    events = [started(), step(5), RunFinished(5, "stopped", None, "mcc", "", 1.0), started(5), step(6)]
    info = run_info(make_run(tmp_path / "r", events, owner=me(), heartbeat=time.time()))
    assert info.status == RunStatus.RUNNING and info.step == 6


@pytest.mark.parametrize("content", ["{\"config\": {\"mod", "{}", "[]", "\xff\xfe"])
def test_a_damaged_run_json_is_broken_not_a_traceback(tmp_path, content):
    root = make_run(tmp_path / "r", [started()])
    (root / "run.json").write_bytes(content.encode("latin-1"))
    info = run_info(root)
    assert info.status == RunStatus.BROKEN and "run.json" in info.reason


def test_the_tailer_hands_over_whole_lines_only_and_skips_unknown_events(tmp_path):
    path = tmp_path / "events.jsonl"
    tailer = EventTailer(path)
    assert tailer.poll().events == []                        # the file does not exist yet
    line = event_to_json(step(1))
    path.write_text(line[:30])
    assert tailer.poll().events == []                        # half a line: nothing yet
    with open(path, "a") as fh:
        fh.write(line[30:] + "\n" + json.dumps({"event": "FromTheFuture", "v": 9}) + "\nnot json\n"
                 + event_to_json(step(2)) + "\n")
    batch = tailer.poll()
    assert [e.step for e in batch.events] == [1, 2] and not batch.reset
    assert json.loads(line)["v"] == 1                        # every line carries the schema version


def test_the_tailer_starts_over_when_the_file_is_truncated_or_replaced(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(event_to_json(step(1)) + "\n" + event_to_json(step(2)) + "\n")
    tailer = EventTailer(path)
    assert len(tailer.poll().events) == 2
    path.write_text(event_to_json(step(9)) + "\n")           # truncated and rewritten (smaller)
    batch = tailer.poll()
    assert batch.reset and [e.step for e in batch.events] == [9]
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(event_to_json(step(4)) + "\n" + event_to_json(step(5)) + "\n")
    os.replace(replacement, path)                            # replaced by a new file (new inode)
    batch = tailer.poll()
    assert batch.reset and [e.step for e in batch.events] == [4, 5]


def test_appending_after_a_torn_line_starts_a_fresh_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(event_to_json(step(1)) + "\n" + event_to_json(step(2))[:20])
    log = EventLog(path)
    log(started(1))
    log.close()
    events = list(read_events(path))
    assert [type(e).__name__ for e in events] == ["StepLogged", "RunStarted"]


def test_only_one_process_owns_a_run_directory(tmp_path):
    (tmp_path / "r").mkdir()
    ownership = RunOwnership(tmp_path / "r")
    try:
        code = ("import sys; from pathlib import Path; from tunelab.core.liveness import RunLock\n"
                "from tunelab.core.errors import TuneLabError\n"
                "try:\n    RunLock(Path(sys.argv[1])).acquire('--out')\nexcept TuneLabError as e:\n    print(e); sys.exit(3)\n")
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], capture_output=True, text=True)
        assert out.returncode == 3 and "in use by another TuneLab process" in out.stdout
    finally:
        ownership.close()
    RunLock(tmp_path / "r").acquire("--out").release()        # free again once the owner let go


def test_the_heartbeat_turns_a_stop_request_into_the_stop_event(tmp_path, monkeypatch):
    import threading

    from tunelab.core import liveness
    from tunelab.core.runs import request_stop

    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.05)
    root = make_run(tmp_path / "r", [started(), step(1)])
    ownership = RunOwnership(root)
    stop = threading.Event()
    ownership.start(stop)
    try:
        assert run_info(root).status == RunStatus.RUNNING
        request_stop(root)
        assert stop.wait(5)
    finally:
        ownership.close()


def test_stop_refuses_a_run_that_is_not_running(tmp_path, dead_owner):
    from tunelab.core.runs import request_stop

    done = make_run(tmp_path / "done", [started(), RunFinished(100, "completed", 0.9, "mcc", "m", 1.0)], owner=dead_owner)
    with pytest.raises(TuneLabError, match="is completed, not running"):
        request_stop(done)
    with pytest.raises(TuneLabError, match="not a directory"):
        request_stop(tmp_path / "nowhere")


def test_runs_are_listed_newest_first_by_start_and_keep_their_order_while_they_log(tmp_path):
    from tunelab.core.runs import list_runs

    def run_at(name, start, last):
        events = [RunStarted("r", "m", "classify: label ~ sentence", "cpu", 100, 1, 10, time=start),
                  StepLogged(1, 0.01, 0.5, 1e-4, 10.0, 100.0, time=last)]
        return make_run(tmp_path / name, events, owner=me(), heartbeat=time.time())

    run_at("older", 100.0, 1000.0)        # began first, logged last
    run_at("newer", 200.0, 300.0)
    assert [i.root.name for i in list_runs([tmp_path])] == ["newer", "older"]


# ---------------------------------------------------------------- run state that odd files and copies must not fool

def test_a_live_process_that_does_not_hold_the_lock_is_not_the_run(tmp_path):
    """A copy of a live run (cp -a) or an owner.json naming some other live process: the owner lives, the
    heartbeat is fresh, but nothing holds this directory's run.lock, so the run is not running."""
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.lock").touch()
    info = run_info(make_run(tmp_path / "r", [started(), step(7)], owner=me(), heartbeat=time.time(), locked=False))
    assert info.status == RunStatus.CRASHED and "lock" in info.reason
    from tunelab.core.runs import request_stop

    with pytest.raises(TuneLabError, match="is crashed, not running"):
        request_stop(tmp_path / "r")


@pytest.mark.parametrize("ahead", [3600.0, 1e9])
def test_a_heartbeat_stamped_in_the_future_is_not_believed(tmp_path, ahead):
    """A trainer that holds its lock but is frozen (SIGSTOP) while its heartbeat claims a time to come: after the
    stall window the file's own age tells, and it is stalled, not running with an age of 0 s."""
    root = make_run(tmp_path / "r", [started(), step(7)], owner=me(), heartbeat=time.time() + ahead)
    assert run_info(root).status == RunStatus.RUNNING              # just written: fresh either way
    later = time.time() + 120
    info = run_info(root, now=later)
    assert info.status == RunStatus.STALLED and "no heartbeat for" in info.reason
    assert info.updated is not None and info.updated <= later


@pytest.mark.parametrize("name", ["events.jsonl", "run.json", "owner.json", "heartbeat.json", "run.lock",
                                  "metrics.json", "stop.request", "fit.log"])
def test_a_directory_where_a_run_file_belongs_lists_as_broken_naming_it(tmp_path, dead_owner, name):
    root = make_run(tmp_path / "r", [started(), step(1), RunFinished(1, "completed", 0.9, "mcc", "model", 1.0)],
                    owner=dead_owner)
    target = root / name
    if target.exists():
        target.unlink()
    target.mkdir()
    info = run_info(root)
    assert info.status == RunStatus.BROKEN and name in info.reason and "directory" in info.reason


def test_an_event_log_that_cannot_be_read_is_broken_not_crashed(tmp_path, dead_owner, monkeypatch):
    import builtins

    root = make_run(tmp_path / "r", [started(), step(1), RunFinished(1, "completed", 0.9, "mcc", "model", 1.0)],
                    owner=dead_owner)
    real_open = builtins.open

    def no_permission(path, *args, **kwargs):     # what chmod 000 does to anyone but root
        if str(path).endswith("events.jsonl"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_permission)
    info = run_info(root)
    assert info.status == RunStatus.BROKEN and "events.jsonl cannot be read (Permission denied)" in info.reason


def test_an_event_log_of_garbage_is_broken_not_crashed(tmp_path, dead_owner):
    root = make_run(tmp_path / "r", owner=dead_owner)
    (root / "events.jsonl").write_bytes(b"\xff\xfe garbage\n" * 20)
    info = run_info(root)
    assert info.status == RunStatus.BROKEN and "events.jsonl is damaged" in info.reason


def test_a_new_segment_starting_after_a_stop_is_live_not_stopped(tmp_path):
    """Resumed a moment ago: the log still ends with the last segment's RunFinished(stopped), but a process that
    began after it holds the lock. It is starting; the Runs screen must not offer to resume it again."""
    earlier = me().started - 100                       # the stopped segment ended before this process began
    events = [started(), step(5), RunFinished(5, "stopped", None, "mcc", "", 1.0, time=earlier)]
    info = run_info(make_run(tmp_path / "r", events, owner=me()))
    assert info.status == RunStatus.RUNNING and info.phase == "starting"
    # while the trainer that wrote the final event still holds the lock (it is exiting), the run is stopped
    done = [started(), step(5), RunFinished(5, "stopped", None, "mcc", "", 1.0)]
    assert run_info(make_run(tmp_path / "s", done, owner=me())).status == RunStatus.STOPPED


def test_the_heartbeat_stops_a_run_whose_directory_was_removed(tmp_path, monkeypatch):
    import shutil
    import threading

    from tunelab.core import liveness

    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.05)
    root = make_run(tmp_path / "r", [started(), step(1)])
    ownership = RunOwnership(root)
    stop = threading.Event()
    ownership.start(stop)
    try:
        shutil.rmtree(root)
        assert stop.wait(10)
        assert "was removed" in ownership.lost
    finally:
        ownership.close()
    assert not root.exists()                          # nothing (heartbeat.json) was written back


def test_a_listing_says_how_many_runs_it_left_out(tmp_path, capsys):
    from tunelab.cli import main

    for i in range(40):
        make_run(tmp_path / "many" / f"run-{i:03d}", [started()])
    assert main(["runs", str(tmp_path / "many"), "--limit", "10", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 10
    assert "30 left out" in err and "--all" in err
    assert main(["runs", str(tmp_path / "many"), "--all", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 40 and "left out" not in err
