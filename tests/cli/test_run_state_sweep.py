"""Run state that odd files, copies and quick hands must not fool (issue 14), through the CLI as a user meets it:
a directory where a run file belongs, a copy of a live run, a run removed while it trains, a detached run killed
while it imports, advice that must match what the directory holds, values that begin with a dash, a listing that
leaves runs out. Processes are held in place with the trainer's test-only hold (TUNELAB_TEST_HOLD), and every
wait is on a state, never on a sleep alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import build_tiny_bert, write_toy_splits
from sweep_support import one_line
from tunelab.cli import main
from tunelab.core.run_status import RunStatus, run_info

EQN = "classify: label ~ sentence"
RUN_FILES = ("run.json", "events.jsonl", "run.lock", "owner.json", "heartbeat.json", "stop.request", "metrics.json",
             "fit.log")


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("state-sweep")
    return {"model": build_tiny_bert(root / "tiny"), "data": write_toy_splits(root / "toy"), "root": root}


@pytest.fixture(scope="module")
def stopped(assets):
    """A run stopped at step 3 with a resumable checkpoint (copy it before damaging it)."""
    from tunelab.core.config import FitConfig
    from tunelab.core.events import StepLogged
    from tunelab.core.fit import fit

    stop = threading.Event()
    out = assets["root"] / "stopped"
    result = fit(FitConfig(model=str(assets["model"]), data=str(assets["data"]), eqn=EQN, out=str(out), epochs=3,
                           batch_size=16, log_seconds=0, warmup=0), stop=stop,
                 on_event=lambda e: stop.set() if isinstance(e, StepLogged) and e.step == 3 else None)
    assert result.status == "stopped"
    return out


@pytest.fixture(scope="module")
def finished(assets):
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    out = assets["root"] / "finished"
    fit(FitConfig(model=str(assets["model"]), data=str(assets["data"]), eqn=EQN, out=str(out), epochs=1,
                  batch_size=16, warmup=0))
    return out


def env(tmp_path, **extra):
    return {**os.environ, "TUNELAB_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            **extra}


def cli(tmp_path, *args, timeout=300, extra_env=None):
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env(tmp_path, **(extra_env or {})), cwd=tmp_path)


def wait_for(predicate, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pid_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def fit_argv(assets, out, *extra, epochs=2):
    return ["fit", "--model", str(assets["model"]), "--data", str(assets["data"]), "--eqn", EQN, "--epochs", str(epochs),
            "--batch-size", "16", "--warmup", "0", "--out", str(out), *extra]


def held_launch(assets, tmp_path, out, hold: Path, step: int = 1, epochs: int = 30):
    """A detached run that pauses at `step` for as long as `hold` exists: it is running, and cannot finish."""
    hold.touch()
    launched = cli(tmp_path, *fit_argv(assets, out, "--detach", "--json", epochs=epochs),
                   extra_env={"TUNELAB_TEST_HOLD": str(hold), "TUNELAB_TEST_HOLD_STEP": str(step)})
    assert launched.returncode == 0, launched.stderr
    return json.loads(launched.stdout)["pid"]


def stop_and_wait(tmp_path, run, pid):
    assert cli(tmp_path, "stop", run, "--wait").returncode == 0
    wait_for(lambda: pid_gone(pid), what="the trainer to exit")


# ---------------------------------------------------------------- a directory where a run file belongs

@pytest.mark.parametrize("name", RUN_FILES)
def test_a_directory_where_a_run_file_belongs_is_one_line_for_every_verb(stopped, tmp_path, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    (run / name).unlink(missing_ok=True)
    (run / name).mkdir()
    before = sorted(p.name for p in run.iterdir())
    for verb in (["watch", run], ["fit", "--resume", run], ["fit", "--resume", run, "--detach"], ["stop", run]):
        err = one_line(capsys, main(list(map(str, verb))), verb[0])
        assert name in err, err
    assert sorted(p.name for p in run.iterdir()) == before       # nothing started, nothing written
    listed = json.loads(cli(tmp_path, "runs", run, "--json").stdout)
    assert listed[0]["status"] == "broken" and name in listed[0]["reason"]


@pytest.mark.parametrize("name", sorted({"run.lock", "owner.json", "heartbeat.json", "stop.request", "fit.log"}))
def test_a_new_out_holding_a_directory_where_a_run_file_goes_is_refused_before_anything_starts(assets, tmp_path,
                                                                                             capsys, name):
    """The files a detached launch may leave in --out: as directories, both the foreground fit and --detach
    refuse at once (the child used to die in fit.log after "started")."""
    out = tmp_path / "out"
    (out / name).mkdir(parents=True)
    for extra in ([], ["--detach"]):
        err = one_line(capsys, main(fit_argv(assets, out, *extra)), "fit")
        assert name in err and "directory" in err, err
    assert [p.name for p in out.iterdir()] == [name]


# ---------------------------------------------------------------- copies and other processes

def test_a_copy_of_a_live_run_is_not_running_and_stop_wait_on_it_ends(assets, tmp_path):
    run, copy = tmp_path / "run", tmp_path / "backup"
    hold = tmp_path / "hold"
    pid = held_launch(assets, tmp_path, run, hold)
    try:
        wait_for(lambda: run_info(run).status == RunStatus.RUNNING and run_info(run).step >= 1, what="running")
        subprocess.run(["cp", "-a", str(run), str(copy)], check=True)
        info = run_info(copy)
        assert info.status == RunStatus.CRASHED and "lock" in info.reason      # its owner.json names a live process
        listed = {Path(r["run_dir"]).name: r["status"] for r in json.loads(cli(tmp_path, "runs", tmp_path, "--json").stdout)}
        assert listed == {"run": "running", "backup": "crashed"}
        refused = cli(tmp_path, "stop", copy, "--wait", timeout=60)            # refused at once, not a hang
        assert refused.returncode == 2 and "is crashed, not running" in refused.stderr
        assert run_info(run).status == RunStatus.RUNNING                       # the original was not touched
        stopped = cli(tmp_path, "stop", run, "--wait", timeout=300)
        assert stopped.returncode == 0 and "is no longer running: stopped" in " ".join(stopped.stdout.split())
    finally:
        hold.unlink(missing_ok=True)
        wait_for(lambda: pid_gone(pid), what="the trainer to exit")


def test_an_owner_json_naming_another_live_process_is_not_running(stopped, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    events = (run / "events.jsonl").read_text().splitlines(keepends=True)
    (run / "events.jsonl").write_text("".join(l for l in events if '"RunFinished"' not in l))   # no final event
    from tunelab.core.liveness import Owner

    me = Owner.of_pid(os.getpid())                       # a live process of this user, that is no trainer
    (run / "owner.json").write_text(json.dumps({"pid": me.pid, "host": me.host, "started": me.started}))
    (run / "heartbeat.json").write_text(json.dumps({"time": time.time(), "pid": me.pid}))
    assert run_info(run).status == RunStatus.CRASHED
    waited = cli(tmp_path, "stop", run, "--wait", timeout=60)
    assert waited.returncode == 2 and "not running" in waited.stderr and waited.stderr.count("\n") == 1


# ---------------------------------------------------------------- status that lags

def test_a_detached_run_is_listed_starting_the_moment_its_launch_returns_and_after_a_resume(assets, tmp_path):
    run, hold = tmp_path / "run", tmp_path / "hold"
    pid = held_launch(assets, tmp_path, run, hold, step=0)       # held as soon as it starts: never further
    try:
        listed = json.loads(cli(tmp_path, "runs", "--json").stdout)         # from the history, not a folder given
        assert [(Path(r["run_dir"]).name, r["status"], r["pid"]) for r in listed] == [("run", "running", pid)]
        stop_and_wait(tmp_path, run, pid)
        assert run_info(run).status == RunStatus.STOPPED
        resumed = cli(tmp_path, "fit", "--resume", run, "--detach", "--json",
                      extra_env={"TUNELAB_TEST_HOLD": str(hold), "TUNELAB_TEST_HOLD_STEP": "0"})
        assert resumed.returncode == 0, resumed.stderr
        pid = json.loads(resumed.stdout)["pid"]
        info = run_info(run)                                                 # at once: starting, not stopped
        assert info.status == RunStatus.RUNNING and info.phase == "starting" and info.pid == pid
        again = cli(tmp_path, "fit", "--resume", run, "--detach")
        assert again.returncode == 2 and ("is starting" in again.stderr or "is running" in again.stderr)
        stop_and_wait(tmp_path, run, pid)
    finally:
        hold.unlink(missing_ok=True)
        wait_for(lambda: pid_gone(pid), what="the trainer to exit")


def test_a_detached_run_killed_while_it_imports_is_crashed_and_resume_starts_it_over(assets, tmp_path):
    run = tmp_path / "run"
    launched = cli(tmp_path, *fit_argv(assets, run, "--detach", "--json"))
    assert launched.returncode == 0, launched.stderr
    pid = json.loads(launched.stdout)["pid"]
    os.kill(pid, signal.SIGTERM)                                  # in its first second: still importing
    wait_for(lambda: pid_gone(pid), what="the trainer to die")
    try:
        info = wait_for(lambda: (lambda i: i if not i.status.is_live else None)(run_info(run)), timeout=60,
                        what="the run to be seen as ended")
    except AssertionError:
        holders = subprocess.run(f"for p in /proc/[0-9]*; do ls -l $p/fd 2>/dev/null | grep -q '{run}/run.lock' && "
                                 "cat $p/cmdline && grep State $p/status; done", shell=True, capture_output=True,
                                 text=True).stdout
        raise AssertionError(f"{run_info(run)} held by: {holders!r}; fit.log: {(run / 'fit.log').read_text()!r}")
    assert info.status in (RunStatus.CRASHED, RunStatus.STOPPED), info       # STOPPED if it got as far as training
    if info.status == RunStatus.CRASHED:
        assert f"tunelab fit --resume {run}" in info.reason
    resumed = cli(tmp_path, "fit", "--resume", run, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed" and run_info(run).status == RunStatus.COMPLETED


def test_the_launcher_reaps_its_child_so_a_long_lived_app_keeps_no_zombie(assets, tmp_path):
    from tunelab.core.config import FitConfig
    from tunelab.core.runs import launch_detached

    config = FitConfig(model=str(assets["model"]), data=str(assets["data"]), eqn=EQN, out=str(tmp_path / "run"))
    _, pid = launch_detached(config, python=shutil.which("true"))  # a child that exits at once
    wait_for(lambda: pid_gone(pid), what="the child to exit")
    import psutil

    wait_for(lambda: not psutil.pid_exists(pid), timeout=60, what="the child to be reaped (no zombie left)")
    info = run_info(tmp_path / "run")
    assert info.status == RunStatus.CRASHED and f"tunelab fit --resume {tmp_path / 'run'}" in info.reason


# ---------------------------------------------------------------- a run directory removed while it trains

def test_a_run_whose_directory_is_removed_ends_failed_and_recreates_nothing(assets, tmp_path):
    run, hold = tmp_path / "run", tmp_path / "hold"
    hold.touch()
    proc = subprocess.Popen([sys.executable, "-m", "tunelab", *fit_argv(assets, run, epochs=30)], cwd=tmp_path,
                            env=env(tmp_path, TUNELAB_TEST_HOLD=str(hold), TUNELAB_TEST_HOLD_STEP="2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: run_info(run).status == RunStatus.RUNNING and run_info(run).step >= 2, what="training")
        shutil.rmtree(run)
        out, err = proc.communicate(timeout=300)                  # it stops by itself: the hold ends on a stop
    finally:
        hold.unlink(missing_ok=True)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2 and "was removed or replaced while the run trained" in err, err
    assert not run.exists()                                       # no half directory (model/, metrics.json) again


# ---------------------------------------------------------------- advice that matches the directory

def test_the_advice_for_an_existing_run_matches_what_it_holds(stopped, finished, tmp_path, capsys, assets):
    err = one_line(capsys, main(fit_argv(assets, finished)), "fit")
    assert "it finished" in err and "tunelab eval --model" in err and "--resume" not in err
    err = one_line(capsys, main(["fit", "--resume", str(finished)]), "fit")
    assert "finished" in err and "tunelab eval --model" in err

    resumable = tmp_path / "resumable"
    shutil.copytree(stopped, resumable)
    err = one_line(capsys, main(fit_argv(assets, resumable)), "fit")
    assert f"continue it with: tunelab fit --resume {resumable}" in err

    damaged = tmp_path / "damaged"
    shutil.copytree(stopped, damaged)
    (damaged / "checkpoints" / "last" / "trainer_state.json").write_text("{not json")
    err = one_line(capsys, main(["fit", "--resume", str(damaged)]), "fit")
    assert "damaged" in err
    err = one_line(capsys, main(fit_argv(assets, damaged)), "fit")
    assert "cannot be resumed" in err and "new --out" in err and "continue it with" not in err


def test_a_resume_refused_while_loading_the_checkpoint_is_not_advised_again(stopped, tmp_path, capsys, assets):
    damaged = tmp_path / "damaged"
    shutil.copytree(stopped, damaged)
    for path in (damaged / "checkpoints" / "last").rglob("*"):
        if path.is_file() and path.name != "trainer_state.json":
            path.write_bytes(b"\x00not what was saved\x00")
    err = one_line(capsys, main(["fit", "--resume", str(damaged)]), "fit")
    assert "damaged" in err or "cannot be" in err
    # marked failed when the damage shows while loading (or left stopped, if it is found before the run is claimed)
    assert run_info(damaged).status in (RunStatus.FAILED, RunStatus.STOPPED)
    err = one_line(capsys, main(fit_argv(assets, damaged)), "fit")
    assert "new --out" in err and "continue it with" not in err


# ---------------------------------------------------------------- values that begin with a dash

def test_every_setting_reaches_a_detached_run_whatever_it_begins_with(assets, tmp_path):
    """The child's command line carries no setting (run.json does), so a value that looks like a flag cannot be
    misread: checked for every setting by a stand-in interpreter that records the command line it was given."""
    from dataclasses import asdict

    from tunelab.core.config import FitConfig
    from tunelab.core.runs import launch_detached

    recorder = tmp_path / "python"
    recorder.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'argv.txt'}\n")
    recorder.chmod(0o755)
    config = FitConfig(model="-m", data="-d.json", eqn="classify: -label ~ -sentence", columns=("-a", "-b"),
                       metric="-metric", save_every="-5", out=str(tmp_path / "-o"), epochs=2.5, lr=0.001,
                       batch_size=7, max_length=33, warmup=3, weight_decay=0.5, seed=9, grad_accum=2,
                       freeze_layers=1, eval_every=4, early_stop=2, eval_batch_size=9, max_grad_norm=0.5,
                       log_seconds=0.25)
    root, pid = launch_detached(config, python=str(recorder))
    wait_for(lambda: (tmp_path / "argv.txt").is_file() and pid_gone(pid), what="the stand-in to run")
    assert (tmp_path / "argv.txt").read_text().splitlines() == ["-m", "tunelab", "fit", f"--resume={root.resolve()}"]
    saved = FitConfig.from_dict(json.loads((root / "run.json").read_text())["config"])
    assert asdict(saved) == {**asdict(config), "out": str(root.resolve())}


def test_a_detached_fit_with_dash_named_model_data_and_out_trains(assets, tmp_path):
    shutil.copytree(assets["model"], tmp_path / "-m")
    shutil.copytree(assets["data"], tmp_path / "-d")
    launched = cli(tmp_path, "fit", "--model=-m", "--data=-d", f"--eqn={EQN}", "--epochs=1", "--out=-o", "--detach")
    assert launched.returncode == 0, launched.stderr
    watched = cli(tmp_path, "watch", "--", "-o")
    assert watched.returncode == 0 and "completed" in watched.stderr, (watched.stderr, (tmp_path / "-o" / "fit.log").read_text())


# ---------------------------------------------------------------- unreadable parts, as another user

def _others_can_run_python() -> bool:
    """Whether an unprivileged user could run this interpreter and import TuneLab from where they lie."""
    import tunelab

    for start in (Path(sys.executable).resolve(), Path(tunelab.__file__).resolve(), Path(sys.executable).absolute()):
        for folder in start.parents:
            if not folder.stat().st_mode & 0o001:
                return False
    return True


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not _others_can_run_python(),
                                reason="runs a listing as an unprivileged user: needs root, and an interpreter others "
                                       "can run (the in-process test below covers the same ground)")


def test_unreadable_runs_are_listed_not_left_out_in_process(finished, tmp_path, monkeypatch, capsys):
    """What a user who cannot read them sees (root reads everything, so the refusals are played here)."""
    runs = tmp_path / "runs"
    for name in ("closed", "no-log", "fine"):
        shutil.copytree(finished, runs / name)
    closed, log = runs / "closed", runs / "no-log" / "events.jsonl"
    real_access, real_listdir, real_lexists, real_open = os.access, os.listdir, os.path.lexists, open
    import builtins

    def inside(path, folder) -> bool:
        return str(path) == str(folder) or str(path).startswith(str(folder) + os.sep)

    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if inside(path, closed) else real_access(path, mode, **kw))
    monkeypatch.setattr(os.path, "lexists", lambda path: False if inside(path, closed) and str(path) != str(closed)
                        else real_lexists(path))

    def listdir(path="."):
        if inside(path, closed):
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    def open_(path, *args, **kwargs):
        if inside(path, closed) or str(path) == str(log):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(builtins, "open", open_)
    assert main(["runs", str(runs), "--json"]) == 0
    listed = {Path(r["run_dir"]).name: (r["status"], r["reason"]) for r in json.loads(capsys.readouterr().out)}
    assert listed["fine"][0] == "completed"
    assert listed["closed"] == ("broken", "the run directory cannot be read (Permission denied)")
    assert listed["no-log"] == ("broken", "events.jsonl cannot be read (Permission denied)")


@needs_root
def test_unreadable_runs_are_listed_as_broken_naming_what_cannot_be_read(finished, tmp_path):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="tunelab-unreadable-", dir="/tmp"))
    try:
        base.chmod(0o755)
        runs = base / "runs"
        runs.mkdir()
        runs.chmod(0o755)
        for name in ("closed", "no-log"):
            shutil.copytree(finished, runs / name)
            for path in [runs / name, *(runs / name).rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        (runs / "closed").chmod(0o000)                                  # the whole run directory
        (runs / "no-log" / "events.jsonl").chmod(0o000)                 # its event log only
        home = base / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        out = subprocess.run([sys.executable, "-m", "tunelab", "runs", str(runs), "--json"], capture_output=True,
                             text=True, timeout=120, cwd=base, preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)),
                             env={**env(base), "TUNELAB_HOME": str(home), "HOME": str(home)})
        assert out.returncode == 0, out.stderr
        listed = {Path(r["run_dir"]).name: (r["status"], r["reason"]) for r in json.loads(out.stdout)}
        assert listed["closed"][0] == "broken" and "cannot be read" in listed["closed"][1]
        assert listed["no-log"][0] == "broken" and "events.jsonl cannot be read" in listed["no-log"][1]
    finally:
        for path in [base, *base.rglob("*")]:
            try:
                path.chmod(0o755)
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def test_run_files_that_cannot_be_read_or_written_are_named_before_anything_starts(stopped, tmp_path, capsys,
                                                                                  monkeypatch):
    """chmod 000 / 444 on a run file (played with os.access: root reads and writes everything)."""
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    real_access = os.access
    closed = {str(run / "events.jsonl"): 0}                         # neither readable nor writable

    def access(path, mode, **kw):
        allowed = closed.get(str(path))
        return real_access(path, mode, **kw) if allowed is None else (mode & ~allowed) == 0

    monkeypatch.setattr(os, "access", access)
    info = run_info(run)
    assert info.status == RunStatus.BROKEN and info.reason == "events.jsonl cannot be read (permission denied)"
    for verb in (["fit", "--resume", str(run)], ["fit", "--resume", str(run), "--detach"]):
        assert "events.jsonl cannot be read" in one_line(capsys, main(verb), "fit")
    closed[str(run / "events.jsonl")] = os.R_OK                      # read-only: listed, but cannot be resumed
    assert run_info(run).status == RunStatus.STOPPED
    assert "events.jsonl cannot be written" in one_line(capsys, main(["fit", "--resume", str(run)]), "fit")
