"""Low-latency CPU prediction: export a classifier to ONNX once, then run it with ONNX Runtime.

PyTorch's eager forward on a single short sentence is bound by per-operator overhead and a GEMM that uses
one core; ONNX Runtime fuses attention, GELU and LayerNorm and runs the graph in its own thread pool, with
the same fp32 arithmetic (outputs agree to ~1e-6). The export is cached under TuneLab's state directory,
keyed by the model's files, so only the first prediction pays for it. Called by the Predictor on CPU.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from .run_dir import state_dir

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _cache_key(model_path: str) -> str:
    h = hashlib.sha256(str(Path(model_path).resolve()).encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        f = Path(model_path) / name
        if f.is_file():
            st = f.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def export(model, tokenizer, model_path: str) -> Path:
    """The cached ONNX file of `model`, exported now if it is not there yet (atomically)."""
    import torch

    target = state_dir() / "onnx" / _cache_key(model_path) / "model.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    sample = tokenizer("a short sentence", "and a pair", return_tensors="pt")
    names = [n for n in INPUTS if n in sample]
    tmp = target.with_name(f"model.{os.getpid()}.tmp.onnx")
    model = model.eval()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape checks that are constant for an encoder
        torch.onnx.export(model, tuple(sample[n] for n in names), str(tmp), input_names=names, output_names=["logits"],
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
    os.replace(tmp, target)
    return target


class OnnxClassifier:
    """Runs an exported classifier: `logits(encoding)` takes the tokenizer's numpy output."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def logits(self, encoding) -> np.ndarray:
        feed = {n: np.asarray(encoding[n], dtype=np.int64) for n in self.names}
        return self.session.run(None, feed)[0]
