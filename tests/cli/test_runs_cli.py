"""Runs that outlive the terminal, through the real CLI in subprocesses: detach, runs, watch, stop, kill -9 and
resume, a hung-up terminal, and one-line errors for bad input to the new verbs.

No test here hopes that a tiny run is still going when it looks: a run that must be caught mid-way is held at a
step by the trainer's test-only hold (TUNELAB_TEST_HOLD: it pauses while a file exists, and a stop request, a
signal or removing the file lets it go), so a fast machine cannot finish it first and a slow one only waits."""

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunelab.core.events import CheckpointSaved, RunFinished, RunStarted, StepLogged, read_events
from tunelab.core.run_status import RunStatus, run_info

from conftest import build_tiny_bert, write_toy_splits

EQN = "classify: label ~ sentence"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs-cli")
    return build_tiny_bert(root / "tiny"), write_toy_splits(root / "toy")


def env(tmp_path, hold=None, hold_step=0):
    """The test's environment; with `hold`, a trainer started in it pauses at `hold_step` while that file exists."""
    extra = {"TUNELAB_TEST_HOLD": str(hold), "TUNELAB_TEST_HOLD_STEP": str(hold_step)} if hold is not None else {}
    return {**os.environ, "TUNELAB_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            **extra}


def tunelab(tmp_path, *args, timeout=300, hold=None, hold_step=0, **kw):
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env(tmp_path, hold, hold_step), cwd=tmp_path, **kw)


@pytest.fixture
def hold(tmp_path):
    """A hold file (see the module's docstring), removed at the end so no held trainer outlives its test."""
    path = tmp_path / "hold"
    path.touch()
    yield path
    path.unlink(missing_ok=True)


def fit_args(assets, out, epochs=30, *extra):
    model, data = assets
    return ["fit", "--model", model, "--data", data, "--eqn", EQN, "--epochs", epochs, "--lr", "1e-3",
            "--batch-size", "16", "--warmup", "0", "--out", out, *extra]


def wait_for(predicate, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def events(run):
    path = Path(run) / "events.jsonl"
    return list(read_events(path)) if path.exists() else []


def test_kill_9_mid_run_then_resume_reaches_the_same_final_step_and_continues_the_curve(assets, tmp_path, hold):
    run = tmp_path / "run"
    # held past step 50 (after its second periodic checkpoint), so it is still running when it is killed
    proc = subprocess.Popen([sys.executable, "-m", "tunelab", *map(str, fit_args(assets, run, 40, "--save-every", "25"))],
                            env=env(tmp_path, hold, 51), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(isinstance(e, CheckpointSaved) and e.reason == "periodic" and e.step >= 50 for e in events(run)),
             what="two periodic checkpoints")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    hold.unlink()
    info = run_info(run)
    assert info.status == RunStatus.CRASHED and "--resume" in info.reason
    saved = max(e.step for e in events(run) if isinstance(e, CheckpointSaved) and e.reason == "periodic")
    out = tunelab(tmp_path, "fit", "--resume", run, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    total = json.loads((run / "run.json").read_text())["total_steps"]
    assert result["status"] == "completed" and result["steps"] == total == 400
    log = events(run)
    starts = [e for e in log if isinstance(e, RunStarted)]
    assert [(s.segment, s.resumed_from_step) for s in starts] == [(1, 0), (2, saved)]   # the resumed segment is marked
    after = [e.step for e in log[log.index(starts[1]):] if isinstance(e, StepLogged)]
    assert after[0] == saved + 1 and after[-1] == total and after == list(range(saved + 1, total + 1))
    assert run_info(run).status == RunStatus.COMPLETED


def test_a_detached_run_outlives_the_session_that_started_it_and_can_be_watched(assets, tmp_path):
    run = tmp_path / "run"
    # the launching "terminal session": a new session whose whole process group is killed after the launch
    launcher = subprocess.Popen([sys.executable, "-m", "tunelab", *map(str, fit_args(assets, run, 20, "--detach", "--json"))],
                                env=env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    out, err = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, err
    launched = json.loads(out)
    assert Path(launched["run_dir"]).resolve() == run.resolve() and launched["pid"] > 0
    try:
        os.killpg(launcher.pid, signal.SIGKILL)   # the session is gone (its leader already returned)
    except ProcessLookupError:
        pass
    # running with a step, or already completed: a tiny run can finish (9 s) between two listings on a loaded machine
    listed = wait_for(lambda: [r for r in json.loads(tunelab(tmp_path, "runs", run, "--json").stdout)
                               if r["status"] in ("running", "completed") and r["step"] > 0], what="running with a step")
    assert listed[0]["pid"] == launched["pid"] and listed[0]["total_steps"] == 200
    watched = tunelab(tmp_path, "watch", run)                 # follows it live until it ends
    assert watched.returncode == 0, watched.stderr
    assert "completed at step 200" in watched.stderr
    assert run_info(run).status == RunStatus.COMPLETED
    again = tunelab(tmp_path, "watch", run)                   # a finished run: replay, exit 0 at once
    assert again.returncode == 0 and "completed at step 200" in again.stderr


def test_stop_from_another_terminal_leaves_a_resumable_checkpoint(assets, tmp_path, hold):
    run = tmp_path / "run"
    launched = tunelab(tmp_path, *fit_args(assets, run, 200, "--detach"), hold=hold, hold_step=1)
    assert launched.returncode == 0, launched.stderr
    wait_for(lambda: any(isinstance(e, StepLogged) for e in events(run)), what="training to start")
    stopped = tunelab(tmp_path, "stop", run, "--wait")
    assert stopped.returncode == 0, stopped.stderr
    assert run_info(run).status == RunStatus.STOPPED
    finished = [e for e in events(run) if isinstance(e, RunFinished)]
    assert finished[-1].status == "stopped" and finished[-1].step < 2000
    assert (run / "checkpoints" / "last" / "trainer_state.json").is_file()
    again = tunelab(tmp_path, "stop", run)                    # nothing left to stop
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "is stopped, not running" in again.stderr and "--resume" in again.stderr

    # Two terminals resume it at the same moment: one launch wins, the other is told at once (not in fit.log).
    # the resumed trainer is held at its first step, so it is still running when the third terminal tries
    launches = [subprocess.Popen([sys.executable, "-m", "tunelab", "fit", "--resume", str(run), "--detach"],
                                 env=env(tmp_path, hold, 1), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    results = sorted((p.wait(timeout=120), p.stderr.read()) for p in launches)
    assert [code for code, _ in results] == [0, 2], results
    # told it is starting (or, on a machine slow to run the loser, already running), in one line
    assert ("is starting" in results[1][1] or "is running" in results[1][1]) and results[1][1].count("\n") == 1
    wait_for(lambda: run_info(run).status == RunStatus.RUNNING and run_info(run).phase == "training",
             what="the resumed run to train")
    busy = tunelab(tmp_path, "fit", "--resume", run)            # and a third, in the foreground, while it runs
    assert busy.returncode == 2 and "is running (pid" in busy.stderr and "tunelab stop" in busy.stderr
    assert tunelab(tmp_path, "stop", run, "--wait").returncode == 0     # the stop also ends the hold
    assert run_info(run).status == RunStatus.STOPPED


def test_watch_exits_1_on_a_crashed_run(assets, tmp_path, hold):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tunelab", *map(str, fit_args(assets, run, 200))],
                            env=env(tmp_path, hold, 1), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(isinstance(e, StepLogged) for e in events(run)), what="training to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    watched = tunelab(tmp_path, "watch", run)
    assert watched.returncode == 1 and "crashed" in watched.stderr


def test_a_hung_up_terminal_stops_the_run_cleanly_with_a_resumable_checkpoint(assets, tmp_path, hold):
    """A real pseudo-terminal as the run's controlling terminal, closed mid-run (what a dropped SSH session does)."""
    import fcntl
    import struct
    import termios

    run = tmp_path / "run"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))   # an 80x24 terminal

    def own_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)                 # stdin (the pty) becomes the controlling terminal

    # held at step 3 until the hang-up's stop lets it go: it cannot complete before the terminal is closed
    proc = subprocess.Popen([sys.executable, "-m", "tunelab", *map(str, fit_args(assets, run, 200))], env=env(tmp_path, hold, 3),
                            cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal)
    os.close(slave)
    drained = []

    def progress_seen():
        try:
            import select
            while select.select([master], [], [], 0)[0]:
                drained.append(os.read(master, 65536))
        except OSError:
            pass
        return any(isinstance(e, StepLogged) and e.step >= 3 for e in events(run)) and b"steps" in b"".join(drained)

    try:
        wait_for(progress_seen, what="progress on the terminal")
    finally:
        os.close(master)                                      # the terminal goes away
    assert proc.wait(timeout=120) == 0
    log = events(run)
    assert not any(type(e).__name__ == "RunFailed" for e in log)
    assert isinstance(log[-1], RunFinished) and log[-1].status == "stopped"
    assert (run / "checkpoints" / "last" / "trainer_state.json").is_file()
    assert b"steps" in b"".join(drained)                      # it really was drawing progress on that terminal
    assert run_info(run).status == RunStatus.STOPPED


def test_two_fits_into_one_directory_at_once_cannot_both_run(assets, tmp_path):
    run = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-m", "tunelab", *map(str, fit_args(assets, run, 3))], env=env(tmp_path),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "in use by another TuneLab process" in loser or "already holds a run" in loser
    assert sum(isinstance(e, RunStarted) for e in events(run)) == 1


@pytest.mark.parametrize("args, fragment", [
    (["runs", "nowhere"], "'nowhere' is not a directory"),
    (["runs", "--limit", "0"], "--limit 0"),
    (["watch", "nowhere"], "'nowhere' is not a directory"),
    (["stop", "nowhere"], "'nowhere' is not a directory"),
    (["fit", "--out", "x", "--save-every", "soon"], "--save-every 'soon'"),
    (["fit", "--out", "x", "--epochs", "inf"], "--epochs must be a finite number"),
    (["fit", "--out", "x", "--seed", "-1"], "--seed -1 is out of range"),
    (["fit", "--out", "x", "--seed", "99999999999"], "--seed 99999999999 is out of range"),
    (["fit", "--out", "x", "--batch-size", "0", "--detach"], "--batch-size 0 is out of range"),
    (["fit", "--resume", "nowhere", "--epochs", "3"], "drop --epochs"),
    (["fit", "--resume", "nowhere"], "not a TuneLab run directory"),
])
def test_bad_input_to_the_run_verbs_gets_one_line_and_exit_2(tmp_path, args, fragment):
    out = tunelab(tmp_path, *args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and fragment in out.stderr, out.stderr
    assert not (tmp_path / "x").exists()                      # nothing written


def test_a_run_made_with_relative_paths_is_evaluated_from_another_directory(assets, tmp_path):
    import shutil

    model, data = assets
    shutil.copytree(data, tmp_path / "toy")
    out = tunelab(tmp_path, "fit", "--model", model, "--data", "toy", "--eqn", EQN, "--epochs", "1", "--out", "run")
    assert out.returncode == 0, out.stderr
    saved = json.loads((tmp_path / "run" / "run.json").read_text())["config"]["data"]
    assert Path(saved).is_absolute() and Path(saved) == (tmp_path / "toy").resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    evaluated = subprocess.run([sys.executable, "-m", "tunelab", "eval", "--model", str(tmp_path / "run"), "--json"],
                               capture_output=True, text=True, env=env(tmp_path), cwd=elsewhere, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["split"] == "test"
