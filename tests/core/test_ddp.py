"""Two CPU processes (gloo) train one model together.

`accelerate launch --cpu` starts a single process (multi-CPU runs need a launcher that sets RANK/WORLD_SIZE),
so the test starts the two processes with torchrun; Accelerate picks the gloo backend from that environment,
exactly as it picks NCCL under `accelerate launch --multi_gpu`."""

import json
import os
import socket
import subprocess
import sys

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
