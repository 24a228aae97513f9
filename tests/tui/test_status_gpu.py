"""The status panel says where and how a run trains (device, precision, TF32, attention, processes) and, on a GPU,
each GPU's memory and utilisation from the run's events (NVML's records in StepLogged.gpus)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tunelab.core.events import RunStarted, StepLogged
from tunelab.tui.follow import RunTrace, chunk_events
from tunelab.tui.widgets.status_panel import StatusPanel, device_text
from widget_apps import run_async

GPUS = [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "used_mb": 3174.0, "total_mb": 81559.0, "utilization": 97},
        {"index": 1, "name": "NVIDIA H100 80GB HBM3", "used_mb": 3100.0, "total_mb": 81559.0, "utilization": None}]


def started(**kw) -> RunStarted:
    return RunStarted("runs/x", "m", "classify: label ~ sentence", kw.pop("device", "cuda:0"), 100, 2, 1000,
                      time=1000.0, **kw)


def test_device_text_names_device_precision_tf32_attention_and_processes():
    assert device_text(started(precision="bf16", tf32=True, attention="flash")) == "cuda:0 bf16 TF32 flash"
    assert device_text(started(device="cpu", precision="fp32", attention="sdpa")) == "cpu fp32 sdpa"
    assert device_text(started(precision="bf16", attention="sdpa", processes=4)) == "4 × cuda bf16 sdpa"
    assert device_text(started(device="cpu")) == "cpu"          # an older log: the device alone
    assert device_text(None) == ""


def test_the_trace_keeps_the_newest_gpu_status():
    trace = RunTrace("runs/x")
    steps = [StepLogged(i, i / 10, 0.5, 1e-3, 10.0, 100.0, 500.0, 2048.0, GPUS if i == 2 else [], time=1000.0 + i)
             for i in range(1, 5)]
    for chunk in chunk_events([started(precision="bf16", tf32=True, attention="sdpa"), *steps]):
        trace.apply(chunk)
    assert trace.gpus == GPUS                       # kept past later events without status


class PanelApp(App):
    def __init__(self, trace):
        super().__init__()
        self.trace = trace

    def compose(self) -> ComposeResult:
        yield StatusPanel(clock=lambda: 1010.0)

    def on_mount(self) -> None:
        self.query_one(StatusPanel).show_trace(self.trace)


@run_async
async def test_the_panel_shows_device_precision_and_each_gpu():
    trace = RunTrace("runs/x")
    for chunk in chunk_events([started(precision="bf16", tf32=True, attention="flash"),
                               StepLogged(1, 0.1, 0.5, 1e-3, 10.0, 100.0, 500.0, 2048.0, GPUS, time=1001.0)]):
        trace.apply(chunk)
    app = PanelApp(trace)
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.pause()
        text = str(app.query_one(StatusPanel).render())
        assert "cuda:0 bf16 TF32 flash" in text
        assert "GPU0 3.1/80 GB 97% · GPU1 3.0/80 GB" in text
