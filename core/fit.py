"""Fine-tuning: the training loop behind `tunelab fit`, the TUI's Train screen and `tunelab.core.fit.fit()`.

Reads top to bottom in phases: resolve everything the user gave (failing before anything is written),
build the model and optimizer, then train with length-grouped dynamic padding, evaluate, keep the best
checkpoint, stop early or on request, and save a model `transformers.pipeline` loads unchanged.
Runs on one device or under `accelerate launch` (DDP) with the same code.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import adaptation, allocator, checkpoint as checkpoints, cls_shortcut
from .auto_batch import (BatchChoice, effective_batch, find_micro_batch, free_device_memory, is_auto,
                         score_lowering_on_oom, starting_choice, with_batch)
from .checkpoint import TrainState
from .compile_step import PAD_MULTIPLE, compile_model, describe_error, is_compile_error, padded_width, wants_compile
from .tasks.base import Task, task_for
from .batching import EncodedSplit, collate, encode_task_split, length_grouped_batches
from .config import DEFAULT_MAX_LENGTH, FitConfig, parse_interval, refuse_foreign_settings, refuse_untrusted_resume
from .data import TaskData, absolute_data_spec, hidden_labels_note, load_task_data
from .attention_kernel import apply_attention, choose_attention
from .device import enable_tf32, gpu_error_message, pick_device, precision_for
from .errors import TuneLabError, some_of
from .eval_shards import predict_across
from .inference import ScoringCancelled, score_outputs
from .events import (BatchSizeChosen, CheckpointSaved, EvalDone, EvalStarted, Event, EventCallback, EventLog, RunFailed,
                     RunFinished, RunStarted, SaveStarted, StepCompiled)
from .liveness import RunOwnership
from .metrics import is_better, refuse_metric_script
from .models import ResolvedModel, load_classifier, load_config, load_tokenizer, max_positions, resolve_model
from .atomic_write import write_json_atomic
from .run_dir import RunDir, check_run_files, new_run_dir, remember_run, replace_dir
from .step_log import StepLog


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
    batch: BatchChoice | None = None    # the micro-batch and accumulation trained with (set when training starts)
    device: object = None               # the torch.device trained on, and its precision (set when training starts)
    precision: str = "fp32"
    asked: FitConfig | None = None      # the config as given when it said --batch-size auto (config has the numbers)

    # ---- what the task decides: fit's loop asks these and never tests the task itself

    @property
    def kind(self) -> Task:
        """The task: what the data's equation trains (sentence labels, token tags, ...)."""
        return task_for(self.task)

    def build_model(self) -> tuple[object, bool]:
        """The model with the head this task trains, ready to train; (model, new_head), where new_head says the
        head was freshly initialised (the checkpoint had none of this task's)."""
        model, new_head = load_classifier(self.model, head_class=self.kind.head_class(),
                                          **self.kind.model_kwargs(self.label_names))
        if self.device is not None:     # --attention: SDPA, or FlashAttention-2 where it can run
            apply_attention(model, self.config.attention, self.device, self.precision)
        cls_shortcut.install(model)  # a head that reads only [CLS]: the last layer runs for [CLS] alone (same math)
        # --freeze-layers, --reinit-layers, --lora-r (core/adaptation.py)
        return adaptation.prepare(model, self.config), new_head

    def encode(self, split: str) -> EncodedSplit:
        """One split of the data as the model reads it: token ids, lengths and label ids (or values)."""
        label2id = {name: i for i, name in enumerate(self.label_names)}
        return encode_task_split(self.task, split, self.tokenizer, self.config.max_length, label2id,
                                 **self.config.task_options())

    def score(self, outputs, encoded: EncodedSplit) -> dict[str, float]:
        """The task's scores of a model's outputs on an encoded split, the figure of merit among them."""
        return score_outputs(self.task.equation.task, outputs, encoded, self.label_names, self.metric)

    def non_finite_hint(self) -> str | None:
        """The data's likely part in a NaN or infinite training loss, in words; None when the data looks fine
        (then the learning rate is named)."""
        return self.kind.non_finite_hint(self.train)


def resolve(config: FitConfig, on_phase=None, *, resuming: bool = False) -> Setup:
    """Check the model, data, equation, labels and lengths; raise TuneLabError on anything wrong.
    `on_phase(text)` hears what it is doing (reading, tokenizing), so a large dataset shows progress at once."""
    say = on_phase or (lambda text: None)
    config.validate()
    say(f"checking model {config.model}")
    model = resolve_model(config.model, trust_remote_code=config.trust_remote_code)
    model_config = load_config(model)
    limit = max_positions(model_config)
    if config.max_length is not None and config.max_length > limit:
        raise TuneLabError(f"--max-length {config.max_length} is beyond {model.name}'s limit of {limit} tokens")
    n_layers = getattr(model_config, "num_hidden_layers", 0)
    if config.freeze_layers > n_layers:
        raise TuneLabError(f"--freeze-layers {config.freeze_layers}: {model.name} has only {n_layers} layers")
    say(f"reading data {config.data}")
    task = load_task_data(config.data, config.eqn, columns=list(config.columns) if config.columns else None, seed=config.seed)
    if "train" not in task.splits or not task.labeled.get("train"):
        raise TuneLabError(f"{task.name} has no labelled train split to fine-tune on{hidden_labels_note(task, 'train')}")
    kind = task_for(task)
    # --reinit-layers, --lora-r, --layer-lr-decay fit this model (LoRA's targets looked up without loading weights)
    adaptation.check(config, model_config, kind.head_class(), trust_remote_code=model.trust_remote_code)
    if config.max_length is None:
        config = replace(config, max_length=min(kind.default_max_length or DEFAULT_MAX_LENGTH, limit))
    if config.label_all_tokens and not kind.per_token:
        raise TuneLabError(f"--label-all-tokens gives every sub-word of a word its tag, but {task.equation.task} "
                           "has one label per example, not a tag per word; drop --label-all-tokens")
    refuse_foreign_settings(asdict(config), kind)      # --doc-stride on a sentence task would be ignored
    metric = config.metric or kind.default_metric(task.label_names, task.name, task.equation.is_pair)
    kind.check_metric(metric, label_names=task.label_names)
    tokenizer = load_tokenizer(model)
    label2id = {name: i for i, name in enumerate(task.label_names)}
    say(f"tokenizing train ({len(task.splits['train']):,} examples)")
    train = encode_task_split(task, "train", tokenizer, config.max_length, label2id, **config.task_options())
    valid_split = next((s for s in ("validation", "test") if s in task.splits and task.labeled.get(s)), None)
    if valid_split is None and (config.early_stop or config.eval_every):
        flag = "--early-stop" if config.early_stop else "--eval-every"
        small = " (train has fewer than 10 rows, so none is held out of it)" if len(task.splits["train"]) < 10 else ""
        raise TuneLabError(f"{flag} scores a validation split, but {task.name} has no labelled validation or test "
                           f"split{small}; give one (--data train=...,validation=...) or drop {flag}")
    kind.check_trainable(task, label2id, train)
    valid = (encode_task_split(task, valid_split, tokenizer, config.max_length, label2id, **config.task_options())
             if valid_split else None)
    plan_steps(config, len(train), _world_size(), resuming)   # the step plan fits (--grad-accum, --warmup), also for --detach
    return Setup(config, model, tokenizer, task, task.label_names, metric, train, valid, valid_split)


# ---------------------------------------------------------------- model, optimizer, schedule

def adamw(model, lr: float, weight_decay: float, layer_decay: float = 1.0) -> torch.optim.AdamW:
    """AdamW with decay on weight matrices only: biases and LayerNorm weights are not decayed; with `layer_decay`
    below 1, each encoder layer's groups train at a lower rate than the one above (core/adaptation.py)."""
    groups = adaptation.parameter_groups(model, lr, weight_decay, layer_decay)
    # fused: one kernel over all parameters (CUDA, and CPU since torch 2.4), on CPU 4x faster than foreach;
    # the device is the one training will use (the model moves there after this, in accelerator.prepare)
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available() and not torch.cuda.is_available()
    return torch.optim.AdamW(groups, lr=lr, **({"foreach": True} if mps else {"fused": True}))


def mixed_precision(device: torch.device | None = None) -> str:
    """Accelerate's mixed_precision for `device` (default: the best one here): bf16 where the GPU has it, fp16
    (Accelerate adds loss scaling) on older GPUs, full precision ("no") on CPU and MPS."""
    precision = precision_for(device if device is not None else pick_device())
    return "no" if precision == "fp32" else precision


def check_device(config: FitConfig) -> None:
    """What fit refuses about --device and --attention, said before a detached run is launched: a device this
    machine does not have, FlashAttention-2 asked for where it cannot run (under several processes each takes
    its own GPU, so cuda:N's index is not checked there)."""
    device = pick_device(config.device)
    if config.attention == "flash":
        choose_attention("flash", None, device, precision_for(device))


def check_processes(config: FitConfig) -> None:
    """--processes and --gpus make sense on this machine: enough GPUs for one process each, GPUs named only for a
    run on GPUs, several processes given GPUs by --gpus (not cuda:N). One line each, before anything starts."""
    from .launch import gpu_list

    gpus = gpu_list(config.gpus)
    device = pick_device(config.device)
    if gpus and device.type != "cuda":
        raise TuneLabError(f"--gpus {config.gpus} names GPUs, but this run is on {device.type} (--device "
                           f"{config.device}); drop --gpus, or train on cuda")
    if config.processes == 1:
        if len(gpus) > 1:
            raise TuneLabError(f"--gpus {config.gpus} names {len(gpus)} GPUs for one process; give --processes "
                               f"{len(gpus)} (one per GPU), or one GPU")
        return
    if device.type == "cuda":
        if device.index is not None:
            raise TuneLabError(f"--device {config.device} names one GPU, but --processes {config.processes} takes one "
                               f"GPU each; pick them with --gpus (e.g. --gpus 0,1) and --device cuda")
        count = torch.cuda.device_count()
        missing = [g for g in gpus if int(g) >= count]
        if missing:
            raise TuneLabError(f"--gpus {config.gpus}: GPU {missing[0]} does not exist (this machine shows {count}: "
                               f"0 to {count - 1})")
        available = len(gpus) or count
        if config.processes > available:
            raise TuneLabError(f"--processes {config.processes} needs a GPU each, and {available} "
                               f"{'are' if available != 1 else 'is'} {'named by --gpus' if gpus else 'visible'}; "
                               f"use --processes {available} or fewer")
    elif device.type == "mps":
        raise TuneLabError(f"--processes {config.processes}: several processes train on CUDA GPUs or on the CPU, "
                           f"not on MPS; use --processes 1")


def accelerator_for(requested: str | None):
    """An Accelerator on the device --device names (auto: the best one), in its precision. Under several processes
    each takes its own GPU (LOCAL_RANK) and cuda:N's index is left to CUDA_VISIBLE_DEVICES; with one process,
    cuda:N becomes the current GPU so that everything Accelerate puts on "cuda" lands there."""
    from accelerate import Accelerator

    device = pick_device(requested)         # a device this machine does not have: one line, before anything else
    if device.type == "cuda" and device.index is not None and _world_size() == 1:
        torch.cuda.set_device(device.index)
    if _world_size() == 1:
        # Accelerate keeps one device and precision per process and refuses another; a second fit() in the same
        # process (a notebook, the tests) may ask for a different one, so a single process starts afresh
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    # cpu=True off the GPU: with several processes (torchrun, mpirun) Accelerate then uses gloo
    return Accelerator(mixed_precision=mixed_precision(device), cpu=device.type == "cpu")


# ---------------------------------------------------------------- the run

@dataclass(frozen=True)
class Plan:
    """How many steps the run takes, fixed when it starts (a resume keeps them)."""

    batches_per_epoch: int          # per process
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int


def _refuse_changed_data(run: RunDir, setup: Setup) -> None:
    """A resumed run must read the data it began on: the checkpoint's place in the epoch and the step plan count
    its rows, so edited files would silently continue a different run (or end it early)."""
    saved = run.read_config()
    was = saved.get("train_examples")
    labels = saved.get("label_names")
    if isinstance(was, int) and was != len(setup.train):
        raise TuneLabError(f"the training data changed since {str(run.root)!r} began: train had {was:,} examples, now "
                           f"{len(setup.train):,}; resuming would not continue the same run (start a new --out)")
    if isinstance(labels, list) and setup.kind.has_classes and list(setup.label_names) != labels:
        then, now = [str(x) for x in labels], list(setup.label_names)
        gone, new = [x for x in then if x not in now], [x for x in now if x not in then]
        change = "; ".join(part for part in (f"gone: {some_of(gone)}" if gone else "",
                                             f"new: {some_of(new)}" if new else "") if part) or "the same labels in another order"
        raise TuneLabError(f"the labels changed since {str(run.root)!r} began ({len(then):,} then, {len(now):,} now; "
                           f"{change}); start a new --out")


def open_resume(resume: str, trust_remote_code: bool = False, device: str | None = None,
                ) -> tuple[RunDir, FitConfig, TrainState, Path | None]:
    """Everything --resume needs, read from the run directory: its config, its newest whole checkpoint, the state.
    `device` (the user's --device) moves the run to another device: where a run trains is not part of the run.
    A run that stopped before its first checkpoint starts over from step 0 (checkpoint None). Permission to run a
    model's own code comes from this call (the user's --trust-remote-code), never from run.json: a run directory
    from elsewhere cannot grant it."""
    from .liveness import lock_is_held, read_owner

    run = RunDir(Path(resume))
    first_process = os.environ.get("RANK", "0") == "0"     # under torchrun, rank 0 takes the lock: others may see it
    if first_process and run.root.is_dir() and lock_is_held(run.root):
        from .run_status import run_info

        owner, doing = read_owner(run.root), "is starting" if run_info(run.root).phase == "starting" else "is running"
        raise TuneLabError(f"{resume!r} {doing}{f' (pid {owner.pid})' if owner else ''}; stop it first "
                           f"(tunelab stop {resume}) or follow it (tunelab watch {resume})")
    if run.root.is_dir():
        check_run_files(run.root)           # a folder where events.jsonl belongs: refused now, not half-way
    saved = run.read_config()
    try:
        config = FitConfig.from_dict(saved["config"])
    except TypeError as err:
        raise TuneLabError(f"{run.config} is damaged: {err}") from None
    refuse_untrusted_resume(saved["config"], trust_remote_code, resume)
    config = replace(config, trust_remote_code=trust_remote_code is True)
    if device:
        config = replace(config, device=device)
        config.validate()
    if config.metric:
        refuse_metric_script(config.metric, named_by_user=False)   # run.json may not name a script to run
    checkpoint = run.resumable_checkpoint()
    if checkpoint is None:
        if run.model.exists():
            raise TuneLabError(f"{resume!r} has no resumable checkpoint (the run finished); evaluate it with "
                               f"`tunelab eval --model {resume}`, or train again into a new --out")
        if run.last.is_dir():                           # saved once, its last part missing: name what is
            checkpoints.check(run.last, _world_size(), run.best)
        if os.path.lexists(run.root / "checkpoints"):   # saved once, now unreadable: starting over would lose it
            raise TuneLabError(f"{resume!r} has no whole checkpoint to resume from: {run.root / 'checkpoints'} is "
                               f"damaged (checkpoints/last must be a folder holding {checkpoints.STATE})")
        return run, config, TrainState(), None          # stopped before its first checkpoint: from the start
    checkpoints.check(checkpoint, _world_size(), run.best)  # every part there and readable, before anything is written
    state = TrainState.load(checkpoint / checkpoints.STATE)
    state.segment += 1
    return run, config, state, checkpoint


def _world_size() -> int:
    """How many training processes this launch has (torchrun and accelerate launch set WORLD_SIZE)."""
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def plan_steps(config: FitConfig, train_examples: int, world: int, resuming: bool = False) -> Plan:
    """The run's step plan; refuses a --grad-accum beyond an epoch and (for a new run: a resume keeps the plan it
    began with) a warm-up longer than the run. --batch-size auto plans at its starting point (the whole effective
    batch in one micro-batch) until the search has chosen."""
    if is_auto(config):
        config = with_batch(config, starting_choice(config))
    batches_per_epoch = math.ceil(train_examples / config.batch_size) // world
    if batches_per_epoch == 0:
        raise TuneLabError(f"{train_examples} training examples make no batch for {world} processes at --batch-size {config.batch_size}")
    if config.grad_accum > batches_per_epoch:
        raise TuneLabError(f"--grad-accum {config.grad_accum} is more than the {batches_per_epoch} batches in an epoch "
                           f"at --batch-size {config.batch_size}; use at most --grad-accum {batches_per_epoch}")
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = max(1, round(steps_per_epoch * config.epochs))
    warmup_steps = int(config.warmup * total_steps) if config.warmup < 1 else int(config.warmup)
    if warmup_steps > total_steps and not resuming:   # the run would end still warming up, at a small share of --lr
        raise TuneLabError(f"--warmup {config.warmup:g} steps is longer than the run, which takes {total_steps:,} "
                           f"steps ({config.epochs:g} epochs of {steps_per_epoch:,}); give at most --warmup {total_steps}, "
                           f"or a share of the steps such as --warmup 0.1")
    return Plan(batches_per_epoch, steps_per_epoch, total_steps, warmup_steps)


def _local_path(spec: str) -> str:
    """An existing local model path made absolute (so run.json works from any directory); a hub id unchanged."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if spec and path.exists() else spec


class _Emitter:
    """Sends events to the caller's callback and the run's events.jsonl (main process only)."""

    def __init__(self, log: EventLog | None, callback: EventCallback | None):
        self.log, self.callback = log, callback
        self.started = False            # a RunStarted went out

    def __call__(self, event: Event) -> None:
        self.started = self.started or isinstance(event, RunStarted)
        if self.log is not None:
            self.log(event)
        if self.callback is not None:
            self.callback(event)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def _save_error(what: str, where: Path, err: BaseException) -> TuneLabError:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC or "No space left" in str(err):
        reason = "the disk is full"
    else:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
    return TuneLabError(f"could not save the {what} in {where}: {reason}")


def fit(config: FitConfig | None = None, on_event: EventCallback | None = None,
        stop: threading.Event | None = None, resume: str | None = None, on_phase=None,
        trust_remote_code: bool = False, device: str | None = None) -> FitResult:
    """Fine-tune as `config` says (or continue the run in `resume`, where `trust_remote_code` is the user's
    --trust-remote-code: run.json alone cannot turn it on, and `device` a --device that moves it); returns when done,
    stopped or failed.
    Raises TuneLabError for anything the user can fix, before writing anything where possible."""
    # ---- phase 1: resolve everything, so bad input fails before anything is written
    if resume:
        run, config, state, checkpoint = open_resume(resume, trust_remote_code, device)
    else:
        config, state, checkpoint = (config or FitConfig()).with_out(), TrainState(), None
    if config.processes > 1 and _world_size() != config.processes:
        this = "one process" if _world_size() == 1 else f"one of {_world_size()} processes"
        raise TuneLabError(f"--processes {config.processes}: this is {this}; "
                           f"start the run with `tunelab fit` (it starts the processes itself) or a launcher "
                           f"with --nproc_per_node {config.processes}")
    setup = resolve(config, on_phase, resuming=bool(resume))
    config = setup.config
    if resume and checkpoint is not None:
        _refuse_changed_data(run, setup)
    batch = _recorded_batch(run) if resume and checkpoint is not None and is_auto(config) else None
    accelerator = accelerator_for(config.device)
    on_cpu = accelerator.device.type == "cpu"
    setup = replace(setup, device=accelerator.device, precision=precision_for(accelerator.device))
    if config.attention == "flash":         # refused now, before the run directory is claimed
        choose_attention("flash", None, setup.device, setup.precision)
    enable_tf32(accelerator.device)         # Ampere and newer: fp32 matrix multiplies in TF32 (the rest of autocast)
    if on_cpu:
        allocator.keep_large_buffers()  # reuse the embedding gradient's 47+ MB instead of re-mapping it each step
    main = accelerator.is_main_process
    plan = plan_steps(with_batch(config, batch) if batch else config, len(setup.train), accelerator.num_processes,
                      bool(resume))

    # ---- phase 2: claim the run directory: one process owns it (a lock held for the run's life)
    stop = stop or threading.Event()
    ownership = None
    if main:
        if not resume:
            run = new_run_dir(config.out)
        ownership = RunOwnership(run.root, "--resume" if resume else "--out")
        if not resume and (run.config.exists()):
            ownership.close()
            raise TuneLabError(f"--out {config.out!r} already holds a run; continue it with --resume {config.out}")
        if resume and checkpoint is None:
            _set_aside_events(run)   # starting over: the steps of the attempt that left no checkpoint go aside
        ownership.start(stop)   # owner.json + heartbeat (and stop requests) from now on
    elif not resume:
        run = RunDir(Path(config.out))
    accelerator.wait_for_everyone()
    emit = _Emitter(EventLog(run.events) if main else None, on_event)
    try:
        return _train(accelerator, setup, plan, run, state, checkpoint, emit, stop, ownership, batch=batch,
                      on_phase=on_phase)
    except BaseException:
        if main and not resume and not emit.started:
            _remove_unstarted_run(run)   # failed while building the model: leave --out as it was, reusable
        raise
    finally:
        emit.close()
        if ownership is not None:
            ownership.close()


def _recorded_batch(run: RunDir) -> BatchChoice:
    """The micro-batch and accumulation a --batch-size auto run chose when it began (run.json's "batch"): a resume
    continues with them, since its checkpoint counts micro-batches of that size."""
    choice = BatchChoice.from_record(run.read_config().get("batch"))
    if choice is None:
        raise TuneLabError(f"{run.config} does not say which micro-batch --batch-size auto chose, so the checkpoint "
                           f"cannot be continued; train again into a new --out")
    return choice


def choose_batch(accelerator, setup: Setup, on_phase=None) -> BatchChoice:
    """--batch-size auto: the largest micro-batch that fits this device, tried on the longest training rows with a
    throwaway copy of the model (two training steps each, so the optimizer's state is in memory as it is from the
    second step on). Under several processes each searches its own device and all take the smallest."""
    from accelerate.utils import set_seed

    config, device = setup.config, accelerator.device
    say = on_phase or (lambda text: None)
    set_seed(config.seed)
    probe = {"model": setup.build_model()[0]}          # dropped once the search ends, so its memory is freed
    probe["model"].to(device).train()
    longest = np.argsort(-setup.train.lengths, kind="stable")
    pad_id = setup.tokenizer.pad_token_id or 0

    def fits(size: int) -> None:        # raises the device's out-of-memory error when `size` does not fit
        model = probe["model"]
        model.zero_grad(set_to_none=True)
        batch = {n: t.to(device) for n, t in collate(setup.train, longest[:size], pad_id).items()}
        optimizer = adamw(model, config.lr, config.weight_decay)
        for _ in range(2):
            with accelerator.autocast():
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def trying(size: int) -> None:
        say(f"--batch-size auto: trying a micro-batch of {size}")

    try:
        choice = find_micro_batch(config, fits, on_try=trying, max_length=config.max_length)
    finally:
        probe.clear()
        free_device_memory()
    if accelerator.num_processes > 1:
        smallest = int(accelerator.gather(torch.tensor([choice.micro_batch], device=device)).min())
        if smallest < choice.micro_batch:
            tried = tuple(sorted({*choice.did_not_fit, choice.micro_batch}, reverse=True))
            choice = BatchChoice(smallest, effective_batch(config) // smallest, True, tried)
    return choice


def _set_aside_events(run: RunDir) -> None:
    """events.jsonl of an attempt that ended before its first checkpoint, kept as events.N.jsonl (not read)."""
    if run.events.exists():
        n = 1
        while (run.root / f"events.{n}.jsonl").exists():
            n += 1
        run.events.rename(run.root / f"events.{n}.jsonl")


def _remove_unstarted_run(run: RunDir) -> None:
    for name in ("events.jsonl", "run.json", "owner.json", "heartbeat.json", "stop.request"):
        (run.root / name).unlink(missing_ok=True)


# ---------------------------------------------------------------- phases 3-5: build, train, finish

def _train(accelerator, setup: Setup, plan: Plan, run: RunDir, state: TrainState, checkpoint: Path | None,
           emit: _Emitter, stop: threading.Event, ownership: RunOwnership | None, *, batch: BatchChoice | None = None,
           on_phase=None) -> FitResult:
    """Phases 3-5 of fit(): build, train, finish. Every exit goes through RunFinished or RunFailed.
    `batch`: the micro-batch a resumed --batch-size auto run chose when it began (None: search for it now)."""
    config = setup.config
    started = time.time()
    try:
        # ---- --batch-size auto: the largest micro-batch that fits, the effective batch kept by accumulation
        if is_auto(config):
            batch = batch or choose_batch(accelerator, setup, on_phase)
            setup = replace(setup, config=with_batch(config, batch), asked=config, batch=batch)
            config = setup.config
            plan = _auto_plan(setup, accelerator.num_processes, resuming=checkpoint is not None)
        else:
            setup = replace(setup, batch=BatchChoice(config.batch_size, config.grad_accum))
        # ---- phase 3: model, optimizer, schedule (seeded: a new head is the same on every process), run.json
        (on_phase or (lambda text: None))(f"loading model {setup.model.name}")
        loop = build_loop(accelerator, setup, plan, run, state, checkpoint, emit, stop, ownership)
        record_start(loop)
        # ---- phase 4: train. One loop, one exit: the step that ends the run says how
        status = train(loop)
        # ---- phase 5: finish: a stopped run keeps a resumable checkpoint; a finished one saves its model
        status, model_dir, final = finish(loop, status)
    except torch.cuda.OutOfMemoryError:
        chosen = " (chosen by --batch-size auto)" if setup.asked is not None else ""
        message = (f"CUDA out of memory at --batch-size {config.batch_size}{chosen}; try --batch-size "
                   f"{max(1, config.batch_size // 2)} --grad-accum {config.grad_accum * 2}, or a smaller --max-length")
        emit(RunFailed(state.step, message))
        raise TuneLabError(message) from None
    except TuneLabError as err:
        emit(RunFailed(state.step, str(err)))
        raise
    except KeyboardInterrupt:
        emit(RunFailed(state.step, "aborted (a second Ctrl-C); resume from the last checkpoint, if any"))
        raise
    except BaseException as err:
        message = gpu_error_message(err) if isinstance(err, Exception) else None
        if message:                   # a device error users meet on GPUs: one line saying what to do
            emit(RunFailed(state.step, message))
            raise TuneLabError(message) from None
        emit(RunFailed(state.step, f"{type(err).__name__}: {err}"))
        raise
    seconds = time.time() - started
    record_resources(loop)
    emit(RunFinished(state.step, status, state.best, setup.metric, model_dir, seconds))
    return FitResult(str(run.root), model_dir, status, state.step, setup.metric, state.best, final,
                     seconds, loop.steps.samples_per_second)


def _auto_plan(setup: Setup, world: int, resuming: bool) -> Plan:
    """The step plan at the micro-batch --batch-size auto chose; an accumulation longer than an epoch is named
    in the words of what the user gave."""
    try:
        return plan_steps(setup.config, len(setup.train), world, resuming)
    except TuneLabError:
        batch = setup.batch
        raise TuneLabError(f"--batch-size auto: only a micro-batch of {batch.micro_batch} fits, and the "
                           f"{batch.grad_accum} of them that make the effective batch of {batch.effective_batch} are "
                           f"more than an epoch of {len(setup.train):,} examples holds; give a smaller --grad-accum, "
                           f"or a smaller --max-length") from None


@dataclass
class Loop:
    """One process's part of a run: what it trains, where it writes, and the named steps the loop takes.
    Built by build_loop; every process of a DDP launch has its own, and they agree() on each decision."""

    setup: Setup
    plan: Plan
    run: RunDir
    state: TrainState               # where training stands: saved in every checkpoint, restored on resume
    accelerator: object
    model: object                   # as accelerate prepared it (wrapped in DDP under several processes)
    unwrapped: object               # the model itself: what is saved and checkpointed
    optimizer: object
    scheduler: object
    new_head: bool                  # the model's checkpoint had no head of this task: it was freshly initialised
    steps: StepLog                  # the loss of every step, emitted in batches
    emit: _Emitter
    stop: threading.Event           # set by Ctrl-C, the TUI or `tunelab stop`
    ownership: RunOwnership | None  # the run directory's lock and heartbeat (main process only)
    save_every: tuple[str, float]   # parse_interval(--save-every): ("steps", n), ("seconds", s) or ("off", 0)
    pad_id: int
    compiled: object = None         # the model through torch.compile (--compile), used for training steps only
    compile_failure: str = ""       # why compiling failed (reported once, at the first step; training goes on eager)
    compile_reported: bool = False  # StepCompiled went out (once per segment)
    last_save: float = 0.0          # time.monotonic() of the last periodic checkpoint (or the loop's start)
    eval_batch: int = 0             # examples per scoring batch: --eval-batch-size, lowered by out of memory (0: as set)

    @property
    def config(self) -> FitConfig:
        return self.setup.config

    @property
    def device(self):
        return self.accelerator.device

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    # ---- decisions every process takes alike

    def agree(self, *flags: bool) -> list[bool]:
        """The same decisions on every process (any process saying yes makes it yes)."""
        if self.world == 1:
            return list(flags)
        votes = self.accelerator.reduce(torch.tensor([1.0 if f else 0.0 for f in flags], device=self.device),
                                        reduction="sum")
        return [v > 0 for v in votes.tolist()]

    def abandon_if_removed(self) -> None:
        """The run directory was deleted (or replaced) under the run: end it failed, writing nothing there."""
        lost = self.ownership.check_dir() if self.ownership is not None else None
        if self.agree(lost is not None)[0]:
            raise TuneLabError(lost or "the run directory was removed while the run trained")

    def refuse_non_finite_loss(self) -> None:
        """Emit the pending steps; a NaN or infinite loss among them fails the run (on every process alike)."""
        self.steps.flush()
        if self.agree(self.steps.non_finite is not None)[0]:
            raise TuneLabError(_non_finite_loss_message(self.steps.non_finite, self.setup))

    def save_due(self) -> bool:
        """--save-every says a periodic checkpoint is due (this process's view: agree() on it)."""
        kind, amount = self.save_every
        return (kind == "steps" and self.state.step % int(amount) == 0) or \
               (kind == "seconds" and time.monotonic() - self.last_save >= amount)

    # ---- the steps

    def epoch_batches(self, epoch: int) -> list:
        """This process's equal share of the epoch's length-grouped batches."""
        batches = length_grouped_batches(self.setup.train.lengths, self.config.batch_size, self.config.seed, epoch)
        return batches[: self.plan.batches_per_epoch * self.world][self.rank::self.world]

    def train_step(self, group: list) -> tuple[torch.Tensor, int, int]:
        """One optimizer step over a group of micro-batches; the loss stays on the device.
        Returns the step's loss and the samples and tokens it read (over all processes). With --compile the
        forward and backward run compiled; a compile failure is reported once and the step is taken again eagerly
        (an error that is not the compiler's shows again there)."""
        if self.compile_failure and not self.compile_reported:      # torch.compile itself was unavailable
            self.report_compile("fell_back", self.compile_failure)
        if self.compiled is None:
            return self.take_step(group, self.model)
        started = time.monotonic()
        try:
            result = self.take_step(group, self.compiled, multiple=PAD_MULTIPLE)
        except Exception as err:
            if not is_compile_error(err):
                raise
            self.compiled = None
            self.optimizer.zero_grad(set_to_none=True)    # what the failed step had accumulated
            self.report_compile("fell_back", describe_error(err))
            return self.take_step(group, self.model)
        if not self.compile_reported:
            self.report_compile("compiled", seconds=time.monotonic() - started)
        return result

    def report_compile(self, status: str, reason: str = "", seconds: float = 0.0) -> None:
        self.compile_reported = True
        self.emit(StepCompiled(self.state.step + 1, status, reason, seconds))

    def take_step(self, group: list, model, multiple: int = 1) -> tuple[torch.Tensor, int, int]:
        """train_step's work through `model` (the prepared model, or it compiled); batches padded to a multiple of
        `multiple` tokens (so a compiled model meets few shapes)."""
        accelerator, device, world = self.accelerator, self.device, self.world
        step_loss = torch.zeros((), device=device)
        samples = tokens = 0
        for k, index in enumerate(group):
            batch = collate(self.setup.train, index, self.pad_id, multiple=multiple, limit=self.config.max_length)
            batch = {n: t.to(device, non_blocking=True) for n, t in batch.items()}
            tokens += int(self.setup.train.lengths[index].sum())
            samples += len(index)
            sync = k == len(group) - 1
            with accelerator.no_sync(self.model) if not sync and world > 1 else contextlib.nullcontext():
                with accelerator.autocast():
                    loss = model(**batch).loss / len(group)
                accelerator.backward(loss)
            step_loss += loss.detach()
        if self.config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if world > 1:
            step_loss = accelerator.reduce(step_loss, reduction="mean")
        return step_loss, samples * world, tokens * world

    def evaluate(self, epoch: float) -> bool:
        """Score the validation split; save the best model; True when early stopping says stop.
        Raises ScoringCancelled when a stop is asked for during the pass (one process only)."""
        setup, state = self.setup, self.state
        if setup.valid is None:
            return False
        self.refuse_non_finite_loss()
        self.emit(EvalStarted(state.step, setup.valid_split, len(setup.valid)))
        # each process scores its share and all get every output back (eval_shards): the same scores as one process
        outputs = self.predict(self.unwrapped, setup.valid, setup.valid_split,
                               cancel=self.stop if self.world == 1 else None)
        self.model.train()
        self.steps.restart_clock()
        scores = setup.score(outputs, setup.valid)
        value = scores[setup.metric]
        self.abandon_if_removed()                 # the best model would re-create a deleted run directory
        best = is_better(setup.metric, value, state.best)
        if best:
            state.best, state.best_scores, state.bad_evals = value, scores, 0
            self.save_best()
        else:
            state.bad_evals += 1
        state.history.append({"step": state.step, "epoch": epoch, **scores})
        self.emit(EvalDone(state.step, epoch, setup.valid_split, scores, setup.metric, best))
        if best:
            self.emit(CheckpointSaved(state.step, str(self.run.best), "best"))
        return self.config.early_stop > 0 and state.bad_evals >= self.config.early_stop

    def predict(self, model, encoded: EncodedSplit, split: str, cancel=None):
        """The model's outputs on an encoded split, at the evaluation batch; out of memory there halves the
        evaluation batch (for this pass and the rest of the run, never the training batch) and says so."""
        def lowered(size: int, failed: tuple[int, ...]) -> None:
            self.emit(BatchSizeChosen(self.state.step, "eval", size, did_not_fit=list(failed), split=split))

        def score(size: int):      # each process scores its share, all get every output back (eval_shards)
            return predict_across(self.accelerator, model, encoded, size, self.pad_id, self.accelerator.autocast,
                                  cancel=cancel)

        outputs, self.eval_batch = score_lowering_on_oom(score, self.eval_batch or self.config.eval_batch_size,
                                                         lowered, what=f"scoring {split}")
        return outputs

    def save_best(self) -> None:
        """The weights as they are now, as best/ (main process): written aside, then swapped in."""
        if not self.main:
            return
        self.emit(SaveStarted(self.state.step, "best"))
        tmp = self.run.best.with_name("best.tmp")
        try:
            adaptation.save_weights(self.unwrapped, tmp)     # a LoRA model: every tensor, so restore_best fits
            replace_dir(tmp, self.run.best)
        except Exception as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _save_error("best model", self.run.best.parent, err) from None

    def save_checkpoint(self, reason: str) -> None:
        """A resumable checkpoint (weights, optimizer, schedule, RNG, TrainState) in checkpoints/last."""
        self.refuse_non_finite_loss()    # a checkpoint of NaN weights would only fail again when resumed
        if self.main:
            self.emit(SaveStarted(self.state.step, "checkpoint"))
        try:   # into last.tmp, then swapped in: a kill here leaves the previous checkpoint usable
            checkpoints.save(self.run.last, self.unwrapped, self.optimizer, self.scheduler, self.state, rank=self.rank,
                             barrier=self.accelerator.wait_for_everyone)
        except Exception as err:
            raise _save_error("checkpoint", self.run.last.parent, err) from None
        if self.main:
            self.emit(CheckpointSaved(self.state.step, str(self.run.last), reason))
        self.accelerator.wait_for_everyone()

    def after_step(self, epoch: float) -> str | None:
        """What follows an optimizer step, decided alike on every process: fail on a NaN loss or a removed run
        directory, end the run, evaluate (--eval-every), save (--save-every). Returns how the run ends, or None."""
        state, config = self.state, self.config
        stop_now, save_due, non_finite = self.agree(self.stop.is_set(), self.save_due(), self.steps.non_finite is not None)
        if non_finite:      # seen at a flush (one host sync per flush, none per step)
            self.refuse_non_finite_loss()
        if stop_now or save_due:
            self.abandon_if_removed()
        if state.step >= self.plan.total_steps:
            return "completed"
        if stop_now:
            return "stopped"
        try:
            if config.eval_every and state.step % config.eval_every == 0 and self.evaluate(epoch):
                return "early_stopped"
        except ScoringCancelled:
            return "stopped"
        if save_due:
            self.save_checkpoint("periodic")
            self.last_save = time.monotonic()
        return None


def build_loop(accelerator, setup: Setup, plan: Plan, run: RunDir, state: TrainState, checkpoint: Path | None,
               emit: _Emitter, stop: threading.Event, ownership: RunOwnership | None) -> Loop:
    """Phase 3: model, optimizer, schedule (seeded, so a new head is the same on every process); on resume the
    checkpoint's weights, optimizer, schedule and RNG exactly as they were."""
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    config = setup.config
    steps = StepLog(emit, config.log_seconds, accelerator.device)
    set_seed(config.seed)
    model, new_head = setup.build_model()
    refuse_labels_beyond_head(model, setup)
    optimizer = adamw(model, config.lr, config.weight_decay, config.layer_lr_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, plan.warmup_steps, plan.total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)
    if checkpoint is not None:
        checkpoints.load(checkpoint, unwrapped, optimizer, scheduler, rank=accelerator.process_index)
    loop = Loop(setup, plan, run, state, accelerator, model, unwrapped, optimizer, scheduler, new_head, steps, emit,
                stop, ownership, parse_interval(config.save_every), setup.tokenizer.pad_token_id or 0)
    if wants_compile(config.compile, accelerator.device):
        try:        # lazy: Inductor compiles at the first step; this fails only where torch.compile is missing
            loop.compiled = compile_model(model)
        except Exception as err:
            loop.compile_failure = describe_error(err)
    return loop


def refuse_labels_beyond_head(model, setup: Setup) -> None:
    """A class id the head has no output for fails the loss (on a GPU as a device-side assert that takes the
    process's GPU state with it): refused here, before the first step, naming the label."""
    if not setup.kind.has_classes:
        return
    outputs = int(getattr(model.config, "num_labels", 0) or 0)
    for name, split in (("train", setup.train), (setup.valid_split, setup.valid)):
        if split is None or split.labels is None:
            continue
        labels = split.labels
        ids = np.concatenate([np.ravel(x) for x in labels]) if isinstance(labels, list) else np.ravel(labels)
        ids = ids[ids != -100]                      # sub-words the loss skips
        if ids.size and (int(ids.max()) >= outputs or int(ids.min()) < 0):
            bad = int(ids.max()) if int(ids.max()) >= outputs else int(ids.min())
            label = setup.label_names[bad] if 0 <= bad < len(setup.label_names) else bad
            raise TuneLabError(f"{name} has label {label!r} (id {bad}), but the model's head has {outputs} outputs "
                               f"(ids 0 to {outputs - 1}); the head must have one output per label "
                               f"({len(setup.label_names)} here)")


def record_start(loop: Loop) -> None:
    """run.json (on a run's first start) and the RunStarted event: from here on the run is under way."""
    setup, config, plan, state, ownership = loop.setup, loop.config, loop.plan, loop.state, loop.ownership
    if loop.main and state.segment == 1:
        write_json_atomic(loop.run.config, {
            "config": {**asdict(setup.asked or config), "model": _local_path(config.model),
                       "data": absolute_data_spec(config.data)},
            "batch": setup.batch.record() if setup.batch else None,
            "model_path": setup.model.path, "equation": str(setup.task.equation),
            "label_names": list(setup.label_names), "figure_of_merit": setup.metric, "device": str(loop.device),
            "num_processes": loop.world, "mixed_precision": loop.accelerator.mixed_precision,
            "precision": setup.precision, "tf32": _tf32_on(loop.device), "attention": attention_of(loop.unwrapped),
            "total_steps": plan.total_steps, "warmup_steps": plan.warmup_steps, "train_examples": len(setup.train),
            "validation_split": setup.valid_split, "held_out_validation": setup.task.held_out_validation,
            "new_head": loop.new_head, "parameters": adaptation.describe(loop.unwrapped),
            **setup.kind.run_record(setup.train, setup.label_names)})
        remember_run(loop.run.root)
    owner = ownership.owner if ownership else None
    trainable, total = adaptation.parameter_counts(loop.unwrapped)
    loop.emit(RunStarted(str(loop.run.root), setup.model.name, str(setup.task.equation), str(loop.device),
                         plan.total_steps, math.ceil(config.epochs), len(setup.train), state.step, state.segment,
                         owner.pid if owner else os.getpid(), owner.host if owner else "", setup.precision,
                         _tf32_on(loop.device), attention_of(loop.unwrapped), loop.world,
                         trainable_parameters=trainable, total_parameters=total))
    if setup.asked is not None and setup.batch is not None:     # --batch-size auto: what it chose
        batch = setup.batch
        loop.emit(BatchSizeChosen(state.step, "train", batch.micro_batch, batch.grad_accum, batch.effective_batch,
                                  list(batch.did_not_fit)))
    if ownership is not None:
        ownership.step = state.step


def record_resources(loop: Loop) -> None:
    """Add the process's peak memory (resident, and the GPU's when there is one) to run.json at a segment's end,
    keeping the larger of this and an earlier segment's."""
    if not loop.main or loop.ownership is not None and loop.ownership.lost:
        return
    import resource

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024       # KiB on Linux
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    try:
        data = loop.run.read_config()
        before = data.get("resources") if isinstance(data.get("resources"), dict) else {}
        data["resources"] = {"peak_rss_mb": round(max(peak_rss, float(before.get("peak_rss_mb") or 0)), 1),
                             "peak_gpu_mb": round(max(peak_gpu, float(before.get("peak_gpu_mb") or 0)), 1)}
        if "parameters" not in data:
            data["parameters"] = adaptation.describe(loop.unwrapped)
        write_json_atomic(loop.run.config, data)
    except (TuneLabError, OSError, TypeError, ValueError):
        pass                       # a figure for comparisons; never fail a finished run over it


def _tf32_on(device) -> bool:
    """fp32 matrix multiplies run in TF32 on `device` (enable_tf32 turned it on)."""
    return device.type == "cuda" and torch.get_float32_matmul_precision() != "highest"


def attention_of(model) -> str:
    """The attention kernel `model` runs with, in --attention's words (sdpa, flash, eager)."""
    implementation = getattr(model.config, "_attn_implementation", None) or "eager"
    return {"flash_attention_2": "flash"}.get(implementation, implementation)


def train(loop: Loop) -> str:
    """Phase 4: optimizer steps until the plan is done, early stopping ends it or a stop is asked for; returns
    "completed", "early_stopped" or "stopped". One loop, one exit: `status` is set once, by the step that ends
    the run."""
    state, config = loop.state, loop.config
    loop.model.train()
    status = "completed" if state.step >= loop.plan.total_steps else None
    batches, batches_epoch = None, None
    loop.last_save = time.monotonic()
    while status is None:
        if batches_epoch != state.epoch:
            batches, batches_epoch = loop.epoch_batches(state.epoch), state.epoch
        if state.batch_in_epoch >= len(batches):                 # an epoch ends
            # scored before the epoch counter moves on: a stop that cancels this evaluation saves a checkpoint
            # still at the epoch's end, so the resumed run scores it first instead of skipping it
            try:
                early = not config.eval_every and loop.evaluate(float(state.epoch + 1))
            except ScoringCancelled:
                status = "stopped"
                continue
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            if early:
                status = "early_stopped"
            continue
        group = batches[state.batch_in_epoch: state.batch_in_epoch + config.grad_accum]
        loss, samples, tokens = loop.train_step(group)
        state.step += 1
        state.batch_in_epoch += len(group)
        epoch = state.epoch + state.batch_in_epoch / len(batches)
        loop.steps.add(state.step, epoch, loss, loop.scheduler.get_last_lr()[0], samples, tokens)
        if loop.ownership is not None:
            loop.ownership.step = state.step
        status = loop.after_step(epoch)
    loop.refuse_non_finite_loss()      # a NaN in the last steps fails the run too: nothing is saved as completed
    loop.abandon_if_removed()
    return status


def finish(loop: Loop, status: str) -> tuple[str, str, dict]:
    """Phase 5: a stopped run keeps a resumable checkpoint; a finished one is scored on what it has not been
    scored at, and saves its model. Returns the final status, the model directory ("" when stopped) and the
    scores of the saved model."""
    state = loop.state
    if status == "completed" and (not state.history or state.history[-1]["step"] != state.step):
        try:
            loop.evaluate(state.epoch + state.batch_in_epoch / max(1, loop.plan.batches_per_epoch))
        except ScoringCancelled:
            status = "stopped"
    if status == "stopped":
        loop.save_checkpoint("stop")
        return status, "", {}
    restore_best(loop)
    final = final_scores(loop)
    save_model(loop, final)
    return status, str(loop.run.model), final


def restore_best(loop: Loop) -> None:
    """Put the best evaluation's weights back (when there was one) before the model is scored and saved."""
    from safetensors.torch import load_file

    loop.accelerator.wait_for_everyone()
    best_file = loop.run.best / "model.safetensors"
    if best_file.is_file():
        try:
            if adaptation.is_lora(loop.unwrapped):      # every tensor was saved (adaptation.save_weights): all fit
                adaptation.load_weights(loop.unwrapped, best_file)
            else:
                loop.unwrapped.load_state_dict(load_file(str(best_file)), strict=False)  # copied onto the model's device
        except Exception as err:
            raise TuneLabError(f"the best model in {loop.run.best} is damaged ({type(err).__name__}); "
                               "resume from the last checkpoint or train again") from None


def final_scores(loop: Loop) -> dict:
    """The saved model's scores on validation and test. The validation split is not scored again: the best
    evaluation already scored exactly these weights."""
    setup, state = loop.setup, loop.state
    final: dict = {}
    for split in ("validation", "test"):
        if split in setup.task.splits and setup.task.labeled.get(split):
            if split == setup.valid_split and state.best_scores is not None:
                final[split] = dict(state.best_scores)
                continue
            encoded = setup.valid if split == setup.valid_split else setup.encode(split)
            loop.emit(EvalStarted(state.step, split, len(encoded), final=True))
            outputs = loop.predict(loop.unwrapped, encoded, split)
            final[split] = setup.score(outputs, encoded)
    return final


def save_model(loop: Loop, final: dict) -> None:
    """model/ (weights and tokenizer, as transformers.pipeline loads them) and metrics.json; the checkpoints go."""
    accelerator, run, model = loop.accelerator, loop.run, loop.unwrapped
    with torch.no_grad():  # one number per process: equal on every replica when DDP kept them in step
        checksum = torch.tensor([sum(float(p.double().sum()) for p in model.parameters())], device=loop.device,
                                dtype=torch.float64)
    replicas = accelerator.gather(checksum).tolist()
    if accelerator.is_main_process:
        loop.emit(SaveStarted(loop.state.step, "model"))
        tmp = run.model.with_name("model.tmp")
        adapter = run.root / "adapter.tmp" if adaptation.is_lora(model) else None
        try:    # a LoRA model is saved merged (a plain model), its adapter beside it in adapter/
            adaptation.save_model_files(model, tmp, adapter)
            loop.setup.tokenizer.save_pretrained(tmp)
            if adapter is not None:
                replace_dir(adapter, run.root / "adapter")
            replace_dir(tmp, run.model)
        except Exception as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if adapter is not None:
                shutil.rmtree(adapter, ignore_errors=True)
            raise _save_error("final model", run.root, err) from None
        write_json_atomic(run.metrics, {"figure_of_merit": loop.setup.metric, **final, "replica_checksums": replicas})
        shutil.rmtree(run.root / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()


def _non_finite_loss_message(seen: tuple[int, float] | None, setup: Setup) -> str:
    """One line: where the loss stopped being a number, and the likely cause."""
    if seen is None:
        where = "the loss became NaN or infinite"
    else:
        where = f"the loss became {'NaN' if math.isnan(seen[1]) else 'infinite'} at step {seen[0]}"
    cause = setup.non_finite_hint()
    if cause:
        return f"{where}: {cause}"
    lr = setup.config.lr
    return (f"{where}: the learning rate --lr {lr:g} is probably too high for this model; try a smaller one "
            f"(e.g. --lr {lr / 10:g}), or check the data for extreme values")
