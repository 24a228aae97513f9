"""The live display of a training run's events, shared by `tunelab fit` (events from the trainer's callback) and
`tunelab watch` (events from the run directory's tailer), so both look the same.

On a terminal it is a Rich progress bar with loss, learning rate, throughput and ETA, plus a line per evaluation.
Without one (a detached run's fit.log, a pipe) it prints a plain line per evaluation and at most one progress
line every `plain_every` seconds.
"""

from __future__ import annotations

import time

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunelab.core.events import (BatchSizeChosen, CheckpointSaved, EvalDone, EvalStarted, RunFailed, RunFinished,
                                 RunStarted, SaveStarted, StepCompiled, StepLogged)

from .common import err_console, literal


class RunProgress:
    def __init__(self, console=err_console, plain_every: float = 30.0, summary: bool = True):
        self.console = console
        self.summary = summary          # print a line for RunFinished/RunFailed (fit prints its own)
        self.live = console.is_terminal and console.width >= 20   # a 0-column pty makes Rich's live display spin
        self.plain_every = plain_every
        self._last_plain = 0.0
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total} steps"), TextColumn("{task.fields[status]}", markup=False),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=console, transient=False)
        self.task_id = None
        self.last_status = ""

    def __call__(self, event) -> None:
        if isinstance(event, RunStarted):
            resumed = f", resumed at step {event.resumed_from_step}" if event.resumed_from_step else ""
            how = ", ".join(part for part in (event.precision, "TF32" if event.tf32 else "", event.attention,
                                              f"{event.processes} processes" if event.processes > 1 else "") if part)
            self.console.print(f"run {literal(event.run_dir)}: {literal(event.model)} on {event.train_examples} examples, "
                               f"{literal(event.task)}, {event.total_steps} steps on {literal(event.device)}"
                               f"{f' ({how})' if how else ''}{resumed}")
            if event.device.startswith("cpu"):
                from tunelab.core.device import unused_gpu_note

                note = unused_gpu_note()     # a GPU box whose torch cannot use the GPU: say so, once
                if note:
                    self.console.print(literal(note))
            if self.live:
                if self.task_id is None:
                    self.progress.start()  # only now: a run that fails before it starts prints just its error
                    self.task_id = self.progress.add_task("fit", total=event.total_steps, status="")
                self.progress.update(self.task_id, total=event.total_steps, completed=event.resumed_from_step)
        elif isinstance(event, StepLogged):
            self.last_status = (f"loss {event.loss:.4f}  lr {event.learning_rate:.2e}  "
                                f"{event.samples_per_second:.0f} samples/s")
            if self.task_id is not None:
                self.progress.update(self.task_id, completed=event.step, status=self.last_status)
            elif not self.live and time.monotonic() - self._last_plain >= self.plain_every:
                self._last_plain = time.monotonic()
                self.console.print(f"step {event.step} epoch {event.epoch:.2f}: {literal(self.last_status)}")
        elif isinstance(event, EvalStarted):
            self._status(f"evaluating {event.split} ({event.examples} examples)")   # a column without markup
        elif isinstance(event, SaveStarted):
            self._status(f"saving the {event.what}")
        elif isinstance(event, EvalDone):
            shown = ", ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
            self.console.print(f"epoch {event.epoch:.2f} step {event.step}: {literal(event.split)} {literal(shown)}"
                               + ("  [green]best[/]" if event.is_best else ""))
        elif isinstance(event, BatchSizeChosen):
            self.console.print(batch_size_line(event))
        elif isinstance(event, StepCompiled):
            self.console.print(literal(compile_line(event)))
        elif isinstance(event, CheckpointSaved) and event.reason != "best":
            self.console.print(f"step {event.step}: resumable checkpoint saved ({event.reason})")
        elif isinstance(event, RunFinished):
            self.close()
            if self.summary:
                self.console.print(f"{literal(event.status)} at step {event.step} in {event.seconds:.0f}s"
                                   + (f"; best {literal(event.figure_of_merit)} {event.best_metric:.4f}" if event.best_metric is not None else ""))
        elif isinstance(event, RunFailed):
            self.close()
            if self.summary:
                self.console.print(f"[red]failed at step {event.step}:[/] {literal(event.error)}")

    def _status(self, text: str) -> None:
        if self.task_id is not None:
            self.progress.update(self.task_id, status=text)

    def close(self) -> None:
        if self.task_id is not None:
            self.progress.stop()
            self.task_id = None


def batch_size_line(event: BatchSizeChosen) -> str:
    """One line on a batch size fit chose: --batch-size auto's micro-batch, or an evaluation batch lowered."""
    failed = ", ".join(str(n) for n in event.did_not_fit)
    if event.what == "eval":
        split = event.split or "the validation split"
        was = event.did_not_fit[-1] if event.did_not_fit else "?"
        return (f"out of memory scoring {split} at an evaluation batch of {was}: lowered to "
                f"{event.batch_size} (--eval-batch-size; the training batch is unchanged)")
    return (f"--batch-size auto: micro-batch {event.batch_size} x {event.grad_accum} accumulated = "
            f"{event.effective_batch} per optimizer step" + (f" ({failed} did not fit)" if failed else ""))


def compile_line(event: StepCompiled) -> str:
    """One line on --compile: the first compiled step's time, or why training goes on eagerly."""
    if event.status == "compiled":
        return f"--compile: the training step is compiled (the first step took {event.seconds:.0f}s, compiling included)"
    return f"--compile: could not compile the training step ({event.reason}); training goes on eagerly"


_status = None


def say(text: str) -> None:
    """What a verb is doing before it has anything to show (reading and tokenizing a large dataset takes a while),
    as a transient spinner on a terminal: it vanishes when `said()` is called or an error is printed (still one
    line). Off a terminal it prints nothing, so pipes and --json get only the result."""
    global _status
    if not err_console.is_terminal:
        return
    if _status is None:
        _status = err_console.status("")
        _status.start()
    _status.update(f"[dim]{literal(text)}…[/]")


def said() -> None:
    global _status
    if _status is not None:
        _status.stop()
        _status = None
