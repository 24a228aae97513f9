"""What state a run directory is in, read from the directory alone: the one status function every watcher uses.

`run_info(DIR)` folds run.json, the event log's final events, owner.json and the heartbeat into a RunInfo:
status, model, data, step/total, best figure of merit, age and, for a failed or crashed run, why. It never
raises on a damaged directory (a broken run.json is status BROKEN with the reason), so a listing goes on.
Called by `tunelab runs`, `tunelab watch`, `tunelab stop`, `--resume` and the TUI's Runs screen.
"""

from __future__ import annotations

import enum
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from . import strict_json
from .events import (FINAL_EVENTS, BatchSizeChosen, EvalDone, EvalStarted, RunFailed, RunFinished, RunStarted,
                     SaveStarted, event_from_json)
from .liveness import (FUTURE_TOLERANCE, HEARTBEAT_SECONDS, LOCK_NAME, Owner, heartbeat_pid, is_alive,
                       lock_is_held, read_heartbeat, read_owner)
from .run_dir import odd_run_file

STALL_SECONDS = 60.0        # a live process whose heartbeat is older than this is "stalled" (stuck, or SIGSTOPped)
OTHER_HOST_SECONDS = 30.0   # a run on another host counts as running while its heartbeat is this fresh


class RunStatus(str, enum.Enum):
    RUNNING = "running"
    STALLED = "stalled"              # the process is there but its heartbeat stopped
    COMPLETED = "completed"
    EARLY_STOPPED = "early_stopped"
    STOPPED = "stopped"              # stopped on request, with a resumable checkpoint
    FAILED = "failed"                # ended with a RunFailed event
    CRASHED = "crashed"              # the process is gone and wrote no final event (kill -9, OOM kill, power)
    UNKNOWN = "unknown"              # another host's run whose heartbeat stopped, or a run from an older TuneLab
    BROKEN = "broken"                # run.json or the event log is missing, damaged or unreadable; a run file that
                                     # is a directory; a run directory that cannot be read (the reason names it)

    def __str__(self) -> str:
        return self.value

    @property
    def is_live(self) -> bool:
        return self in (RunStatus.RUNNING, RunStatus.STALLED)

    @property
    def is_final(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.EARLY_STOPPED, RunStatus.STOPPED, RunStatus.FAILED,
                        RunStatus.CRASHED)

    @property
    def resumable(self) -> bool:
        return self in (RunStatus.STOPPED, RunStatus.CRASHED, RunStatus.FAILED)


@dataclass(frozen=True)
class RunInfo:
    root: Path
    status: RunStatus
    model: str = ""
    data: str = ""
    step: int = 0
    total_steps: int = 0
    figure_of_merit: str = ""
    best_metric: float | None = None
    started: float | None = None     # when the run was first started
    updated: float | None = None     # the newest event or heartbeat
    phase: str = ""                  # what a live run is doing: starting, training, evaluating, saving
    reason: str = ""                 # why it failed, crashed or is broken
    pid: int = 0
    host: str = ""

    def as_dict(self) -> dict:
        return {"run_dir": str(self.root), "status": self.status.value, "model": self.model, "data": self.data,
                "step": self.step, "total_steps": self.total_steps, "figure_of_merit": self.figure_of_merit,
                "best_metric": self.best_metric, "started": self.started, "updated": self.updated,
                "phase": self.phase, "reason": self.reason, "pid": self.pid, "host": self.host}


def _read_run_json(root: Path) -> tuple[dict | None, str]:
    path = root / "run.json"
    try:
        data = strict_json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no run.json"
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"run.json is damaged ({type(err).__name__})"
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        return None, "run.json is damaged (no configuration in it)"
    return data, ""


def _scan_events(path: Path) -> dict:
    """One pass over events.jsonl that parses only the lines a summary needs (cheap on a 100k-step log).
    "error" says why the log could not be read at all ("" when it could, or when there is none yet)."""
    found = {"last_start": None, "final": None, "last_step": None, "best": None, "first_time": None,
             "last_event": None, "last_time": None, "error": ""}
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return found
    except OSError as err:
        found["error"] = f"events.jsonl cannot be read ({err.strerror or type(err).__name__})"
        return found
    step_line, step_is_last = None, False
    lines = 0
    with fh:
        try:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break                              # a torn last line: the writer is mid-line or was killed there
                lines += 1
                if found["first_time"] is not None and b'"StepLogged"' in raw[:40]:
                    step_line, step_is_last = raw, True  # parsed lazily: only the last one matters
                    continue
                event = event_from_json(raw.decode("utf-8", errors="replace"))
                if event is None:
                    continue
                step_is_last = False
                if found["first_time"] is None:
                    found["first_time"] = event.time
                found["last_event"] = event
                found["last_time"] = event.time
                if isinstance(event, RunStarted):
                    found["last_start"], found["final"] = event, None
                elif isinstance(event, FINAL_EVENTS):
                    found["final"] = event
                elif isinstance(event, EvalDone) and event.is_best:
                    found["best"] = event.metrics.get(event.figure_of_merit)
        except OSError as err:
            found["error"] = f"events.jsonl cannot be read ({err.strerror or type(err).__name__})"
            return found
    if lines and found["first_time"] is None:
        found["error"] = f"events.jsonl is damaged: none of its {lines:,} lines is an event TuneLab can read"
    step_event = event_from_json(step_line.decode("utf-8", errors="replace")) if step_line is not None else None
    if step_event is not None:
        found["last_step"] = step_event
        found["last_time"] = max(found["last_time"] or step_event.time, step_event.time)
        if step_is_last:
            found["last_event"] = step_event
    return found


def _phase(event) -> str:
    if isinstance(event, EvalStarted):
        return "evaluating" if not event.final else "final scoring"
    if isinstance(event, BatchSizeChosen):       # lowered while scoring, or chosen before the first step
        return "evaluating" if event.what == "eval" else "starting"
    if isinstance(event, SaveStarted):
        return "saving"
    if event is None or isinstance(event, RunStarted):
        return "starting"
    # StepLogged, EvalDone, CheckpointSaved and anything newer: the loop is back to training
    return "training"


def run_info(root: str | Path, now: float | None = None) -> RunInfo:
    """Classify one run directory. Never raises for a damaged directory.

    Whether a run on this host is alive comes from its lock alone (a process holds this directory's run.lock):
    owner.json and the heartbeat say which process it is and how it is doing, but a copy of a live run, or an
    owner.json naming some other process, holds no lock and is not running. A run on another host cannot be
    lock-tested (locks on shared file systems are not to be trusted), so there its heartbeat decides."""
    root = Path(root)
    now = time.time() if now is None else now
    try:
        os.listdir(root)
    except OSError as err:
        return RunInfo(root, RunStatus.BROKEN, reason=f"the run directory cannot be read ({err.strerror or err})")
    owner = read_owner(root)
    here = owner is None or owner.host == socket.gethostname()
    held = here and lock_is_held(root)
    beat = read_heartbeat(root, now)
    if owner is not None and beat is not None and heartbeat_pid(root) not in (None, owner.pid):
        beat = None                  # written by the process of an earlier segment, not by this one
    odd = odd_run_file(root)
    if odd and not held:
        return RunInfo(root, RunStatus.BROKEN, reason=odd, pid=owner.pid if owner else 0, host=owner.host if owner else "")
    config, problem = _read_run_json(root)
    if config is None:
        # a launch that has not written run.json (an older launcher), or a foreground fit claiming its directory
        if held:
            return RunInfo(root, RunStatus.RUNNING, phase="starting", pid=owner.pid if owner else 0,
                           host=owner.host if owner else "", started=owner.started if owner else None,
                           updated=beat or (owner.started if owner else None))
        if owner is not None and problem == "no run.json":
            return RunInfo(root, RunStatus.CRASHED, reason=_log_tail(root) or "the trainer died before it started",
                           pid=owner.pid, host=owner.host, started=owner.started)
        return RunInfo(root, RunStatus.BROKEN, reason=problem)
    cfg = config.get("config", {})
    scan = _scan_events(root / "events.jsonl")
    if scan["error"] and not held:
        return RunInfo(root, RunStatus.BROKEN, reason=scan["error"], model=str(cfg.get("model", "")),
                       data=str(cfg.get("data", "")), pid=owner.pid if owner else 0, host=owner.host if owner else "")
    final, last_start, last_step = scan["final"], scan["last_start"], scan["last_step"]
    step = max([e.step for e in (final, last_step) if e is not None] + [last_start.resumed_from_step if last_start else 0])
    best = scan["best"]
    if isinstance(final, RunFinished) and final.best_metric is not None:
        best = final.best_metric
    common = dict(model=str(cfg.get("model", "")), data=str(cfg.get("data", "")), step=step,
                  total_steps=_int(config.get("total_steps")), figure_of_merit=str(config.get("figure_of_merit", "")),
                  best_metric=best, started=scan["first_time"] or (owner.started if owner else None),
                  pid=owner.pid if owner else 0, host=owner.host if owner else "")
    updated = max([t for t in (scan["last_time"], beat) if t is not None and t <= now + FUTURE_TOLERANCE], default=None)
    if final is not None and held and not _written_by_holder(owner, final):
        final = None                 # the lock's holder began after that segment ended: a new segment is starting
        phase = "starting"
    else:
        phase = _phase(scan["last_event"])
    if isinstance(final, RunFinished):
        return RunInfo(root, RunStatus(final.status), updated=final.time, **common)
    if isinstance(final, RunFailed):
        return RunInfo(root, RunStatus.FAILED, updated=final.time, reason=final.error, **common)
    # no final event after the newest start: alive, stalled, crashed or unknown
    if owner is not None and not here:
        fresh = beat is not None and now - beat <= OTHER_HOST_SECONDS
        return RunInfo(root, RunStatus.RUNNING if fresh else RunStatus.UNKNOWN, updated=updated, phase=phase if fresh else "",
                       reason="" if fresh else f"runs on {owner.host}; no heartbeat for {_age(now - (beat or owner.started))}",
                       **common)
    if not held:
        if owner is None and not os.path.lexists(root / LOCK_NAME):
            return RunInfo(root, RunStatus.UNKNOWN, updated=updated, reason="no owner.json (a run from an older TuneLab?)",
                           **common)
        if owner is not None and is_alive(owner):
            why = (f"no process holds its lock (pid {owner.pid}, named in owner.json, is another run or a copy's "
                   "original) and it wrote no final event")
        else:
            why = f"process {owner.pid} is gone and wrote no final event" if owner else "no process holds its lock"
        if scan["first_time"] is None:      # it never began: a detached trainer's last words say why
            why = _log_tail(root) or why
        return RunInfo(root, RunStatus.CRASHED, updated=updated, reason=why + _resume_hint(root), **common)
    if beat is not None and now - beat > max(STALL_SECONDS, 10 * HEARTBEAT_SECONDS):
        return RunInfo(root, RunStatus.STALLED, updated=updated, phase=phase,
                       reason=f"no heartbeat for {_age(now - beat)}", **common)
    return RunInfo(root, RunStatus.RUNNING, updated=updated, phase=phase, **common)


def _written_by_holder(owner: Owner | None, final) -> bool:
    """Whether the lock's holder wrote `final` (it is finishing and about to let go), rather than began after it."""
    return owner is not None and is_alive(owner) and owner.started <= final.time + 0.5


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def _resume_hint(root: Path) -> str:
    checkpoints = root / "checkpoints"
    if (checkpoints / "last").is_dir() or (checkpoints / "last.old").is_dir():
        return f"; continue with: tunelab fit --resume {root}"
    if not os.path.lexists(checkpoints) and not os.path.lexists(root / "model"):
        return f"; start it over with: tunelab fit --resume {root}"
    return ""


def _log_tail(root: Path) -> str:
    """The last non-empty line of a detached run's fit.log (the error it died with), if any."""
    try:
        lines = [ln.strip() for ln in (root / "fit.log").read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:300] if lines else ""


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def started_text(info: RunInfo, now: float | None = None) -> str:
    """'5m ago': how long since the run was first started (its first event, else its launch), for the `started`
    column of `tunelab runs` and the Runs screen ('?' when no time is known). Not the heartbeat's age, which is
    0 s for every running run."""
    if not info.started:
        return "?"
    return _age((time.time() if now is None else now) - info.started) + " ago"
