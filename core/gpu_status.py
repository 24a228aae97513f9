"""GPU status through NVML (nvidia-ml-py): each visible GPU's name, memory used and total, and utilisation.

What `nvidia-smi` shows, read in-process in well under a millisecond per GPU, with no torch import (the TUI asks
before torch is loaded). Where there is no NVIDIA driver, no NVML library or no GPU, the answer is an empty list,
never an exception: GPU status is a nicety, and a machine without a GPU is a normal machine.

GPUs are listed in CUDA's numbering where CUDA_VISIBLE_DEVICES names them (by index or UUID), so the first one is
what torch calls cuda:0; otherwise in NVML's (PCI bus) order. Called by the training loop's step log (the GPUs in
the StepLogged events), the TUI's status panel and device pickers, and bench/bench_gpu.py.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass

STATUS_SECONDS = 5.0       # the step log adds GPU status to its events at most this often: NVML is cheap, a log is not


@dataclass(frozen=True)
class GpuStatus:
    index: int                  # as torch numbers it (cuda:N) where CUDA_VISIBLE_DEVICES is set, else NVML's
    name: str
    used_mb: float
    total_mb: float
    utilization: int | None     # percent of the last sample period a kernel ran; None where NVML does not say

    def record(self) -> dict:
        """The plain dict an event carries."""
        return asdict(self)


_lock = threading.Lock()
_nvml = {"ready": None}     # None: not tried yet; False: no NVML here (not retried); True: initialised


def _init():
    """pynvml, initialised once per process; None where there is no NVML (no package, library or driver)."""
    with _lock:
        if _nvml["ready"] is False:
            return None
        try:
            import pynvml
        except ImportError:
            _nvml["ready"] = False
            return None
        if _nvml["ready"] is None:
            try:
                pynvml.nvmlInit()
            except Exception:       # NVMLError_LibraryNotFound, _DriverNotLoaded, ...: no GPU status here
                _nvml["ready"] = False
                return None
            _nvml["ready"] = True
        return pynvml


def _visible(pynvml, count: int) -> list[tuple[int, object]]:
    """(torch index, NVML handle) for each GPU this process can see, in CUDA's order."""
    names = os.environ.get("CUDA_VISIBLE_DEVICES")
    if names is None:
        return [(i, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]
    out = []
    for position, name in enumerate(n.strip() for n in names.split(",")):
        if not name:
            break                               # CUDA stops at the first empty or invalid entry
        if name.isdigit():
            if int(name) >= count:
                break
            handle = pynvml.nvmlDeviceGetHandleByIndex(int(name))
        else:
            try:
                handle = pynvml.nvmlDeviceGetHandleByUUID(name if name.startswith(("GPU-", "MIG-")) else f"GPU-{name}")
            except Exception:
                break
        out.append((position, handle))
    return out


def gpu_status() -> list[GpuStatus]:
    """The GPUs this process can see, each with memory and utilisation now; [] where NVML cannot say."""
    pynvml = _init()
    if pynvml is None:
        return []
    try:
        found = []
        for index, handle in _visible(pynvml, pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                utilization = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:           # MIG slices and some virtual GPUs do not report it
                utilization = None
            found.append(GpuStatus(index, name, round(memory.used / 2**20, 1), round(memory.total / 2**20, 1),
                                   utilization))
        return found
    except Exception:                   # a GPU fell off the bus, the driver was reloaded: no status this time
        return []


def gpu_records() -> list[dict]:
    """gpu_status() as the plain dicts the events carry."""
    return [g.record() for g in gpu_status()]


def device_choices() -> list[tuple[str, str]]:
    """(label, value) for a device picker: auto, cpu and each visible GPU by name (no torch import)."""
    choices = [("auto", "auto"), ("cpu", "cpu")]
    choices += [(f"cuda:{g.index} {g.name} ({g.total_mb / 1024:.0f} GB)", f"cuda:{g.index}") for g in gpu_status()]
    return choices


def status_line(records: list[dict]) -> str:
    """A short text of GPU records (events' dicts): 'GPU0 3.1/80 GB 97%', one per GPU, joined by ' · '."""
    parts = []
    for g in records:
        try:
            used, total = float(g["used_mb"]) / 1024, float(g["total_mb"]) / 1024
            util = g.get("utilization")
            busy = f" {int(util)}%" if util is not None else ""
            parts.append(f"GPU{int(g['index'])} {used:.1f}/{total:.0f} GB{busy}")
        except (KeyError, TypeError, ValueError):
            continue                    # a damaged record in an events file: shown without it
    return " · ".join(parts)
