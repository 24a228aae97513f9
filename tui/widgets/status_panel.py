"""The status panel of a followed run: what it is doing now (training, evaluating, saving), step and epoch,
samples/s and tokens/s, elapsed time and ETA, process (and GPU) memory, the best figure of merit, and why a
failed or crashed run ended. In overlay mode, one line per run in its series colour.

Owned by RunMonitor (tui/widgets/run_monitor.py); it reads a `RunTrace` (tui/follow.py) and never touches a
file. A live run's clock is refreshed once a second; a finished run's panel is static.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from textual.content import Content
from textual.widgets import Static

from tunelab.core.gpu_status import status_line
from tunelab.core.run_status import RunStatus

STATUS_STYLE = {
    RunStatus.RUNNING: "$success", RunStatus.STALLED: "$warning", RunStatus.COMPLETED: "$primary",
    RunStatus.EARLY_STOPPED: "$primary", RunStatus.STOPPED: "$accent", RunStatus.FAILED: "$error",
    RunStatus.CRASHED: "$error", RunStatus.UNKNOWN: "$warning", RunStatus.BROKEN: "$error",
}
STATUS_MARK = {RunStatus.RUNNING: "●", RunStatus.STALLED: "◐", RunStatus.COMPLETED: "✔",
               RunStatus.EARLY_STOPPED: "✔", RunStatus.STOPPED: "■", RunStatus.FAILED: "✘",
               RunStatus.CRASHED: "✘", RunStatus.UNKNOWN: "?", RunStatus.BROKEN: "✘"}


def duration_text(seconds: float | None) -> str:
    """45s, 3m07s, 2h05m, 3d04h."""
    if seconds is None:
        return "–"
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def amount_text(value: float) -> str:
    """812, 1.2k, 35k, 1.4M: short and of steady width."""
    value = float(value)
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.1f}{suffix}" if scaled < 10 else f"{scaled:.0f}{suffix}"
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def device_text(started) -> str:
    """Where and how a run trains, from its RunStarted: 'cpu fp32 sdpa', 'cuda:0 bf16 TF32 flash', '2 × cuda bf16'
    ('' before it starts; older logs name only the device)."""
    if started is None:
        return ""
    device = started.device or ""
    processes = getattr(started, "processes", 1) or 1
    if processes > 1:
        device = f"{processes} × {device.split(':')[0]}"
    parts = [device, started.precision, "TF32" if started.tf32 else "", started.attention]
    return " ".join(p for p in parts if p)


def memory_text(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def trained_line(started) -> str:
    """"trains 222k of 23M parameters (1.0%)" from a RunStarted ("" when it does not say: an older run, or numbers
    that are not counts in an events.jsonl from elsewhere)."""
    trainable = getattr(started, "trainable_parameters", 0)
    total = getattr(started, "total_parameters", 0)
    if not all(type(n) is int for n in (trainable, total)) or not 0 <= trainable <= total or total == 0:
        return ""
    if trainable == total:
        return f"trains all {amount_text(total)} parameters"
    return f"trains {amount_text(trainable)} of {amount_text(total)} parameters ({trainable / total:.1%})"


def status_text(status: RunStatus, phase: str = "") -> Content:
    label = status.value.replace("_", " ")
    if status == RunStatus.RUNNING and phase:
        label += f" · {phase}"
    return Content.from_markup(f"[bold {STATUS_STYLE.get(status, '$foreground')}]{STATUS_MARK.get(status, '?')} $label[/]",
                               label=label)


class StatusPanel(Static):
    """A few lines about one run (`show_trace`) or one line per overlaid run (`show_overlay`)."""

    DEFAULT_CSS = """
    StatusPanel {
        height: auto;
        min-height: 4;
        padding: 0 1;
        background: $surface;
        color: $foreground;
    }
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.clock = clock
        self._trace = None
        self._overlay: list = []
        self._colors: list[str] = []
        self._message = "No run yet. Fill in the form and press ctrl+s to start one, or open one on the Runs screen."
        self._ticker = None

    def on_mount(self) -> None:
        self._render_now()

    # --- what to show -------------------------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        self._trace, self._overlay, self._message = None, [], text
        self._render_now()

    def show_trace(self, trace) -> None:
        self._trace, self._overlay = trace, []
        self._render_now()

    def show_overlay(self, traces: Sequence, colors: Sequence[str]) -> None:
        self._trace, self._overlay, self._colors = None, list(traces), list(colors)
        self._render_now()

    def refresh_status(self) -> None:
        """Re-render after the trace changed (called by the monitor after each batch of events)."""
        self._render_now()

    # --- rendering ----------------------------------------------------------------------------------------------

    def _render_now(self) -> None:
        if not self.is_mounted:
            return
        live = False
        if self._trace is not None:
            self.update(self._single(self._trace))
            live = self._trace.is_live
        elif self._overlay:
            self.update(self._overlay_lines())
            live = any(t.is_live for t in self._overlay)
        else:
            self.update(Content.from_markup("[dim]$text[/]", text=self._message))
        # a live run's elapsed time and ETA tick once a second; a finished one's panel stays still
        if live and self._ticker is None:
            self._ticker = self.set_interval(1.0, self._render_now)
        elif not live and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _single(self, trace) -> Content:
        now = self.clock()
        status = trace.status
        head = Content.assemble(status_text(status, trace.phase if status == RunStatus.RUNNING else ""),
                                ("  ", ""), (_short_path(trace.root), "dim"))
        total = trace.total_steps
        step = f"step {trace.step:,}" + (f"/{total:,} ({100 * trace.step / total:.0f}%)" if total else "")
        epochs = trace.started.epochs if trace.started is not None else 0
        step += f" · epoch {trace.epoch:.2f}" + (f"/{epochs}" if epochs else "")
        lines = [head, Content(step)]
        trained = trained_line(trace.started)
        if trained:
            lines.append(Content(trained))
        last = trace.last_step
        where = device_text(trace.started)     # cpu fp32 sdpa, cuda:0 bf16 TF32 flash
        if last is not None:
            speed = f"{amount_text(last.samples_per_second)} samples/s · {amount_text(last.tokens_per_second)} tok/s"
            memory = f"RSS {memory_text(last.rss_mb)}" + (f" · GPU {memory_text(last.gpu_mb)}" if last.gpu_mb else "")
            lines.append(Content(" · ".join(part for part in (speed, memory, where) if part)))
        elif where:
            lines.append(Content(where))
        if trace.gpus:                          # NVML: each GPU's memory and utilisation (GPU0 3.1/80 GB 97%)
            lines.append(Content(status_line(trace.gpus)))
        timing = f"elapsed {duration_text(trace.elapsed(now))}"
        eta = trace.eta()
        if eta is not None:
            timing += f" · ETA {duration_text(eta)}"
        if trace.best is not None:
            timing += f" · best {trace.figure_of_merit} {trace.best:.3f}"
        elif trace.last_eval is not None:
            fom = trace.last_eval.figure_of_merit
            timing += f" · {fom} {trace.last_eval.metrics.get(fom, float('nan')):.3f}"
        lines.append(Content(timing))
        reason = trace.reason
        if reason and status in (RunStatus.FAILED, RunStatus.CRASHED, RunStatus.STALLED, RunStatus.UNKNOWN,
                                 RunStatus.BROKEN):
            lines.append(Content.from_markup("[$error]$reason[/]", reason=reason))
        elif status in (RunStatus.STOPPED, RunStatus.CRASHED):
            lines.append(Content.from_markup("[dim]resumable: press ctrl+r on Train or r on Runs[/]"))
        return Content("\n").join(lines)

    def _overlay_lines(self) -> Content:
        lines = []
        for index, trace in enumerate(self._overlay):
            color = self._colors[index % len(self._colors)] if self._colors else "foreground"
            total = f"/{trace.total_steps:,}" if trace.total_steps else ""
            best = f" · best {trace.figure_of_merit} {trace.best:.3f}" if trace.best is not None else ""
            lines.append(Content.assemble(
                Content.from_markup(f"[bold ${color}]━━[/] "), (trace.label, "bold"), " ",
                status_text(trace.status), Content(f" · step {trace.step:,}{total}{best}")))
        return Content("\n").join(lines)


def _short_path(root: Path) -> str:
    return root.name


def shown_path(path: str | Path) -> str:
    """A path as the user would type it: relative to the current directory when under it, ~ for home."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        pass
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)
