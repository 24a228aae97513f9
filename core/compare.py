"""Runs side by side by what they cost and what they scored: the engine of `tunelab compare` and the Compare view.

`compare(paths)` reads each run directory (run.json, events.jsonl, metrics.json; a sweep's folder stands for its
runs) and returns a Comparison: one row per run with the settings that differ between the runs (only those),
trainable and total parameters, training time, samples per second, peak memory, best validation figure and
test figure, sorted by the figure of merit, best first. Runs that differ only by seed are grouped: each figure as
mean, standard deviation (n-1) and count, so a difference can be read against seed noise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from . import strict_json
from .errors import TuneLabError

IGNORED = {"out", "trust_remote_code"}     # never a difference worth a column
FIGURES = ("best_validation", "test", "train_seconds", "samples_per_second", "peak_memory_mb",
           "trainable_parameters", "total_parameters")


@dataclass(frozen=True)
class RunFigures:
    root: Path
    name: str
    status: str
    config: dict
    figure_of_merit: str = ""
    best_validation: float | None = None
    test: float | None = None
    train_seconds: float | None = None
    samples_per_second: float | None = None
    peak_memory_mb: float | None = None      # the GPU's peak on a GPU run, else the process's peak resident memory
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    curve: tuple = ()                        # (step, validation figure) of each evaluation


@dataclass(frozen=True)
class Stat:
    mean: float | None
    std: float | None           # None for a single run
    count: int

    def text(self, fmt: str = ".4f") -> str:
        if self.mean is None:
            return ""
        if self.std is None:
            return format(self.mean, fmt)
        return f"{format(self.mean, fmt)} ± {format(self.std, fmt)}"


@dataclass(frozen=True)
class Row:
    """One run, or a group of runs that differ only by seed."""

    settings: dict              # the differing settings (seed left out of a group's)
    runs: tuple                 # RunFigures each
    figures: dict               # FIGURES name -> Stat

    @property
    def count(self) -> int:
        return len(self.runs)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_value_text(v)}" for k, v in self.settings.items()) or self.runs[0].name


@dataclass(frozen=True)
class Comparison:
    figure_of_merit: str
    higher_is_better: bool
    differing: list             # the setting names that differ between the runs
    grouped: bool               # rows are seed groups
    rows: list                  # Row each, best first
    runs: list = field(default_factory=list)   # every RunFigures

    def columns(self) -> list[str]:
        """The table's headings: the differing settings (seed left out when grouped), then the figures."""
        names = [k for k in self.differing if not (self.grouped and k == "seed")] or ["run"]
        if self.grouped:
            names.append("seeds")
        metric = self.figure_of_merit or "figure"
        return names + [f"valid {metric}", f"test {metric}", "time", "samples/s", "peak MB", "trainable", "params"]

    def cells(self, row: Row, digits: int = 4, cost_spread: bool = True) -> list[str]:
        """One row's cells as text, in the order of `columns()` (the CLI's table and the Compare view). A narrow
        view passes fewer `digits` and drops the spread of the costs (time, samples/s, memory), keeping the
        scores' mean ± std."""
        out = [_value_text(row.settings.get(k)) for k in self.differing if not (self.grouped and k == "seed")]
        if not out:
            out = [row.runs[0].name]
        if self.grouped:
            out.append(str(row.count))
        f = row.figures

        def cost(name: str, unit: str = "") -> str:
            stat = f[name] if cost_spread else Stat(f[name].mean, None, f[name].count)
            return stat.text(".0f") + (unit if stat.mean is not None else "")

        score = f".{digits}f"
        return out + [f["best_validation"].text(score), f["test"].text(score), cost("train_seconds", "s"),
                      cost("samples_per_second"), cost("peak_memory_mb"),
                      count_text(f["trainable_parameters"].mean), count_text(f["total_parameters"].mean)]

    def as_dicts(self) -> list[dict]:
        out = []
        for row in self.rows:
            item = {**{k: row.settings.get(k) for k in self.differing if k != "seed" or not self.grouped},
                    "runs": row.count}
            for name in FIGURES:
                stat = row.figures[name]
                item[name] = stat.mean
                if self.grouped:
                    item[name + "_std"] = stat.std
            item["run_dirs"] = [str(r.root) for r in row.runs]
            out.append(item)
        return out


def count_text(value) -> str:
    """23400 -> '23.4k', 110e6 -> '110.0M'."""
    if value is None:
        return ""
    value = float(value)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def _value_text(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str) and ("/" in v):
        return Path(v).name
    return str(v)


def _read_json(path: Path):
    try:
        return strict_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def read_run(root: str | Path) -> RunFigures:
    """What one run cost and scored, from its directory; figures it has not recorded are None."""
    from .events import EvalDone, RunStarted, StepLogged, read_events
    from .run_status import run_info

    root = Path(root)
    info = run_info(root)
    data = _read_json(root / "run.json")
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise TuneLabError(f"{str(root)!r} is not a run TuneLab can compare: {info.reason or 'no run.json'}")
    metric = str(data.get("figure_of_merit") or info.figure_of_merit or "")
    metrics = _read_json(root / "metrics.json") or {}
    seconds, sps, rss, gpu, curve = 0.0, [], 0.0, 0.0, []
    segment_start = last = None
    try:
        events = list(read_events(root / "events.jsonl")) if (root / "events.jsonl").exists() else []
    except (OSError, TuneLabError):
        events = []
    for event in events:          # training time: each segment from its start to its last event (a crash too)
        if isinstance(event, RunStarted):
            if segment_start is not None and last is not None:
                seconds += max(0.0, last - segment_start)
            segment_start = event.time
        last = event.time
        if isinstance(event, StepLogged):
            if event.samples_per_second > 0:
                sps.append(event.samples_per_second)
            rss, gpu = max(rss, event.rss_mb or 0.0), max(gpu, event.gpu_mb or 0.0)
        elif isinstance(event, EvalDone) and metric in event.metrics:
            curve.append((event.step, event.metrics[metric]))
    if segment_start is not None and last is not None:
        seconds += max(0.0, last - segment_start)
    resources = data.get("resources") if isinstance(data.get("resources"), dict) else {}
    gpu = max(gpu, _number(resources.get("peak_gpu_mb")) or 0.0)
    rss = max(rss, _number(resources.get("peak_rss_mb")) or 0.0)
    params = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    valid = metrics.get("validation", {}) if isinstance(metrics.get("validation"), dict) else {}
    test = metrics.get("test", {}) if isinstance(metrics.get("test"), dict) else {}
    best = info.best_metric if info.best_metric is not None else _number(valid.get(metric))
    return RunFigures(root, root.name, info.status.value, dict(data["config"]), metric, _number(best),
                      _number(test.get(metric)), seconds or None, statistics.fmean(sps) if sps else None,
                      (gpu or rss) or None, _int(params.get("trainable")), _int(params.get("total")), tuple(curve))


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _int(v) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def expand(paths: list[str | Path]) -> list[Path]:
    """Run directories from the paths given: a run, or a sweep's folder (its runs that have started)."""
    from .sweep import is_sweep, load_sweep

    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if is_sweep(p):
            sweep = load_sweep(p)
            out += [sweep.run_dir(e["name"]) for e in sweep.runs if (sweep.run_dir(e["name"]) / "run.json").is_file()]
        elif (p / "run.json").is_file():
            out.append(p)
        elif not p.is_dir():
            raise TuneLabError(f"{str(p)!r} is not a directory")
        else:
            raise TuneLabError(f"{str(p)!r} is neither a run (no run.json) nor a sweep (no sweep.json)")
    seen: dict[Path, None] = {}
    for p in out:
        seen.setdefault(p.resolve(), None)
    return list(seen)


def compare(paths: list[str | Path], *, group_seeds: bool = True) -> Comparison:
    """The comparison of the runs in `paths` (runs or sweeps)."""
    from .metrics import HIGHER_IS_BETTER

    roots = expand(paths)
    if not roots:
        raise TuneLabError("nothing to compare yet: no run there has started")
    runs = [read_run(r) for r in roots]
    metrics = {r.figure_of_merit for r in runs if r.figure_of_merit}
    if len(metrics) > 1:
        raise TuneLabError(f"these runs have different figures of merit ({', '.join(sorted(metrics))}); "
                           f"compare runs scored the same way")
    metric = next(iter(metrics), "")
    higher = HIGHER_IS_BETTER.get(metric, True)
    names = sorted({k for r in runs for k in r.config} - IGNORED)
    differing = [k for k in names if len({repr(r.config.get(k)) for r in runs}) > 1]
    groups: dict[tuple, list] = {}
    by_seed = group_seeds and "seed" in differing
    for r in runs:
        key = tuple((k, repr(r.config.get(k))) for k in differing if not (by_seed and k == "seed"))
        groups.setdefault(key, []).append(r)
    grouped = by_seed and any(len(g) > 1 for g in groups.values())
    if not grouped:
        groups = {(str(r.root),): [r] for r in runs}
    rows = []
    for members in groups.values():
        settings = {k: members[0].config.get(k) for k in differing if not (grouped and k == "seed")}
        rows.append(Row(settings, tuple(members), {name: _stat([getattr(m, name) for m in members])
                                                   for name in FIGURES}))

    def rank(row: Row):
        value = row.figures["best_validation"].mean
        if value is None:
            value = row.figures["test"].mean
        return (value is None, -(value or 0.0) if higher else (value or 0.0))

    rows.sort(key=rank)
    return Comparison(metric, higher, differing, grouped, rows, runs)


def _stat(values: list) -> Stat:
    known = [float(v) for v in values if v is not None]
    if not known:
        return Stat(None, None, 0)
    std = statistics.stdev(known) if len(known) > 1 else None
    return Stat(statistics.fmean(known), std, len(known))
