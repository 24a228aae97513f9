"""Who owns a run directory, and whether it is still alive: the lock, owner.json, the heartbeat and stop requests.

A training process takes an exclusive lock on `DIR/run.lock` (held for the whole run; the kernel drops it when
the process dies, even under kill -9), so a second `fit --out DIR` or `--resume DIR` is refused. It records
itself in `DIR/owner.json` (pid, host, the process's start time: a reused pid has a different start time) and
rewrites `DIR/heartbeat.json` every HEARTBEAT_SECONDS from a background thread, which keeps beating through long
evaluations and saves. The same thread picks up `DIR/stop.request`, written by `tunelab stop` from any terminal,
and sets the run's stop event. Called by the trainer (`RunOwnership`), and read by `core/run_status.py`.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .atomic_write import write_json_atomic
from .errors import TuneLabError

HEARTBEAT_SECONDS = 2.0
LOCK_NAME, OWNER_NAME, HEARTBEAT_NAME, STOP_NAME = "run.lock", "owner.json", "heartbeat.json", "stop.request"


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: float              # the process's start time (seconds since the epoch), as the OS reports it

    @classmethod
    def of_pid(cls, pid: int) -> "Owner":
        return cls(pid, socket.gethostname(), process_start_time(pid) or time.time())


def process_start_time(pid: int) -> float | None:
    """When process `pid` started, or None if there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def is_alive(owner: Owner) -> bool:
    """True if `owner` (on this host) is still running: same pid and same start time, so a reused pid is not."""
    started = process_start_time(owner.pid)
    if started is None:
        return False
    import psutil

    try:
        if psutil.Process(owner.pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    return abs(started - owner.started) < 1.0


def write_json(path: Path, data) -> None:
    write_json_atomic(path, data, indent=None)


def read_json(path: Path):
    """The JSON in `path`, or None if it is missing or unreadable (a watcher never fails on a damaged file)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_owner(root: Path) -> Owner | None:
    data = read_json(root / OWNER_NAME)
    try:
        return Owner(int(data["pid"]), str(data["host"]), float(data["started"]))
    except (TypeError, KeyError, ValueError, OverflowError):    # 1e400 is a float that no int can be
        return None


def read_time(path: Path) -> float | None:
    """The "time" field of the JSON in `path` (a heartbeat, a stop request), or None if missing or damaged."""
    data = read_json(path)
    try:
        return float(data["time"])
    except (TypeError, KeyError, ValueError, OverflowError):
        return None


def read_heartbeat(root: Path) -> float | None:
    """The time of the last heartbeat (from the file's content), or None."""
    return read_time(root / HEARTBEAT_NAME)


def write_owner(root: Path, owner: Owner) -> None:
    write_json(root / OWNER_NAME, asdict(owner))


class RunLock:
    """An exclusive, non-blocking lock on DIR/run.lock, held until release() or the process's death."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._fd: int | None = None

    def acquire(self, what: str) -> "RunLock":
        import fcntl

        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + 1.0   # a watcher's brief probe must not make a launch fail
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    os.close(fd)
                    owner = read_owner(self.root)
                    who = f" (pid {owner.pid} on {owner.host})" if owner else ""
                    raise TuneLabError(f"{what} {str(self.root)!r} is in use by another TuneLab process{who}; "
                                       f"stop it with `tunelab stop {self.root}` or pick another directory") from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def lock_is_held(root: Path) -> bool:
    """Whether some process holds DIR/run.lock right now (probes and lets go at once)."""
    import fcntl

    path = Path(root) / LOCK_NAME
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def request_stop_file(root: Path) -> None:
    write_json(Path(root) / STOP_NAME, {"time": time.time(), "pid": os.getpid(), "host": socket.gethostname()})


class RunOwnership:
    """Held by the training process for a run's life: the lock, owner.json, and a heartbeat thread that also
    turns a stop request file into `stop.set()`."""

    def __init__(self, root: Path, what: str = "--out"):
        self.root = Path(root)
        self.lock = RunLock(self.root).acquire(what)
        self.owner = Owner.of_pid(os.getpid())
        self._stop_beating = threading.Event()
        self._thread: threading.Thread | None = None
        self.stop_event: threading.Event | None = None
        self.step = 0                       # updated by the trainer; goes into each heartbeat
        asked_at = read_time(self.root / STOP_NAME)
        # a request written since this process began (`tunelab stop` on a detached run that is still starting) is
        # for this run and is kept; an older one was meant for an earlier segment
        if asked_at is None or asked_at < self.owner.started - 1.0:
            try:
                (self.root / STOP_NAME).unlink(missing_ok=True)
            except OSError:
                pass

    def start(self, stop_event: threading.Event) -> None:
        write_owner(self.root, self.owner)
        self.stop_event = stop_event
        self._beat()
        self._thread = threading.Thread(target=self._run, name="tunelab-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            write_json(self.root / HEARTBEAT_NAME, {"time": time.time(), "pid": self.owner.pid, "step": self.step})
        except OSError:
            pass  # a full disk must not kill the heartbeat thread; the status then reads "stalled"
        if self.stop_event is not None and (self.root / STOP_NAME).exists():
            self.stop_event.set()

    def _run(self) -> None:
        while not self._stop_beating.wait(HEARTBEAT_SECONDS):
            self._beat()

    def close(self) -> None:
        self._stop_beating.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._beat_final()
        self.lock.release()

    def _beat_final(self) -> None:
        try:
            write_json(self.root / HEARTBEAT_NAME, {"time": time.time(), "pid": self.owner.pid, "step": self.step,
                                                    "ended": True})
            (self.root / STOP_NAME).unlink(missing_ok=True)
        except OSError:
            pass
