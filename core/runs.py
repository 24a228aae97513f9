"""Run lifecycle shared by the CLI and the TUI: launch a detached fit, ask a run to stop, list runs with status.

Neither caller knows how the other shows things; both read the run directory (core/run_status.py) and start
runs the same way: `python -m tunelab fit ...` in its own session, stdin from /dev/null, output to DIR/fit.log,
so closing the terminal or the app, or losing the SSH connection, does not reach the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .atomic_write import write_json_atomic
from .config import FitConfig, refuse_untrusted_resume
from .errors import TuneLabError
from .liveness import LOCK_FD_ENV, Owner, lock_run, request_stop_file, write_owner
from .run_dir import RunDir, check_new_run_dir, check_run_files, recent_runs, remember_run, runs_under
from .run_status import RunInfo, RunStatus, run_info
from .sweep import is_sweep


def launch_detached(config: FitConfig | None = None, resume: str | None = None,
                    python: str | None = None, niceness: int = 0, trust_remote_code: bool = False,
                    env: dict | None = None, device: str | None = None) -> tuple[Path, int]:
    """Start `tunelab fit` detached for `config` (already validated) or to resume a run; returns (run dir, pid).
    For a new run, the caller has checked everything (core.fit.resolve) so the child only repeats a known-good start.
    `niceness` > 0 lowers the run's CPU priority (the TUI uses it so that, on a machine whose cores the training
    fills, the app it was started from still answers keys at once).

    Before it returns, the launch leaves everything the status needs: run.json with the configuration (so the
    run is listed, and `fit --resume` can start it over, even if the child dies while it imports), owner.json, the
    run in the history, and the run's lock, taken here and handed down to the child (so the run is `starting`
    from this moment, not `stopped` or invisible until the trainer gets going). The child's command line is just
    `fit --resume=DIR`: every setting travels in run.json, so no value (one that begins with a dash, say) can be
    read back as a flag. `env`: variables set for the run alone (a sweep gives each run its GPU this way)."""
    root = Path(resume if resume else config.out)
    # Two launches into one run directory at once: the checks, the lock and the start happen under one lock, so
    # the second sees the first's process as starting and is refused here, not in a fit.log nobody reads.
    with _launch_lock(root):
        if resume:
            _refuse_live(root)
            check_run_files(root)
            try:
                saved = RunDir(root).read_config()["config"]
            except (TuneLabError, KeyError, TypeError):
                saved = {}                 # the child says what is wrong with a damaged run.json
            refuse_untrusted_resume(saved, trust_remote_code, resume)   # here, not in a fit.log nobody reads
        else:
            assert config is not None and config.out
            trust_remote_code = config.trust_remote_code is True
            root = check_new_run_dir(config.out)
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise TuneLabError(f"cannot create --out {config.out!r}: {err.strerror}") from None
        lock = _claim(root)
        try:
            if not resume:
                if any(os.path.lexists(root / name) for name in ("run.json", "events.jsonl")):
                    # a foreground fit took it between the check and the lock
                    raise TuneLabError(f"--out {config.out!r} already holds a run; {what_next(root, config.out)}")
                _write_launch_record(root, config)
            try:
                log = open(root / "fit.log", "ab")
            except OSError as err:
                raise TuneLabError(f"cannot write {root / 'fit.log'}: {err.strerror}") from None
            env = {**os.environ, **(env or {}), "TUNELAB_DETACHED": "1", "PYTHONUNBUFFERED": "1",
                   "TUNELAB_NICE": str(max(0, int(niceness))), LOCK_FD_ENV: str(lock.fd)}
            with log:
                # the user's --trust-remote-code travels as a flag: run.json never grants it (core.config)
                argv = ["fit", f"--resume={root.resolve()}"] + (["--trust-remote-code"] if trust_remote_code else []) \
                    + ([f"--device={device}"] if device else [])     # a resume moved to another device
                process = subprocess.Popen([python or sys.executable, "-m", "tunelab", *argv],
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True, env=env, cwd=os.getcwd(), close_fds=True,
                                           pass_fds=(lock.fd,))
        except BaseException:
            if not resume:
                (root / "run.json").unlink(missing_ok=True)
            raise
        finally:
            lock.release()           # the child holds the lock now (the same open file), for the run's life
        _reap_when_done(process)
        try:
            write_owner(root, Owner.of_pid(process.pid))  # so a watcher (and a second launch) sees which process
        except OSError:
            pass
        remember_run(root)
    return root, process.pid


def _write_launch_record(root: Path, config: FitConfig) -> None:
    """run.json as the launch knows it: the configuration (local paths made absolute). The trainer rewrites it
    with everything it resolves (steps, labels, device) once it starts."""
    from dataclasses import asdict

    from .data import absolute_data_spec
    from .fit import _local_path

    try:
        write_json_atomic(root / "run.json", {"config": {**asdict(config), "out": str(root.resolve()),
                                                         "model": _local_path(config.model),
                                                         "data": absolute_data_spec(config.data)},
                                              "launched": time.time()})
    except OSError as err:
        raise TuneLabError(f"cannot write {root / 'run.json'}: {err.strerror}") from None


def _refuse_live(root: Path) -> None:
    info = run_info(root)
    if info.status.is_live:
        raise TuneLabError(_busy(root, info))


def _busy(root: Path, info: RunInfo) -> str:
    if info.status == RunStatus.RUNNING and info.phase == "starting":
        return (f"{str(root)!r} is starting (pid {info.pid}) in another TuneLab process; follow it with: "
                f"tunelab watch {root}")
    return f"{str(root)!r} is {info.status} (pid {info.pid}); it cannot be resumed while it runs"


def _claim(root: Path):
    """Take the run's lock for a launch. The trainer of a segment that has just ended may still hold it for a
    moment while it exits: wait for that one; refuse a run some other process is starting or running."""
    try:
        return lock_run(root, "the run", wait=1.0)
    except TuneLabError:
        info = run_info(root)
        if info.status.is_live:
            raise TuneLabError(_busy(root, info)) from None
        return lock_run(root, "the run", wait=30.0)


def _reap_when_done(process: subprocess.Popen) -> None:
    """Wait for the detached child in a daemon thread, so a long-lived launcher (the TUI) keeps no zombie of a
    run that has ended; a launcher that exits first leaves the child to init, as before."""
    threading.Thread(target=process.wait, name=f"tunelab-reap-{process.pid}", daemon=True).start()


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
    if not info.status.is_live and info.status != RunStatus.UNKNOWN:
        hint = f"; {what_next(root, choosing_out=False)}" if info.status.resumable else ""
        raise TuneLabError(f"{str(root)!r} is {info.status}, not running: nothing to stop{hint}")
    try:
        request_stop_file(root)
    except OSError as err:
        raise TuneLabError(f"cannot write the stop request in {str(root)!r}: {err.strerror}") from None
    return info


def what_next(root: Path, shown: str | None = None, choosing_out: bool = True) -> str:
    """What a user can do with the run in `root`, from what the directory holds: evaluate a finished run, resume
    one with a whole checkpoint, start over one that died before its first, or leave one that cannot be resumed.
    Used by the refusals of `fit --out` (`choosing_out`: the other choice is another --out) and `stop`, so their
    advice always matches the directory."""
    from .fit import open_resume

    shown = shown or str(root)
    other = ", or pick another --out" if choosing_out else ""
    info = run_info(root)
    if info.status == RunStatus.BROKEN:
        return f"it cannot be used ({info.reason}); pick another --out"
    if info.status.is_live:
        return f"it is {info.status}; follow it with: tunelab watch {shown}"
    if info.status == RunStatus.UNKNOWN:
        return f"its state is unknown ({info.reason}){other}"
    if info.status in (RunStatus.COMPLETED, RunStatus.EARLY_STOPPED) or (Path(root) / "model").is_dir():
        return f"it finished: evaluate it with `tunelab eval --model {shown}`{other}"
    try:
        _, _, _, checkpoint = open_resume(str(root))
    except TuneLabError as err:
        return f"it cannot be resumed ({err}); train again into a new --out"
    if checkpoint is not None and _last_resume_failed_at_once(info, root):
        return f"its last resume failed ({info.reason}); train again into a new --out"
    if checkpoint is None:
        return f"start it over with: tunelab fit --resume {shown}{other}"
    return f"continue it with: tunelab fit --resume {shown}{other}"


def _last_resume_failed_at_once(info: RunInfo, root: Path) -> bool:
    """A resume that failed before its segment began (loading the checkpoint, building the model): the same
    checkpoint would fail the same way."""
    if info.status != RunStatus.FAILED:
        return False
    from .events import RunFailed, RunFinished, RunStarted, read_events

    try:
        tail = [e for e in read_events(Path(root) / "events.jsonl") if isinstance(e, (RunStarted, RunFinished, RunFailed))][-2:]
    except (OSError, TuneLabError):
        return False
    return len(tail) == 2 and isinstance(tail[0], (RunFinished, RunFailed)) and isinstance(tail[1], RunFailed)


@dataclass(frozen=True)
class RunListing:
    runs: list              # RunInfo, newest first, at most the limit
    left_out: int           # how many more were found than the limit lets show


def find_runs(directories: list[str | Path] | None = None, limit: int | None = 50) -> RunListing:
    """Runs from the history, ./runs and each directory given (itself a run, or a folder of runs), newest first,
    and how many the limit left out. A damaged or unreadable run is listed (BROKEN, naming what is wrong) rather
    than stopping the listing or vanishing from it."""
    paths: dict[Path, None] = {}
    for d in directories or []:
        d = Path(d)
        if not d.is_dir():
            raise TuneLabError(f"{str(d)!r} is not a directory")
        try:
            is_run = os.path.lexists(d / "run.json") or os.path.lexists(d / "owner.json")
        except OSError:
            is_run = True
        if not is_run and is_sweep(d):        # a sweep's runs, not its driver's folder
            found = [r for r in (d / e["name"] for e in _sweep_runs(d)) if r.is_dir()]
        else:
            found = [d] if is_run or not os.access(d, os.R_OK | os.X_OK) else runs_under(d)
        for p in found:
            paths.setdefault(p.resolve(), None)
    if not directories:
        for p in recent_runs(None):
            paths.setdefault(p.resolve(), None)
    infos = [run_info(p) for p in paths]
    # newest first by when each run began: a stable order (sorting by last activity made two running runs swap
    # rows every few seconds, under the cursor of someone marking them)
    infos.sort(key=lambda i: i.started or i.updated or 0, reverse=True)
    shown = infos if limit is None else infos[:limit]
    return RunListing(shown, len(infos) - len(shown))


def _sweep_runs(d: Path) -> list:
    from .sweep import load_sweep

    try:
        return load_sweep(d).runs
    except TuneLabError:
        return []


def list_runs(directories: list[str | Path] | None = None, limit: int | None = 50) -> list[RunInfo]:
    """find_runs' runs alone."""
    return find_runs(directories, limit).runs
