"""Run lifecycle shared by the CLI and the TUI: launch a detached fit, ask a run to stop, list runs with status.

Neither caller knows how the other shows things; both read the run directory (core/run_status.py) and start
runs the same way: `python -m tunelab fit ...` in its own session, stdin from /dev/null, output to DIR/fit.log,
so closing the terminal or the app, or losing the SSH connection, does not reach the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
from pathlib import Path

from .config import FitConfig, refuse_untrusted_resume
from .errors import TuneLabError
from .liveness import HEARTBEAT_NAME, Owner, is_alive, read_json, read_owner, request_stop_file, write_owner
from .run_dir import RunDir, check_new_run_dir, recent_runs, runs_under
from .run_status import RunInfo, RunStatus, run_info


def launch_detached(config: FitConfig | None = None, resume: str | None = None,
                    python: str | None = None, niceness: int = 0, trust_remote_code: bool = False) -> tuple[Path, int]:
    """Start `tunelab fit` detached for `config` (already validated) or to resume a run; returns (run dir, pid).
    For a new run, the caller has checked everything (core.fit.resolve) so the child only repeats a known-good start.
    `niceness` > 0 lowers the run's CPU priority (the TUI uses it so that, on a machine whose cores the training
    fills, the app it was started from still answers keys at once)."""
    root = Path(resume if resume else config.out)
    # Two launches into one run directory at once: the check, the start and owner.json happen under one lock, so
    # the second sees the first's process as starting and is refused here, not in a fit.log nobody reads.
    with _launch_lock(root):
        if resume:
            info = run_info(root)
            if info.status.is_live:
                raise TuneLabError(f"{resume!r} is {info.status} (pid {info.pid}); it cannot be resumed while it runs")
            try:
                saved = RunDir(root).read_config()["config"]
            except TuneLabError:
                saved = {}                 # the child says what is wrong with a damaged run.json
            refuse_untrusted_resume(saved, trust_remote_code, resume)   # here, not in a fit.log nobody reads
        starting = _just_launched(root)
        if starting is not None:
            raise TuneLabError(f"{str(root)!r} is starting (pid {starting.pid}) in another TuneLab process; follow it "
                               f"with: tunelab watch {root}")
        if resume:
            argv = ["fit", "--resume", str(root.resolve())] + (["--trust-remote-code"] if trust_remote_code else [])
        else:
            assert config is not None and config.out
            root = check_new_run_dir(config.out)
            argv = ["fit", *config.with_out().to_argv()]
            if "--out" not in argv:
                argv += ["--out", str(root.resolve())]
            else:
                argv[argv.index("--out") + 1] = str(root.resolve())
        try:
            root.mkdir(parents=True, exist_ok=True)
            log = open(root / "fit.log", "ab")
        except OSError as err:
            raise TuneLabError(f"cannot write to {str(root)!r}: {err.strerror}") from None
        env = {**os.environ, "TUNELAB_DETACHED": "1", "PYTHONUNBUFFERED": "1", "TUNELAB_NICE": str(max(0, int(niceness)))}
        with log:
            process = subprocess.Popen([python or sys.executable, "-m", "tunelab", *argv], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                       cwd=os.getcwd(), close_fds=True)
        try:
            write_owner(root, Owner.of_pid(process.pid))  # so a watcher (and a second launch) sees it starting
        except OSError:
            pass
    return root, process.pid


def _just_launched(root: Path) -> Owner | None:
    """The process another launch started for `root` a moment ago (its owner.json is there and alive, but it has
    not beaten yet), or None. The trainer of the segment that just ended may still be exiting: its own heartbeat
    says it ended, so it does not count."""
    owner = read_owner(root) if root.is_dir() else None
    if owner is None or owner.host != socket.gethostname() or not is_alive(owner):
        return None
    beat = read_json(root / HEARTBEAT_NAME)
    if isinstance(beat, dict) and beat.get("pid") == owner.pid and beat.get("ended"):
        return None
    return owner


@contextlib.contextmanager
def _launch_lock(root: Path):
    """An exclusive lock on the nearest existing folder above `root` (a lock file inside `root` would itself make
    a new run directory look used), held while one launch checks and starts its run."""
    parent = root.expanduser().absolute().parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:       # an unreadable folder: the checks below say what is wrong
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)      # closing the descriptor releases the lock


def request_stop(root: str | Path) -> RunInfo:
    """Ask a live run (detached or not, from any terminal of the same user) to stop after its current step with a
    resumable checkpoint; refuse a run that has ended or died."""
    root = Path(root)
    if not root.is_dir():
        raise TuneLabError(f"{str(root)!r} is not a directory")
    info = run_info(root)
    if info.status == RunStatus.BROKEN:
        raise TuneLabError(f"{str(root)!r} is not a run TuneLab can stop: {info.reason}")
    if not info.status.is_live and info.status != RunStatus.UNKNOWN and _just_launched(root) is None:
        hint = f"; continue it with: tunelab fit --resume {root}" if info.status.resumable and RunDir(root).resumable_checkpoint() else ""
        raise TuneLabError(f"{str(root)!r} is {info.status}, not running: nothing to stop{hint}")
    try:
        request_stop_file(root)
    except OSError as err:
        raise TuneLabError(f"cannot write the stop request in {str(root)!r}: {err.strerror}") from None
    return info


def list_runs(directories: list[str | Path] | None = None, limit: int = 50) -> list[RunInfo]:
    """Runs from the history, ./runs and each directory given (itself a run, or a folder of runs), newest first.
    A damaged run is listed with status BROKEN rather than stopping the listing."""
    paths: dict[Path, None] = {}
    for d in directories or []:
        d = Path(d)
        if not d.is_dir():
            raise TuneLabError(f"{str(d)!r} is not a directory")
        found = [d] if (d / "run.json").exists() or (d / "owner.json").exists() else runs_under(d)
        for p in found:
            paths.setdefault(p.resolve(), None)
    if not directories:
        for p in recent_runs(limit):
            paths.setdefault(p.resolve(), None)
    infos = [run_info(p) for p in paths]
    # newest first by when each run began: a stable order (sorting by last activity made two running runs swap
    # rows every few seconds, under the cursor of someone marking them)
    infos.sort(key=lambda i: i.started or i.updated or 0, reverse=True)
    return infos[:limit]
