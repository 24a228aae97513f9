"""Instant predictions: load a fine-tuned model once, then label sentences or pairs with probabilities.

`Predictor.predict` is the hot path of `tunelab predict`, the TUI's playground and the Python API: one
tokenizer call, one forward pass, one softmax; no pipeline machinery. On CPU the forward pass runs in ONNX
Runtime (exported once and cached, same fp32 results; see onnx_runtime.py), elsewhere in PyTorch with SDPA
attention under inference mode. `predict_batch` sorts by length and pads each batch to its own longest input.

A prediction says whether its input was cut at `max_length` (`truncated`). A model from a TuneLab run knows
its equation, so giving a pair to a single-sentence model (or a single sentence to a pair model) is refused.
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
from .config import SETTINGS_BY_NAME, Setting
from .models import (check_max_length, default_max_length, load_classifier, load_tokenizer, max_positions,
                     read_run_config, resolve_model)
from .predict_input import is_blank

# --batch-size and --max-length mean what they mean for fit, with the same ranges and the same complaints
BATCH_SIZE: Setting = SETTINGS_BY_NAME["batch_size"]
MAX_LENGTH: Setting = SETTINGS_BY_NAME["max_length"]


def check_setting(setting: Setting, value) -> None:
    """Raise TuneLabError with the setting's one-line complaint when `value` is out of its range."""
    problem = setting.check(value)
    if problem:
        raise TuneLabError(problem)


@dataclass(frozen=True)
class Prediction:
    text: str
    pair: str | None
    label: str                    # the argmax class (or the value, as text, for regression)
    score: float                  # its probability (or the regression value)
    probabilities: dict           # every class's probability ({} for regression)
    latency_ms: float             # wall time of this prediction (for a batch: its share)
    truncated: bool = False       # the input was longer than max_length tokens and was cut (the rest unseen)


class Predictor:
    """A loaded model ready to label text: `Predictor("runs/x").predict("The keys are here.")`."""

    def __init__(self, model: str | None = None, *, device: str | None = None, max_length: int | None = None,
                 backend: str = "auto", trust_remote_code: bool = False):
        """backend: "auto" (ONNX Runtime on CPU when installed, else PyTorch), "onnx" or "torch".
        trust_remote_code: run Python code shipped with the model (its auto_map); off unless the user opts in."""
        if backend not in ("auto", "onnx", "torch"):
            raise TuneLabError(f"backend {backend!r}: use auto, onnx or torch")
        check_setting(MAX_LENGTH, max_length)
        resolved = resolve_model(model, trust_remote_code=trust_remote_code)
        self.name = resolved.name
        self.tokenizer = load_tokenizer(resolved)
        self.model, self.new_head = load_classifier(resolved)
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        self.autocast = autocast_for(self.device)
        limit = max_positions(self.model.config)
        check_max_length(max_length, limit, self.name)
        self.max_length = max_length or default_max_length(resolved, limit)   # a run's own, else the model's
        self.inputs = _trained_inputs(resolved)  # the equation's input columns, or None when not known
        config = self.model.config
        self.is_regression = config.problem_type == "regression" or config.num_labels == 1
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.backend, self._onnx = "torch", None
        if backend == "onnx" or (backend == "auto" and self.device.type == "cpu" and onnx_runtime.available()):
            try:
                self._onnx = onnx_runtime.OnnxClassifier(onnx_runtime.export(self.model, self.tokenizer, resolved.path),
                                                         num_labels=config.num_labels)
                self.backend = "onnx"
            except Exception as err:  # an architecture the exporter cannot trace: PyTorch still works
                if backend == "onnx":
                    raise TuneLabError(f"could not run {self.name} with ONNX Runtime: {str(err).splitlines()[0]}") from None

    @property
    def is_pair(self) -> bool | None:
        """True for a model trained on pairs, False for single sentences, None when its run is not known."""
        return None if self.inputs is None else len(self.inputs) == 2

    def _check(self, text: str, pair: str | None) -> None:
        if not isinstance(text, str) or is_blank(text):
            raise TuneLabError("the sentence to predict is empty (nothing but spaces or invisible characters)")
        if pair is not None and (not isinstance(pair, str) or is_blank(pair)):
            raise TuneLabError("the second sentence of the pair is empty (nothing but spaces or invisible characters)")
        if self.is_pair and pair is None:
            raise TuneLabError(f"{self.name} was trained on pairs ({' + '.join(self.inputs)}); give the second sentence "
                               f"too (--pair, or one tab-separated pair per line with --input)")
        if self.is_pair is False and pair is not None:
            raise TuneLabError(f"{self.name} was trained on single sentences ({self.inputs[0]}), not pairs; "
                               f"drop the second sentence (--pair, or the tab in the input lines)")

    def _too_long(self, text: str, pair: str | None) -> bool:
        """Whether text (+ pair) needs more than max_length tokens (checked only for inputs that fill it)."""
        return len(self.tokenizer(text, pair, truncation=False, verbose=False)["input_ids"]) > self.max_length

    def _to_predictions(self, texts, pairs, logits: np.ndarray, seconds: float, truncated) -> list[Prediction]:
        out = []
        share = seconds * 1000 / max(1, len(texts))
        if self.is_regression:
            for t, p, row, cut in zip(texts, pairs, logits, truncated):
                out.append(Prediction(t, p, f"{row[0]:.4f}", float(row[0]), {}, share, cut))
            return out
        for t, p, row, cut in zip(texts, pairs, softmax(logits), truncated):
            best = int(row.argmax())
            out.append(Prediction(t, p, self.labels[best], float(row[best]),
                                  {name: float(v) for name, v in zip(self.labels, row)}, share, cut))
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
        seconds = time.perf_counter() - start
        truncated = enc["input_ids"].shape[1] >= self.max_length and self._too_long(text, pair)
        return self._to_predictions([text], [pair], logits, seconds, [truncated])[0]

    @torch.inference_mode()
    def predict_batch(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 64) -> list[Prediction]:
        check_setting(BATCH_SIZE, batch_size)
        if not texts:
            return []
        if pairs is not None and len(pairs) != len(texts):
            raise TuneLabError(f"{len(texts)} sentences but {len(pairs)} second sentences; give one pair per sentence")
        pairs = pairs if pairs is not None else [None] * len(texts)
        if len({p is None for p in pairs}) > 1:
            raise TuneLabError("a mix of single sentences and pairs; give a second sentence for all of them or for none")
        for i, (t, p) in enumerate(zip(texts, pairs)):
            try:
                self._check(t, p)
            except TuneLabError as err:
                raise (TuneLabError(f"input {i + 1}: {err}") if len(texts) > 1 else err) from None
        start = time.perf_counter()
        inputs = list(zip(texts, pairs)) if pairs[0] is not None else list(texts)
        split = encode(self.tokenizer, inputs, max_length=self.max_length)
        logits = predict_outputs(self.model, split, batch_size, self.device, self.tokenizer.pad_token_id or 0, self.autocast)
        seconds = time.perf_counter() - start
        truncated = [bool(n >= self.max_length) and self._too_long(t, p) for n, t, p in zip(split.lengths, texts, pairs)]
        return self._to_predictions(texts, pairs, logits, seconds, truncated)


def _trained_inputs(resolved) -> tuple[str, ...] | None:
    """The input columns of the equation the model was fine-tuned on, from its TuneLab run (None if unknown)."""
    from .equation import parse_equation

    try:
        equation = (read_run_config(resolved) or {}).get("equation")
        return parse_equation(equation).inputs if equation else None
    except (TuneLabError, ValueError, OSError, AttributeError):
        return None
