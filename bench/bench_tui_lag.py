"""How responsive the TUI stays while it follows a real training process on the same CPU.

Starts a detached `tunelab fit` (core.runs.launch_detached, as the Train screen does; the bundled MiniLM on
the demo data by default), runs the app headless at 80x24 following it on the Train screen (status panel and
three live charts), and measures, first with the app idle and no training, then while it follows the run:

  timer lag   how late a 20 ms timer callback fires on the event loop (what any redraw or key waits behind)
  input lag   from a message posted by another thread (as the input thread posts a key) to its handler
  key         a key press (F4/F3, switching screens) posted as the input thread posts it, until its action
              ran (key→action) and until the switched screen was painted (key→paint); both screens are
              visited once first (the Runs screen is made on its first visit), and that visit is shown apart

Prints p50/p99/max of each, and the ratio of the followed p99 to the idle p99. Not part of the test run.

    python bench/bench_tui_lag.py                       # bundled MiniLM on demo, 30 s of measurement
    python bench/bench_tui_lag.py --model PATH --data DIR --eqn 'classify: label ~ sentence' --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from textual import events
from textual.message import Message

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Ping(Message):
    def __init__(self, sent: float) -> None:
        super().__init__()
        self.sent = sent


def summary(name: str, samples_ms: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_ms)
    if not len(a):
        print(f"  {name:<10} no samples")
        return float("nan"), float("nan")
    p50, p99 = np.percentile(a, 50), np.percentile(a, 99)
    print(f"  {name:<10} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {a.max():7.1f} ms   (n={len(a)})")
    return p50, p99


async def measure(app, seconds: float, key_every: float = 0.5) -> dict[str, list[float]]:
    """Timer lateness, thread-to-handler latency and key-to-handled/painted time for `seconds`."""
    timer_lag: list[float] = []
    input_lag: list[float] = []
    app.key_handled, app.key_painted = [], []
    interval = 0.02
    stop = time.perf_counter() + seconds
    expected = [time.perf_counter() + interval]

    def tick() -> None:
        now = time.perf_counter()
        timer_lag.append(max(0.0, now - expected[0]) * 1000)
        expected[0] = now + interval
        if now < stop:
            app.set_timer(interval, tick)

    app.set_timer(interval, tick)
    app.bench_ping = lambda message: input_lag.append((time.perf_counter() - message.sent) * 1000)

    def input_thread() -> None:
        """Posts what a terminal's input thread posts: pings every 50 ms, and F4/F3 key presses."""
        keys = 0
        next_key = time.perf_counter() + key_every
        while time.perf_counter() < stop:
            app.post_message(Ping(time.perf_counter()))
            if time.perf_counter() >= next_key:
                app.key_sent = time.perf_counter()
                app.post_message(events.Key("f4" if keys % 2 == 0 else "f3", None))
                keys += 1
                next_key += key_every
            time.sleep(0.05)

    thread = threading.Thread(target=input_thread, daemon=True)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    return {"timer lag": timer_lag, "input lag": input_lag, "key→action": app.key_handled,
            "key→paint": app.key_painted}


def make_bare_app():
    """The standard recipe: a bare Textual app (a Static and a Footer) answering the same keys."""
    from textual.app import App
    from textual.binding import Binding
    from textual.widgets import Footer, Static

    class BareApp(App):
        BINDINGS = [Binding("f3", "switch", "Train"), Binding("f4", "switch", "Runs")]
        bench_ping = None
        key_sent: float | None = None

        def compose(self):
            yield Static("a bare Textual app")
            yield Footer()

        def on_ping(self, message: Ping) -> None:
            if self.bench_ping is not None:
                self.bench_ping(message)

        def action_switch(self) -> None:
            if self.key_sent is not None:
                sent, self.key_sent = self.key_sent, None
                self.key_handled.append((time.perf_counter() - sent) * 1000)
                self.query_one(Static).update(f"switched at {sent:.3f}")
                self.call_after_refresh(lambda: self.key_painted.append((time.perf_counter() - sent) * 1000))

    return BareApp()


def make_app_class():
    from tunelab.tui.app import TuneLabApp

    class BenchApp(TuneLabApp):
        bench_ping = None
        key_sent: float | None = None

        def on_ping(self, message: Ping) -> None:
            if self.bench_ping is not None:
                self.bench_ping(message)

        def action_switch_screen_mode(self, mode: str) -> None:
            super().action_switch_screen_mode(mode)
            if self.key_sent is not None:
                sent, self.key_sent = self.key_sent, None
                self.key_handled.append((time.perf_counter() - sent) * 1000)
                self.call_after_refresh(lambda: self.key_painted.append((time.perf_counter() - sent) * 1000))

    return BenchApp


async def run(args) -> None:
    from tunelab.core.config import FitConfig
    from tunelab.core.run_status import run_info
    from tunelab.core.runs import launch_detached, request_stop
    from tunelab.tui.selection import Selection
    from tunelab.tui.widgets.run_monitor import RunMonitor

    work = Path(tempfile.mkdtemp(prefix="tunelab-lag-"))
    os.environ.setdefault("TUNELAB_HOME", str(work / "home"))
    App = make_app_class()
    print(f"TUI lag at 80x24, {os.cpu_count()} CPU cores; training: {args.model} on {args.data}")

    # --- the standard recipe: a bare Textual app on the same machine, same moment ------------------------------
    bare = make_bare_app()
    async with bare.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        cpu = time.process_time()
        baseline = await measure(bare, args.idle_seconds, args.key_every)
        cpu = (time.process_time() - cpu) / args.idle_seconds
    print(f"bare Textual app ({args.idle_seconds:.0f} s, this process used {100 * cpu:.0f}% of a core):")
    base_p = {name: summary(name, values) for name, values in baseline.items()}

    # --- idle: the app on its Train screen, nothing to follow ---------------------------------------------------
    app = App(runs_dirs=[work / "runs"], state_file=work / "tui.json", refresh_seconds=2.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4", "f3")          # make both screens once, so the idle numbers are not start-up
        cpu = time.process_time()
        idle = await measure(app, args.idle_seconds, args.key_every)
        cpu = (time.process_time() - cpu) / args.idle_seconds
    print(f"TuneLab, idle ({args.idle_seconds:.0f} s, {100 * cpu:.0f}% of a core):")
    idle_p = {name: summary(name, values) for name, values in idle.items()}

    # --- following a real training process ----------------------------------------------------------------------
    config = FitConfig(model=args.model, data=args.data, eqn=args.eqn, epochs=args.epochs,
                       out=str(work / "runs" / "followed"))
    from tunelab.tui.screens.train import RUN_NICENESS

    root, pid = launch_detached(config, niceness=args.niceness if args.niceness is not None else RUN_NICENESS)
    print(f"started {root} (pid {pid}); waiting for its first steps…")
    app = App(Selection(model=args.model, data=args.data, eqn=args.eqn, run=str(root)), follow_on_train=True,
              runs_dirs=[work / "runs"], state_file=work / "tui.json", refresh_seconds=2.0)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            monitor = app.screen.query_one(RunMonitor)
            deadline = time.monotonic() + args.start_timeout
            while monitor.current_trace is None or monitor.current_trace.last_step is None:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no steps after {args.start_timeout}s: see {root / 'fit.log'}")
                await asyncio.sleep(0.2)
            first_visit = []
            for key in ("f4", "f3"):      # the Runs screen is made on its first visit: timed apart, then warm
                app.key_handled, app.key_painted, app.key_sent = [], [], time.perf_counter()
                app.post_message(events.Key(key, None))
                while not app.key_painted:
                    await asyncio.sleep(0.01)
                first_visit.append((app.key_handled[0], app.key_painted[0]))
            first = monitor.current_trace.step
            frames = sum(chart.frames_drawn for chart in monitor.charts)
            cpu = time.process_time()
            followed = await measure(app, args.seconds, args.key_every)
            cpu = (time.process_time() - cpu) / args.seconds
            trace = app.made_screen("train").monitor.current_trace
            steps = trace.step - first
            frames = sum(chart.frames_drawn for chart in app.made_screen("train").monitor.charts) - frames
            speed = trace.last_step.samples_per_second if trace.last_step else float("nan")
    finally:
        try:
            request_stop(root)
        except Exception:
            pass
    print(f"TuneLab following the run ({args.seconds:.0f} s, {100 * cpu:.0f}% of a core; {steps} steps logged, "
          f"{frames} chart frames drawn, training at {speed:.1f} samples/s):")
    followed_p = {name: summary(name, values) for name, values in followed.items()}
    print(f"  first visit to the Runs screen (made then): key→action {first_visit[0][0]:.0f} ms, "
          f"key→paint {first_visit[0][1]:.0f} ms; back to Train: {first_visit[1][0]:.0f} / {first_visit[1][1]:.0f} ms")
    print("p50 and p99 against the bare Textual app (idle TuneLab / TuneLab following the run):")
    for name in followed_p:
        ratios = []
        for column in (0, 1):
            b = base_p[name][column]
            ratios.append(f"{idle_p[name][column] / b:5.2f}x / {followed_p[name][column] / b:5.2f}x" if b else "  n/a")
        print(f"  {name:<10} p50 {ratios[0]}   p99 {ratios[1]}")
    deadline = time.monotonic() + 120
    while run_info(root).status.is_live and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"run {run_info(root).status} (stopped by the benchmark); files in {work}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default="demo")
    parser.add_argument("--eqn", default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement while following (default 30)")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--key-every", type=float, default=1.0, help="seconds between screen-switching key presses")
    parser.add_argument("--niceness", type=int, default=None,
                        help="CPU niceness of the training run (default: what the Train screen uses; 0 to compare)")
    args = parser.parse_args()
    sys.setswitchinterval(0.005)  # Python's default; stated so the numbers are comparable
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
