"""Several training processes on one machine: what `tunelab fit --processes N` (and a detached run with it, from
the CLI or the Train screen's "processes" and "gpus" settings) starts, in place of `torchrun --standalone`.

The process that calls `run_processes` becomes the supervisor: it starts N copies of `tunelab fit` with the
environment torchrun gives (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so
Accelerate builds DDP over NCCL on GPUs (one GPU each, LOCAL_RANK) or gloo on the CPU, exactly as under
`accelerate launch --multi_gpu` or `torchrun`. CUDA_VISIBLE_DEVICES is set from --gpus. Unlike torchrun, the
children inherit the run directory's lock from a detached launch (core/runs.py), so the run stays locked and
listed as running for its whole life. When one process fails, the others are stopped (SIGTERM: each stops after
its step; then SIGKILL) so nothing waits forever on a collective; the supervisor exits with the first failure's
status. A first Ctrl-C reaches every process (one process group) and stops the run with a checkpoint.

Called by tunelab/cli/fit.py; core/fit.py checks the settings (`check_processes`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from .errors import TuneLabError
from .liveness import LOCK_FD_ENV

GRACE_SECONDS = 60.0     # after one process fails, how long the others get to stop before they are killed


def under_launcher() -> bool:
    """This process is one of several started by a launcher (torchrun, accelerate launch, run_processes)."""
    return "WORLD_SIZE" in os.environ or "LOCAL_RANK" in os.environ


def gpu_list(text: str | None) -> list[str]:
    """--gpus "0,1" -> ["0", "1"]; "" or None -> [] (every visible GPU)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(rank: int, world: int, port: int, gpus: list[str], base: dict | None = None) -> dict:
    """The environment of process `rank` of `world`, as torchrun sets it for a single machine."""
    env = dict(os.environ if base is None else base)
    env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
               GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world)))
    return env


def _inherited_lock() -> tuple[int, ...]:
    """The run lock's descriptor this process got from a detached launch, passed on to every child."""
    text = os.environ.get(LOCK_FD_ENV, "")
    if text.isdigit():
        try:
            os.fstat(int(text))
            return (int(text),)
        except OSError:
            pass
    return ()


def run_processes(argv: list[str], processes: int, gpus: list[str], python: str | None = None) -> int:
    """Run `python -m tunelab *argv` as `processes` cooperating processes and wait for all; returns the exit status
    (0 when every process succeeded, else the first failure's)."""
    port = free_port()
    keep = _inherited_lock()
    children: list[subprocess.Popen] = []
    try:
        for rank in range(processes):
            children.append(subprocess.Popen([python or sys.executable, "-m", "tunelab", *argv],
                                             env=worker_env(rank, processes, port, gpus), pass_fds=keep))
    except OSError as err:
        _stop(children)
        raise TuneLabError(f"could not start {processes} training processes: {err.strerror or err}") from None
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C reaches the children; they stop the run
    terminate = signal.signal(signal.SIGTERM, lambda *a: _forward(children, signal.SIGTERM))
    try:
        return _wait(children)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, terminate)


def _wait(children: list[subprocess.Popen]) -> int:
    failed = 0
    while True:
        codes = [c.poll() for c in children]
        if all(code is not None for code in codes):
            return failed or next((code for code in codes if code), 0)
        bad = next((code for code in codes if code not in (None, 0)), None)
        if bad is not None and not failed:
            failed = bad               # one process failed: the others would wait on it forever
            _stop(children)
        time.sleep(0.2)


def _forward(children: list[subprocess.Popen], sig: int) -> None:
    for child in children:
        if child.poll() is None:
            try:
                child.send_signal(sig)
            except OSError:
                pass


def _stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM (each stops after its step), then SIGKILL for any still there after GRACE_SECONDS."""
    _forward(children, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(c.poll() is None for c in children):
        time.sleep(0.2)
    _forward(children, signal.SIGKILL)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
