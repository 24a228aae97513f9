"""Which device to run on and in which precision, for training, evaluation, prediction and probing.

CUDA first, then Apple's MPS, then the CPU, unless the user names one (`--device auto|cpu|cuda|cuda:N|mps`,
checked here, once, for every verb); on CUDA, bf16 autocast where the GPU has it, else fp16 (training: with loss
scaling, through Accelerate), and TF32 matrix multiplies on Ampere and newer. Called by fit, evaluation, the
Predictor, check and probes; the CLI's --device and the TUI's device pickers hand their text to `pick_device`.

Also the errors users meet on GPUs, each turned into one line that says what to do (`gpu_error_message`): a
device-side assert, tensors on two devices, a CUDA build of torch without a driver, a CPU-only build asked for a GPU.
"""

from __future__ import annotations

import contextlib
import os
import re

import torch

from .config import DEVICE_WORDS, device_text_problem
from .errors import TuneLabError

_INSTALL = "https://pytorch.org/get-started/locally/"


AUTO = "auto"


def pick_device(requested: str | None = None) -> torch.device:
    """The device asked for (checked: one line when this machine or this torch cannot use it), else the best one
    ("auto", "" and None: CUDA, then MPS, then the CPU)."""
    if isinstance(requested, str):
        requested = requested.strip().lower()
    if requested and requested != AUTO:
        if device_text_problem(requested):
            raise TuneLabError(device_text_problem(requested))
        try:
            device = torch.device(requested)
        except (RuntimeError, ValueError):
            raise TuneLabError(f"unknown device {requested!r}; use {DEVICE_WORDS}") from None
        _refuse_unusable(device)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def precision_for(device: torch.device) -> str:
    """The arithmetic a model runs in on `device`: "bf16" on a CUDA GPU that has it, "fp16" (with loss scaling
    when training) on an older one, "fp32" on the CPU and MPS."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def tf32_capable(device: torch.device) -> bool:
    """The GPU has TF32 tensor cores (Ampere, compute capability 8.0, and newer)."""
    if device.type != "cuda":
        return False
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.get_device_capability(index) >= (8, 0)


def enable_tf32(device: torch.device) -> bool:
    """Let float32 matrix multiplies and convolutions use TF32 on a GPU that has it (what stays in fp32 under
    autocast: the loss, the optimizer's arithmetic, a model run without autocast); returns whether it did."""
    if not tf32_capable(device):
        return False
    torch.set_float32_matmul_precision("high")     # cuBLAS may use TF32 (cuDNN's convolutions do by default)
    return True


def autocast_for(device: torch.device):
    """A context-manager factory: reduced-precision autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return lambda: torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext


def _refuse_unusable(device: torch.device) -> None:
    """One line when `device` cannot be used here, naming the fix (before any tensor goes there)."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TuneLabError(no_cuda_message())
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise TuneLabError(f"device {str(device)!r} does not exist: this machine shows {count} GPU"
                               f"{'s' if count != 1 else ''} (cuda:0{f' to cuda:{count - 1}' if count > 1 else ''}); "
                               "pick one of those, or check CUDA_VISIBLE_DEVICES")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise TuneLabError("device 'mps' is Apple's GPU, which this machine or this torch build does not have; "
                               "use cpu (or cuda on a machine with an NVIDIA GPU)")


def nvidia_driver_present() -> bool:
    """An NVIDIA kernel driver is loaded on this machine (whether or not this torch can use it)."""
    return os.path.exists("/proc/driver/nvidia/version")


def unused_gpu_note() -> str | None:
    """A line for a run about to use the CPU on a machine whose NVIDIA GPU this torch cannot use (a CPU-only build,
    or a driver too old for its CUDA); None when there is no such GPU or torch can use it."""
    if not nvidia_driver_present() or torch.cuda.is_available():
        return None
    return f"note: running on the CPU although this machine has an NVIDIA driver: {no_cuda_message()}"


def no_cuda_message() -> str:
    """Why torch cannot use a GPU here, and what to do: a CPU-only build of torch, or a CUDA build with no usable
    driver or GPU."""
    built_for = torch.version.cuda
    if not built_for:
        where = " although this machine has an NVIDIA driver" if nvidia_driver_present() else ""
        return (f"this torch ({torch.__version__}) is a CPU-only build, so it cannot use a GPU{where}; install a CUDA "
                f"build of torch ({_INSTALL}), or run on the CPU")
    if "CUDA_VISIBLE_DEVICES" in os.environ and not os.environ["CUDA_VISIBLE_DEVICES"].strip(" ,"):
        return "CUDA_VISIBLE_DEVICES is empty, so no GPU is visible; unset it or name a GPU (CUDA_VISIBLE_DEVICES=0)"
    return (f"torch is built for CUDA {built_for} but finds no usable GPU: the NVIDIA driver is missing or too old "
            f"for CUDA {built_for}, or no GPU is visible (`nvidia-smi` should list one); install or update the driver, "
            f"install a torch build for the driver's CUDA version ({_INSTALL}), or run on the CPU")


_OUT_OF_BOUNDS = re.compile(r"Target (-?\d+) is out of bounds")


def gpu_error_message(err: BaseException) -> str | None:
    """One line saying what to do about a device error (as torch raises it), or None when `err` is not one."""
    text = str(err)
    if "device-side assert triggered" in text:
        return ("a CUDA device-side assert stopped the process: most often a label id outside the model's head (the "
                "data has more classes than the head) or a token id beyond the vocabulary (a tokenizer from another "
                "model); rerun on the CPU (CUDA_VISIBLE_DEVICES=) or with CUDA_LAUNCH_BLOCKING=1 to see which, in a "
                "new process (this one's GPU state is lost)")
    found = _OUT_OF_BOUNDS.search(text)
    if found:
        return (f"label id {found[1]} is outside the model's head (its classes are numbered from 0): the data has "
                "more classes than the head has outputs; train a new head on this data (tunelab fit) or check the "
                "label column")
    if "Expected all tensors to be on the same device" in text:
        devices = re.findall(r"\b(cuda:\d+|cpu|mps:?\d*)\b", text.split("same device", 1)[-1])
        pair = f" ({' and '.join(dict.fromkeys(devices))})" if len(set(devices)) > 1 else ""
        return (f"the model and its inputs are on different devices{pair}: part of the model was moved or loaded "
                "elsewhere (device_map); load it whole on one device, or show one GPU (CUDA_VISIBLE_DEVICES=0)")
    if "Torch not compiled with CUDA enabled" in text or "no NVIDIA driver" in text or "NVIDIA driver on your system is too old" in text \
            or "CUDA driver version is insufficient" in text or "No CUDA GPUs are available" in text:
        return no_cuda_message()
    if "no kernel image is available for execution on the device" in text:
        return (f"this torch build ({torch.__version__}, CUDA {torch.version.cuda}) has no kernels for this GPU "
                "(built for older or newer GPUs); install a torch build that lists this GPU's architecture "
                f"({_INSTALL}), or run on the CPU (--device cpu)")
    if "invalid device ordinal" in text:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return (f"the GPU asked for does not exist: this machine shows {count}; pick cuda:0 to cuda:{max(count - 1, 0)}, "
                "or check CUDA_VISIBLE_DEVICES")
    return None
