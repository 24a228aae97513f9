"""A sweep's plan: the space of settings (`--grid name=v1,v2`), its runs, and the manifest `sweep.json`.

    SWEEP/sweep.json     the manifest: the base configuration, the space, how many run at once, and the runs
                         (name and settings of each), rewritten atomically when a trial is added
    SWEEP/<run>/         one run directory per point, exactly as `tunelab fit` makes it
    SWEEP/driver/        the driver's lock, owner.json, heartbeat and stop request (core/liveness.py)
    SWEEP/study.db       an Optuna search's study (SQLite), unless --storage names another database
    SWEEP/sweep.log      the detached driver's output

Every name and value in the space is checked against FitConfig's declarations (core/config.py `SETTINGS`,
`Setting.check`, `FitConfig.validate`) before anything starts, so any FitConfig setting can be swept with no
code here. Where each run stands is read from its own run directory (core/run_status.py), never stored twice:
`sweep_info` folds them into the sweep's progress. The queue that runs them is core/sweep_driver.py. Called by
`tunelab sweep`, `runs`, `stop`, `compare` and the TUI.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import strict_json
from .atomic_write import write_json_atomic
from .config import SETTINGS_BY_NAME, FitConfig, Setting
from .errors import TuneLabError

MANIFEST, DRIVER_DIR, STUDY_FILE, SWEEP_LOG = "sweep.json", "driver", "study.db", "sweep.log"
CONFIRM_ABOVE = 200           # a grid of more runs than this needs --yes
NOT_SWEPT = {"out": "the sweep names each run's directory", "columns": "a sweep cannot vary the column names",
             "trust_remote_code": "it is a permission, not a setting"}
DONE_STATES = ("completed", "early_stopped", "failed", "pruned")


# ---------------------------------------------------------------- the space

@dataclass(frozen=True)
class Range:
    """`name=LOW:HIGH[:log]`: a numeric interval an Optuna search samples from (a grid takes lists only)."""

    low: float
    high: float
    log: bool = False

    def as_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "log": self.log}


def setting_named(name: str) -> Setting:
    """The FitConfig setting a --grid name means: `lr`, `batch-size`, `batch_size` or `--batch-size`."""
    key = name.strip().lstrip("-").replace("-", "_")
    if key in NOT_SWEPT:
        raise TuneLabError(f"--grid {name}: {key} cannot be swept ({NOT_SWEPT[key]})")
    s = SETTINGS_BY_NAME.get(key)
    if s is None:
        from .errors import some_of

        known = sorted(n for n in SETTINGS_BY_NAME if n not in NOT_SWEPT)
        raise TuneLabError(f"--grid {name}: no such setting; the settings are {some_of(known, limit=len(known))}")
    return s


def parse_value(s: Setting, text: str):
    """One value of a --grid list, typed as its setting is, and checked against its range."""
    raw = text.strip()
    if s.kind in (int, float):
        if raw.lower() in s.words:
            value = raw.lower()
        else:
            try:
                value = float(raw) if s.kind is float else int(raw)
            except ValueError:
                kind = "whole number" if s.kind is int else "number"
                raise TuneLabError(f"--grid {s.name}: {raw!r} is not a {kind}") from None
    elif s.kind is bool:
        words = {"true": True, "yes": True, "on": True, "1": True,
                 "false": False, "no": False, "off": False, "0": False}
        if raw.lower() not in words:
            raise TuneLabError(f"--grid {s.name}: {raw!r} is not true or false")
        value = words[raw.lower()]
    else:
        value = None if raw.lower() in ("none", "default") and s.optional else raw
    problem = s.check(value)
    if problem:
        raise TuneLabError(f"--grid {s.name}: {problem}")
    return value


def parse_space(items: list[str], *, ranges: bool = False) -> dict[str, list | Range]:
    """`["lr=1e-5,3e-5", "seed=1,2"]` -> {"lr": [1e-05, 3e-05], "seed": [1, 2]}, every name and value checked.
    With `ranges` (an Optuna search), `lr=1e-5:1e-4:log` is a Range; a grid refuses it."""
    space: dict[str, list | Range] = {}
    for item in items:
        name, eq, values = item.partition("=")
        if not eq or not name.strip() or not values.strip():
            raise TuneLabError(f"--grid {item!r}: give a setting and its values, e.g. --grid lr=1e-5,3e-5,5e-5")
        s = setting_named(name)
        if s.name in space:
            raise TuneLabError(f"--grid {s.name} is given twice; put all its values in one --grid")
        if ":" in values and s.kind in (int, float) and "," not in values:
            space[s.name] = _parse_range(s, values, allowed=ranges)
            continue
        parsed = [parse_value(s, v) for v in values.split(",")]
        repeated = [v for i, v in enumerate(parsed) if v in parsed[:i]]
        if repeated:
            raise TuneLabError(f"--grid {s.name}: {repeated[0]!r} is given twice")
        space[s.name] = parsed
    return space


def _parse_range(s: Setting, text: str, allowed: bool) -> Range:
    if not allowed:
        raise TuneLabError(f"--grid {s.name}={text}: a range is for --search optuna; a grid lists its values "
                           f"(--grid {s.name}=a,b,c)")
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "log"):
        raise TuneLabError(f"--grid {s.name}={text}: a range is LOW:HIGH or LOW:HIGH:log")
    low, high = (parse_value(s, p) for p in parts[:2])
    if isinstance(low, str) or isinstance(high, str) or not low < high:
        raise TuneLabError(f"--grid {s.name}={text}: the range's low end must be a number below its high end")
    log = len(parts) == 3
    if log and low <= 0:
        raise TuneLabError(f"--grid {s.name}={text}: a log range must start above 0")
    return Range(low, high, log)


def grid_points(space: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, the last setting varying fastest."""
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]


def run_name(index: int, settings: dict) -> str:
    """`003-lr=3e-05-seed=1`: the run's number and its settings, safe as a folder name."""
    parts = []
    for name, value in settings.items():
        shown = Path(value).name if name in ("model", "data") and isinstance(value, str) else _short(value)
        parts.append(f"{name}={shown}")
    text = re.sub(r"[^A-Za-z0-9._=+-]+", "_", "-".join(parts))[:120]
    return f"{index:03d}" + (f"-{text}" if text else "")


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_for(base: dict, settings: dict, out: str | Path) -> FitConfig:
    """The run's FitConfig: the base with this point's settings, checked whole (FitConfig.validate)."""
    config = FitConfig.from_dict({**base, **settings, "out": str(out)})
    config.validate()
    return config


# ---------------------------------------------------------------- the manifest

@dataclass
class Sweep:
    root: Path
    kind: str                           # "grid" or "optuna"
    base: dict                          # FitConfig fields shared by every run (out left empty)
    space: dict                         # name -> list of values, or a Range's dict (optuna)
    runs: list = field(default_factory=list)   # [{"name", "settings", "trial"?, "state"?}]
    parallel: int = 1
    trials: int = 0                     # optuna: how many trials in all
    storage: str = ""                   # optuna: the study's database URL ("" = SWEEP/study.db)
    study_name: str = "tunelab"
    direction: str = "maximize"         # optuna: which way the figure of merit is better
    created: float = field(default_factory=time.time)

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def driver_dir(self) -> Path:
        return self.root / DRIVER_DIR

    @property
    def total(self) -> int:
        return self.trials if self.kind == "optuna" else len(self.runs)

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.root / STUDY_FILE).resolve()}"

    def run_dir(self, name: str) -> Path:
        return self.root / name

    def space_ranges(self) -> dict:
        return {k: (Range(**v) if isinstance(v, dict) else v) for k, v in self.space.items()}

    def save(self) -> None:
        data = {"version": 1, **{k: v for k, v in asdict(self).items() if k != "root"}}
        try:
            write_json_atomic(self.manifest, data)
        except OSError as err:
            raise TuneLabError(f"cannot write {self.manifest}: {err.strerror}") from None

    def mark(self, name: str, **fields) -> None:
        """Record something about one run (an Optuna trial's number, or that it was pruned) in the manifest."""
        for entry in self.runs:
            if entry["name"] == name:
                entry.update(fields)
        self.save()


def is_sweep(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in `path`; a missing or damaged manifest is one line."""
    root = Path(path)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise TuneLabError(f"{str(root)!r} is not a sweep (no {MANIFEST}); start one with: tunelab sweep --out {root} "
                           f"--grid lr=1e-5,3e-5")
    try:
        data = strict_json.loads(manifest.read_text(encoding="utf-8"))
        sweep = Sweep(root=root, kind=str(data["kind"]), base=dict(data["base"]), space=dict(data["space"]),
                      runs=list(data.get("runs", [])), parallel=int(data.get("parallel", 1)),
                      trials=int(data.get("trials", 0)), storage=str(data.get("storage", "")),
                      study_name=str(data.get("study_name", "tunelab")),
                      direction=str(data.get("direction", "maximize")), created=float(data.get("created", 0)))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise TuneLabError(f"{manifest} is damaged and cannot be read ({type(err).__name__})") from None
    if sweep.kind not in ("grid", "optuna") or not all(isinstance(r, dict) and "name" in r for r in sweep.runs):
        raise TuneLabError(f"{manifest} is damaged: it does not describe a sweep")
    return sweep


def plan_sweep(root: str | Path, base: FitConfig, space: dict, *, search: str = "grid", trials: int = 0,
               parallel: int = 1, storage: str = "", confirmed: bool = False, direction: str = "maximize") -> Sweep:
    """Check a new sweep whole (every point's configuration, the folder) and write its manifest; nothing runs yet.
    Paths to local models and data are made absolute, so the sweep continues from any directory."""
    from .data import absolute_data_spec
    from .fit import _local_path

    root = Path(root).expanduser()
    check_new_sweep_dir(root)
    if parallel < 1 or parallel > 64:
        raise TuneLabError(f"--parallel {parallel}: give between 1 and 64 runs at once")
    fixed = {k: v for k, v in asdict(base).items() if k not in ("out", "trust_remote_code")}
    fixed["model"], fixed["data"] = _local_path(fixed["model"]), absolute_data_spec(fixed["data"])
    for name in ("model", "data"):
        values = space.get(name)
        if isinstance(values, list):
            space[name] = [_local_path(v) if name == "model" else absolute_data_spec(v) for v in values]
    if search == "grid":
        if any(isinstance(v, Range) for v in space.values()):
            raise TuneLabError("a range (LOW:HIGH) is for --search optuna; a grid lists its values")
        points = grid_points(space)
        if len(points) > CONFIRM_ABOVE and not confirmed:
            raise TuneLabError(f"this grid makes {len(points):,} runs (more than {CONFIRM_ABOVE}); "
                               f"pass --yes to start them all")
        runs = [{"name": run_name(i + 1, p), "settings": p} for i, p in enumerate(points)]
        for entry in runs:
            config_for(fixed, entry["settings"], root / entry["name"])       # each point checked whole
        sweep = Sweep(root, "grid", fixed, {k: list(v) for k, v in space.items()}, runs, parallel)
    elif search == "optuna":
        if not space:
            raise TuneLabError("--search optuna needs a space: --grid lr=1e-5:1e-4:log --grid seed=1,2,3")
        if not 1 <= trials <= 100_000:
            raise TuneLabError(f"--trials {trials}: give between 1 and 100000")
        corners = [{k: (v.low if isinstance(v, Range) else v[0]) for k, v in space.items()},
                   {k: (v.high if isinstance(v, Range) else v[-1]) for k, v in space.items()}]
        for corner in corners:
            config_for(fixed, {k: (int(v) if SETTINGS_BY_NAME[k].kind is int and isinstance(v, float) else v)
                               for k, v in corner.items()}, root / "check")
        sweep = Sweep(root, "optuna", fixed, {k: (v.as_dict() if isinstance(v, Range) else list(v))
                                              for k, v in space.items()}, [], parallel, trials, storage,
                      direction=direction)
    else:
        raise TuneLabError(f"--search {search!r}: the searches are grid (the default) and optuna")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TuneLabError(f"cannot create --out {str(root)!r}: {err.strerror}") from None
    sweep.save()
    return sweep


def check_new_sweep_dir(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise TuneLabError(f"--out {str(root)!r} is a file, not a folder")
    if (root / MANIFEST).exists():
        raise TuneLabError(f"--out {str(root)!r} already holds a sweep; continue it with: "
                           f"tunelab sweep --resume {root}")
    if root.is_dir() and any(root.iterdir()):
        raise TuneLabError(f"--out {str(root)!r} is not empty; pick a new or empty folder for the sweep")


# ---------------------------------------------------------------- where it stands

@dataclass(frozen=True)
class SweepRun:
    name: str
    root: Path
    settings: dict
    state: str          # pending, or a run status (running, completed, stopped, crashed, failed, ...), or pruned
    step: int = 0
    total_steps: int = 0
    best_metric: float | None = None


@dataclass(frozen=True)
class SweepInfo:
    root: Path
    kind: str
    status: str                 # running, completed, stopped (resumable), crashed (the driver died)
    total: int
    done: int
    failed: int
    runs: tuple                 # SweepRun each
    figure_of_merit: str = ""
    pid: int = 0

    @property
    def current(self) -> list:
        return [r for r in self.runs if r.state in ("running", "stalled")]

    def as_dict(self) -> dict:
        return {"sweep": str(self.root), "kind": self.kind, "status": self.status, "total": self.total,
                "done": self.done, "failed": self.failed, "current": [r.name for r in self.current], "pid": self.pid,
                "runs": [{"name": r.name, "run_dir": str(r.root), "settings": r.settings, "state": r.state,
                          "step": r.step, "total_steps": r.total_steps, "best_metric": r.best_metric}
                         for r in self.runs]}


def run_state(sweep: Sweep, entry: dict):
    """(state, RunInfo or None) of one run of the sweep: "pending" before its directory holds a run."""
    from .run_status import run_info

    root = sweep.run_dir(entry["name"])
    if entry.get("state") == "pruned":
        return "pruned", None
    if not (root / "run.json").exists() and not (root / "owner.json").exists():
        return "pending", None
    info = run_info(root)
    return info.status.value, info


def sweep_info(path: str | Path) -> SweepInfo:
    """The sweep's progress, from its manifest and its runs' directories."""
    from .liveness import lock_is_held, read_json, read_owner
    from .liveness import HEARTBEAT_NAME

    sweep = load_sweep(path)
    runs, metric = [], ""
    for entry in sweep.runs:
        state, info = run_state(sweep, entry)
        if info is not None:
            metric = metric or info.figure_of_merit
        runs.append(SweepRun(entry["name"], sweep.run_dir(entry["name"]), dict(entry.get("settings", {})), state,
                             info.step if info else 0, info.total_steps if info else 0,
                             info.best_metric if info else None))
    done = sum(r.state in DONE_STATES for r in runs)
    failed = sum(r.state == "failed" for r in runs)
    owner = read_owner(sweep.driver_dir)
    if lock_is_held(sweep.driver_dir):
        status = "running"
    elif done >= sweep.total and sweep.total:
        status = "completed"
    elif (read_json(sweep.driver_dir / HEARTBEAT_NAME) or {}).get("ended") or owner is None:
        status = "stopped"
    else:
        status = "crashed"
    return SweepInfo(Path(path), sweep.kind, status, sweep.total, done, failed, tuple(runs), metric,
                     owner.pid if owner else 0)


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
