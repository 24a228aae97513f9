"""Errors users meet on GPUs, each one line that says what to do: a label outside the head (on a GPU a device-side
assert), tensors on two devices, a CUDA build of torch without a driver, a CPU-only build asked for a GPU.

The exceptions are torch's own: raised for real where a CPU can raise them, else built with the type and text
torch raises on a GPU machine."""

import json

import pytest
import torch

from tunelab.core.device import gpu_error_message, pick_device
from tunelab.core.errors import TuneLabError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch cannot use CUDA")

# torch's texts on a GPU machine (CUDA kernels report asynchronously, so the assert's text is all there is)
DEVICE_ASSERT = ("CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously reported at some "
                 "other API call, so the stacktrace below might be incorrect.\nFor debugging consider passing "
                 "CUDA_LAUNCH_BLOCKING=1\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n")
TWO_DEVICES = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
TWO_DEVICES_INDEX = ("Expected all tensors to be on the same device, but got index is on cpu, different from other "
                     "tensors on cuda:0 (when checking argument in method wrapper_CUDA__index_select)")
NO_DRIVER = ("Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver "
             "from http://www.nvidia.com/Download/index.aspx")
OLD_DRIVER = ("The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver by "
              "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx")


def one_line(message):
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize("err", [torch.AcceleratorError(DEVICE_ASSERT), RuntimeError(DEVICE_ASSERT)])
def test_device_side_assert_names_the_likely_cause(err):
    message = one_line(gpu_error_message(err))
    assert "label id outside the model's head" in message and "CUDA_LAUNCH_BLOCKING=1" in message


def test_label_out_of_bounds_on_the_cpu_names_the_label():
    with pytest.raises(IndexError) as caught:
        torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 5]))
    message = one_line(gpu_error_message(caught.value))
    assert "label id 5 is outside the model's head" in message


@pytest.mark.parametrize("text, devices", [(TWO_DEVICES, "(cuda:0 and cpu)"), (TWO_DEVICES_INDEX, "(cpu and cuda:0)")])
def test_tensors_on_two_devices(text, devices):
    message = one_line(gpu_error_message(RuntimeError(text)))
    assert f"on different devices {devices}" in message and "CUDA_VISIBLE_DEVICES=0" in message


@pytest.mark.parametrize("text", [NO_DRIVER, OLD_DRIVER, "No CUDA GPUs are available"])
def test_cuda_build_without_a_driver(text, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    message = one_line(gpu_error_message(RuntimeError(text)))
    assert "built for CUDA 12.4" in message and "driver" in message and "run on the CPU" in message


def test_empty_cuda_visible_devices_is_named(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES is empty" in one_line(gpu_error_message(RuntimeError(NO_DRIVER)))


def test_cpu_only_build_asked_for_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    message = one_line(gpu_error_message(AssertionError("Torch not compiled with CUDA enabled")))
    assert "CPU-only build" in message and "install a CUDA build of torch" in message


def test_other_errors_are_left_alone():
    assert gpu_error_message(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert gpu_error_message(IndexError("list index out of range")) is None


@no_cuda
def test_a_real_cuda_request_on_this_machine_is_one_line():
    """The error torch itself raises here when asked for CUDA (AssertionError on a CPU-only build)."""
    with pytest.raises((AssertionError, RuntimeError)) as caught:
        torch.zeros(1, device="cuda")
    assert "GPU" in one_line(gpu_error_message(caught.value))


@no_cuda
def test_pick_device_refuses_cuda_it_cannot_use():
    with pytest.raises(TuneLabError, match="cannot use a GPU|no usable GPU|CUDA_VISIBLE_DEVICES"):
        pick_device("cuda")
    with pytest.raises(TuneLabError, match="unknown device 'gpu'"):
        pick_device("gpu")
    assert pick_device("cpu").type == "cpu"


@no_cuda
def test_eval_on_cuda_here_is_one_line(tmp_path, toy_data):
    from conftest import train_tiny
    from tunelab.core.evaluation import evaluate_model

    result = train_tiny(tmp_path, toy_data, epochs=1)
    with pytest.raises(TuneLabError, match="GPU"):
        evaluate_model(result.model_dir, split="test", device="cuda")


def test_the_cli_prints_a_gpu_error_on_one_line(monkeypatch, capsys, toy_data):
    """A verb that meets torch's device error exits 2 with one line (no traceback)."""
    import tunelab.core.evaluation as evaluation
    from tunelab.cli import main

    def fail(*args, **kwargs):
        raise torch.AcceleratorError(DEVICE_ASSERT)

    monkeypatch.setattr(evaluation, "evaluate_model", fail)
    code = main(["eval", "--model", "whatever", "--data", str(toy_data), "--eqn", "classify: label ~ sentence"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "device-side assert" in err


def test_fit_refuses_labels_beyond_the_head_before_training(tmp_path, toy_data, monkeypatch):
    """A head with fewer outputs than the data has labels fails before the first step, naming the label (on a GPU
    the loss would die in a device-side assert)."""
    from conftest import build_tiny_bert
    from tunelab.core import fit as fit_module
    from tunelab.core.config import FitConfig
    from tunelab.core.models import load_classifier

    def one_output_head(self):
        return load_classifier(self.model, num_labels=1, problem_type="single_label_classification")[0], True

    monkeypatch.setattr(fit_module.Setup, "build_model", one_output_head)
    out = tmp_path / "run"
    config = FitConfig(model=str(build_tiny_bert(tmp_path / "m")), data=str(toy_data),
                       eqn="classify: label ~ sentence", out=str(out), epochs=1)
    with pytest.raises(TuneLabError) as caught:
        fit_module.fit(config)
    message = one_line(str(caught.value))
    assert "train has label 'unacceptable' (id 1), but the model's head has 1 outputs" in message
    assert not (out / "run.json").exists()              # nothing of a run left behind


def test_a_device_error_during_fit_is_one_line_in_the_events(tmp_path, toy_data, monkeypatch):
    """A device error inside the loop ends the run with RunFailed holding the one line, raised as TuneLabError."""
    from tunelab.core import fit as fit_module
    from tunelab.core.events import RunFailed, read_events

    def step(self, group):
        raise RuntimeError(TWO_DEVICES)

    monkeypatch.setattr(fit_module.Loop, "train_step", step)
    from conftest import train_tiny

    with pytest.raises(TuneLabError, match="on different devices"):
        train_tiny(tmp_path, toy_data, epochs=1)
    failed = [e for e in read_events(tmp_path / "run" / "events.jsonl") if isinstance(e, RunFailed)]
    assert len(failed) == 1 and "on different devices (cuda:0 and cpu)" in failed[0].error
    assert json.loads((tmp_path / "run" / "run.json").read_text())


# ---- on a GPU: torch's own errors, raised for real (skipped without CUDA)

GPU_SCRIPT = """
import torch
from tunelab.core.device import gpu_error_message
try:
    {body}
    torch.cuda.synchronize()
except Exception as err:
    print(type(err).__name__, "|", gpu_error_message(err))
"""


def run_on_gpu(body: str) -> str:
    """A device-side assert leaves the process's CUDA context unusable, so each runs in its own process."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", GPU_SCRIPT.format(body=body)], capture_output=True, text=True,
                          timeout=300)
    return proc.stdout


@pytest.mark.gpu
def test_a_real_device_side_assert_from_a_label_outside_the_head():
    out = run_on_gpu("torch.nn.functional.cross_entropy(torch.zeros(2, 3, device='cuda'), "
                     "torch.tensor([0, 5], device='cuda'))")
    assert "label id outside the model's head" in out, out


@pytest.mark.gpu
def test_a_real_two_device_error():
    out = run_on_gpu("torch.nn.Linear(3, 3).cuda()(torch.zeros(2, 3))")
    assert "on different devices" in out, out


@pytest.mark.gpu
def test_pick_device_refuses_a_gpu_that_is_not_there():
    with pytest.raises(TuneLabError, match="does not exist"):
        pick_device(f"cuda:{torch.cuda.device_count()}")
    assert pick_device("cuda:0").type == "cuda"


def test_a_cpu_run_on_a_gpu_machine_says_why(monkeypatch):
    """The reverse of a CUDA build without a driver: a CPU-only torch on a machine with an NVIDIA driver trains on
    the CPU, and the run's first line says why and what to install."""
    import io

    from rich.console import Console

    import tunelab.core.device as device
    from tunelab.cli.progress import RunProgress
    from tunelab.core.events import RunStarted

    monkeypatch.setattr(device, "nvidia_driver_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    text = io.StringIO()
    RunProgress(Console(file=text, width=400))(RunStarted("/r", "m", "classify: label ~ sentence", "cpu", 10, 1,
                                                          100, 0, 1, 1, ""))
    assert "running on the CPU although this machine has an NVIDIA driver" in text.getvalue()
    assert "CPU-only build" in text.getvalue()
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: False)
    assert device.unused_gpu_note() is None
