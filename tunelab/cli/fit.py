"""`tunelab fit`: fine-tune with a live progress bar; Ctrl-C stops after the current step, resumably."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict, fields

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .common import add_data, add_json, add_model, console, err_console, print_json


def register(sub) -> None:
    from tunelab.core.config import FitConfig

    d = FitConfig()
    p = sub.add_parser("fit", help="fine-tune a model on a dataset (gft fit)",
                       description="Fine-tune. With no flags: the bundled MiniLM on the bundled demo data.")
    add_model(p)
    add_data(p)
    p.add_argument("--epochs", type=float, default=d.epochs, help=f"passes over train, may be fractional (default: {d.epochs})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default: {d.lr})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"examples per micro-batch (default: {d.batch_size})")
    p.add_argument("--max-length", type=int, default=None, help="truncate inputs at N tokens; batches pad only to their longest (default: 128, or the model's limit)")
    p.add_argument("--warmup", type=float, default=d.warmup, help=f"linear warm-up: a share of steps (<1) or a step count (default: {d.warmup})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW decay, not on biases/LayerNorm (default: {d.weight_decay})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed for head, dropout, batch order, validation split (default: {d.seed})")
    p.add_argument("--grad-accum", type=int, default=d.grad_accum, help="micro-batches per optimizer step (default: 1)")
    p.add_argument("--freeze-layers", type=int, default=d.freeze_layers, metavar="N", help="freeze the embeddings and the first N layers (default: train all)")
    p.add_argument("--eval-every", type=int, default=d.eval_every, metavar="STEPS", help="evaluate every N steps (default: each epoch)")
    p.add_argument("--early-stop", type=int, default=d.early_stop, metavar="PATIENCE", help="stop after N evaluations without improvement (default: off)")
    p.add_argument("--metric", default=None, help="figure of merit: accuracy, f1, macro_f1, mcc, pearson, spearman, or an evaluate metric (default: the task's)")
    p.add_argument("--out", default="", help="run directory (default: runs/<time>-<model>)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue a stopped run from its checkpoint (other flags are taken from DIR/run.json)")
    add_json(p)
    p.set_defaults(func=run)


def config_from_args(args):
    from tunelab.core.config import FitConfig

    names = {f.name for f in fields(FitConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if values.get("columns"):
        values["columns"] = tuple(values["columns"])
    return FitConfig(**values)


class _StopOnSignal:
    """First Ctrl-C (or SIGTERM/SIGHUP) asks the run to stop after this step; a second Ctrl-C aborts."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        err_console.print("[yellow]stopping after this step; a checkpoint will be saved (Ctrl-C again to abort)[/]")

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def run(args) -> int:
    from tunelab.core.events import EvalDone, RunFinished, RunStarted, StepLogged
    from tunelab.core.fit import fit

    config = None if args.resume else config_from_args(args)
    stop = threading.Event()
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=err_console, transient=False)
    task_id = None

    def on_event(event) -> None:
        nonlocal task_id
        if isinstance(event, RunStarted):
            err_console.print(f"run {event.run_dir}: {event.model} on {event.train_examples} examples, {event.task}, "
                              f"{event.total_steps} steps on {event.device}")
            progress.start()  # only now: a run that fails before it starts prints just its one-line error
            task_id = progress.add_task("fit", total=event.total_steps, completed=event.resumed_from_step, status="")
        elif isinstance(event, StepLogged) and task_id is not None:
            progress.update(task_id, completed=event.step,
                            status=f"loss {event.loss:.4f}  lr {event.learning_rate:.2e}  {event.samples_per_second:.0f} samples/s")
        elif isinstance(event, EvalDone):
            shown = ", ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
            progress.console.print(f"epoch {event.epoch:.2f} step {event.step}: {event.split} {shown}" + ("  [green]best[/]" if event.is_best else ""))
        elif isinstance(event, RunFinished):
            progress.stop()

    with _StopOnSignal(stop):
        try:
            result = fit(config, on_event=on_event, stop=stop, resume=args.resume)
        finally:
            if task_id is not None:
                progress.stop()
    if args.json:
        print_json(asdict(result))
        return 0
    if result.status == "stopped":
        console.print(f"stopped at step {result.steps}; continue with: tunelab fit --resume {result.run_dir}")
        return 0
    console.print(f"{result.status} after {result.steps} steps in {result.seconds:.0f}s "
                  f"({result.train_samples_per_second:.0f} samples/s); model saved to {result.model_dir}")
    for split, scores in result.metrics.items():
        console.print(f"  {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return 0
