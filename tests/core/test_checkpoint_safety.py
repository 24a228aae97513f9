"""`fit --resume DIR` reads a run directory someone else may have written: it must never run code from it.

A payload (a pickle whose __reduce__ creates a marker file) is planted over or beside each file of a stopped
run's checkpoints, one at a time; the resume must be a correct one (the same losses as an uninterrupted run) or a
one-line refusal, and the marker must never appear. A checkpoint lacking a part is refused, naming the part."""

from __future__ import annotations

import pickle
import shutil
import threading
from pathlib import Path

import pytest

from conftest import build_tiny_bert, write_toy_splits
from tunelab.cli import main
from tunelab.core.config import FitConfig
from tunelab.core.events import RunStarted, StepLogged, read_events
from tunelab.core.fit import fit

EQN = "classify: label ~ sentence"


class _Payload:
    """Unpickling this creates `marker`: what a planted file would do to a reader that unpickles it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run's losses, and a run stopped at step 8 (best model kept at step 5) to copy."""
    root = tmp_path_factory.mktemp("ckpt-safety")
    model = build_tiny_bert(root / "base", seed=5)
    config_file = model / "config.json"
    config_file.write_text(config_file.read_text().replace('"hidden_dropout_prob": 0.0', '"hidden_dropout_prob": 0.1'))
    assert '"hidden_dropout_prob": 0.1' in config_file.read_text()   # dropout on: the resume must restore the RNG
    data = write_toy_splits(root / "toy")

    def config(out):
        return FitConfig(model=str(model), data=str(data), eqn=EQN, out=str(out), epochs=2, lr=2e-3, batch_size=16,
                         seed=3, eval_every=5, log_seconds=0)

    full = []
    fit(config(root / "full"), on_event=full.append)
    stop = threading.Event()
    fit(config(root / "cut"), stop=stop, on_event=lambda e: stop.set() if isinstance(e, StepLogged) and e.step == 8 else None)
    assert (root / "cut" / "checkpoints" / "best" / "model.safetensors").is_file()
    return {"full": {e.step: e.loss for e in full if isinstance(e, StepLogged)}, "cut": root / "cut"}


def _copy(runs, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(runs["cut"], run)
    return run


def _resumed_losses(run: Path) -> dict:
    events = list(read_events(run / "events.jsonl"))
    last_start = max(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    return {e.step: e.loss for e in events[last_start:] if isinstance(e, StepLogged)}


def _resume(run: Path, capsys) -> tuple[int, str]:
    rc = main(["fit", "--resume", str(run)])
    out, err = capsys.readouterr()
    if rc != 0:
        assert rc == 2 and err.startswith("tunelab fit: error: ") and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    return rc, err


def _assert_exact(runs, run: Path) -> None:
    resumed = _resumed_losses(run)
    assert min(resumed) == 9 and max(resumed) == max(runs["full"])
    for step, loss in resumed.items():
        assert loss == pytest.approx(runs["full"][step], rel=1e-4, abs=1e-6), step
    assert (run / "model" / "model.safetensors").is_file()


CHECKPOINT_FILES = ["last/trainer_state.json", "last/model.safetensors", "last/optimizer.safetensors",
                    "last/optimizer.json", "last/scheduler.json", "last/rng.0.safetensors", "best/model.safetensors",
                    "best/config.json"]
EXTRA_FILES = ["last/custom_checkpoint_0.pkl", "last/optimizer.bin", "last/random_states_0.pkl", "last/scheduler.bin",
               "last/pytorch_model.bin", "last/model.pt", "best/pytorch_model.bin", "best/training_args.bin"]


def test_the_checkpoint_holds_no_pickle(runs):
    last = runs["cut"] / "checkpoints" / "last"
    assert sorted(p.name for p in last.iterdir()) == sorted(Path(f).name for f in CHECKPOINT_FILES if f.startswith("last/"))


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_a_payload_written_over_a_checkpoint_file_never_runs(runs, tmp_path, capsys, name):
    run = _copy(runs, tmp_path)
    marker = tmp_path / "marker"
    (run / "checkpoints" / name).write_bytes(pickle.dumps(_Payload(marker)))
    rc, err = _resume(run, capsys)
    assert not marker.exists()
    if name == "best/config.json":          # not read by fit: the resume is whole and exact
        assert rc == 0
        _assert_exact(runs, run)
    else:
        assert rc == 2 and Path(name).name in err and "damaged" in err
        assert not (run / "model").exists()


@pytest.mark.parametrize("name", EXTRA_FILES)
def test_a_payload_beside_the_checkpoint_is_never_read(runs, tmp_path, capsys, name):
    run = _copy(runs, tmp_path)
    marker = tmp_path / "marker"
    (run / "checkpoints" / name).write_bytes(pickle.dumps(_Payload(marker)))
    rc, _ = _resume(run, capsys)
    assert not marker.exists()
    assert rc == 0
    _assert_exact(runs, run)


@pytest.mark.parametrize("name, what", [
    ("last/rng.0.safetensors", "random number generator state (rng.0.safetensors)"),
    ("last/optimizer.safetensors", "optimizer state (optimizer.safetensors)"),
    ("last/optimizer.json", "optimizer settings (optimizer.json)"),
    ("last/scheduler.json", "learning-rate schedule (scheduler.json)"),
    ("last/model.safetensors", "model weights (model.safetensors)"),
    ("last/trainer_state.json", "training position (trainer_state.json)"),
    ("best/model.safetensors", "best model so far (model.safetensors)"),
])
def test_a_checkpoint_lacking_a_part_is_refused_naming_it(runs, tmp_path, capsys, name, what):
    run = _copy(runs, tmp_path)
    (run / "checkpoints" / name).unlink()
    rc, err = _resume(run, capsys)
    assert rc == 2 and what in err
    assert not (run / "model").exists() and len(_resumed_losses(run)) == 8    # nothing trained, nothing written
    assert "RunFailed" not in (run / "events.jsonl").read_text()


def test_a_truncated_checkpoint_file_is_one_line(runs, tmp_path, capsys):
    run = _copy(runs, tmp_path)
    weights = run / "checkpoints" / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    rc, err = _resume(run, capsys)
    assert rc == 2 and "model.safetensors" in err and "damaged" in err


def test_a_checkpoint_of_another_shape_is_refused_as_damaged(runs, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    run = _copy(runs, tmp_path)
    moments = run / "checkpoints" / "last" / "optimizer.safetensors"
    tensors = load_file(str(moments))
    name = next(k for k in tensors if k.endswith("exp_avg"))
    tensors[name] = torch.zeros(3)
    save_file(tensors, str(moments))
    rc, err = _resume(run, capsys)
    assert rc == 2 and "optimizer.safetensors" in err and name in err


def test_an_older_pickled_checkpoint_is_refused_not_read(runs, tmp_path, capsys):
    run = _copy(runs, tmp_path)
    last = run / "checkpoints" / "last"
    marker = tmp_path / "marker"
    for name in ("optimizer.safetensors", "optimizer.json", "scheduler.json", "rng.0.safetensors"):
        (last / name).unlink()
    for name in ("optimizer.bin", "custom_checkpoint_0.pkl", "random_states_0.pkl"):
        (last / name).write_bytes(pickle.dumps(_Payload(marker)))
    rc, err = _resume(run, capsys)
    assert rc == 2 and "older TuneLab" in err
    assert not marker.exists()


def test_a_fifo_or_a_malformed_rng_state_is_refused_without_hanging(runs, tmp_path, capsys):
    import os

    from safetensors.torch import load_file, save_file

    run = _copy(runs, tmp_path)
    state = run / "checkpoints" / "last" / "trainer_state.json"
    state.unlink()
    os.mkfifo(state)                                   # a read would wait for a writer forever
    rc, err = _resume(run, capsys)
    assert rc == 2 and "trainer_state.json" in err and "not a regular file" in err
    run = _copy(runs, tmp_path / "second")
    rng = run / "checkpoints" / "last" / "rng.0.safetensors"
    tensors = load_file(str(rng))
    tensors["python.state"] = tensors["python.state"][:10]
    save_file(tensors, str(rng))
    rc, err = _resume(run, capsys)
    assert rc == 2 and "rng.0.safetensors" in err and "python generator state" in err
    assert "RunFailed" not in (run / "events.jsonl").read_text()          # refused before anything was written


@pytest.mark.parametrize("name, edit, refused", [
    ("optimizer.json", lambda d: {"param_groups": [{**g, "lr": "0.1"} for g in d["param_groups"]]}, True),
    ("optimizer.json", lambda d: {"param_groups": d["param_groups"][:1]}, True),
    ("optimizer.json", lambda d: {"param_groups": [{k: v for k, v in g.items() if k != "lr"} for g in d["param_groups"]]}, True),
    ("scheduler.json", lambda d: {**d, "last_epoch": [1]}, True),
    # a key the schedule does not have is ignored, never applied (LambdaLR would copy it onto its functions)
    ("scheduler.json", lambda d: {**d, "lr_lambdas": [{"func": "os.system"}] * len(d["lr_lambdas"])}, False),
], ids=["lr-text", "a-group-short", "no-lr", "step-a-list", "extra-keys"])
def test_settings_that_do_not_fit_the_run_are_refused_as_damaged(runs, tmp_path, capsys, name, edit, refused):
    import json

    run = _copy(runs, tmp_path)
    path = run / "checkpoints" / "last" / name
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    rc, err = _resume(run, capsys)
    if refused:
        assert rc == 2 and name in err and "damaged" in err
    else:
        assert rc == 0
        _assert_exact(runs, run)


@pytest.mark.parametrize("edit", [
    {"step": "8"}, {"batch_in_epoch": -1}, {"best": "0.9"}, {"best_scores": {"mcc": "high"}}, {"history": [3]},
    {"history": [{"step": 5, "mcc": [1]}]},
], ids=["step-text", "negative", "best-text", "score-text", "history-number", "history-list"])
def test_a_training_position_of_the_wrong_types_is_refused(runs, tmp_path, capsys, edit):
    import json

    run = _copy(runs, tmp_path)
    path = run / "checkpoints" / "last" / "trainer_state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    rc, err = _resume(run, capsys)
    assert rc == 2 and "trainer_state.json" in err and "damaged" in err
