"""The Train screen: the hyperparameter form (generated from FitConfig) beside the live view of the run it
started: status panel, loss with its trend, the figure of merit at each evaluation, the learning rate.

Start checks the model and the data in a thread (core.fit.resolve, which loads the tokenizer and the data),
then launches the same detached `tunelab fit` the CLI's `fit --detach` does (core.runs.launch_detached), so
quitting the app or losing the SSH session does not stop the run. Stop asks the run to stop after its
current step with a resumable checkpoint; Resume continues a stopped or crashed run from it.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from tunelab.core.errors import TuneLabError

from ..messages import RunLaunched
from ..widgets.config_form import ConfigForm
from ..widgets.run_monitor import RunMonitor
from .base import TuneLabScreen, error_text

RUN_NICENESS = 5  # runs started here yield the CPU to the app: keys stay answered on a machine the training fills
NARROW = 100  # below this many columns, the form hides itself once a run starts (ctrl+f brings it back)
SELECTION_FIELDS = ("model", "data", "eqn", "columns")


class TrainScreen(TuneLabScreen):
    MODE = "train"
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", tooltip="check the model and data, then start a detached run"),
        Binding("ctrl+t", "stop", "Stop", tooltip="stop the run after its current step, with a checkpoint"),
        Binding("ctrl+r", "resume", "Resume", tooltip="continue a stopped or crashed run from its checkpoint"),
        Binding("ctrl+f", "toggle_form", "Form", tooltip="show or hide the settings form"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.launching = False

    def compose_body(self) -> ComposeResult:
        selection = self.app.selection
        with Horizontal(id="train-body"):
            yield ConfigForm({name: getattr(selection, name) for name in SELECTION_FIELDS}, id="train-form")
            yield RunMonitor(clock=self.app.clock, id="train-monitor")

    @property
    def form(self) -> ConfigForm:
        return self.query_one(ConfigForm)

    @property
    def monitor(self) -> RunMonitor:
        return self.query_one(RunMonitor)

    def on_mount(self) -> None:
        self.monitor.status_panel.show_message(
            "Ready: the settings on the left are those of tunelab fit. Press ctrl+s to start a detached run; "
            "it goes on if you quit the app.")
        run = self.app.pending_train_run or (self.app.selection.run if self.app.follow_on_train else None)
        self.app.pending_train_run = None
        if run:
            self.show_run(run)

    def on_screen_resume(self) -> None:
        selection = self.app.selection
        self.form.set_values({name: getattr(selection, name) for name in SELECTION_FIELDS})

    def on_selection_changed(self, selection) -> None:
        if self.is_mounted:
            self.form.set_values({name: getattr(selection, name) for name in SELECTION_FIELDS})

    @on(ConfigForm.Changed)
    def _form_changed(self, event: ConfigForm.Changed) -> None:
        if event.name in SELECTION_FIELDS and event.problem is None and not event.stale:
            value = event.value
            if event.name in ("model", "data") and not value:
                return
            self.app.select(**{event.name: value})

    # --- showing a run ------------------------------------------------------------------------------------------

    def show_run(self, root: str | Path, *, fill_form: bool = True) -> None:
        """Follow `root` here (its settings go into the form, so Resume and a re-run start from them)."""
        root = Path(root)
        self.monitor.follow(root)
        if fill_form:
            try:
                from tunelab.core.run_dir import RunDir

                config = RunDir(root).read_config().get("config", {})
            except (TuneLabError, OSError, ValueError):
                config = {}
            if config:
                # the run's settings become the working ones: the form's data fields are views of the selection
                picked = {k: config.get(k) for k in SELECTION_FIELDS if k in config}
                if picked.get("model") and picked.get("data"):
                    self.app.select(**picked, run=str(root.resolve()))
                values = {k: v for k, v in config.items() if k != "out"}
                self.form.set_values(values, quiet=True)
        if self.size.width and self.size.width < NARROW:
            self.form.display = False

    # --- actions ------------------------------------------------------------------------------------------------

    def action_toggle_form(self) -> None:
        self.form.display = not self.form.display
        if self.form.display:
            self.form.query("Input").first().focus()

    def action_start(self) -> None:
        if self.launching:
            self.notify("a run is being started already", severity="warning")
            return
        try:
            config = self.form.config().with_out()
        except TuneLabError as err:
            self.form.display = True
            self.notify(str(err), severity="error", timeout=8)
            if not self.monitor.traces:       # no run on show: the status says why this attempt (not an older one) failed
                self.monitor.show_message(f"not started: {err}")
            return
        self.launching = True
        self.monitor.show_message(f"checking {config.model} and {config.data} (loading the tokenizer and the data)…")
        self._launch(config)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, config) -> None:
        from tunelab.core.fit import check_device, check_processes, resolve
        from tunelab.core.run_dir import check_new_run_dir
        from tunelab.core.runs import launch_detached

        check_new_run_dir(config.out)
        resolve(config)                      # model, data, equation, labels, lengths, metric: fail here, not there
        check_device(config)                 # the device picked is here (flash attention can run on it),
        check_processes(config)              # and the processes and GPUs fit this machine
        root, pid = launch_detached(config, niceness=RUN_NICENESS)
        self.post_message(RunLaunched(root.resolve(), pid))

    def on_run_launched(self, message: RunLaunched) -> None:
        self.launching = False
        self.app.select(run=str(message.root))
        self.show_run(message.root, fill_form=False)
        verb = "resumed" if message.resumed else "started"
        self.notify(f"{verb} {message.root.name} (pid {message.pid}); it goes on if you quit. "
                    f"Output: {message.root / 'fit.log'}", timeout=6)

    def worker_failed(self, worker, error) -> None:
        if worker.group == "launch":
            self.launching = False
            self.monitor.show_message(f"not started: {error_text(error)}")

    def _run_root(self) -> Path | None:
        root = self.monitor.current
        if root is None and self.app.selection.run:
            root = Path(self.app.selection.run)
        return root

    def action_stop(self) -> None:
        root = self._run_root()
        if root is None:
            self.notify("no run to stop: start one, or open one on the Runs screen", severity="warning")
            return
        self._stop(root)

    @work(thread=True, group="stop", exit_on_error=False)
    def _stop(self, root: Path) -> None:
        from tunelab.core.runs import request_stop

        info = request_stop(root)
        self.app.call_from_thread(
            self.notify, f"asked {root.name} (pid {info.pid}) to stop after its current step; it saves a checkpoint")

    def action_resume(self) -> None:
        root = self._run_root()
        if root is None:
            self.notify("no run to resume: open a stopped or crashed run on the Runs screen", severity="warning")
            return
        if self.launching:
            self.notify("a run is being started already", severity="warning")
            return
        self.launching = True
        self._resume(root)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _resume(self, root: Path) -> None:
        self.post_message(RunLaunched(*resume_run(root), resumed=True))


def resume_run(root: Path) -> tuple[Path, int]:
    """Check that `root` has a resumable checkpoint, then relaunch it detached (as `fit --resume --detach`)."""
    from tunelab.core.fit import open_resume
    from tunelab.core.runs import launch_detached

    open_resume(str(root))
    run_dir, pid = launch_detached(resume=str(root), niceness=RUN_NICENESS)
    return run_dir.resolve(), pid


__all__ = ["TrainScreen", "resume_run"]
