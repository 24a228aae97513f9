"""`tunelab fit`: fine-tune with a live progress bar, in the foreground or detached (--detach).

The flags are generated from FitConfig's declarations (core/config.py), so help texts and ranges live in one place.
Ctrl-C, SIGTERM and SIGHUP stop the run after the current optimizer step with a resumable checkpoint; output to a
terminal that has gone away (a dropped SSH session) is dropped instead of failing the run.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from dataclasses import asdict

from .common import add_data, add_json, add_model, add_trust_remote_code, console, err_console, literal, print_json, terminal_gone
from .progress import RunProgress, said, say


def _typed(kind: type, words: tuple[str, ...] = ()):
    """An argparse type that names the flag's expected kind in its one-line error; `words` are the values it takes
    besides numbers (--batch-size auto)."""
    def parse(text: str):
        if text.strip().lower() in words:
            return text.strip().lower()
        try:
            return kind(text)
        except ValueError:
            expected = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {expected}{''.join(' or ' + w for w in words)}") from None
    parse.__name__ = kind.__name__
    return parse


def register(sub) -> None:
    p = sub.add_parser("fit", help="fine-tune a model on a dataset (gft fit)",
                       description="Fine-tune. With no flags: the bundled MiniLM on the bundled demo data.")
    add_setting_flags(p)
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue a stopped or crashed run from its last checkpoint (every setting comes from DIR/run.json)")
    p.add_argument("--detach", action="store_true",
                   help="check everything, then run in the background (own session, output to DIR/fit.log) and return")
    add_trust_remote_code(p)
    add_json(p)
    p.set_defaults(func=run, first_words=lambda a: "starting" if not getattr(a, "detach", False) else None)


def add_setting_flags(p) -> None:
    """--model, --data and a flag for every FitConfig setting that has one (`tunelab fit` and `tunelab sweep`)."""
    from tunelab.core.config import SETTINGS

    add_model(p)
    add_data(p)
    for s in SETTINGS:
        if not s.flag:
            continue                          # --model/--data/--eqn/--columns come from the shared helpers
        if s.kind is bool:                    # an on/off switch: the flag turns it on
            p.add_argument(s.flag, action="store_const", const=True, default=None, help=s.help)
            continue
        kind = _typed(s.kind, s.words) if s.kind in (int, float) else str
        default = "" if s.default in (None, "") else f" (default: {s.default})"
        p.add_argument(s.flag, type=kind, default=None, metavar=s.metavar, help=s.help + default)


RESUME_TAKES = ("device",)   # settings --resume takes from the command line: where a run trains is not part of it


def config_from_args(args):
    from tunelab.core.config import SETTINGS, FitConfig

    values = {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name, None) is not None}
    if values.get("columns"):
        values["columns"] = tuple(values["columns"])
    return FitConfig(**values, trust_remote_code=getattr(args, "trust_remote_code", False) is True)


def _given_settings(args) -> list[str]:
    """The setting flags the user typed (not left at their defaults)."""
    from tunelab.core.config import SETTINGS

    given = [s.flag for s in SETTINGS
             if s.flag and getattr(args, s.name, None) is not None and s.name not in RESUME_TAKES]
    for name, default in (("model", "minilm-l6"), ("data", "demo"), ("eqn", None), ("columns", None)):
        if getattr(args, name, default) != default:
            given.append(f"--{name}")
    return given


class _StopOnSignal:
    """First Ctrl-C (or SIGTERM/SIGHUP) asks the run to stop after this step; a second Ctrl-C aborts.
    SIGHUP means the terminal is gone: nothing more is written to it."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == getattr(signal, "SIGHUP", None):
            terminal_gone()
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        err_console.print("[yellow]stopping after this step; a checkpoint will be saved (Ctrl-C again to abort)[/]")

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


class _TestHold:
    """TEST-ONLY, and harmless otherwise: with TUNELAB_TEST_HOLD=FILE in the environment, the trainer pauses once
    it has logged step TUNELAB_TEST_HOLD_STEP (default 0: as soon as it has started) for as long as FILE exists,
    or until it is asked to stop. Tests of running processes use it to hold a run in a known state (running, not
    yet finished) instead of hoping a tiny run is still going when they look; nobody else sets it, and a FILE
    that does not exist holds nothing."""

    def __init__(self, path: str, step: int, stop: threading.Event):
        self.path, self.step, self.stop = path, step, stop

    @classmethod
    def from_env(cls, stop: threading.Event) -> "_TestHold | None":
        path = os.environ.get("TUNELAB_TEST_HOLD", "")
        step = os.environ.get("TUNELAB_TEST_HOLD_STEP", "0")
        return cls(path, int(step) if step.isdigit() else 0, stop) if path else None

    def __call__(self, event) -> None:
        from tunelab.core.events import RunStarted, StepLogged

        reached = (isinstance(event, RunStarted) and self.step == 0) or \
                  (isinstance(event, StepLogged) and event.step >= self.step)
        while reached and os.path.exists(self.path) and not self.stop.is_set():
            self.stop.wait(0.05)


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.fit import fit

    if args.resume:
        ignored = _given_settings(args)
        if ignored:
            raise TuneLabError(f"--resume takes every setting from {args.resume}/run.json; drop {', '.join(ignored)}")
    config = None if args.resume else config_from_args(args)
    if args.detach:
        return _detach(args, config)
    from tunelab.core.launch import under_launcher

    if not under_launcher():
        several = _start_processes(args, config)    # --processes N: this process starts them and waits
        if several is not None:
            return several
    elif os.environ.get("RANK", "0") != "0":
        console.quiet = err_console.quiet = True    # one of several processes: the first one shows the progress
        args.json = False
    niceness = os.environ.pop("TUNELAB_NICE", "0")
    if niceness.isdigit() and int(niceness) > 0 and hasattr(os, "nice"):
        os.nice(int(niceness))      # a detached run started from the TUI yields the CPU to the app
    stop = threading.Event()
    view = RunProgress(summary=False)

    hold = _TestHold.from_env(stop)

    def on_event(event) -> None:
        said()                      # the first event ends the start-up spinner
        view(event)
        if hold is not None:
            hold(event)

    with _StopOnSignal(stop):
        try:
            result = fit(config, on_event=on_event, stop=stop, resume=args.resume, on_phase=say,
                         trust_remote_code=args.trust_remote_code, device=args.device if args.resume else None)
        finally:
            said()
            view.close()
    if args.json:
        print_json(asdict(result))
        return 0
    if result.status == "stopped":
        console.print(f"stopped at step {result.steps}; continue with: tunelab fit --resume {literal(result.run_dir)}")
        return 0
    console.print(f"{result.status} after {result.steps} steps in {result.seconds:.0f}s "
                  f"({result.train_samples_per_second:.0f} samples/s); model saved to {literal(result.model_dir)}")
    for split, scores in result.metrics.items():
        console.print(f"  {literal(split)}: " + literal(", ".join(f"{k} {v:.4f}" for k, v in scores.items())))
    return 0


def _start_processes(args, config) -> int | None:
    """--processes N (N > 1, from the flags or a resumed run's run.json): start N processes of this run and wait
    for them (the exit status of the first that failed); None for a one-process run, which runs here."""
    from tunelab.core.fit import check_processes, open_resume
    from tunelab.core.launch import gpu_list, run_processes

    if args.resume:
        _, config, _, _ = open_resume(args.resume, args.trust_remote_code, args.device)
        argv = ["fit", f"--resume={args.resume}"] + (["--trust-remote-code"] if args.trust_remote_code else []) \
            + ([f"--device={args.device}"] if args.device else [])
    else:
        config.validate()
        if config.processes == 1:
            check_processes(config)
            return None
        config = config.with_out()          # one directory for every process (each would stamp its own time)
        argv = ["fit", *config.to_argv()]        # --out among them
    if config.processes == 1:
        return None
    check_processes(config)
    said()
    return run_processes(argv + (["--json"] if args.json else []), config.processes, gpu_list(config.gpus))


def _detach(args, config) -> int:
    """Validate everything here (bad input: one line, exit 2, nothing written), then start the run in the background."""
    from tunelab.core.fit import check_device, check_processes, open_resume, resolve
    from tunelab.core.run_dir import check_new_run_dir
    from tunelab.core.runs import launch_detached

    if args.resume:
        _, resumed, _, _ = open_resume(args.resume, args.trust_remote_code, args.device)  # a resumable checkpoint
        check_device(resumed)
        check_processes(resumed)
        root, pid = launch_detached(resume=args.resume, trust_remote_code=args.trust_remote_code, device=args.device)
    else:
        config = config.with_out()
        check_new_run_dir(config.out)
        try:
            resolve(config, say)                 # model, data, equation, labels, lengths, metric
            check_device(config)                 # the device is here, and flash attention can run on it
            check_processes(config)              # --processes and --gpus fit this machine
        finally:
            said()
        root, pid = launch_detached(config)
    if args.json:
        print_json({"run_dir": str(root), "pid": pid})
    else:
        console.print(f"{literal(root)}  (pid {pid}, output in {literal(root / 'fit.log')})")
        err_console.print(f"follow it: tunelab watch {literal(root)}   stop it: tunelab stop {literal(root)}   "
                          f"list: tunelab runs")
    return 0
