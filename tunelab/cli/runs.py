"""`tunelab runs`, `tunelab watch` and `tunelab stop`: list runs with live status, reattach to one, stop one.

All three read only the run directory (core/run_status.py, core/events.py's tailer), so they work from any
terminal, for runs started in the foreground, detached, or from the TUI.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .common import add_json, console, err_console, literal, print_json


def register(sub) -> None:
    p = sub.add_parser("runs", help="list runs with their live status",
                       description="Runs from the history, under ./runs, and under the directories given.")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="a run directory or a folder of runs (default: recent runs and ./runs)")
    p.add_argument("--limit", type=int, default=30, help="show at most N runs, the newest (default: 30)")
    p.add_argument("--all", action="store_true", help="show every run found (no --limit)")
    add_json(p)
    p.set_defaults(func=runs)

    p = sub.add_parser("watch", help="reattach to a run: replay its log, then follow it live until it ends",
                       description="Ctrl-C detaches the watcher; the run goes on. Exit status: 0 when the run completes "
                                   "(or stops or stops early), 1 when it fails or crashes.")
    p.add_argument("run", metavar="RUN", help="the run directory")
    p.add_argument("--poll", type=float, default=0.2, help="seconds between reads of the log (default: 0.2)")
    p.set_defaults(func=watch)

    p = sub.add_parser("stop", help="ask a running run to stop after its current step, with a resumable checkpoint")
    p.add_argument("run", metavar="RUN", help="the run directory, or a sweep's folder (its driver and current runs stop)")
    p.add_argument("--wait", action="store_true", help="wait until it has stopped")
    p.set_defaults(func=stop)


def _shown(path: Path) -> str:
    """A path relative to the current directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def runs(args) -> int:
    from rich.table import Table
    from rich.text import Text

    from tunelab.core.errors import TuneLabError
    from tunelab.core.run_status import started_text
    from tunelab.core.runs import find_runs

    if args.limit < 1:
        raise TuneLabError(f"--limit {args.limit}: must be at least 1")
    listing = find_runs(args.dirs, limit=None if args.all else args.limit)
    infos = listing.runs
    sweeps = _sweeps(args.dirs)
    if listing.left_out:
        err_console.print(f"{len(infos)} newest of {len(infos) + listing.left_out} runs shown; {listing.left_out} "
                          f"left out: see them all with --all (or --limit {len(infos) + listing.left_out})",
                          highlight=False, markup=False)
    if args.json:       # the same list of runs as always; a run of a sweep names its sweep's folder
        from tunelab.core.sweep import is_sweep

        print_json([{**i.as_dict(), **({"sweep": str(i.root.parent)} if is_sweep(i.root.parent) else {})}
                    for i in infos])
        return 0
    if sweeps:
        _print_sweeps(sweeps)
    if not infos and not sweeps:
        console.print("no runs yet; start one with: tunelab fit --out runs/demo")
        return 0
    colours = {"running": "green", "stalled": "yellow", "failed": "red", "crashed": "red", "broken": "red",
               "unknown": "yellow", "stopped": "cyan"}
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("status", "run", "model", "data", "step", "best", "started"):
        table.add_column(name, justify="right" if name in ("step", "best", "started") else "left",
                         overflow="fold" if name in ("run",) else "ellipsis", no_wrap=name != "run")
    for info in infos:
        status = info.status.value + (f" ({info.phase})" if info.status.value == "running" and info.phase not in ("", "training") else "")
        best = f"{info.figure_of_merit} {info.best_metric:.3f}" if info.best_metric is not None else ""
        step = f"{info.step}/{info.total_steps}" if info.total_steps else (str(info.step) if info.step else "")
        table.add_row(Text(status, style=colours.get(info.status.value, "")), Text(_shown(info.root)),
                      Text(Path(info.model).name if info.model else ""), Text(_data_name(info.data)), step,
                      Text(best), started_text(info))
        if info.reason and info.status.value in ("failed", "crashed", "broken", "stalled", "unknown"):
            table.add_row("", Text(info.reason, style="dim"), "", "", "", "", "")
    console.print(table)
    return 0


def _sweeps(dirs: list) -> list:
    """The sweeps to show: those given, else the recent ones from the history."""
    from tunelab.core.sweep import is_sweep, sweep_info
    from tunelab.core.sweep_driver import recent_sweeps

    paths = [Path(d) for d in dirs if is_sweep(d)] if dirs else recent_sweeps()
    out = []
    for path in paths:
        try:
            out.append(sweep_info(path))
        except Exception:          # a damaged manifest is named by `tunelab runs DIR`, not here
            continue
    return out


def _print_sweeps(sweeps: list) -> None:
    """One line per sweep: status, folder, n done / total, the runs going now."""
    from rich.table import Table
    from rich.text import Text

    colours = {"running": "green", "crashed": "red", "stopped": "cyan"}
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("sweep", "status", "done", "current"):
        table.add_column(name, justify="right" if name == "done" else "left", overflow="fold")
    for info in sweeps:
        current = ", ".join(f"{r.name} {r.step}/{r.total_steps}" if r.total_steps else r.name for r in info.current)
        failed = f" ({info.failed} failed)" if info.failed else ""
        table.add_row(Text(_shown(info.root)), Text(info.status, style=colours.get(info.status, "")),
                      f"{info.done}/{info.total}{failed}", Text(current))
    console.print(table)
    console.print()


def _data_name(data: str) -> str:
    if not data or data == "demo" or data.startswith("H:") or "=" in data:
        return data
    return Path(data).name


def watch(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.events import RunFailed, RunFinished, RunStarted, EventTailer
    from tunelab.core.run_dir import odd_run_file
    from tunelab.core.run_status import RunStatus, run_info

    from .progress import RunProgress

    root = Path(args.run)
    if not root.is_dir():
        raise TuneLabError(f"{args.run!r} is not a directory")
    if not (0.01 <= args.poll <= 60):
        raise TuneLabError(f"--poll {args.poll}: give between 0.01 and 60 seconds")
    info = run_info(root)
    if info.status == RunStatus.BROKEN:
        raise TuneLabError(f"{args.run!r} is not a run TuneLab can follow: {info.reason}")
    problem = odd_run_file(root)            # a live run too: a folder where events.jsonl belongs cannot be followed
    if problem:
        raise TuneLabError(f"{args.run!r} is not a run TuneLab can follow: {problem}")
    tailer = EventTailer(root / "events.jsonl")
    view = RunProgress()
    final = None
    quiet_since = time.monotonic()
    try:
        while True:
            batch = tailer.poll()
            if batch.reset:
                final = None
            for event in batch.events:
                if isinstance(event, RunStarted):
                    final = None
                elif isinstance(event, (RunFinished, RunFailed)):
                    final = event
                view(event)
            if batch.events:
                quiet_since = time.monotonic()
            if tailer.problem:
                view.close()
                err_console.print(f"[red]broken:[/] {tailer.problem}")
                return 1
            if tailer.caught_up:
                if final is not None:
                    break
                if time.monotonic() - quiet_since > 1.0:   # no news: is the process still there?
                    info = run_info(root)
                    if info.status in (RunStatus.CRASHED, RunStatus.UNKNOWN, RunStatus.BROKEN):
                        view.close()
                        err_console.print(f"[red]{info.status}:[/] {literal(info.reason)}")
                        return 1
                    quiet_since = time.monotonic()
                time.sleep(args.poll)
    except KeyboardInterrupt:
        view.close()
        err_console.print(f"detached; the run goes on. Reattach with: tunelab watch {literal(args.run)}")
        return 130
    view.close()
    return 1 if isinstance(final, RunFailed) else 0


def stop(args) -> int:
    from tunelab.core.run_status import run_info
    from tunelab.core.runs import request_stop
    from tunelab.core.sweep import is_sweep

    if is_sweep(args.run):
        return _stop_sweep(args)

    info = request_stop(args.run)
    where = "" if info.host in ("", os.uname().nodename) else f" on {info.host}"
    console.print(f"asked {literal(args.run)} (pid {info.pid}{literal(where)}) to stop after its current step; "
                  f"it saves a checkpoint for: tunelab fit --resume {literal(args.run)}")
    if args.wait:
        # the status comes from the run's lock, so this ends once no process holds it, whatever owner.json says
        while (now := run_info(args.run)).status.is_live:
            time.sleep(0.5)
        console.print(f"{args.run} is no longer running: {now.status}" + (f" ({now.reason})" if now.reason else ""),
                      highlight=False, markup=False)
    return 0


def _stop_sweep(args) -> int:
    """Stop a sweep's driver and its current runs; each run keeps a resumable checkpoint."""
    from tunelab.core.sweep import sweep_info
    from tunelab.core.sweep_driver import stop_sweep

    info = stop_sweep(args.run)
    now = ", ".join(r.name for r in info.current) or "no run"
    console.print(f"asked the sweep {literal(args.run)} to stop ({info.done}/{info.total} done; {literal(now)} going); "
                  f"continue it with: tunelab sweep --resume {literal(args.run)}")
    if args.wait:
        while (now := sweep_info(args.run)).status == "running" or now.current:
            time.sleep(0.5)
        console.print(f"{args.run} is no longer running: {now.done}/{now.total} done", highlight=False, markup=False)
    return 0
