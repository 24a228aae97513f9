"""Which backend serves a model's predictions, and the ONNX Runtime sessions that serve them.

The Predictor (`tunelab predict`, the Predict screen) and an evaluation (`tunelab eval`, the Evaluate screen) ask
here. A task whose predictions are its head's one `logits` output (sentence labels, regression, token tags) can be
served by the exported graph (onnx_runtime: fp32, fused); a task that predicts in its own way (extractive QA: windows
and two outputs) runs in PyTorch only. `int8=True` asks for the dynamically quantized graph instead: opt-in, on the
CPU, and refused in one line (TuneLabError) wherever it cannot be had, never replaced by fp32 in silence.
"""

from __future__ import annotations

from . import onnx_runtime
from .errors import TuneLabError

BACKENDS = ("auto", "onnx", "torch")


def serves(kind) -> bool:
    """Whether ONNX Runtime can serve the task `kind` (a Task): its predictions come from the head's logits alone."""
    from .tasks.base import Task

    return type(kind).predict_batch is Task.predict_batch


def use_onnx(backend: str, device, kind, *, int8: bool, name: str, task: str, auto: bool = True) -> bool:
    """Whether to serve with the ONNX graph, given the backend asked for ("auto", "onnx", "torch"), the torch device,
    the task and `int8`. "auto" means ONNX on the CPU when installed where `auto` (else PyTorch). Raises TuneLabError
    for a combination that cannot be served: an unknown backend, ONNX for a task that runs in PyTorch only, and int8
    with PyTorch, off the CPU, for such a task, or without onnxruntime."""
    if backend not in BACKENDS:
        raise TuneLabError(f"backend {backend!r}: use auto, onnx or torch")
    if int8:
        if backend == "torch":
            raise TuneLabError("--int8 runs the model's quantized ONNX graph in ONNX Runtime; it does not go with "
                               "--backend torch (drop one of them)")
        if not serves(kind):
            raise TuneLabError(f"{name} is a {task} model, which TuneLab runs with PyTorch only; --int8 quantizes the "
                               "ONNX graph, so drop --int8")
        if device.type != "cpu":
            raise TuneLabError(f"--int8 runs on the CPU (ONNX Runtime), not {device}; drop --int8 or use --device cpu")
        if not onnx_runtime.available():
            raise TuneLabError("--int8 needs onnxruntime and onnx, which are not installed here "
                               "(pip install onnxruntime onnx)")
        return True
    if backend == "onnx" and not serves(kind):
        raise TuneLabError(f"{name} is a {task} model, which TuneLab runs with PyTorch only; "
                           "use --backend torch or auto")
    if backend == "onnx":
        return True
    return backend == "auto" and auto and serves(kind) and device.type == "cpu" and onnx_runtime.available()


def fp32_session(model, tokenizer, model_path: str, *, per_token: bool) -> onnx_runtime.OnnxClassifier:
    """A session over the model's fp32 (fused) graph, exported now or taken from the cache."""
    graph = onnx_runtime.export(model, tokenizer, model_path, per_token=per_token)
    return onnx_runtime.OnnxClassifier(graph, num_labels=model.config.num_labels, per_token=per_token)


def int8_session(model, tokenizer, model_path: str, *, per_token: bool, name: str) -> onnx_runtime.OnnxClassifier:
    """A session over the model's int8 graph (quantized from the fp32 graph, both cached); TuneLabError in one line
    when the model cannot be exported or quantized."""
    try:
        graph = onnx_runtime.export(model, tokenizer, model_path, per_token=per_token)
    except Exception as err:   # noqa: BLE001 - an architecture the exporter cannot trace
        raise TuneLabError(f"could not export {name} to ONNX for --int8: {_first_line(err)}") from None
    try:
        int8 = onnx_runtime.quantize(graph, onnx_runtime.cache_folder(model, model_path, per_token=per_token))
        return onnx_runtime.OnnxClassifier(int8, num_labels=model.config.num_labels, per_token=per_token)
    except Exception as err:   # noqa: BLE001 - the quantizer's own failures are many and undocumented
        raise TuneLabError(f"could not quantize {name} to int8: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
