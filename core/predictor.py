"""Instant predictions: load a fine-tuned model once, then label sentences or pairs with probabilities.

`Predictor.predict` is the hot path of `tunelab predict`, the TUI's playground and the Python API: one
tokenizer call, one forward pass, one softmax; no pipeline machinery. On CPU the forward pass runs in ONNX
Runtime (exported once and cached, same fp32 results; see onnx_runtime.py), elsewhere in PyTorch with SDPA
attention under inference mode. `predict_batch` sorts by length and pads each batch to its own longest input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .batching import encode
from .device import autocast_for, pick_device
from .errors import TuneLabError
from .inference import predict_outputs, softmax
from . import onnx_runtime
from .models import load_classifier, load_tokenizer, max_positions, resolve_model


@dataclass(frozen=True)
class Prediction:
    text: str
    pair: str | None
    label: str                    # the argmax class (or the value, as text, for regression)
    score: float                  # its probability (or the regression value)
    probabilities: dict           # every class's probability ({} for regression)
    latency_ms: float             # wall time of this prediction (for a batch: its share)


class Predictor:
    """A loaded model ready to label text: `Predictor("runs/x").predict("The keys are here.")`."""

    def __init__(self, model: str | None = None, *, device: str | None = None, max_length: int | None = None,
                 backend: str = "auto"):
        """backend: "auto" (ONNX Runtime on CPU when installed, else PyTorch), "onnx" or "torch"."""
        if backend not in ("auto", "onnx", "torch"):
            raise TuneLabError(f"backend {backend!r}: use auto, onnx or torch")
        resolved = resolve_model(model)
        self.name = resolved.name
        self.tokenizer = load_tokenizer(resolved)
        self.model, self.new_head = load_classifier(resolved)
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        self.autocast = autocast_for(self.device)
        self.max_length = max_length or min(512, max_positions(self.model.config))
        config = self.model.config
        self.is_regression = config.problem_type == "regression" or config.num_labels == 1
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.backend, self._onnx = "torch", None
        if backend == "onnx" or (backend == "auto" and self.device.type == "cpu" and onnx_runtime.available()):
            try:
                self._onnx = onnx_runtime.OnnxClassifier(onnx_runtime.export(self.model, self.tokenizer, resolved.path))
                self.backend = "onnx"
            except Exception as err:  # an architecture the exporter cannot trace: PyTorch still works
                if backend == "onnx":
                    raise TuneLabError(f"could not run {self.name} with ONNX Runtime: {str(err).splitlines()[0]}") from None

    def _check(self, text: str, pair: str | None) -> None:
        if not isinstance(text, str) or not text.strip():
            raise TuneLabError("the sentence to predict is empty")
        if pair is not None and not pair.strip():
            raise TuneLabError("the second sentence of the pair is empty")

    def _to_predictions(self, texts, pairs, logits: np.ndarray, seconds: float) -> list[Prediction]:
        out = []
        share = seconds * 1000 / max(1, len(texts))
        if self.is_regression:
            for t, p, row in zip(texts, pairs, logits):
                out.append(Prediction(t, p, f"{row[0]:.4f}", float(row[0]), {}, share))
            return out
        for t, p, row in zip(texts, pairs, softmax(logits)):
            best = int(row.argmax())
            out.append(Prediction(t, p, self.labels[best], float(row[best]),
                                  {name: float(v) for name, v in zip(self.labels, row)}, share))
        return out

    @torch.inference_mode()
    def predict(self, text: str, pair: str | None = None) -> Prediction:
        self._check(text, pair)
        start = time.perf_counter()
        if self._onnx is not None:
            enc = self.tokenizer(text, pair, truncation=True, max_length=self.max_length, return_tensors="np")
            logits = self._onnx.logits(enc)
        else:
            enc = self.tokenizer(text, pair, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with self.autocast():
                logits = self.model(**enc).logits.float().cpu().numpy()
        return self._to_predictions([text], [pair], logits, time.perf_counter() - start)[0]

    @torch.inference_mode()
    def predict_batch(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 64) -> list[Prediction]:
        if not texts:
            return []
        pairs = pairs if pairs is not None else [None] * len(texts)
        for t, p in zip(texts, pairs):
            self._check(t, p)
        start = time.perf_counter()
        inputs = list(zip(texts, pairs)) if pairs[0] is not None else list(texts)
        split = encode(self.tokenizer, inputs, max_length=self.max_length)
        logits = predict_outputs(self.model, split, batch_size, self.device, self.tokenizer.pad_token_id or 0, self.autocast)
        return self._to_predictions(texts, pairs, logits, time.perf_counter() - start)
