"""Fine-tuning: the training loop behind `tunelab fit`, the TUI's training screen and `tunelab.fit()`.

Reads top to bottom in phases: resolve everything the user gave (failing before anything is written),
build the model and optimizer, then train with length-grouped dynamic padding, evaluate, keep the best
checkpoint, stop early or on request, and save a model `transformers.pipeline` loads unchanged.
Runs on one device or under `accelerate launch` (DDP) with the same code.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from . import allocator, cls_shortcut
from .batching import EncodedSplit, collate, encode_task_split, length_grouped_batches
from .config import DEFAULT_MAX_LENGTH, FitConfig
from .data import TaskData, load_task_data
from .errors import TuneLabError
from .inference import predict_outputs, score_outputs
from .events import (CheckpointSaved, EvalDone, Event, EventCallback, EventLog, RunFailed, RunFinished,
                     RunStarted, StepLogged)
from .metrics import check_metric_name, default_figure_of_merit, is_better
from .models import ResolvedModel, load_classifier, load_config, load_tokenizer, max_positions, resolve_model
from .run_dir import RunDir, new_run_dir, remember_run, replace_dir, write_json_atomic


@dataclass(frozen=True)
class FitResult:
    run_dir: str
    model_dir: str
    status: str                 # "completed", "early_stopped" or "stopped"
    steps: int
    figure_of_merit: str
    best_metric: float | None
    metrics: dict               # {"validation": {...}, "test": {...}} of the saved model
    seconds: float
    train_samples_per_second: float


@dataclass
class Setup:
    """Everything resolved from a FitConfig before a single file is written."""

    config: FitConfig           # with defaults that depend on the model filled in
    model: ResolvedModel
    tokenizer: object
    task: TaskData
    label_names: tuple[str, ...]
    metric: str
    train: EncodedSplit
    valid: EncodedSplit | None
    valid_split: str | None


def resolve(config: FitConfig) -> Setup:
    """Check the model, data, equation, labels and lengths; raise TuneLabError on anything wrong."""
    config.validate()
    model = resolve_model(config.model)
    model_config = load_config(model)
    limit = max_positions(model_config)
    if config.max_length is None:
        config = replace(config, max_length=min(DEFAULT_MAX_LENGTH, limit))
    if config.max_length > limit:
        raise TuneLabError(f"--max-length {config.max_length} is beyond {model.name}'s limit of {limit} tokens")
    n_layers = getattr(model_config, "num_hidden_layers", 0)
    if config.freeze_layers > n_layers:
        raise TuneLabError(f"--freeze-layers {config.freeze_layers}: {model.name} has only {n_layers} layers")
    task = load_task_data(config.data, config.eqn, columns=list(config.columns) if config.columns else None, seed=config.seed)
    if "train" not in task.splits or not task.labeled.get("train"):
        raise TuneLabError(f"{task.name} has no labelled train split to fine-tune on")
    if task.equation.task == "classify" and len(task.label_names) < 2:
        raise TuneLabError(f"column {task.equation.label!r} of {task.name} has a single label value; classification needs at least 2")
    metric = config.metric or default_figure_of_merit(
        task.equation.task, len(task.label_names), task.label_names, task.name, task.equation.is_pair)
    check_metric_name(metric, task.equation.task)
    tokenizer = load_tokenizer(model)
    label2id = {name: i for i, name in enumerate(task.label_names)}
    train = encode_task_split(task, "train", tokenizer, config.max_length, label2id)
    valid_split = next((s for s in ("validation", "test") if s in task.splits and task.labeled.get(s)), None)
    valid = encode_task_split(task, valid_split, tokenizer, config.max_length, label2id) if valid_split else None
    return Setup(config, model, tokenizer, task, task.label_names, metric, train, valid, valid_split)


# ---------------------------------------------------------------- model, optimizer, schedule

def freeze(model, n_layers: int) -> None:
    """Freeze the embeddings and the first n encoder layers (n = -1 freezes nothing)."""
    if n_layers < 0:
        return
    base = model.base_model
    for p in base.embeddings.parameters():
        p.requires_grad_(False)
    for layer in base.encoder.layer[:n_layers]:
        for p in layer.parameters():
            p.requires_grad_(False)


def adamw(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with decay on weight matrices only: biases and LayerNorm weights are not decayed."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel over all parameters (CUDA, and CPU since torch 2.4), on CPU 4x faster than foreach;
    # the device is the one training will use (the model moves there after this, in accelerator.prepare)
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available() and not torch.cuda.is_available()
    return torch.optim.AdamW(groups, lr=lr, **({"foreach": True} if mps else {"fused": True}))


def mixed_precision() -> str:
    """bf16 where the GPU has it, fp16 on older GPUs, full precision on CPU and MPS."""
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


# ---------------------------------------------------------------- the run

class _Emitter:
    """Sends events to the caller's callback and the run's events.jsonl (main process only)."""

    def __init__(self, log: EventLog | None, callback: EventCallback | None):
        self.log, self.callback = log, callback

    def __call__(self, event: Event) -> None:
        if self.log is not None:
            self.log(event)
        if self.callback is not None:
            self.callback(event)


def fit(config: FitConfig | None = None, on_event: EventCallback | None = None,
        stop: threading.Event | None = None, resume: str | None = None) -> FitResult:
    """Fine-tune as `config` says (or continue the run in `resume`); returns when done, stopped or failed."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    # ---- phase 1: resolve everything, so bad input fails before anything is written
    state: dict = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best": None, "bad_evals": 0, "history": []}
    if resume:
        run = RunDir(Path(resume))
        saved = run.read_config()
        config = FitConfig.from_dict(saved["config"])
        if not (run.last / "trainer_state.json").is_file():
            raise TuneLabError(f"{resume!r} has no resumable checkpoint" + (" (the run finished)" if run.model.exists() else ""))
        state = json.loads((run.last / "trainer_state.json").read_text(encoding="utf-8"))
    config = (config or FitConfig()).with_out()
    setup = resolve(config)
    config = setup.config
    # cpu=True when there is no GPU: with several processes (torchrun, mpirun) Accelerate then uses gloo
    on_cpu = not torch.cuda.is_available() and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    accelerator = Accelerator(mixed_precision=mixed_precision(), cpu=on_cpu)
    if on_cpu:
        allocator.keep_large_buffers()  # reuse the embedding gradient's 47+ MB instead of re-mapping it each step
    main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index
    batches_per_epoch = math.ceil(len(setup.train) / config.batch_size) // world
    if batches_per_epoch == 0:
        raise TuneLabError(f"{len(setup.train)} training examples make no batch for {world} processes at --batch-size {config.batch_size}")
    if not resume:
        run = new_run_dir(config.out) if main else RunDir(Path(config.out))
    accelerator.wait_for_everyone()
    is_regression = setup.task.equation.task == "regress"
    num_labels = 1 if is_regression else len(setup.label_names)
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = max(1, round(steps_per_epoch * config.epochs))
    warmup_steps = int(config.warmup * total_steps) if config.warmup < 1 else int(config.warmup)

    # ---- phase 2: model, optimizer, schedule (seeded, so the new head is the same on every process)
    set_seed(config.seed)
    id2label = None if is_regression else dict(enumerate(setup.label_names))
    model, new_head = load_classifier(setup.model, num_labels=num_labels, id2label=id2label,
                                      problem_type="regression" if is_regression else "single_label_classification")
    freeze(model, config.freeze_layers)
    cls_shortcut.install(model)  # the head reads only [CLS]: the last layer runs for [CLS] alone (same math)
    optimizer = adamw(model, config.lr, config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    device = accelerator.device
    pad_id = setup.tokenizer.pad_token_id or 0
    if resume:
        accelerator.load_state(str(run.last))

    emit = _Emitter(EventLog(run.events) if main else None, on_event)
    if main:
        resolved = {
            "config": asdict(config), "model_path": setup.model.path, "equation": str(setup.task.equation),
            "label_names": list(setup.label_names), "figure_of_merit": setup.metric, "device": str(device),
            "num_processes": world, "mixed_precision": accelerator.mixed_precision, "total_steps": total_steps,
            "warmup_steps": warmup_steps, "train_examples": len(setup.train), "validation_split": setup.valid_split,
            "held_out_validation": setup.task.held_out_validation, "new_head": new_head,
        }
        write_json_atomic(run.config, resolved)
        remember_run(run.root)
    emit(RunStarted(str(run.root), setup.model.name, str(setup.task.equation), str(device), total_steps,
                    math.ceil(config.epochs), len(setup.train), state["step"]))

    stop = stop or threading.Event()
    started = time.time()
    steps = _StepLog(emit, config.log_seconds)
    status = "completed"
    unwrapped = accelerator.unwrap_model(model)

    def stop_requested() -> bool:
        if world == 1:
            return stop.is_set()
        flag = accelerator.reduce(torch.tensor([1.0 if stop.is_set() else 0.0], device=device), reduction="sum")
        return bool(flag.item() > 0)  # every process stops at the same step

    def save_resumable(reason: str) -> None:
        steps.flush()
        accelerator.wait_for_everyone()
        tmp = run.last.with_name("last.tmp")
        accelerator.save_state(str(tmp))
        if main:
            write_json_atomic(tmp / "trainer_state.json", state)
            replace_dir(tmp, run.last)
            emit(CheckpointSaved(state["step"], str(run.last), reason))
        accelerator.wait_for_everyone()

    def evaluate_now(epoch_float: float) -> bool:
        """Score the validation split; save the best model; True when early stopping says stop."""
        if setup.valid is None:
            return False
        steps.flush()
        outputs = predict_outputs(model, setup.valid, config.eval_batch_size, device, pad_id, accelerator.autocast)
        model.train()
        steps.restart_clock()
        scores = score_outputs(setup.task.equation.task, outputs, setup.valid.labels, num_labels, setup.metric)
        value = scores[setup.metric]
        best = is_better(setup.metric, value, state["best"])
        if best:
            state["best"], state["bad_evals"] = value, 0
            if main:
                tmp = run.best.with_name("best.tmp")
                unwrapped.save_pretrained(tmp, safe_serialization=True)
                replace_dir(tmp, run.best)
        else:
            state["bad_evals"] += 1
        state["history"].append({"step": state["step"], "epoch": epoch_float, **scores})
        emit(EvalDone(state["step"], epoch_float, setup.valid_split, scores, setup.metric, best))
        if best:
            emit(CheckpointSaved(state["step"], str(run.best), "best"))
        return config.early_stop > 0 and state["bad_evals"] >= config.early_stop

    # ---- phase 3: train
    try:
        model.train()
        done = state["step"] >= total_steps
        while not done:
            epoch = state["epoch"]
            batches = length_grouped_batches(setup.train.lengths, config.batch_size, config.seed, epoch)
            batches = batches[: batches_per_epoch * world][rank::world]   # this process's equal share
            for start in range(state["batch_in_epoch"], len(batches), config.grad_accum):
                group = batches[start:start + config.grad_accum]
                step_loss = torch.zeros((), device=device)
                samples = tokens = 0
                for k, index in enumerate(group):
                    batch = {n: t.to(device, non_blocking=True) for n, t in collate(setup.train, index, pad_id).items()}
                    tokens += int(setup.train.lengths[index].sum())
                    samples += len(index)
                    sync = k == len(group) - 1
                    with accelerator.no_sync(model) if not sync and world > 1 else contextlib.nullcontext():
                        with accelerator.autocast():
                            loss = model(**batch).loss / len(group)
                        accelerator.backward(loss)
                    step_loss += loss.detach()
                if config.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["step"] += 1
                state["batch_in_epoch"] = start + len(group)
                epoch_float = epoch + state["batch_in_epoch"] / len(batches)
                if world > 1:
                    step_loss = accelerator.reduce(step_loss, reduction="mean")
                steps.add(state["step"], epoch_float, step_loss, scheduler.get_last_lr()[0], samples * world, tokens * world)
                last_step = state["step"] >= total_steps
                if config.eval_every and state["step"] % config.eval_every == 0 and not last_step:
                    if evaluate_now(epoch_float):
                        status, done = "early_stopped", True
                        break
                if last_step:
                    done = True
                    break
                if stop_requested():
                    status, done = "stopped", True
                    break
            else:
                state["epoch"], state["batch_in_epoch"] = epoch + 1, 0
                if not config.eval_every and evaluate_now(float(state["epoch"])):
                    status, done = "early_stopped", True
                continue
        steps.flush()
        if status == "completed" and (not state["history"] or state["history"][-1]["step"] != state["step"]):
            evaluate_now(state["epoch"] + state["batch_in_epoch"] / max(1, batches_per_epoch))
        if status == "stopped":
            save_resumable("stop")
            result_model = ""
            final = {}
        else:
            final = _finish(accelerator, unwrapped, setup, run, config, device, pad_id, num_labels)
            result_model = str(run.model)
    except torch.cuda.OutOfMemoryError:
        emit(RunFailed(state["step"], "CUDA out of memory"))
        raise TuneLabError(
            f"CUDA out of memory at --batch-size {config.batch_size}; try --batch-size {max(1, config.batch_size // 2)} "
            f"--grad-accum {config.grad_accum * 2}, or a smaller --max-length") from None
    except BaseException as err:
        emit(RunFailed(state["step"], f"{type(err).__name__}: {err}"))
        raise
    seconds = time.time() - started
    emit(RunFinished(state["step"], status, state["best"], setup.metric, result_model, seconds))
    if isinstance(emit.log, EventLog):
        emit.log.close()
    return FitResult(str(run.root), result_model, status, state["step"], setup.metric, state["best"], final,
                     seconds, steps.samples_per_second)


class _StepLog:
    """Keeps every optimizer step's loss on the device and emits them as StepLogged events at most every
    `interval` seconds (and before evaluations, checkpoints and the end): one host sync per flush instead of
    one per step, and no loss point is ever dropped. Throughput is measured over each flush window."""

    def __init__(self, emit: _Emitter, interval: float):
        self.emit, self.interval = emit, interval
        self.pending: list = []
        self.seconds, self.samples = 0.0, 0
        self.restart_clock()

    def restart_clock(self) -> None:
        self.window_start = time.perf_counter()

    def add(self, step: int, epoch: float, loss, lr: float, samples: int, tokens: int) -> None:
        self.pending.append((step, epoch, loss, float(lr), samples, tokens))
        if time.perf_counter() - self.window_start >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        losses = torch.stack([p[2] for p in self.pending]).float().tolist()
        elapsed = max(time.perf_counter() - self.window_start, 1e-9)
        samples, tokens = sum(p[4] for p in self.pending), sum(p[5] for p in self.pending)
        self.seconds += elapsed
        self.samples += samples
        for (step, epoch, _, lr, _, _), loss in zip(self.pending, losses):
            self.emit(StepLogged(step, round(epoch, 4), loss, lr, samples / elapsed, tokens / elapsed))
        self.pending.clear()
        self.restart_clock()

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def _finish(accelerator, model, setup: Setup, run: RunDir, config: FitConfig, device, pad_id: int, num_labels: int) -> dict:
    """Put the best weights back, save model/ + tokenizer, score validation and test, write metrics.json."""
    from safetensors.torch import load_file

    accelerator.wait_for_everyone()
    best_file = run.best / "model.safetensors"
    if best_file.is_file():
        model.load_state_dict(load_file(str(best_file)), strict=False)  # copied onto the model's device
    final: dict = {}
    label2id = {n: i for i, n in enumerate(setup.label_names)}
    for split in ("validation", "test"):
        if split in setup.task.splits and setup.task.labeled.get(split):
            enc = setup.valid if split == setup.valid_split else encode_task_split(setup.task, split, setup.tokenizer, config.max_length, label2id)
            outputs = predict_outputs(model, enc, config.eval_batch_size, device, pad_id, accelerator.autocast)
            final[split] = score_outputs(setup.task.equation.task, outputs, enc.labels, num_labels, setup.metric)
    with torch.no_grad():  # one number per process: equal on every replica when DDP kept them in step
        checksum = torch.tensor([sum(float(p.double().sum()) for p in model.parameters())], device=device, dtype=torch.float64)
    replicas = accelerator.gather(checksum).tolist()
    if accelerator.is_main_process:
        tmp = run.model.with_name("model.tmp")
        model.save_pretrained(tmp, safe_serialization=True)
        setup.tokenizer.save_pretrained(tmp)
        replace_dir(tmp, run.model)
        write_json_atomic(run.metrics, {"figure_of_merit": setup.metric, **final, "replica_checksums": replicas})
        shutil.rmtree(run.root / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
