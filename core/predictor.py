"""Instant predictions: load a fine-tuned model once, then label sentences or pairs with probabilities.

`Predictor.predict` is the hot path of `tunelab predict`, the TUI's playground and the Python API: one
tokenizer call, one forward pass, one softmax; no pipeline machinery. On CPU the forward pass runs in ONNX
Runtime (exported once and cached, same fp32 results; see onnx_runtime.py), elsewhere in PyTorch with SDPA
attention under inference mode. `predict_batch` sorts by length and pads each batch to its own longest input, and
runs the same fused graph as one sentence does where ONNX serves the model.

`int8=True` (or `set_int8`) serves from the dynamically quantized graph instead: opt-in, never on by itself, and
`agreement` runs both graphs on the same inputs to say how far int8's answers are from fp32's.

A prediction says whether its input was cut at `max_length` (`truncated`). A model from a TuneLab run knows
its equation, so giving a pair to a single-sentence model (or a single sentence to a pair model) is refused.

A token-classification model (its run's equation, else its config's architecture, says so: `task_of_model`) tags
words: the sentence is split into words as the tokenizer's pre-tokenizer splits it ("Paris." -> "Paris", "."),
the words are encoded with `is_split_into_words=True`, and each word's tag is the argmax at its first sub-word,
as the pipeline's `aggregation_strategy="first"` reads it; entities are grouped from the word tags
(core/entities.py). It returns a `TokenPrediction`. Words past `max_length` are not read: they are tagged O with no
score, and the prediction says how many (`words_cut`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .batching import EncodedSplit, collate, encode, sorted_batches
from .device import autocast_for, pick_device
from .errors import TuneLabError
from .inference import predict_outputs, softmax
from . import onnx_backend
from .config import SETTINGS_BY_NAME, Setting, refuse_foreign_settings
from .entities import OUTSIDE, group_entities, uses_entity_scheme, whitespace_words
from .models import (check_max_length, default_max_length, load_classifier, load_config, load_tokenizer,
                     max_positions, read_run_config, resolve_model)
from .predict_input import is_blank
from .tasks.base import task_for, task_of_model

# --batch-size and --max-length mean what they mean for fit, with the same ranges and the same complaints
# (a number only: fit's --batch-size auto searches for a training micro-batch, which scoring has none of)
BATCH_SIZE: Setting = dataclasses.replace(SETTINGS_BY_NAME["batch_size"], words=())
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
    label: str                    # the argmax class (or the value, as text, for regression; every output's, named,
                                  # for a several-output regression)
    score: float                  # its probability (or the regression value: the first output's, with several)
    probabilities: dict           # every class's probability ({} for regression)
    latency_ms: float             # wall time of this prediction (for a batch: its share)
    truncated: bool = False       # the input was longer than max_length tokens and was cut (the rest unseen)
    values: dict = field(default_factory=dict)   # a several-output regression: each output's value by name, in
                                                 # the equation's order ({} otherwise)


def prediction_record(pred) -> dict:
    """A prediction as the JSON `predict --json` writes: its fields, less a `values` that is empty (only a
    several-output regression has it), so that every other prediction's record is as it always was."""
    record = asdict(pred)
    if not record.get("values", True):
        del record["values"]
    return record


@dataclass(frozen=True)
class TokenPrediction:
    """The words of one sentence, each with its tag, and the entities the tags make."""
    text: str
    words: list                   # the sentence's words, as the tokenizer's pre-tokenizer splits it
    spans: list                   # each word's (start, end) characters in text
    tags: list                    # each word's tag (O for a word past max_length)
    scores: list                  # each word's probability of its tag (None for a word past max_length: not read)
    probabilities: list           # each word's probability of every tag ({} for a word past max_length)
    entities: list                # Entity: type, text, character span, word span, mean score of its words
    latency_ms: float             # wall time of this prediction (for a batch: its share)
    truncated: bool = False       # the sentence was longer than max_length tokens: its last words were not read
    words_cut: int = 0            # how many words were not read (tagged O)


class Predictor:
    """A loaded model ready to label text: `Predictor("runs/x").predict("The keys are here.")`."""

    def __init__(self, model: str | None = None, *, device: str | None = None, max_length: int | None = None,
                 backend: str = "auto", trust_remote_code: bool = False, settings: dict | None = None,
                 int8: bool = False):
        """backend: "auto" (ONNX Runtime on CPU when installed, else PyTorch), "onnx" or "torch".
        int8: serve with the dynamically quantized ONNX graph (on the CPU; opt-in: `agreement` says how far its
        answers are from fp32's); refused in one line where it cannot be had (onnx_backend.use_onnx).
        trust_remote_code: run Python code shipped with the model (its auto_map); off unless the user opts in.
        settings: task settings (config.TASK_OPTIONS, e.g. {"null_threshold": 1.5}) that replace the run's own; None
        values keep them; refused for a task that does not read them."""
        self.task_settings = {k: v for k, v in (settings or {}).items() if v is not None}
        for name, value in self.task_settings.items():
            problem = SETTINGS_BY_NAME[name].check(value)
            if problem:
                raise TuneLabError(problem)
        if backend not in onnx_backend.BACKENDS:
            raise TuneLabError(f"backend {backend!r}: use auto, onnx or torch")
        check_setting(MAX_LENGTH, max_length)
        resolved = resolve_model(model, trust_remote_code=trust_remote_code)
        self.name = resolved.name
        self.tokenizer = load_tokenizer(resolved)
        self.run_config = _run_config(resolved) or {}
        self.task = task_of_model(load_config(resolved), self.run_config)
        self.kind = kind = task_for(self.task)
        refuse_foreign_settings(self.task_settings, kind)
        self.per_token, head = kind.per_token, kind.head_class()
        self.model, self.new_head = load_classifier(resolved, head_class=head)
        self.device = pick_device(device or ("cpu" if int8 else None))   # int8 runs on the CPU
        self.model.to(self.device).eval()
        self.autocast = autocast_for(self.device)
        limit = max_positions(self.model.config)
        check_max_length(max_length, limit, self.name)
        self.max_length = max_length or default_max_length(resolved, limit)   # a run's own, else the model's
        self.inputs = _trained_inputs(resolved)  # the equation's input columns, or None when not known
        config = self.model.config
        self.is_regression = config.problem_type == "regression" or config.num_labels == 1
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.groups_entities = self.per_token and uses_entity_scheme(self.labels)   # POS tags make no entities
        # a several-output regression: each output's (lowest, highest) train value, from its run ({} when unknown)
        self.output_ranges = _output_ranges(resolved, self.labels) if self.is_regression else {}
        self.backend, self._onnx = "torch", None
        self._path = resolved.path
        self.int8 = False                   # the session serving is the int8 graph's (opt-in: set_int8)
        self._sessions: dict = {}           # "fp32" / "int8": the ONNX sessions made so far
        # a task that predicts in its own way (decided once here, not asked on every prediction)
        self._own_path = not onnx_backend.serves(kind)
        if onnx_backend.use_onnx(backend, self.device, kind, int8=int8, name=self.name, task=self.task):
            try:
                self._onnx = self._sessions["fp32"] = onnx_backend.fp32_session(
                    self.model, self.tokenizer, resolved.path, per_token=self.per_token)
                self.backend = "onnx"
            except Exception as err:  # an architecture the exporter cannot trace: PyTorch still works
                if backend == "onnx" or int8:
                    what = "for --int8" if int8 else "with ONNX Runtime"
                    raise TuneLabError(f"could not run {self.name} {what}: {str(err).splitlines()[0]}") from None
        if int8:
            self.set_int8(True)

    @property
    def precision(self) -> str:
        """What serves the predictions: "int8" (the quantized graph) or "fp32"."""
        return "int8" if self.int8 else "fp32"

    def set_int8(self, on: bool) -> None:
        """Serve with the int8 graph (quantized once, then cached beside the fp32 graph), or back with fp32. int8 is
        refused (TuneLabError, one line) where the ONNX backend does not serve this model."""
        if not on:
            if self.int8:
                self._onnx, self.int8 = self._sessions["fp32"], False
            return
        onnx_backend.use_onnx("auto", self.device, self.kind, int8=True, name=self.name, task=self.task)
        if self.backend != "onnx":
            raise TuneLabError(f"{self.name} runs with PyTorch here (its ONNX export failed), so it has no int8 graph")
        if "int8" not in self._sessions:
            self._sessions["int8"] = onnx_backend.int8_session(self.model, self.tokenizer, self._path,
                                                               per_token=self.per_token, name=self.name)
        self._onnx, self.int8 = self._sessions["int8"], True

    def agreement(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 64,
                  predictions: list | None = None):
        """How far the int8 graph's answers on these inputs are from the fp32 graph's (int8_agreement.Agreement),
        running both graphs on them (`predictions`: the int8 answers when already made)."""
        from .int8_agreement import compare_predictions

        if not self.int8:
            raise TuneLabError("the agreement compares the int8 graph with fp32; turn int8 on first (--int8)")
        int8 = predictions if predictions is not None else self.predict_batch(texts, pairs, batch_size)
        self._onnx = self._sessions["fp32"]
        try:
            fp32 = self.predict_batch(texts, pairs, batch_size)
        finally:
            self._onnx = self._sessions["int8"]
        return compare_predictions(fp32, int8)

    @property
    def is_pair(self) -> bool | None:
        """True for a model trained on pairs, False for single sentences, None when its run is not known."""
        return None if self.inputs is None else len(self.inputs) == 2

    def _check(self, text: str, pair: str | None) -> None:
        if not isinstance(text, str) or is_blank(text):
            raise TuneLabError("the sentence to predict is empty (nothing but spaces or invisible characters)")
        if pair is not None and (not isinstance(pair, str) or is_blank(pair)):
            raise TuneLabError("the second sentence of the pair is empty (nothing but spaces or invisible characters)")
        if self.per_token and pair is not None:
            raise TuneLabError(f"{self.name} tags the words of one sentence, not pairs; drop the second sentence "
                               f"(--pair, or the tab in the input lines)")
        if self.is_pair and pair is None:
            raise TuneLabError(f"{self.name} was trained on pairs ({' + '.join(self.inputs)}); give the "
                               f"{self.inputs[1]} too (--pair or --context, or one {self.inputs[0]}<TAB>{self.inputs[1]} "
                               f"line each with --input)")
        if self.is_pair is False and pair is not None:
            raise TuneLabError(f"{self.name} was trained on single sentences ({self.inputs[0]}), not pairs; "
                               f"drop the second sentence (--pair, or the tab in the input lines)")

    def _too_long(self, text: str, pair: str | None) -> bool:
        """Whether text (+ pair) needs more than max_length tokens (checked only for inputs that fill it)."""
        return len(self.tokenizer(text, pair, truncation=False, verbose=False)["input_ids"]) > self.max_length

    def _to_predictions(self, texts, pairs, logits: np.ndarray, seconds: float, truncated) -> list[Prediction]:
        out = []
        share = seconds * 1000 / max(1, len(texts))
        if self.is_regression and len(self.labels) > 1:     # regress: a + b ~ text: every output by name
            for t, p, row, cut in zip(texts, pairs, logits, truncated):
                values = {name: float(v) for name, v in zip(self.labels, row)}
                label = ", ".join(f"{name} {v:.4f}" for name, v in values.items())
                out.append(Prediction(t, p, label, float(row[0]), {}, share, cut, values))
            return out
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
    def predict(self, text: str, pair: str | None = None) -> Prediction | TokenPrediction:
        self._check(text, pair)
        if self._own_path:
            own = self.kind.predict_batch(self, [text], [pair], 1)
            if own is not None:
                return own[0]
        if self.per_token:
            return self._predict_words(text)
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
        if self._own_path:
            own = self.kind.predict_batch(self, texts, pairs, batch_size)
            if own is not None:
                return own
        if self.per_token:
            return self._predict_words_batch(texts, batch_size)
        start = time.perf_counter()
        inputs = list(zip(texts, pairs)) if pairs[0] is not None else list(texts)
        split = encode(self.tokenizer, inputs, max_length=self.max_length)
        logits = predict_outputs(self._onnx or self.model, split, batch_size, self.device,
                                 self.tokenizer.pad_token_id or 0, self.autocast)
        seconds = time.perf_counter() - start
        truncated = [bool(n >= self.max_length) and self._too_long(t, p) for n, t, p in zip(split.lengths, texts, pairs)]
        return self._to_predictions(texts, pairs, logits, seconds, truncated)

    # ---- token models: words in, a tag per word out

    def words_of(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """The words of `text` as the tokenizer's pre-tokenizer splits them (BERT: on spaces and punctuation), with
        their character spans; a whitespace split when the tokenizer has no pre-tokenizer."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        pre = getattr(backend, "pre_tokenizer", None) if backend is not None else None
        if pre is None:
            return whitespace_words(text)
        spans = []
        for _, (a, b) in pre.pre_tokenize_str(text):
            while a < b and text[a].isspace():      # a byte-level pre-tokenizer's words hold the space before them
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if b > a:
                spans.append((int(a), int(b)))
        return [text[a:b] for a, b in spans], spans

    def _encode_words(self, word_lists: list[list[str]]):
        """(encoding, first sub-word index of each word, -1 for a word past max_length) of sentences given as
        words. A word the tokenizer turns into no sub-word at all (a control character) is read as the unknown
        token, so it keeps its place and every later word keeps its tag."""
        def run(lists):
            try:
                enc = self.tokenizer(lists, is_split_into_words=True, truncation=True, max_length=self.max_length,
                                     verbose=False)
            except ValueError as err:   # e.g. a byte-level tokenizer made without add_prefix_space
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                raise TuneLabError(f"{self.name}'s tokenizer cannot read a sentence split into words: {first}") from None
            return enc, [_first_subwords(enc.word_ids(i), len(words)) for i, words in enumerate(lists)]

        enc, firsts = run(word_lists)
        unk = self.tokenizer.unk_token
        if unk is not None and any((f < 0).any() for f in firsts):
            pieces = self.tokenizer([w for words in word_lists for w in words], add_special_tokens=False)["input_ids"]
            fixed, at = [], 0
            for words in word_lists:
                fixed.append([w if ids else unk for w, ids in zip(words, pieces[at:at + len(words)])])
                at += len(words)
            if fixed != word_lists:
                enc, firsts = run(fixed)
        return enc, firsts

    def _tagged(self, text, words, spans, logits: np.ndarray, first: np.ndarray, share_ms: float) -> TokenPrediction:
        """A TokenPrediction from one sentence's per-token logits, reading each word at its first sub-word."""
        read = first >= 0
        probs = softmax(logits[first[read]]) if read.any() else np.zeros((0, len(self.labels)))
        best = probs.argmax(-1)
        tags, scores, every = [], [], []
        rows = iter(range(len(probs)))
        for ok in read:
            if not ok:      # past max_length: not read
                tags.append(OUTSIDE)
                scores.append(None)
                every.append({})
                continue
            r = next(rows)
            tags.append(self.labels[int(best[r])])
            scores.append(float(probs[r, best[r]]))
            every.append({name: float(v) for name, v in zip(self.labels, probs[r])})
        entities = group_entities(words, tags, scores, spans, text) if self.groups_entities else []
        cut = int((~read).sum())
        return TokenPrediction(text, list(words), [list(s) for s in spans], tags, scores, every, entities, share_ms,
                               cut > 0, cut)

    def _check_words(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        words, spans = self.words_of(text)
        if not words:
            raise TuneLabError("the sentence to tag has no words (nothing but spaces or invisible characters)")
        return words, spans

    def _predict_words(self, text: str) -> TokenPrediction:
        words, spans = self._check_words(text)
        start = time.perf_counter()
        enc, (first,) = self._encode_words([words])
        if self._onnx is not None:
            logits = self._onnx.logits({k: np.asarray(v) for k, v in enc.items()})[0]
        else:
            batch = {k: torch.tensor(v, device=self.device) for k, v in enc.items()}
            with self.autocast():
                logits = self.model(**batch).logits.float()[0].cpu().numpy()
        return self._tagged(text, words, spans, logits, first, (time.perf_counter() - start) * 1000)

    def _predict_words_batch(self, texts: list[str], batch_size: int) -> list[TokenPrediction]:
        split = [self._check_words(t) for t in texts]
        start = time.perf_counter()
        enc, firsts = self._encode_words([words for words, _ in split])
        ids = enc["input_ids"]
        encoded = EncodedSplit(ids, enc.get("token_type_ids"), None, np.array([len(i) for i in ids]), 0)
        logits: list = [None] * len(texts)
        for index in sorted_batches(encoded.lengths, batch_size):
            batch = collate(encoded, index, self.tokenizer.pad_token_id or 0)
            if self._onnx is not None:      # the fused (or int8) graph, as for one sentence
                out = self._onnx.logits({k: v.numpy() for k, v in batch.items()})
            else:
                batch = {k: v.to(self.device) for k, v in batch.items()}
                with self.autocast():
                    out = self.model(**batch).logits.float().cpu().numpy()
            for row, i in enumerate(index):
                logits[i] = out[row, :encoded.lengths[i]]
        share = (time.perf_counter() - start) * 1000 / len(texts)
        return [self._tagged(t, words, spans, lg, first, share)
                for t, (words, spans), lg, first in zip(texts, split, logits, firsts)]


def _first_subwords(word_ids: list, n_words: int) -> np.ndarray:
    """The index of each word's first sub-word in an encoding (`word_ids()`), -1 for a word with none."""
    first = np.full(n_words, -1, dtype=np.int64)
    for i, w in enumerate(word_ids):
        if w is not None and first[w] < 0:
            first[w] = i
    return first


def _run_config(resolved) -> dict | None:
    try:
        return read_run_config(resolved)
    except (TuneLabError, OSError, ValueError):
        return None


def _output_ranges(resolved, labels: list[str]) -> dict[str, tuple[float, float]]:
    """Each output's (lowest, highest) value in its run's train split, from run.json's `output_ranges`, for the
    outputs the model names; {} when the run does not say (an older run, a model directory, a damaged file)."""
    ranges = (_run_config(resolved) or {}).get("output_ranges")
    if not isinstance(ranges, dict):
        return {}
    out = {}
    for name in labels:
        pair = ranges.get(name)
        if (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, (int, float)) for v in pair)
                and all(math.isfinite(v) for v in pair) and pair[0] <= pair[1]):
            out[name] = (float(pair[0]), float(pair[1]))
    return out


def _trained_inputs(resolved) -> tuple[str, ...] | None:
    """The input columns of the equation the model was fine-tuned on, from its TuneLab run (None if unknown)."""
    from .equation import parse_equation

    try:
        equation = (read_run_config(resolved) or {}).get("equation")
        return parse_equation(equation).inputs if equation else None
    except (TuneLabError, ValueError, OSError, AttributeError):
        return None
