"""Two CPU processes (gloo) train one model together.

`accelerate launch --cpu` starts a single process (multi-CPU runs need a launcher that sets RANK/WORLD_SIZE),
so the test starts the two processes with torchrun; Accelerate picks the gloo backend from that environment,
exactly as it picks NCCL under `accelerate launch --multi_gpu`."""

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import NER_EQN, QA_EQN
from tunelab.core.events import StepLogged, read_events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_one_model(tiny_bert, toy_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "tunelab", "fit", "--model", str(tiny_bert),
           "--data", str(toy_data), "--eqn", "classify: label ~ sentence", "--epochs", "4", "--lr", "2e-3",
           "--batch-size", "8", "--out", str(out), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["num_processes"] == 2
    steps = [e for e in read_events(out / "events.jsonl") if isinstance(e, StepLogged)]
    # 160 examples at 8 per batch = 20 batches an epoch, shared by 2 processes: 10 optimizer steps an epoch
    assert run["total_steps"] == 40 and len(steps) == 40           # one process writes the events, once
    assert steps[-1].samples_per_second > 0
    metrics = json.loads((out / "metrics.json").read_text())
    a, b = metrics["replica_checksums"]
    assert a == b                                                   # gradients were averaged: the replicas agree
    assert metrics["test"]["accuracy"] > 0.9


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "tunelab", "fit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def test_two_processes_stop_and_resume_exactly(tmp_path, toy_data, capsys):
    """Each process's RNG (dropout) is saved and restored: the resumed losses match an uninterrupted run's."""
    import time

    import pytest

    from conftest import build_tiny_bert
    from tunelab.cli import main

    model = build_tiny_bert(tmp_path / "m", seed=5)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.1}))
    args = ["--model", str(model), "--data", str(toy_data), "--eqn", "classify: label ~ sentence", "--epochs", "2",
            "--lr", "2e-3", "--batch-size", "8"]
    full = _torchrun(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-3000:]
    cut = tmp_path / "cut"
    cut.mkdir()
    # a stop request already there, stamped after the trainer starts, is for this run: it stops after its first step
    (cut / "stop.request").write_text(json.dumps({"time": time.time() + 600}))
    first = _torchrun(*args, "--out", str(cut))
    assert first.returncode == 0, first.stderr[-3000:]
    last = cut / "checkpoints" / "last"
    assert (last / "rng.0.safetensors").is_file() and (last / "rng.1.safetensors").is_file()
    assert not list(last.glob("*.pkl")) and not list(last.glob("*.bin"))
    assert main(["fit", "--resume", str(cut)]) == 2                    # one process cannot take over two's shares
    assert "written by 2 training processes" in capsys.readouterr().err
    resumed = _torchrun("--resume", str(cut))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    want = {e.step: e.loss for e in read_events(tmp_path / "full" / "events.jsonl") if isinstance(e, StepLogged)}
    got = [e for e in read_events(cut / "events.jsonl") if isinstance(e, StepLogged)]
    assert got[0].step < 20 and got[-1].step == 20 == max(want)
    for e in got:
        assert e.loss == pytest.approx(want[e.step], rel=1e-4, abs=1e-6), e.step


@pytest.mark.parametrize("eqn, rows, extra", [("classify: label ~ sentence", "agreement", ()), (NER_EQN, "ner", ()),
                                               (QA_EQN, "qa", ("--max-length", "32", "--doc-stride", "8"))])
def test_two_processes_score_like_one(tmp_path, eqn, rows, extra):
    """Evaluation during a 2-process fit is split between the processes and gathered back: an odd number of
    validation and test examples (the last share and the last batch uneven) scores exactly as one process scores
    the saved model, for sentence labels, per-token tags (ragged outputs) and QA (several windows a question)."""
    from conftest import agreement_rows, build_tiny_bert, toy_ner_rows, toy_qa_rows, write_jsonl
    from tunelab.core.evaluation import evaluate_model

    make = {"agreement": agreement_rows, "ner": toy_ner_rows, "qa": toy_qa_rows}[rows]
    data = tmp_path / "data"
    data.mkdir()
    for split, n, seed in (("train", 160, 1), ("validation", 41, 2), ("test", 43, 3)):
        write_jsonl(data / f"{split}.jsonl", make(n, seed))
    model = build_tiny_bert(tmp_path / "m", seed=3)
    out = tmp_path / "run"
    proc = _torchrun("--model", str(model), "--data", str(data), "--eqn", eqn, "--epochs", "1", "--lr", "3e-3",
                     "--batch-size", "8", "--eval-batch-size", "8", "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run.json").read_text())["num_processes"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    for split, n in (("validation", 41), ("test", 43)):
        one = evaluate_model(str(out / "model"), split=split, batch_size=8)
        assert one.examples >= n                                  # QA: windows, more than the questions
        assert metrics[split] == one.scores, split


def test_two_processes_agree_on_the_batch_size_auto_chooses(tiny_bert, toy_data, tmp_path):
    """Each process searches its own device, then all take the smallest micro-batch (on CPU, 32 fits both)."""
    out = tmp_path / "auto"
    proc = _torchrun("--model", str(tiny_bert), "--data", str(toy_data), "--eqn", "classify: label ~ sentence",
                     "--epochs", "1", "--batch-size", "auto", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["num_processes"] == 2 and run["config"]["batch_size"] == "auto"
    assert run["batch"]["micro_batch"] == 32 and run["batch"]["grad_accum"] == 1
    assert run["total_steps"] == 2          # 160 examples: 5 batches of 32, 2 for each process
    assert "--batch-size auto: micro-batch 32 x 1" in proc.stderr + proc.stdout
