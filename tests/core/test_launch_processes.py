"""`tunelab fit --processes N` starts its own processes (torchrun's environment, gloo on the CPU), from the
foreground and detached; --processes and --gpus are checked against the machine in one line each. On a GPU box
the same launch runs one process per GPU over NCCL (CUDA_VISIBLE_DEVICES from --gpus)."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch

from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.fit import check_processes
from tunelab.core.launch import gpu_list, worker_env

TOY = ["--eqn", "classify: label ~ sentence", "--epochs", "1", "--lr", "2e-3", "--batch-size", "8", "--device", "cpu"]


def _fit(*argv, timeout=600):
    return subprocess.run([sys.executable, "-m", "tunelab", "fit", *argv], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout)


def test_worker_environment_is_torchruns():
    env = worker_env(1, 2, 29500, ["2", "3"], base={})
    assert env["RANK"] == env["LOCAL_RANK"] == "1" and env["WORLD_SIZE"] == env["LOCAL_WORLD_SIZE"] == "2"
    assert env["MASTER_ADDR"] == "127.0.0.1" and env["MASTER_PORT"] == "29500"
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert "CUDA_VISIBLE_DEVICES" not in worker_env(0, 2, 1, [], base={}) and gpu_list(" 0, 1 ") == ["0", "1"]


def test_processes_and_gpus_are_checked_against_the_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_processes(FitConfig(device="cuda", processes=2))
    check_processes(FitConfig(device="cuda", processes=2, gpus="0,1"))
    with pytest.raises(TuneLabError, match="--processes 3 needs a GPU each, and 2 are visible"):
        check_processes(FitConfig(device="cuda", processes=3))
    with pytest.raises(TuneLabError, match="GPU 5 does not exist"):
        check_processes(FitConfig(device="cuda", processes=2, gpus="0,5"))
    with pytest.raises(TuneLabError, match="pick them with --gpus"):
        check_processes(FitConfig(device="cuda:1", processes=2))
    with pytest.raises(TuneLabError, match="names 2 GPUs for one process"):
        check_processes(FitConfig(device="cuda", gpus="0,1"))
    with pytest.raises(TuneLabError, match="this run is on cpu"):
        check_processes(FitConfig(device="cpu", processes=2, gpus="0"))
    check_processes(FitConfig(device="cpu", processes=2))              # gloo on the CPU


def test_a_bad_gpus_setting_is_one_line(tmp_path):
    out = _fit("--gpus", "zero", "--out", str(tmp_path / "run"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "give GPU numbers" in out.stderr, out.stderr


def test_the_api_refuses_processes_it_did_not_start(tmp_path):
    from tunelab.core.fit import fit

    with pytest.raises(TuneLabError, match="--processes 2: this is one process"):
        fit(FitConfig(processes=2, device="cpu", out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_fit_detach_starts_two_processes_that_train_one_run(tiny_bert, toy_data, tmp_path):
    """A detached --processes 2 run: two gloo processes, one run directory (locked and listed as running for its
    life), the replicas agreeing (resume across processes: tests/core/test_ddp.py)."""
    from tunelab.core.run_status import run_info

    run = tmp_path / "run"
    out = _fit("--model", str(tiny_bert), "--data", str(toy_data), *TOY, "--processes", "2", "--out", str(run),
               "--detach")
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 600          # a limit for a hung run, not a timing assertion
    while not run_info(run).status.is_final:
        assert time.monotonic() < deadline, (run / "fit.log").read_text()[-3000:]
        time.sleep(0.2)
    assert run_info(run).status.value == "completed", (run / "fit.log").read_text()[-3000:]
    saved = json.loads((run / "run.json").read_text())
    assert saved["num_processes"] == 2 and saved["config"]["processes"] == 2
    metrics = json.loads((run / "metrics.json").read_text())
    a, b = metrics["replica_checksums"]
    assert a == b
    log = (run / "fit.log").read_text()
    assert log.count("model saved to") == 1           # the first process speaks for the run
