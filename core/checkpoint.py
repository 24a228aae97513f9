"""The resumable checkpoint (DIR/checkpoints/last): what `fit` writes to stop and `fit --resume` reads to continue.

Run directories are copied between machines and colleagues, so reading one must never run code: nothing here
unpickles. Tensors are safetensors, everything else is JSON, and every value read is checked against the run
being resumed before it is used:

    trainer_state.json      where training stands (TrainState: step, epoch, place in the epoch, best, history);
                            written last, so a folder holding it is whole
    model.safetensors       every weight of the model
    optimizer.safetensors   AdamW's moments and step count per parameter, named "<parameter index>.<name>"
    optimizer.json          AdamW's parameter groups (learning rate, betas, decay, ...)
    scheduler.json          the learning-rate schedule's position
    rng.<rank>.safetensors  each training process's random number generators (Python, NumPy, torch CPU and GPU)
                            as integer tensors: dropout continues exactly as in an uninterrupted run

Only the first process writes the shared files; each process writes its own RNG file. The folder is written as
last.tmp and swapped in (run_dir.replace_dir), so a kill during a save leaves the previous checkpoint usable.
Any other file in the folder (an older TuneLab's `optimizer.bin` or `custom_checkpoint_0.pkl`, say) is ignored.
A missing part is refused, naming it; a damaged file is refused, naming it (TuneLabError, one line).
Called by core/fit.py (save, check, load) and bench/bench_checkpoint.py.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from . import strict_json
from .atomic_write import write_json_atomic
from .errors import TuneLabError
from .run_dir import replace_dir

STATE = "trainer_state.json"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
OPTIMIZER_GROUPS = "optimizer.json"
SCHEDULER = "scheduler.json"

# what each part is called in a refusal
_PARTS = {STATE: "training position", MODEL: "model weights", OPTIMIZER: "optimizer state",
          OPTIMIZER_GROUPS: "optimizer settings", SCHEDULER: "learning-rate schedule"}
# what an older TuneLab (accelerate's save_state) left instead: refused, never read
_PICKLED = ("custom_checkpoint_0.pkl", "optimizer.bin", "random_states_0.pkl", "scheduler.bin", "pytorch_model.bin")


def rng_file(rank: int) -> str:
    return f"rng.{rank}.safetensors"


@dataclass
class TrainState:
    """Where training stands; saved as trainer_state.json inside every resumable checkpoint."""

    step: int = 0                   # optimizer steps done
    epoch: int = 0                  # the epoch in progress
    batch_in_epoch: int = 0         # micro-batches of that epoch already consumed (this process's share)
    best: float | None = None       # the best figure of merit so far
    best_scores: dict | None = None  # every score of that evaluation (the saved model's validation scores)
    bad_evals: int = 0              # evaluations since the last improvement (early stopping)
    segment: int = 1                # 1 for the first start, +1 for each resume
    history: list = field(default_factory=list)   # every evaluation: step, epoch and scores

    @classmethod
    def load(cls, path: Path) -> "TrainState":
        try:
            data = strict_json.loads(path.read_text(encoding="utf-8"))
            names = {f.name for f in fields(cls)}
            state = cls(**{k: v for k, v in data.items() if k in names})
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise _damaged(path, type(err).__name__) from None
        counters = (state.step, state.epoch, state.batch_in_epoch, state.bad_evals, state.segment)
        scores = [state.best_scores] if state.best_scores is not None else []
        scores += state.history if isinstance(state.history, list) else [None]
        if not all(type(n) is int and n >= 0 for n in counters) \
                or not (state.best is None or type(state.best) in (int, float)) \
                or not all(isinstance(d, dict) and all(_is_number(v) for v in d.values()) for d in scores) \
                or not all(type(h.get("step")) is int for h in state.history):
            raise _damaged(path, "a counter is not a whole number, or a score is not a number")
        return state


def _is_number(value) -> bool:
    return value is None or type(value) in (int, float)


# ---------------------------------------------------------------- writing

def save(last: Path, model, optimizer, scheduler, state: TrainState, *, rank: int, barrier: Callable[[], None]) -> None:
    """Write the full training state into last.tmp, then swap it in for `last`. Every process calls this (at the
    same point); `barrier` waits for all of them. On an error last.tmp is removed and the error propagates."""
    from safetensors.torch import save_file, save_model

    tmp = last.with_name("last.tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    try:
        save_file(_rng_tensors(), str(tmp / rng_file(rank)))
        if rank == 0:
            save_model(model, str(tmp / MODEL))
            tensors, groups = _optimizer_parts(optimizer)
            save_file(tensors, str(tmp / OPTIMIZER))
            write_json_atomic(tmp / OPTIMIZER_GROUPS, {"param_groups": groups})
            write_json_atomic(tmp / SCHEDULER, scheduler.state_dict())
        barrier()
        if rank == 0:
            write_json_atomic(tmp / STATE, asdict(state))     # last: a folder holding it is whole
            replace_dir(tmp, last)
    except BaseException:
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _optimizer_parts(optimizer) -> tuple[dict, list]:
    saved = optimizer.state_dict()
    tensors = {f"{index}.{name}": value.detach().contiguous()
               for index, per_param in saved["state"].items() for name, value in per_param.items()}
    return tensors, saved["param_groups"]


def _rng_tensors() -> dict:
    """This process's generators as tensors (no pickle): Python's and NumPy's Mersenne Twister words, torch's
    byte states."""
    import numpy as np
    import torch

    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {
        "python.version": torch.tensor([version], dtype=torch.int64),
        "python.state": torch.tensor(words, dtype=torch.int64),
        "python.gauss_next": torch.tensor([] if gauss is None else [gauss], dtype=torch.float64),
        "numpy.keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy.pos_gauss": torch.tensor([pos, has_gauss], dtype=torch.int64),
        "numpy.cached_gaussian": torch.tensor([cached], dtype=torch.float64),
        "torch.cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch.cuda.{i}"] = s
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        tensors["torch.mps"] = mps.get_rng_state()
    return tensors


# ---------------------------------------------------------------- checking (before anything is written)

def check(checkpoint: Path, world: int, best: Path | None = None) -> None:
    """Refuse a checkpoint that lacks a part (naming it), whose files cannot be read as what they should be,
    or that other than `world` processes wrote. `best` (checkpoints/best), when the state says a best model was
    kept, must hold its weights. Reads only JSON and safetensors headers, so it is quick."""
    from safetensors import safe_open

    try:
        present = {p.name for p in checkpoint.iterdir()} if checkpoint.is_dir() else set()
    except OSError as err:
        raise TuneLabError(f"cannot read the checkpoint in {checkpoint}: {err.strerror}") from None
    missing = [name for name in _PARTS if name not in present]
    ranks = sorted(int(n.split(".")[1]) for n in present if n.startswith("rng.") and n.endswith(".safetensors")
                   and n.split(".")[1].isdigit())
    if OPTIMIZER in missing and set(_PICKLED) & present:
        raise TuneLabError(f"the checkpoint in {checkpoint} was written by an older TuneLab (pickle files, which "
                           "--resume no longer reads because loading them can run code); train again with a new --out")
    if missing:
        what = ", ".join(f"its {_PARTS[name]} ({name})" for name in missing)
        raise TuneLabError(f"the checkpoint in {checkpoint} lacks {what}; the run cannot be resumed from it exactly")
    if not ranks:
        raise TuneLabError(f"the checkpoint in {checkpoint} lacks its random number generator state ({rng_file(0)}); "
                           "the run cannot be resumed from it exactly")
    if ranks != list(range(len(ranks))):
        lacking = next(r for r in range(max(ranks) + 1) if r not in ranks)
        raise TuneLabError(f"the checkpoint in {checkpoint} lacks the random number generator state of process "
                           f"{lacking} ({rng_file(lacking)}); the run cannot be resumed from it exactly")
    if len(ranks) != world:
        raise TuneLabError(f"the checkpoint in {checkpoint} was written by {len(ranks)} training processes, and this "
                           f"resume has {world}; resume it with {len(ranks)} (each process's share of the data differs)")
    for name in [*_PARTS, *(rng_file(r) for r in ranks)]:
        if not (checkpoint / name).is_file():   # a folder, a pipe or a device there would hang or fail the read
            raise _damaged(checkpoint / name, "it is not a regular file")
    state = TrainState.load(checkpoint / STATE)
    for name in (OPTIMIZER_GROUPS, SCHEDULER):
        _read_json(checkpoint / name)
    files = [checkpoint / MODEL, checkpoint / OPTIMIZER, *(checkpoint / rng_file(r) for r in ranks)]
    if best is not None and state.best is not None:
        if not (best / MODEL).is_file():
            raise TuneLabError(f"{best} lacks the best model so far ({MODEL}); the run cannot be resumed from it")
        files.append(best / MODEL)
    for path in files:
        try:
            with safe_open(str(path), "pt") as fh:
                fh.keys()
        except Exception as err:
            raise _damaged(path, _reason(err)) from None
    for rank in ranks:
        _check_rng(checkpoint / rng_file(rank))


# the generator states a process saves: name -> (dtype name, length; None: any); CUDA and MPS ones are optional
_RNG_SHAPES = {"python.version": ("int64", 1), "python.state": ("int64", 625), "python.gauss_next": ("float64", None),
               "numpy.keys": ("int64", 624), "numpy.pos_gauss": ("int64", 2), "numpy.cached_gaussian": ("float64", 1),
               "torch.cpu": ("uint8", None)}


def _check_rng(path: Path) -> None:
    """The generator states are all there, of the right kind and size (the file is small: read it whole)."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as err:
        raise _damaged(path, _reason(err)) from None
    for name, (dtype, length) in _RNG_SHAPES.items():
        t = tensors.get(name)
        if t is None or str(t.dtype) != f"torch.{dtype}" or t.ndim != 1 or (length is not None and len(t) != length):
            raise _damaged(path, f"its {name.split('.')[0]} generator state is missing or malformed")


def _read_json(path: Path):
    try:
        return strict_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _damaged(path, type(err).__name__) from None


def _damaged(path: Path, why: str) -> TuneLabError:
    return TuneLabError(f"the checkpoint's {path.name} in {path.parent} is damaged ({why}); "
                        "the run cannot be resumed from it")


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:160] if text else type(err).__name__


# ---------------------------------------------------------------- loading

def load(checkpoint: Path, model, optimizer, scheduler, *, rank: int) -> None:
    """Put weights, optimizer state, schedule position and this process's RNG back exactly as they were saved.
    `check` ran before; anything that still does not fit this run (a tensor of another shape, a setting of
    another type) is refused as damaged. Tensors are read into CPU memory and copied onto the model's device."""
    from safetensors.torch import load_file, load_model

    path = checkpoint / MODEL
    try:
        load_model(model, str(path), strict=True)
    except Exception as err:
        raise _damaged(path, _reason(err)) from None

    path = checkpoint / OPTIMIZER
    try:
        tensors = load_file(str(path))
    except Exception as err:
        raise _damaged(path, _reason(err)) from None
    fresh = optimizer.state_dict()
    saved_groups = _read_json(checkpoint / OPTIMIZER_GROUPS)
    saved_groups = saved_groups.get("param_groups") if isinstance(saved_groups, dict) else None
    groups = _like(fresh["param_groups"], saved_groups)
    if groups is None or not all({"lr", "params"} <= set(g) for g in saved_groups) \
            or [g["params"] for g in groups] != [g["params"] for g in fresh["param_groups"]]:
        raise _damaged(checkpoint / OPTIMIZER_GROUPS, "its parameter groups do not match this run's optimizer")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state: dict = {}
    for name, value in tensors.items():
        index, _, key = name.partition(".")
        if not index.isdigit() or int(index) >= len(params) or not value.is_floating_point() \
                or value.shape != (() if key == "step" else params[int(index)].shape):
            raise _damaged(path, f"tensor {name!r} does not fit this run's model")
        state.setdefault(int(index), {})[key] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except Exception as err:
        raise _damaged(path, _reason(err)) from None

    path = checkpoint / SCHEDULER
    saved_schedule = _read_json(path)
    schedule = _like(scheduler.state_dict(), saved_schedule)
    if schedule is None or not {"last_epoch", "_last_lr", "base_lrs"} <= set(saved_schedule):
        raise _damaged(path, "it does not match this run's schedule")
    scheduler.load_state_dict(schedule)

    path = checkpoint / rng_file(rank)
    try:
        _restore_rng(load_file(str(path)))
    except Exception as err:
        raise _damaged(path, _reason(err)) from None


def _restore_rng(t: dict) -> None:
    import numpy as np
    import torch

    gauss = t["python.gauss_next"].tolist()
    random.setstate((int(t["python.version"].item()), tuple(t["python.state"].tolist()), gauss[0] if gauss else None))
    pos, has_gauss = t["numpy.pos_gauss"].tolist()
    np.random.set_state(("MT19937", t["numpy.keys"].numpy().astype(np.uint32), pos, has_gauss,
                         float(t["numpy.cached_gaussian"].item())))
    torch.set_rng_state(t["torch.cpu"])
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"torch.cuda.{i}" in t:
                torch.cuda.set_rng_state(t[f"torch.cuda.{i}"], i)
    if "torch.mps" in t and getattr(torch, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.set_rng_state(t["torch.mps"])


def _like(fresh, saved):
    """`saved` (read from JSON) with the shape and types of `fresh` (what this run built), or None if it differs:
    the same lengths and kinds of value (a key missing from `saved` keeps `fresh`'s value, one `fresh` lacks is
    ignored); tuples come back as tuples."""
    try:
        return _same_shape(fresh, saved)
    except _Mismatch:
        return None


class _Mismatch(Exception):
    pass


def _same_shape(fresh, saved):
    if isinstance(fresh, dict):
        # a key another torch version adds or drops keeps this run's value; the ones that carry the position
        # (lr, params, last_epoch, ...) are required by the callers
        if not isinstance(saved, dict):
            raise _Mismatch
        return {k: _same_shape(fresh[k], saved[k]) if k in saved else fresh[k] for k in fresh}
    if isinstance(fresh, (list, tuple)):
        if not isinstance(saved, list) or len(saved) != len(fresh):
            raise _Mismatch
        out = [_same_shape(f, s) for f, s in zip(fresh, saved)]
        return tuple(out) if isinstance(fresh, tuple) else out
    if fresh is None or isinstance(fresh, (bool, str)):
        if type(saved) is not type(fresh):
            raise _Mismatch
        return saved
    if isinstance(fresh, (int, float)):
        if isinstance(saved, bool) or not isinstance(saved, (int, float)) or (isinstance(fresh, int) and isinstance(saved, float)):
            raise _Mismatch
        return type(fresh)(saved)
    raise _Mismatch
