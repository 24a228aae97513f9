"""Why did the model say that: a prediction attributed to the input words, for every task.

`Explainer(predictor).explain(text, pair, method=...)` gives an `Explanation`: the input's words, one score per word
(the sum of its sub-words' scores), the method, what was explained and, for Integrated Gradients, the convergence
delta. What is explained is the task's (`Task.explain_target`): a class's probability, a tag's probability at one
word, an answer's start + end logits, a regression output's value. Methods (Captum, on the word-embedding layer of the
Predictor's own torch model, in eval mode):

- `ig`: Integrated Gradients (Sundararajan et al. 2017), `LayerIntegratedGradients`. The baseline is the same input
  with every token but [CLS] and [SEP] replaced by [PAD]; the path from it to the input is cut into `n_steps` (default
  32) Riemann steps, run `internal_batch_size` at a time (bounded so that one batch holds at most TOKEN_BUDGET tokens).
  Completeness: the scores sum to F(x) - F(baseline) up to the convergence delta, which is reported; a delta above
  DELTA_WARNING of that difference (or of 1, whichever is larger) is a warning the user sees (raise the steps).
- `grad-input`: the gradient times the embedding, summed over its dimensions (one backward pass; signed).
- `grad-norm`: the gradient's L2 norm over the embedding dimensions (one backward pass; unsigned).
- `rollout`: attention rollout (Abnar & Zuidema 2020): each layer's head-averaged attention plus the identity,
  rows renormalised, multiplied through the layers; a word's score is how much the explained token's row (the
  [CLS] for a sentence, the word for a tag, the start and end for an answer) draws from it. Attention-based: what
  the model looked at, not what its output depends on.

Called by `tunelab explain`, the faithfulness check (core/faithfulness.py), `tunelab check` and the TUI's Predict,
Evaluate and Attention screens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import TuneLabError
from .inference import logits_of

METHODS = ("ig", "grad-input", "grad-norm", "rollout")
METHOD_TITLES = {"ig": "Integrated Gradients", "grad-input": "gradient x input", "grad-norm": "gradient L2 norm",
                 "rollout": "attention rollout"}
SIGNED = {"ig": True, "grad-input": True, "grad-norm": False, "rollout": False}
ATTENTION_BASED = {"rollout"}
DEFAULT_STEPS = 32          # IG's Riemann steps: interactive on CPU (see the README's figures), delta usually small
MAX_STEPS = 1024
TOKEN_BUDGET = 8192         # tokens per IG interpolation batch: bounds activation memory whatever the input's length
DELTA_WARNING = 0.1         # |delta| above this share of |F(x) - F(baseline)| (at least of 1): warn


@dataclass(frozen=True)
class Word:
    """One word of the input: its text, its token positions, and which input it is in (1: a pair's second)."""
    text: str
    positions: tuple[int, ...]
    segment: int = 0


@dataclass(frozen=True)
class Explanation:
    text: str
    pair: str | None
    words: list                  # the words' texts, in order (a pair's first input, then its second)
    segments: list               # each word's input: 0, or 1 for a pair's second
    scores: list                 # one score per word (its sub-words' summed)
    method: str                  # one of METHODS
    target: str                  # what was explained, in words
    signed: bool                 # scores may be negative (pushing against the target)
    attention_based: bool        # the scores are attention, not an attribution of the output
    output: float                # the explained scalar on the input, F(x)
    baseline_output: float | None = None   # IG: F(baseline)
    delta: float | None = None   # IG: sum of scores minus (F(x) - F(baseline))
    steps: int | None = None     # IG: the Riemann steps
    warning: str | None = None   # for the user: a large delta, a cut input
    truncated: bool = False      # the input was cut at max_length (the rest unseen, unexplained)
    latency_ms: float = 0.0
    tokens: list = field(default_factory=list)   # the token strings the model read

    def record(self) -> dict:
        """What `--json` and each `--input` line write."""
        return {"text": self.text, **({"pair": self.pair} if self.pair is not None else {}), "words": self.words,
                "scores": self.scores, "method": self.method, "target": self.target, "delta": self.delta,
                "signed": self.signed, "attention_based": self.attention_based, "output": self.output,
                "baseline_output": self.baseline_output, "steps": self.steps, "warning": self.warning,
                "truncated": self.truncated}


def check_method(method: str) -> str:
    if method not in METHODS:
        raise TuneLabError(f"--method {method!r}: use one of {', '.join(METHODS)}")
    return method


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise TuneLabError(f"--steps {steps!r}: give a whole number of integration steps from 1 to {MAX_STEPS} "
                           f"(default {DEFAULT_STEPS})")
    return steps


class Explainer:
    """Attributions for a loaded Predictor's model (its torch model; the ONNX graph has no gradients)."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.model = predictor.model
        self.tokenizer = predictor.tokenizer
        self.device = predictor.device
        self.kind = predictor.kind
        self.embeddings = self.model.get_input_embeddings()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    # ---- the input

    def encode(self, text: str, pair: str | None = None):
        """(model inputs as tensors, the words, the tokens, truncated) for one input."""
        self.predictor._check(text, pair)
        cut = "only_second" if pair is not None and self.kind.answers_from_context else True
        fast = getattr(self.tokenizer, "is_fast", False)
        enc = self.tokenizer(text, pair, truncation=cut, max_length=self.predictor.max_length,
                             return_offsets_mapping=fast)
        ids = list(enc["input_ids"])
        truncated = len(ids) >= self.predictor.max_length and self.predictor._too_long(text, pair)
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        words = _words(enc, tokens, (text, pair)) if fast else _words_from_pieces(enc, tokens, self.tokenizer)
        if not words:
            raise TuneLabError("the input has no words the model reads (nothing but special tokens)")
        batch = {"input_ids": torch.tensor([ids], device=self.device),
                 "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=self.device)}
        if "token_type_ids" in enc:
            batch["token_type_ids"] = torch.tensor([list(enc["token_type_ids"])], device=self.device)
        return batch, words, tokens, truncated

    def target(self, batch, words, target: str | None = None, word: int | None = None):
        with torch.inference_mode():
            logits = logits_of(self.model(**batch)).float()
        return self.kind.explain_target(self.predictor, logits, words, target, word)

    # ---- the methods

    def explain(self, text: str, pair: str | None = None, *, method: str = "ig", target: str | None = None,
                word: int | None = None, steps: int = DEFAULT_STEPS, internal_batch_size: int | None = None,
                prepared=None) -> Explanation:
        """One input's words and their scores by `method` for `target` (None: what the model predicts); `word`: a
        token-tagging model's word (1-based). `prepared`: (batch, words, tokens, truncated, ExplainTarget) already
        computed for this input (the faithfulness check explains each sentence by every method)."""
        check_method(method)
        check_steps(steps)
        start = time.perf_counter()
        if prepared is None:
            batch, words, tokens, truncated = self.encode(text, pair)
            goal = self.target(batch, words, target, word)
        else:
            batch, words, tokens, truncated, goal = prepared
        delta = baseline_output = None
        with torch.inference_mode():
            output = float(goal.read(logits_of(self.model(**batch)).float())[0])
        if method == "rollout":
            per_token = self._rollout(batch, goal.positions)
        elif method == "ig":
            per_token, delta, baseline_output = self._integrated_gradients(batch, goal, steps, internal_batch_size)
        else:
            per_token = self._gradient(batch, goal, times_input=method == "grad-input")
        scores = [float(sum(per_token[p] for p in w.positions)) for w in words]
        warning = None
        if delta is not None:
            allowed = DELTA_WARNING * max(1.0, abs(output - baseline_output))
            if abs(delta) > allowed:
                warning = (f"Integrated Gradients did not converge: the scores sum to {sum(scores):.4g} but the output "
                           f"moved {output - baseline_output:.4g} from the baseline (delta {delta:.3g}); raise --steps "
                           f"(now {steps})")
        if truncated:
            cut = f"the input was cut at {self.predictor.max_length} tokens; the rest was not read or explained"
            warning = f"{warning}; {cut}" if warning else cut
        return Explanation(text, pair, [w.text for w in words], [w.segment for w in words], scores, method, goal.name,
                           SIGNED[method], method in ATTENTION_BASED, output, baseline_output, delta,
                           steps if method == "ig" else None, warning, truncated,
                           (time.perf_counter() - start) * 1000, list(tokens))

    def prepare(self, text: str, pair: str | None = None, target: str | None = None, word: int | None = None):
        """What `explain(prepared=...)` takes: the input encoded and its target decided once."""
        batch, words, tokens, truncated = self.encode(text, pair)
        return batch, words, tokens, truncated, self.target(batch, words, target, word)

    def _forward(self, goal, batch):
        """A function of the input ids (and the rest of the batch, expanded to their rows) to the explained scalar."""
        rest = {k: v for k, v in batch.items() if k != "input_ids"}

        def forward(input_ids, *extra):
            n = input_ids.shape[0]
            inputs = {k: v.expand(n, -1) for k, v in rest.items()}
            return goal.read(logits_of(self.model(input_ids=input_ids, **inputs)).float())

        return forward

    def baseline_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The input with every token but the special ones ([CLS], [SEP]) replaced by [PAD]."""
        special = set(self.tokenizer.all_special_ids) - {self.pad_id, self.tokenizer.unk_token_id}
        keep = torch.tensor([[int(t) in special for t in row] for row in input_ids.tolist()], device=input_ids.device)
        return torch.where(keep, input_ids, torch.full_like(input_ids, self.pad_id))

    def _integrated_gradients(self, batch, goal, steps: int, internal_batch_size: int | None):
        from captum.attr import LayerIntegratedGradients

        ids = batch["input_ids"]
        if internal_batch_size is None:
            internal_batch_size = max(1, min(steps, TOKEN_BUDGET // ids.shape[1]))
        lig = LayerIntegratedGradients(self._forward(goal, batch), self.embeddings)
        baseline = self.baseline_ids(ids)
        with torch.enable_grad():
            attributions, delta = lig.attribute(ids, baselines=baseline, n_steps=steps,
                                                internal_batch_size=internal_batch_size,
                                                return_convergence_delta=True)
            with torch.no_grad():
                base_out = float(self._forward(goal, batch)(baseline)[0])
        per_token = attributions.sum(-1)[0].detach().float().cpu().numpy()
        return per_token, float(delta.reshape(-1)[0]), base_out

    def _gradient(self, batch, goal, *, times_input: bool) -> np.ndarray:
        from captum.attr import LayerGradientXActivation

        layer = LayerGradientXActivation(self._forward(goal, batch), self.embeddings, multiply_by_inputs=times_input)
        with torch.enable_grad():
            grads = layer.attribute(batch["input_ids"])[0].detach().float()
        return (grads.sum(-1) if times_input else grads.norm(dim=-1)).cpu().numpy()

    def _rollout(self, batch, positions) -> np.ndarray:
        attentions = self.attentions(batch)
        return rollout(attentions)[list(positions)].sum(0)

    def attentions(self, batch) -> np.ndarray:
        """(layers, heads, T, T) attention of one input, run with eager attention (SDPA computes no weights)."""
        fast = self.model.config._attn_implementation
        try:
            self.model.set_attn_implementation("eager")
        except (ValueError, NotImplementedError, AttributeError):
            pass
        try:
            with torch.inference_mode():
                out = self.model(**batch, output_attentions=True)
        finally:
            try:
                self.model.set_attn_implementation(fast)
            except (ValueError, NotImplementedError, AttributeError):
                pass
        if not out.attentions or out.attentions[0] is None:
            raise TuneLabError(f"{self.predictor.name} returns no attention weights, so rollout cannot be computed")
        return torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()


def rollout(attentions: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) of (layers, heads, T, T) attention: (T, T), row i how much token i at
    the top draws from each input token, through the residual connections (0.5 A + 0.5 I per layer)."""
    n = attentions.shape[-1]
    out = np.eye(n)
    for layer in attentions:
        a = 0.5 * layer.mean(0) + 0.5 * np.eye(n)
        a = a / a.sum(-1, keepdims=True)
        out = a @ out
    return out


def spearman(a, b) -> float:
    """Spearman's rank correlation of two score lists (ties averaged); NaN when either is constant."""
    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _words(enc, tokens, texts) -> list[Word]:
    """The words of a fast tokenizer's encoding: sub-words grouped by (input, word id), each word's text its characters
    in its input."""
    seq = enc.sequence_ids()
    wids = enc.word_ids()
    offsets = enc["offset_mapping"]
    groups: dict = {}
    for t, (s, w) in enumerate(zip(seq, wids)):
        if s is None or w is None:
            continue
        groups.setdefault((s, w), []).append(t)
    words = []
    for (s, _), positions in groups.items():
        text = texts[s] or ""
        a = min(offsets[p][0] for p in positions)
        b = max(offsets[p][1] for p in positions)
        words.append(Word(text[a:b] if b > a else tokens[positions[0]], tuple(positions), s))
    return words


def _words_from_pieces(enc, tokens, tokenizer) -> list[Word]:
    """Words of a slow tokenizer's encoding: WordPiece continuations ("##s") joined to the word before them."""
    special = set(tokenizer.all_special_ids)
    ids = enc["input_ids"]
    types = enc.get("token_type_ids") or [0] * len(ids)
    words: list[list] = []
    for t, (i, token) in enumerate(zip(ids, tokens)):
        if i in special:
            continue
        if token.startswith("##") and words and words[-1][1][-1] == t - 1:
            words[-1][0] += token[2:]
            words[-1][1].append(t)
        else:
            words.append([token, [t], int(types[t])])
    return [Word(text, tuple(pos), seg) for text, pos, seg in words]
