"""The run directory: the contract between a training process and whoever watches it.

    DIR/run.json             the resolved configuration (written first)
    DIR/events.jsonl         append-only progress events, one JSON line each
    DIR/checkpoints/last/    the resumable state (model, optimizer, scheduler, RNG, step; core/checkpoint.py)
    DIR/checkpoints/best/    the best model so far by the figure of merit
    DIR/model/               the final model: save_pretrained (safetensors) + tokenizer
    DIR/metrics.json         final scores
    DIR/run.lock             held by the training process for its life (core/liveness.py)
    DIR/owner.json           pid, host and start time of that process
    DIR/heartbeat.json       rewritten every 2 s while it runs
    DIR/fit.log              a detached run's output

Watchers (the CLI, the TUI, a notebook) only read it. Runs are also remembered in a small history file
so `tunelab models` can list recent outputs. Called by the trainer, resume, `tunelab runs`/`models`.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from . import strict_json
from .errors import TuneLabError


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "run.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def last(self) -> Path:
        return self.root / "checkpoints" / "last"

    @property
    def best(self) -> Path:
        return self.root / "checkpoints" / "best"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def log(self) -> Path:
        return self.root / "fit.log"

    def read_config(self) -> dict:
        """run.json, checked enough that callers can index it; a damaged one is a TuneLabError, never a traceback."""
        if not self.config.is_file():
            raise TuneLabError(f"{str(self.root)!r} is not a TuneLab run directory (no run.json)")
        try:
            data = strict_json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise TuneLabError(f"{self.config} is damaged and cannot be read ({type(err).__name__}); "
                               "the run's model/ may still load with --model") from None
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise TuneLabError(f"{self.config} is damaged: it holds no run configuration")
        for where, key, kinds in _RUN_JSON_TYPES:
            value = (data if where is None else data.get(where, {})).get(key)
            if value is not None and not isinstance(value, kinds):
                name = f"{where}.{key}" if where else key
                raise TuneLabError(f"{self.config} is damaged: {name} is {type(value).__name__} {str(value)[:40]!r}, "
                                   f"not {' or '.join(k.__name__ for k in kinds)}")
        columns = data["config"].get("columns")
        if columns is not None and not all(isinstance(c, str) for c in columns):
            raise TuneLabError(f"{self.config} is damaged: config.columns holds something other than column names")
        return data

    def resumable_checkpoint(self) -> Path | None:
        """checkpoints/last, or last.old when a kill fell between the two renames of a save; None if neither is whole."""
        for candidate in (self.last, self.last.with_name("last.old")):
            if (candidate / "trainer_state.json").is_file():
                return candidate
        return None


# files a directory may hold before a run starts in it: the lock, a detached launch's log and owner record
_LAUNCH_FILES = {"run.lock", "fit.log", "owner.json", "heartbeat.json", "stop.request"}  # a detached launch's own

# every file a run reads or writes at the top of its directory, and the folders it keeps there
RUN_FILES = ("run.json", "events.jsonl", "run.lock", "owner.json", "heartbeat.json", "stop.request", "metrics.json",
             "fit.log")
RUN_FOLDERS = ("checkpoints", "model")


def odd_run_file(root: Path, writing: bool = False) -> str:
    """The first run file of `root` that is something other than a plain file (a directory where events.jsonl
    belongs, a named pipe that would block a reader) or that cannot be read (with `writing`: written), or a run
    folder that is not a folder, said in a few words; "" when there is none. What the trainer, `watch` and the
    status all check before they read or write."""
    from .liveness import kind_of

    root = Path(root)
    for name in RUN_FILES:
        path = root / name
        try:
            if os.path.lexists(path) and not path.is_file():
                return f"{name} is {kind_of(path)}, not a file"
            if path.is_file() and not os.access(path, os.R_OK | (os.W_OK if writing else 0)):
                return f"{name} cannot be {'written' if writing and os.access(path, os.R_OK) else 'read'} (permission denied)"
        except OSError as err:
            return f"{name} cannot be read ({err.strerror})"
    for name in RUN_FOLDERS:
        path = root / name
        if os.path.lexists(path) and not path.is_dir():
            return f"{name} is a file, not a folder"
    return ""


def check_run_files(root: Path) -> None:
    """Refuse, in one line naming it, a run directory where a run file is a directory or another odd thing: the
    trainer would fail on it half-way (or a reader would hang on a pipe)."""
    problem = odd_run_file(root, writing=True)
    if problem:
        raise TuneLabError(f"{str(root)!r} cannot be used: {problem}; move it away (or pick another directory)")


def check_new_run_dir(out: str) -> Path:
    """Refuse an --out that is a file or already holds a run or other files; nothing is written."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in out):
        # the run history (runs.txt) is one path a line, and every message would print the raw control character
        raise TuneLabError(f"--out {out!r} holds a line break or another control character; pick a plain name")
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise TuneLabError(f"--out {out!r} is a file, not a directory")
    if root.is_dir():
        try:
            names = {p.name for p in root.iterdir()}
        except OSError as err:
            raise TuneLabError(f"cannot read --out {out!r}: {err.strerror}") from None
        check_run_files(root)
        if "run.lock" in names:
            from .liveness import lock_is_held, read_owner

            if lock_is_held(root):
                owner = read_owner(root)
                who = f" (pid {owner.pid} on {owner.host})" if owner else ""
                raise TuneLabError(f"--out {out!r} is in use by another TuneLab process{who}; pick another --out")
        if names & {"run.json", "events.jsonl"}:
            from .runs import what_next

            raise TuneLabError(f"--out {out!r} already holds a run; {what_next(root, out)}")
        if names - _LAUNCH_FILES:
            raise TuneLabError(f"--out {out!r} is not empty; pick a new or empty directory")
    return root


# the fields of run.json that other commands read, and the types they must have
_RUN_JSON_TYPES = (
    (None, "equation", (str,)), (None, "figure_of_merit", (str,)), (None, "total_steps", (int,)),
    ("config", "model", (str,)), ("config", "data", (str,)), ("config", "eqn", (str,)),
    ("config", "columns", (list,)), ("config", "seed", (int,)), ("config", "max_length", (int,)),
)


def new_run_dir(out: str) -> RunDir:
    """Create DIR for a new run; refuse one that already holds a run or other files."""
    root = check_new_run_dir(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TuneLabError(f"cannot create --out {out!r}: {err.strerror}") from None
    return RunDir(root)


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a fully written directory into place (the old one is removed only after the new one is there)."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def state_dir() -> Path:
    """Where TuneLab keeps its own small files (TUNELAB_HOME, else $XDG_STATE_HOME/tunelab)."""
    base = os.environ.get("TUNELAB_HOME") or Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "tunelab"
    return Path(base)


def _open_plain(path: Path, flags: int) -> int:
    """os.open of `path` that never waits and only yields a plain file: a named pipe left where runs.txt belongs
    would otherwise block `tunelab runs`, `models` and the end of every fit. OSError for anything else."""
    fd = os.open(path, flags | os.O_NONBLOCK, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a plain file")
    return fd


def remember_run(root: Path) -> None:
    try:
        state_dir().mkdir(parents=True, exist_ok=True)
        with os.fdopen(_open_plain(state_dir() / "runs.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a",
                       encoding="utf-8") as fh:
            fh.write(str(root.resolve()) + "\n")
    except OSError:
        pass  # the history is a convenience; never fail a run over it


def recent_runs(limit: int | None = 20) -> list[Path]:
    """Run directories from the history (newest first) that still exist, plus any under ./runs."""
    seen: dict[str, None] = {}
    history = state_dir() / "runs.txt"
    try:
        with os.fdopen(_open_plain(history, os.O_RDONLY), encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        seen.setdefault(line.strip(), None)
    for child in runs_under(Path("runs")):
        seen.setdefault(str(child.resolve()), None)
    runs = [Path(p) for p in seen if p and "\ufffd" not in p and (_is_run(Path(p)) or _unreadable_dir(Path(p)))]
    return runs[:limit]


def _is_run(path: Path) -> bool:
    """Whether `path` holds a run (its run.json or owner.json is there, whatever shape it is in)."""
    try:
        return os.path.lexists(path / "run.json") or os.path.lexists(path / "owner.json")
    except OSError:
        return False


def _unreadable_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not _readable(path)
    except OSError:
        return False


def _readable(path: Path) -> bool:
    return os.access(path, os.R_OK | os.X_OK)


def runs_under(directory: Path) -> list[Path]:
    """Run directories directly inside `directory` (newest name first), and folders there that cannot be read
    (listed as unreadable, not left out); [] when `directory` is missing or unreadable."""
    try:
        children = sorted(directory.iterdir(), reverse=True)
    except OSError:
        return []
    found = []
    for child in children:
        try:
            if child.is_dir() and (_is_run(child) or not _readable(child)):
                found.append(child)
        except OSError:
            found.append(child)
    return found
