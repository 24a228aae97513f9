"""A sweep's queue: the detached driver process that starts a sweep's runs, N at a time, and how to start and stop it.

`launch_driver(SWEEP)` starts `python -m tunelab.core.sweep_driver SWEEP` in its own session (stdin from
/dev/null, output to SWEEP/sweep.log), holding SWEEP/driver/run.lock for its life (handed down from the launch,
as core/runs.py does for a run), so closing the terminal does not reach it and a second driver is refused. The
driver starts each run as `tunelab fit` starts a detached run (core/runs.py `launch_detached`), so every run is
an ordinary run directory that `watch`, `stop`, `eval` and the TUI read. With GPUs, each of the N slots gets its
own device through CUDA_VISIBLE_DEVICES.

What is left to do is read from the runs' directories each time (core/sweep.py): a run that completed, stopped
early or failed is done; one that a killed driver left stopped or crashed is resumed (`fit --resume`); one still
going (its driver was killed, not the run) is waited for, never started twice. An Optuna search (`OptunaQueue`)
asks its study for each new trial, reports each validation figure as the run writes it, and stops a run the
median pruner prunes; the study lives in SQLite in the sweep folder, so a resumed driver picks it up.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import TuneLabError
from .liveness import LOCK_FD_ENV, STOP_NAME, Owner, RunOwnership, lock_run, request_stop_file, write_owner
from .run_dir import state_dir
from .sweep import SWEEP_LOG, Range, Sweep, config_for, load_sweep, run_name, run_state, sweep_info

POLL_SECONDS = 0.5
LIVE = ("running", "stalled")


# ---------------------------------------------------------------- starting and stopping the driver

def launch_driver(root: str | Path, trust_remote_code: bool = False, python: str | None = None) -> int:
    """Start the sweep's driver detached; returns its pid. Refuses a sweep whose driver is already running."""
    sweep = load_sweep(root)
    try:
        sweep.driver_dir.mkdir(exist_ok=True)
    except OSError as err:
        raise TuneLabError(f"cannot create {sweep.driver_dir}: {err.strerror}") from None
    try:
        lock = lock_run(sweep.driver_dir, "the sweep")
    except TuneLabError:
        raise TuneLabError(f"the sweep {str(root)!r} is already running; follow it with: tunelab runs {root}   "
                           f"stop it with: tunelab stop {root}") from None
    try:
        log = open(sweep.root / SWEEP_LOG, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", LOCK_FD_ENV: str(lock.fd)}
        with log:
            argv = [str(sweep.root.resolve())] + (["--trust-remote-code"] if trust_remote_code else [])
            process = subprocess.Popen([python or sys.executable, "-m", "tunelab.core.sweep_driver", *argv],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, env=env, cwd=os.getcwd(), close_fds=True,
                                       pass_fds=(lock.fd,))
    except OSError as err:
        raise TuneLabError(f"cannot start the sweep's driver: {err.strerror}") from None
    finally:
        lock.release()                # the driver holds it now, for its life
    threading.Thread(target=process.wait, daemon=True).start()
    try:
        write_owner(sweep.driver_dir, Owner.of_pid(process.pid))
    except OSError:
        pass
    remember_sweep(sweep.root)
    return process.pid


def stop_sweep(root: str | Path):
    """Ask the driver to stop (it stops its current runs, each with a resumable checkpoint, and starts no more);
    the live runs are asked too, so a sweep whose driver was killed stops all the same. Returns the SweepInfo."""
    from .runs import request_stop

    info = sweep_info(root)
    live = [r for r in info.current]
    if info.status != "running" and not live:
        raise TuneLabError(f"the sweep {str(root)!r} is {info.status}, not running: nothing to stop"
                           + ("" if info.status == "completed"
                              else f"; continue it with: tunelab sweep --resume {root}"))
    sweep = load_sweep(root)
    if info.status == "running":
        try:
            request_stop_file(sweep.driver_dir)
        except OSError as err:
            raise TuneLabError(f"cannot write the stop request in {sweep.driver_dir}: {err.strerror}") from None
    for run in live:
        try:
            request_stop(run.root)
        except TuneLabError:
            pass                      # it ended meanwhile
    return info


def remember_sweep(root: Path) -> None:
    """Add the sweep to the history `tunelab runs` and the TUI list sweeps from."""
    try:
        state_dir().mkdir(parents=True, exist_ok=True)
        with open(state_dir() / "sweeps.txt", "a", encoding="utf-8") as fh:
            fh.write(str(Path(root).resolve()) + "\n")
    except OSError:
        pass


def recent_sweeps(limit: int = 20) -> list[Path]:
    """Sweeps from the history, newest first, that still exist."""
    from .sweep import is_sweep

    try:
        lines = (state_dir() / "sweeps.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    seen: dict[str, None] = {}
    for line in reversed(lines):
        if line.strip():
            seen.setdefault(line.strip(), None)
    return [Path(p) for p in seen if is_sweep(p)][:limit]


# ---------------------------------------------------------------- the queues

class GridQueue:
    """The manifest's runs, in order: each not yet done is started (or resumed) once per driver."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep

    def next(self, tried: set) -> tuple[dict, bool] | None:
        """(manifest entry, resume?) of the next run to start, or None when none is left for this driver."""
        for entry in self.sweep.runs:
            if entry["name"] in tried:
                continue
            state, _ = run_state(self.sweep, entry)
            if state == "pending":
                return entry, False
            if state in ("stopped", "crashed"):
                return entry, True
        return None

    def entry(self, name: str) -> dict:
        return next(e for e in self.sweep.runs if e["name"] == name)

    def watch(self, name: str) -> None:
        pass

    def poll(self, live: dict) -> None:
        pass

    def ended(self, name: str, stopping: bool) -> None:
        pass


class OptunaQueue(GridQueue):
    """Trials asked of an Optuna study (TPE sampler, median pruner), one run each; each validation figure a run
    writes is reported to its trial, and a run the pruner prunes is asked to stop."""

    def __init__(self, sweep: Sweep):
        super().__init__(sweep)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        seed = sweep.base.get("seed")
        self.study = optuna.create_study(storage=sweep.storage_url(), study_name=sweep.study_name, load_if_exists=True,
                                         direction=sweep.direction,
                                         sampler=optuna.samplers.TPESampler(seed=seed),
                                         pruner=optuna.pruners.MedianPruner())
        self.tailers: dict = {}
        self.reported: dict = {}
        self.pruning: set = set()

    def distributions(self) -> dict:
        from .config import SETTINGS_BY_NAME

        d = self.optuna.distributions
        out = {}
        for name, values in self.sweep.space_ranges().items():
            if isinstance(values, Range):
                if SETTINGS_BY_NAME[name].kind is int:
                    out[name] = d.IntDistribution(int(values.low), int(values.high), log=values.log)
                else:
                    out[name] = d.FloatDistribution(values.low, values.high, log=values.log)
            else:
                out[name] = d.CategoricalDistribution(values)
        return out

    def next(self, tried: set):
        found = super().next(tried)     # a trial a killed driver left unstarted, stopped or crashed: start or resume it
        if found is not None:
            return found
        if len(self.sweep.runs) >= self.sweep.trials:
            return None
        trial = self.study.ask(self.distributions())
        settings = dict(trial.params)
        name = run_name(len(self.sweep.runs) + 1, settings)
        entry = {"name": name, "settings": settings, "trial": trial.number}
        self.sweep.runs.append(entry)
        self.sweep.save()
        return entry, False

    def watch(self, name: str) -> None:
        from .events import EventTailer

        self.tailers[name] = EventTailer(self.sweep.run_dir(name) / "events.jsonl")
        self.reported[name] = 0

    def poll(self, live: dict) -> None:
        from .events import EvalDone, RunStarted
        from .runs import request_stop

        for name in list(live):
            tailer = self.tailers.get(name)
            if tailer is None or name in self.pruning:
                continue
            batch = tailer.poll()
            if batch.reset:
                self.reported[name] = 0
            for event in batch.events:
                if isinstance(event, RunStarted) and event.resumed_from_step == 0:
                    self.reported[name] = 0
                if not isinstance(event, EvalDone) or event.figure_of_merit not in event.metrics:
                    continue
                self.reported[name] += 1
                trial = self._trial(name)
                value = event.metrics[event.figure_of_merit]
                if value is None:
                    continue
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")     # a resumed run reports its earlier evaluations again
                    trial.report(float(value), self.reported[name])
                if trial.should_prune():
                    print(f"pruning {name} after evaluation {self.reported[name]}", flush=True)
                    self.pruning.add(name)
                    try:
                        request_stop(self.sweep.run_dir(name))
                    except TuneLabError:
                        pass
                    break

    def _trial(self, name: str):
        return self.optuna.trial.Trial(self.study, self._frozen(self.entry(name)["trial"])._trial_id)

    def _frozen(self, number: int):
        return next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)

    def ended(self, name: str, stopping: bool) -> None:
        TrialState = self.optuna.trial.TrialState
        entry = self.entry(name)
        state, info = run_state(self.sweep, entry)
        number = entry["trial"]
        if self._frozen(number).state != TrialState.RUNNING:
            return
        if name in self.pruning:
            self.study.tell(number, state=TrialState.PRUNED)
            self.sweep.mark(name, state="pruned")
        elif state in ("completed", "early_stopped") and info is not None and info.best_metric is not None:
            self.study.tell(number, float(info.best_metric))
        elif state == "failed" or (state in ("completed", "early_stopped")):
            self.study.tell(number, state=TrialState.FAIL)
        # stopped (by the user) or crashed: the trial stays running, for the resumed run to finish


# ---------------------------------------------------------------- the driver's loop

def gpu_slots() -> list[str]:
    """The GPUs runs may be given, one each: CUDA_VISIBLE_DEVICES's list, else every device torch sees; [] on CPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


def drive(root: str | Path, stop: threading.Event, trust_remote_code: bool = False, say=print) -> None:
    """Run the sweep's queue until every run is done or a stop is asked for (then the current runs are asked to
    stop, each leaving a resumable checkpoint, and waited for)."""
    from .runs import launch_detached, request_stop

    sweep = load_sweep(root)
    queue = OptunaQueue(sweep) if sweep.kind == "optuna" else GridQueue(sweep)
    gpus = gpu_slots()
    live: dict[str, int] = {}                  # run name -> its slot
    tried: set[str] = set()
    stop_file = sweep.driver_dir / STOP_NAME
    for entry in sweep.runs:                   # runs still going from a driver that was killed: wait for them
        state, _ = run_state(sweep, entry)
        if state in LIVE:
            slot = min(set(range(max(sweep.parallel, len(live) + 1))) - set(live.values()))
            live[entry["name"]] = slot
            tried.add(entry["name"])
            queue.watch(entry["name"])
            say(f"following {entry['name']}, still running")
    while True:
        stopping = stop.is_set() or stop_file.is_file()
        for name in list(live):                # runs that ended
            state, _ = run_state(sweep, queue.entry(name))
            if state not in LIVE:
                queue.poll({name: live[name]})   # its last evaluations
                say(f"{name}: {state}")
                del live[name]
                queue.ended(name, stopping)
        while not stopping and len(live) < sweep.parallel:
            found = queue.next(tried)
            if found is None:
                break
            entry, resume = found
            name = entry["name"]
            tried.add(name)
            slot = min(set(range(sweep.parallel)) - set(live.values()))
            env = {"CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)]} if gpus else {}
            try:
                if resume:
                    _, pid = launch_detached(resume=str(sweep.run_dir(name)), trust_remote_code=trust_remote_code,
                                             env=env)
                else:
                    config = config_for(sweep.base, entry["settings"], sweep.run_dir(name))
                    if trust_remote_code:
                        from dataclasses import replace

                        config = replace(config, trust_remote_code=True)
                    _, pid = launch_detached(config, env=env)
            except TuneLabError as err:
                say(f"{name}: not started: {err}")
                continue
            say(f"{'resumed' if resume else 'started'} {name} (pid {pid}"
                + (f", GPU {env['CUDA_VISIBLE_DEVICES']}" if env else "") + ")")
            live[name] = slot
            queue.watch(name)
        if not live and (stopping or _nothing_left(queue, tried)):
            break
        if stopping:
            for name in live:
                try:
                    request_stop(sweep.run_dir(name))
                except TuneLabError:
                    pass
        queue.poll(live)
        stop.wait(POLL_SECONDS)
    info = sweep_info(root)
    say(f"sweep {info.status if info.done < info.total else 'completed'}: {info.done}/{info.total} done"
        + (f", {info.failed} failed" if info.failed else ""))


def _nothing_left(queue: GridQueue, tried: set) -> bool:
    if isinstance(queue, OptunaQueue):
        if len(queue.sweep.runs) < queue.sweep.trials:
            return False
    return GridQueue.next(queue, tried) is None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunelab.core.sweep_driver")
    parser.add_argument("sweep")
    parser.add_argument("--trust-remote-code", action="store_true")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    root = Path(args.sweep)
    try:
        ownership = RunOwnership(root / "driver", what="the sweep")
    except TuneLabError as err:
        print(f"sweep driver: {err}", flush=True)
        return 2
    ownership.start(stop)
    try:
        drive(root, stop, args.trust_remote_code, say=lambda text: print(time.strftime("%H:%M:%S ") + text, flush=True))
    except TuneLabError as err:
        print(f"sweep driver: error: {err}", flush=True)
        return 2
    finally:
        ownership.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
