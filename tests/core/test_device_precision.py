"""--device, precision, TF32, the attention kernel and NVML GPU status: what a user sees on a CPU machine for
real, and what a GPU machine would do, with torch's CUDA queries and NVML replaced (the real paths are marked gpu)."""

import json
import subprocess
import sys
import types

import pytest
import torch

from tunelab.core import attention_kernel, gpu_status
from tunelab.core.device import enable_tf32, pick_device, precision_for, tf32_capable
from tunelab.core.errors import TuneLabError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch cannot use CUDA")


# ---- device names and precision

def test_auto_is_the_best_device_and_names_are_forgiving():
    best = pick_device(None)
    assert pick_device("auto") == best and pick_device(" Auto ") == best
    assert pick_device("CPU").type == "cpu"
    with pytest.raises(TuneLabError, match="unknown device 'gpu0'; use auto, cpu, cuda, cuda:N or mps"):
        pick_device("gpu0")


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "fp16")])
def test_precision_on_a_gpu_is_bf16_where_it_has_it_else_fp16(monkeypatch, bf16, expected):
    from tunelab.core.fit import mixed_precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert precision_for(torch.device("cuda")) == expected
    assert mixed_precision(torch.device("cuda")) == expected        # Accelerate's word: fp16 gets loss scaling
    assert precision_for(torch.device("cpu")) == "fp32" and mixed_precision(torch.device("cpu")) == "no"


@pytest.mark.parametrize("capability, on", [((8, 0), True), ((9, 0), True), ((7, 5), False)])
def test_tf32_only_on_ampere_and_newer(monkeypatch, capability, on):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    before = torch.get_float32_matmul_precision()
    try:
        assert tf32_capable(torch.device("cuda:0")) is on
        assert enable_tf32(torch.device("cuda:0")) is on
        assert (torch.get_float32_matmul_precision() == "high") is on
        assert enable_tf32(torch.device("cpu")) is False
    finally:
        torch.set_float32_matmul_precision(before)


# ---- the CLI: every verb that runs a model takes --device, and a device that is not there is one line

def _tunelab(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "tunelab", *argv], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


@pytest.mark.parametrize("verb", [["eval"], ["predict", "x"], ["probe"], ["fill", "a [MASK]"], ["check"],
                                  ["attention", "x"], ["explain", "x"], ["heads"], ["attention-diff"], ["fit"]])
def test_every_model_verb_refuses_an_unknown_device_in_one_line(verb):
    out = _tunelab(*verb, "--device", "gpu0")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "gpu0" in out.stderr and "cuda:N" in out.stderr


@no_cuda
def test_fit_on_a_gpu_that_is_not_there_is_one_line_and_writes_nothing(tmp_path, tiny_bert, toy_data):
    out = _tunelab("fit", "--model", str(tiny_bert), "--data", str(toy_data),
                   "--eqn", "classify: label ~ sentence", "--device", "cuda",
                   "--out", str(tmp_path / "run"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "cannot use a GPU" in out.stderr or "no usable GPU" in out.stderr
    assert not (tmp_path / "run" / "run.json").exists()
    out = _tunelab("fit", "--model", str(tiny_bert), "--data", str(toy_data),
                   "--eqn", "classify: label ~ sentence", "--device", "cuda", "--detach",
                   "--out", str(tmp_path / "run2"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and not (tmp_path / "run2").exists(), out.stderr


def test_a_cpu_run_records_its_device_and_precision(tmp_path, tiny_bert, toy_data):
    from conftest import train_tiny
    from tunelab.core.events import RunStarted, read_events

    result = train_tiny(tmp_path, toy_data, epochs=0.2, device="cpu")
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["device"] == "cpu" and saved["precision"] == "fp32" and saved["tf32"] is False
    assert saved["attention"] == "sdpa" and saved["config"]["device"] == "cpu"
    started = [e for e in read_events(tmp_path / "run" / "events.jsonl") if isinstance(e, RunStarted)]
    first = started[0]
    assert (first.device, first.precision, first.tf32, first.attention) == ("cpu", "fp32", False, "sdpa")
    assert result.status == "completed"


def test_resume_takes_device_but_no_other_setting(tmp_path):
    out = _tunelab("fit", "--resume", str(tmp_path / "nothing"), "--device", "cpu", "--epochs", "2")
    assert out.returncode == 2 and "drop --epochs" in out.stderr and "--device" not in out.stderr


# ---- the attention kernel

class FlashModel(torch.nn.Module):
    _supports_flash_attn = True


class PlainModel(torch.nn.Module):
    _supports_flash_attn = False


@pytest.mark.parametrize("installed, device, precision, model, chosen", [
    (True, "cuda", "bf16", FlashModel(), "flash"),
    (True, "cuda", "fp16", FlashModel(), "flash"),
    (False, "cuda", "bf16", FlashModel(), "sdpa"),       # flash-attn not installed
    (True, "cpu", "fp32", FlashModel(), "sdpa"),         # not on CUDA
    (True, "cuda", "fp32", FlashModel(), "sdpa"),        # flash needs half precision
    (True, "cuda", "bf16", PlainModel(), "sdpa"),        # the model has no flash path
])
def test_auto_attention_takes_flash_only_where_it_can_run(monkeypatch, installed, device, precision, model, chosen):
    monkeypatch.setattr(attention_kernel, "flash_attn_installed", lambda: installed)
    assert attention_kernel.choose_attention("auto", model, torch.device(device), precision) == chosen
    assert attention_kernel.choose_attention("sdpa", model, torch.device(device), precision) == "sdpa"
    assert attention_kernel.choose_attention("eager", model, torch.device(device), precision) == "eager"


def test_flash_asked_for_where_it_cannot_run_is_one_line(monkeypatch):
    monkeypatch.setattr(attention_kernel, "flash_attn_installed", lambda: False)
    with pytest.raises(TuneLabError, match=r"--attention flash: .*flash-attn package is not installed.*sdpa"):
        attention_kernel.choose_attention("flash", FlashModel(), torch.device("cuda"), "bf16")
    with pytest.raises(TuneLabError, match="only on CUDA GPUs"):
        attention_kernel.choose_attention("flash", FlashModel(), torch.device("cpu"), "fp32")
    with pytest.raises(TuneLabError, match="unknown attention 'fast'"):
        attention_kernel.choose_attention("fast", FlashModel(), torch.device("cpu"), "fp32")


def test_fit_refuses_flash_on_the_cpu_before_writing(tmp_path, tiny_bert, toy_data):
    out = _tunelab("fit", "--model", str(tiny_bert), "--data", str(toy_data),
                   "--eqn", "classify: label ~ sentence", "--device", "cpu",
                   "--attention", "flash", "--out", str(tmp_path / "run"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "FlashAttention-2 cannot run here" in out.stderr and not (tmp_path / "run" / "run.json").exists()


def test_eager_attention_is_applied_and_recorded(tmp_path, tiny_bert, toy_data):
    from conftest import train_tiny

    train_tiny(tmp_path, toy_data, epochs=0.2, device="cpu", attention="eager")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["attention"] == "eager"


# ---- NVML GPU status

class FakeNvml(types.SimpleNamespace):
    """pynvml's surface as gpu_status uses it: two GPUs."""

    def __init__(self, fail_init=False):
        super().__init__()
        self.fail_init = fail_init

    def nvmlInit(self):
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, h):
        return types.SimpleNamespace(used=(h + 1) * 2**30, total=80 * 2**30)

    def nvmlDeviceGetUtilizationRates(self, h):
        return types.SimpleNamespace(gpu=90 + h)


@pytest.fixture
def fake_nvml(monkeypatch):
    def install(**kwargs):
        fake = FakeNvml(**kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        monkeypatch.setitem(gpu_status._nvml, "ready", None)
        return fake
    yield install
    gpu_status._nvml["ready"] = None


def test_gpu_status_reads_memory_and_utilisation(fake_nvml, monkeypatch):
    fake_nvml()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    found = gpu_status.gpu_status()
    assert [(g.index, g.used_mb, g.total_mb, g.utilization) for g in found] == [(0, 1024.0, 81920.0, 90),
                                                                                (1, 2048.0, 81920.0, 91)]
    assert gpu_status.status_line(gpu_status.gpu_records()) == "GPU0 1.0/80 GB 90% · GPU1 2.0/80 GB 91%"
    assert ("cuda:1 NVIDIA H100 80GB HBM3 (80 GB)", "cuda:1") in gpu_status.device_choices()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")       # torch's cuda:0 is NVML's GPU 1
    assert [(g.index, g.used_mb) for g in gpu_status.gpu_status()] == [(0, 2048.0)]


def test_no_nvml_is_an_empty_list_not_an_error(fake_nvml):
    fake_nvml(fail_init=True)
    assert gpu_status.gpu_status() == [] and gpu_status.device_choices() == [("auto", "auto"), ("cpu", "cpu")]


def test_the_step_log_puts_gpu_status_in_its_events_on_cuda_every_few_seconds(fake_nvml):
    from tunelab.core.step_log import StepLog

    fake_nvml()
    events = []
    log = StepLog(events.append, interval=1e9, device=torch.device("cpu"))
    log.add(1, 0.1, torch.tensor(0.5), 1e-3, 8, 80)
    log.flush()
    assert events[-1].gpus == []                          # not training on a GPU: no GPU status
    log = StepLog(events.append, interval=1e9, device=torch.device("cpu"), gpu_seconds=3600)
    log.cuda = True                                       # as on a GPU (max_memory_allocated stood in for)
    torch_cuda_peak = torch.cuda.max_memory_allocated
    torch.cuda.max_memory_allocated = lambda *a: 0
    try:
        for step in (1, 2):
            log.add(step, 0.1, torch.tensor(0.5), 1e-3, 8, 80)
        log.flush()
        log.add(3, 0.2, torch.tensor(0.4), 1e-3, 8, 80)
        log.flush()
    finally:
        torch.cuda.max_memory_allocated = torch_cuda_peak
    first, second, third = events[-3:]
    assert first.gpus == [] and [g["index"] for g in second.gpus] == [0, 1]   # the flush's last event carries it
    assert third.gpus == []                               # not again within gpu_seconds
    from tunelab.core.events import event_from_json, event_to_json
    assert event_from_json(event_to_json(second)).gpus == second.gpus          # it replays exactly


def test_fit_says_where_and_in_what_precision_it_trains(tmp_path, tiny_bert, toy_data):
    out = _tunelab("fit", "--model", str(tiny_bert), "--data", str(toy_data), "--eqn", "classify: label ~ sentence",
                   "--epochs", "0.2", "--device", "cpu", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    assert "steps on cpu (fp32, sdpa)" in out.stderr


def test_a_torch_without_kernels_for_this_gpu_is_one_line():
    from tunelab.core.device import gpu_error_message

    message = gpu_error_message(RuntimeError("CUDA error: no kernel image is available for execution on the device"))
    assert message and "\n" not in message and "has no kernels for this GPU" in message and "--device cpu" in message


def test_two_fits_in_one_process_may_differ_in_precision(tmp_path, toy_data, monkeypatch):
    """Accelerate keeps one precision per process; a notebook's second fit() on another device (here: bf16
    autocast on the CPU standing in for a GPU's) must not fail on the first one's."""
    from conftest import train_tiny
    from tunelab.core import fit as fit_module

    train_tiny(tmp_path / "a", toy_data, epochs=0.1, device="cpu")
    monkeypatch.setattr(fit_module, "mixed_precision", lambda device=None: "bf16")
    result = train_tiny(tmp_path / "b", toy_data, epochs=0.1, device="cpu")
    assert result.status == "completed"
    assert json.loads((tmp_path / "b" / "run" / "run.json").read_text())["mixed_precision"] == "bf16"
