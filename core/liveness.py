"""Who owns a run directory, and whether it is still alive: the lock, owner.json, the heartbeat and stop requests.

A training process takes an exclusive lock on `DIR/run.lock` (held for the whole run; the kernel drops it when
the process dies, even under kill -9), so a second `fit --out DIR` or `--resume DIR` is refused. It records
itself in `DIR/owner.json` (pid, host, the process's start time: a reused pid has a different start time) and
rewrites `DIR/heartbeat.json` every HEARTBEAT_SECONDS from a background thread, which keeps beating through long
evaluations and saves. The same thread picks up `DIR/stop.request`, written by `tunelab stop` from any terminal,
and sets the run's stop event. Called by the trainer (`RunOwnership`), and read by `core/run_status.py`.

The lock is the truth about whether a run is alive: owner.json and the heartbeat are copied along with a directory
(`cp -a` of a live run) and can name any process, but a lock on DIR/run.lock is held only by a process that opened
that very file. A detached launch (core/runs.py) takes the lock before it starts the trainer and hands the locked
descriptor down to it (TUNELAB_RUN_LOCK_FD), so the run is held from the moment the launch returns. The heartbeat
thread also notices when the directory it beats into has been removed or replaced, and stops the run.
"""

from __future__ import annotations

import errno
import os
import stat
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import strict_json
from .atomic_write import write_json_atomic
from .errors import TuneLabError

HEARTBEAT_SECONDS = 2.0
FUTURE_TOLERANCE = 5.0      # a heartbeat stamped further ahead of this clock is not believed (clock skew, a forgery)
LOCK_NAME, OWNER_NAME, HEARTBEAT_NAME, STOP_NAME = "run.lock", "owner.json", "heartbeat.json", "stop.request"
LOCK_FD_ENV = "TUNELAB_RUN_LOCK_FD"     # a detached trainer inherits its launcher's locked run.lock on this descriptor


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
    """The JSON in `path`, or None if it is missing, unreadable or not a plain file (a watcher never fails on a
    damaged file, and never waits: a named pipe where owner.json or heartbeat.json belongs would block a plain read
    until someone writes to it, hanging `tunelab runs`, `watch` and the Runs screen)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            return strict_json.loads(fh.read().decode("utf-8"))
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


def read_heartbeat(root: Path, now: float | None = None) -> float | None:
    """The time of the last heartbeat, or None. A stamp ahead of the clock (beyond FUTURE_TOLERANCE) is not
    believed: the file's own modification time, which the writer cannot choose, stands in for it."""
    path = root / HEARTBEAT_NAME
    stamp = read_time(path)
    if stamp is None:
        return None
    now = time.time() if now is None else now
    if stamp <= now + FUTURE_TOLERANCE:
        return stamp
    try:
        written = os.stat(path).st_mtime
    except OSError:
        return None
    return written if written <= now + FUTURE_TOLERANCE else None


def heartbeat_pid(root: Path) -> int | None:
    """The pid the last heartbeat names, or None."""
    data = read_json(root / HEARTBEAT_NAME)
    try:
        return int(data["pid"])
    except (TypeError, KeyError, ValueError, OverflowError):
        return None


def write_owner(root: Path, owner: Owner) -> None:
    write_json(root / OWNER_NAME, asdict(owner))


class RunLock:
    """An exclusive, non-blocking lock on DIR/run.lock, held until release() or the process's death."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._fd: int | None = None

    def acquire(self, what: str, wait: float = 1.0) -> "RunLock":
        import fcntl

        inherited = inherited_lock_fd(self.root)
        if inherited is not None:           # a detached trainer: its launcher locked the file and handed it down
            os.environ.pop(LOCK_FD_ENV, None)
            os.set_inheritable(inherited, False)
            self._fd = inherited
            return self
        path = self.root / LOCK_NAME
        if os.path.lexists(path) and not path.is_file():
            raise TuneLabError(f"{path} is {kind_of(path)}, not the run's lock file; move it away")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise TuneLabError(f"cannot open {path}: {err.strerror}") from None
        deadline = time.monotonic() + wait  # a watcher's brief probe must not make a launch fail
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

    @property
    def fd(self) -> int | None:
        return self._fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def kind_of(path: Path) -> str:
    """'a directory', 'a named pipe', ... for something that should have been a plain file."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken link" if os.path.islink(path) else "missing"
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a plain file"


def inherited_lock_fd(root: Path) -> int | None:
    """The descriptor this process inherited from a detached launch, if it is DIR/run.lock (the same file)."""
    text = os.environ.get(LOCK_FD_ENV, "")
    if not text.isdigit():
        return None
    try:
        held, there = os.fstat(int(text)), os.stat(Path(root) / LOCK_NAME)
    except OSError:
        return None
    return int(text) if (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino) else None


def lock_is_held(root: Path) -> bool:
    """Whether another process holds DIR/run.lock right now. Probes with a shared lock and lets go at once (two
    watchers probing together do not see each other); the lock this process inherited from its launch is its own."""
    import fcntl

    path = Path(root) / LOCK_NAME
    if not path.is_file() or inherited_lock_fd(root) is not None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def lock_run(root: Path, what: str, wait: float = 1.0) -> RunLock:
    """Take DIR/run.lock for a launch (core/runs.py): the same lock the trainer then holds for the run's life."""
    return RunLock(Path(root)).acquire(what, wait)


def request_stop_file(root: Path) -> None:
    write_json(Path(root) / STOP_NAME, {"time": time.time(), "pid": os.getpid(), "host": socket.gethostname()})


class RunOwnership:
    """Held by the training process for a run's life: the lock, owner.json, and a heartbeat thread that also
    turns a stop request file into `stop.set()`."""

    def __init__(self, root: Path, what: str = "--out"):
        self.root = Path(root)
        self.lock = RunLock(self.root).acquire(what)
        held = os.fstat(self.lock.fd)
        self._identity = (held.st_dev, held.st_ino)   # DIR/run.lock as it is now: gone or another file = DIR is gone
        self.lost: str | None = None        # set once the directory was removed or replaced under the run
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

    def check_dir(self) -> str | None:
        """Whether the run directory is still the one this run locked; once it is not (removed with `rm -rf`,
        or moved away and another put in its place), `lost` says so, the stop event is set and nothing more is
        written there (writing would re-create half a run directory that no listing knows)."""
        if self.lost is None:
            try:
                st = os.stat(self.root / LOCK_NAME)
                same = (st.st_dev, st.st_ino) == self._identity
            except OSError:
                same = False
            if not same:
                self.lost = (f"the run directory {str(self.root)!r} was removed or replaced while the run trained; "
                             "the run was abandoned and nothing more was written there")
                if self.stop_event is not None:
                    self.stop_event.set()
        return self.lost

    def _beat(self) -> None:
        if self.check_dir() is not None:
            return
        try:
            write_json(self.root / HEARTBEAT_NAME, {"time": time.time(), "pid": self.owner.pid, "step": self.step})
        except OSError:
            pass  # a full disk must not kill the heartbeat thread; the status then reads "stalled"
        if self.stop_event is not None and (self.root / STOP_NAME).is_file():
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
        if self.check_dir() is not None:
            return
        try:
            write_json(self.root / HEARTBEAT_NAME, {"time": time.time(), "pid": self.owner.pid, "step": self.step,
                                                    "ended": True})
            (self.root / STOP_NAME).unlink(missing_ok=True)
        except OSError:
            pass
