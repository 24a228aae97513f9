"""bench/bench_gpu.py: without a GPU it says so in one line and exits 2; --smoke runs its whole path (model,
length-grouped data, TuneLab's training step, the Trainer recipe, the results file) on a tiny model on the CPU. The GPU figures
themselves come from a GPU machine (marked gpu)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_gpu.py"


def _bench(*argv):
    return subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_without_a_gpu_it_says_so_in_one_line():
    out = _bench()
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no CUDA GPU here" in out.stderr, out.stderr


def test_smoke_runs_the_whole_path_on_the_cpu(tmp_path):
    out = _bench("--smoke", "--trainer", "--json", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [(r["precision"], r["attention"], r.get("recipe")) for r in results] == [
        ("fp32", "sdpa", None), ("fp32", "sdpa", "transformers.Trainer")]             # the recipe in the same run
    assert results[0]["samples_per_second"] > 0 and results[0]["mfu"] is None   # no peak FLOP/s for a CPU
    assert results[1]["tunelab_over_trainer"] > 0


def test_peak_table_and_mfu_arithmetic():
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_gpu
    finally:
        sys.path.remove(str(BENCH.parent))
    assert bench_gpu.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench_gpu.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench_gpu.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0 and bench_gpu.peak_tflops("Tesla K80") is None
    lengths = bench_gpu.glue_lengths(1000, 128, seed=0)
    assert lengths.min() >= 5 and lengths.max() <= 128 and 10 <= float(lengths.mean()) <= 25


@pytest.mark.gpu
def test_on_a_gpu_it_reports_mfu(tmp_path):
    out = _bench("--steps", "5", "--warmup", "2", "--models", "minilm", "--json", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert {r["precision"] for r in results} >= {"fp32"} and all(r["samples_per_second"] > 0 for r in results)
