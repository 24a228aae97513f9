"""The CUDA paths themselves, for a GPU machine (marked gpu: CPU CI skips them): bf16 training reaches fp32's
figure of merit within noise and records its precision, GPU memory and NVML status reach the events, the [CLS]
shortcut equals the full forward on CUDA, prediction runs there, and --device cuda:N lands on that GPU."""

import json

import pytest
import torch

from conftest import train_tiny
from tunelab.core.events import RunStarted, StepLogged, read_events

pytestmark = pytest.mark.gpu


def test_bf16_training_matches_fp32_and_says_which_it_used(tmp_path, toy_data):
    cpu = train_tiny(tmp_path / "cpu", toy_data, epochs=6, lr=2e-3, device="cpu")
    gpu = train_tiny(tmp_path / "gpu", toy_data, epochs=6, lr=2e-3, device="cuda")
    saved = json.loads((tmp_path / "gpu" / "run" / "run.json").read_text())
    assert saved["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert saved["tf32"] is (torch.cuda.get_device_capability() >= (8, 0))
    assert abs(gpu.metrics["test"]["accuracy"] - cpu.metrics["test"]["accuracy"]) <= 0.1


def test_gpu_memory_and_nvml_status_reach_the_events(tmp_path, toy_data):
    from tunelab.core.gpu_status import gpu_status

    train_tiny(tmp_path, toy_data, epochs=2, device="cuda", log_seconds=0)
    events = list(read_events(tmp_path / "run" / "events.jsonl"))
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert steps and all(e.gpu_mb > 0 for e in steps)
    if gpu_status():                              # NVML present (it is wherever the driver is)
        with_status = [e for e in steps if e.gpus]
        assert with_status and with_status[0].gpus[0]["total_mb"] > 0
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.device.startswith("cuda") and started.precision in ("bf16", "fp16")


def test_cls_shortcut_equals_the_full_forward_on_cuda(tmp_path):
    from conftest import build_tiny_bert
    from transformers import AutoModelForSequenceClassification

    from tunelab.core import cls_shortcut

    path = build_tiny_bert(tmp_path / "m", num_labels=3)
    full = AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="sdpa").cuda().eval()
    short = AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="sdpa").cuda().eval()
    assert cls_shortcut.install(short)
    ids = torch.randint(5, 60, (4, 12), device="cuda")
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        a, b = full(input_ids=ids, attention_mask=mask).logits, short(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a.float(), b.float(), atol=2e-2)


def test_prediction_on_cuda_matches_the_cpu(tmp_path, toy_data):
    from tunelab.core.predictor import Predictor

    run = train_tiny(tmp_path, toy_data, epochs=4, lr=2e-3, device="cpu").run_dir
    on_gpu, on_cpu = Predictor(run, device="cuda"), Predictor(run, device="cpu")
    assert on_gpu.device.type == "cuda"
    for text in ("the cat is good .", "the dogs were sad ."):
        assert on_gpu.predict(text).label == on_cpu.predict(text).label


def test_a_named_gpu_is_the_one_trained_on(tmp_path, toy_data):
    last = torch.cuda.device_count() - 1
    train_tiny(tmp_path, toy_data, epochs=0.2, device=f"cuda:{last}")
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["device"] in (f"cuda:{last}", "cuda") and torch.cuda.current_device() == last
