"""Extractive question answering: `classify_spans: answers ~ question + context` (SQuAD v1.1 and v2.0).

An example is a question, a context and the answers: the hub's `squad`/`squad_v2` shape, `{"text": [...],
"answer_start": [...]}` (character offsets into the context), empty lists for an unanswerable (v2) question.
SQuAD's nested JSON is flattened to that shape by core/squad_json.py. The head is AutoModelForQuestionAnswering:
a start and an end logit per token.

Windows (as transformers' run_qa.py prepares them): the question and the context go through the tokenizer as a
pair, the context cut (`truncation="only_second"`) into windows of at most `--max-length` tokens that overlap by
`--doc-stride` tokens, with the character offsets of every context token. A window that holds the whole (first)
answer is labelled with its first and last token; any other window is labelled "no answer", at [CLS] (position 0).
Every window of every example is kept, in every split.

Post-processing (utils_qa.py's `postprocess_qa_predictions`, shorter): in each window the `--n-best` highest start
and end logits among the context tokens are paired, spans that end before they start or run over
`--max-answer-length` tokens are dropped, and a span scores start + end logit; an example's answer is its best span
over all its windows. Its null score is the lowest [CLS] start + end over its windows. When the data has
unanswerable questions (v2), "no answer" is predicted where the null score beats the best span's by more than
`--null-threshold` (utils_qa's `null_score_diff_threshold`), and eval reports the threshold that would have scored
best. Probabilities are a softmax over the n-best spans and the null.

Scores (core/squad_metrics.py, the official definitions, offline): exact match and F1 with SQuAD's answer
normalisation, the best over the gold answers; HasAns and NoAns parts for v2. F1 is the figure of merit.
Registered with the task registry in `base`; called through it by fit, evaluation, summary, check and predict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..data import column_values, shorten
from ..errors import TuneLabError
from ..predict_input import is_blank
from ..squad_metrics import best_null_threshold, best_over_gold, check_answers, squad_scores
from .base import ExplainTarget, Task, register

SPAN_METRICS = ("f1", "exact_match", "HasAns_f1", "HasAns_exact_match", "NoAns_f1", "NoAns_exact_match")
NO_ANSWER = ""                 # what an unanswerable question's answer is (SQuAD v2's convention)
CHUNK = 1000                   # examples through the tokenizer at a time
CONTEXT_AROUND = 60            # characters of context shown either side of a mistake's answers
# What `tunelab check` asks a QA model with no data given: varied questions about short contexts, one unanswerable.
VARIED_QUESTIONS = (
    ("Where did the cat sit?", "The cat sat on the mat near the door."),
    ("Who wrote the letter?", "The letter was written by Anna in 1912 and sent to Paris."),
    ("When did the bank raise rates?", "Stocks fell sharply on Monday after the central bank raised interest rates."),
    ("What colour is the car?", "My neighbour drives a small red car to work every day."),
    ("How many keys are there?", "There are three keys on the table, and one of them opens the cabinet."),
    ("Who won the race?", "The weather was cold and the road was wet all morning."),
)


@dataclass(frozen=True)
class SpanSettings:
    """How windows are cut and answers picked: the run's --doc-stride, --n-best, --max-answer-length and
    --null-threshold."""
    doc_stride: int | None = None          # None: a third of max_length, at most 128 (128 at 384, as run_qa.py)
    n_best: int = 20
    max_answer_length: int = 30
    null_threshold: float = 0.0

    def stride(self, max_length: int) -> int:
        return self.doc_stride if self.doc_stride is not None else min(128, max_length // 3)


@dataclass
class Windows:
    """The windows of an encoded split, and what post-processing needs of its examples."""
    example_of: np.ndarray               # window -> example index
    context_start: np.ndarray            # window -> position of its first context token
    offsets: list                        # window -> (context tokens, 2) int32 character spans in the context
    ids: list                            # example -> its id (the id column, else its 1-based row)
    questions: list
    contexts: list
    answers: list | None                 # example -> gold answer texts ([] unanswerable); None unlabelled
    answer_starts: list | None           # example -> gold answer_starts
    settings: SpanSettings
    allow_null: bool                     # answer "no answer" at all: the data has unanswerable questions (v2)
    crossing: int = 0                    # answers that no single window holds whole (trained as no answer)


@dataclass(frozen=True)
class SpanPrediction:
    """The answer to one question about one context."""
    question: str
    context: str
    answer: str                   # the best span's text, "" for no answer
    score: float                  # its probability (over the n-best spans and "no answer")
    start: int | None             # its character span in the context (None: no answer)
    end: int | None
    alternatives: list            # the next best spans: {"answer", "score", "start", "end"}
    no_answer_probability: float  # the probability of "no answer"
    latency_ms: float             # wall time of this prediction (for a batch: its share)
    windows: int = 1              # how many windows the context was read in
    truncated: bool = False       # never: a long context is read in windows (kept for the Prediction shape)


@dataclass(frozen=True)
class Candidate:
    score: float                  # start + end logit
    start: int                    # characters in the context
    end: int
    text: str


class ExtractiveQA(Task):
    keyword = "classify_spans"
    aliases = ("question_answering", "question-answering", "qa", "extractive_qa")
    title = "an answer span in the context"
    metrics = SPAN_METRICS
    has_classes = False
    answers_from_context = True
    max_inputs = 2
    default_max_length = 384
    settings = ("doc_stride", "n_best", "max_answer_length", "null_threshold")

    # ---- the equation and its columns

    def check_equation(self, text, outputs, inputs):
        if len(outputs) != 1:
            raise TuneLabError(f"equation {text!r}: classify_spans takes one output column (the answers), "
                               f"got {len(outputs)}")
        if len(inputs) != 2:
            raise TuneLabError(f"equation {text!r}: classify_spans reads a question and a context "
                               f"(answers ~ question + context), got {len(inputs)} input column(s)")

    def check_columns(self, ds, equation, split, name, where, columns=None):
        for col in equation.inputs:
            if _kind(ds.features[col]) != "string":
                raise TuneLabError(f"input column {col!r} in split {split!r} of {name} holds "
                                   f"{_kind(ds.features[col])}, not text")
        label = equation.label
        if label not in ds.column_names:
            return
        feature = ds.features[label]
        if type(feature).__name__ == "Value" and feature.dtype == "null":
            return
        if not isinstance(feature, dict) or not {"text", "answer_start"} <= set(feature):
            raise TuneLabError(f"column {label!r} in split {split!r} of {name} holds {_kind(feature)}, not answers: "
                               "classify_spans needs an answers structure per row, {\"text\": [...], "
                               "\"answer_start\": [...]} (the hub's squad shape)")

    def check_split(self, ds, equation, split, where, labelled):
        q_col, c_col = equation.inputs
        ids = _ids(ds)
        seen: dict = {}
        for row, qid in enumerate(ids):
            if qid in seen:
                raise TuneLabError(f"{where(split, row)}: id {qid!r} is used twice (also {where(split, seen[qid])}); "
                                   "every question needs its own id")
            seen[qid] = row
        questions, contexts = column_values(ds, q_col), column_values(ds, c_col)
        for row, (q, c) in enumerate(zip(questions, contexts)):      # blank: spaces or invisible characters only
            if not isinstance(q, str) or is_blank(q):
                raise TuneLabError(f"{where(split, row)} (id {ids[row]!r}): the question is empty")
            if not isinstance(c, str) or is_blank(c):
                raise TuneLabError(f"{where(split, row)} (id {ids[row]!r}): the context is empty")
        if not labelled:
            return
        for row, (c, answers) in enumerate(zip(contexts, column_values(ds, equation.label))):
            if answers is None:
                raise TuneLabError(f"{where(split, row)} (id {ids[row]!r}): no answers (null); give "
                                   "{\"text\": [], \"answer_start\": []} for an unanswerable question")
            problem = check_answers(c, answers)
            if problem:
                raise TuneLabError(f"{where(split, row)} (id {ids[row]!r}): {problem}")

    def labelled_splits(self, splits, equation, minus_one_is_a_label=False):
        import pyarrow.compute as pc

        return {split: equation.label in ds.column_names and len(ds) > 0
                and pc.all(pc.is_null(ds.data.column(equation.label))).as_py() is False
                for split, ds in splits.items()}

    def label_names(self, splits, labeled, equation, name):
        return ()

    def check_trainable(self, data, label2id, train):
        if not any(a for a in _answer_texts(data, "train")):
            raise TuneLabError(f"train of {data.name} has no answerable question; a model cannot learn to find "
                               "answers from unanswerable questions alone")

    # ---- encoding

    def encode(self, data, split, tokenizer, max_length, label2id, *, doc_stride=None, n_best=20,
               max_answer_length=30, null_threshold=0.0, **options):
        from ..batching import EncodedSplit

        settings = SpanSettings(doc_stride, n_best, max_answer_length, null_threshold)
        ds = data.split(split)
        q_col, c_col = data.equation.inputs
        questions = [q.lstrip() for q in column_values(ds, q_col)]     # run_qa.py: leading spaces waste windows
        contexts = column_values(ds, c_col)
        answers = starts = None
        if data.labeled.get(split):
            raw = column_values(ds, data.equation.label)
            answers = [list(a["text"]) for a in raw]
            starts = [list(a["answer_start"]) for a in raw]
        enc = encode_windows(tokenizer, questions, contexts, max_length, settings.stride(max_length), _ids(ds))
        ids, types, example_of, context_start, offsets = enc
        labels, crossing = None, 0
        if answers is not None:
            labels = np.zeros((len(ids), 2), dtype=np.int64)
            held = np.zeros(len(questions), dtype=bool)
            for w, e in enumerate(example_of):
                if answers[e]:
                    s, t = _window_label(context_start[w], offsets[w], starts[e][0], starts[e][0] + len(answers[e][0]))
                    labels[w] = (s, t)
                    held[e] |= s > 0
            crossing = int(sum(1 for e, a in enumerate(answers) if a and not held[e]))
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int32, count=len(ids))
        allow_null = answers is None or any(not a for a in answers) or _trained_with_null(data)
        windows = Windows(np.asarray(example_of, dtype=np.int64), np.asarray(context_start, dtype=np.int32), offsets,
                          _ids(ds), questions, contexts, answers, starts, settings, allow_null, crossing)
        return EncodedSplit(ids, types, labels, lengths, 0, label_keys=("start_positions", "end_positions"),
                            task_state=windows)

    def head_class(self):
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering

    def num_outputs(self, label_names):
        return 2

    def model_kwargs(self, label_names):
        return {"id2label": {0: "start", 1: "end"}}

    # ---- predictions and scores

    def answers(self, outputs, encoded) -> list[tuple[list[Candidate], float]]:
        """Per example: its n-best spans over all its windows, best first, and its null score."""
        return pick_answers(outputs, encoded.task_state)

    def score(self, outputs, encoded, label_names, metric):
        w = encoded.task_state
        if w.answers is None:
            raise TuneLabError("these questions carry no answers to score against")
        picked = self.answers(outputs, encoded)
        predictions = {str(i): _chosen(c, null, w)[0] for i, (c, null) in enumerate(picked)}
        scores = _scores(predictions, w.answers)
        if w.allow_null and any(not a for a in w.answers):
            threshold, best = _best_threshold(picked, w)
            scores["best_f1"], scores["best_null_threshold"] = best, threshold
        if metric not in scores:
            raise TuneLabError(f"metric {metric!r} is not scored here: this split has "
                               f"{'no unanswerable' if metric.startswith('NoAns') else 'no answerable'} questions")
        return scores

    def details(self, data, split, outputs, encoded, label_names, metric, mistakes):
        w = encoded.task_state
        picked = self.answers(outputs, encoded)
        baseline = _scores({str(i): NO_ANSWER for i in range(len(w.answers))}, w.answers)
        wrong = []
        for i, (cands, null) in enumerate(picked):
            text, prob, span = _chosen(cands, null, w)
            em, f1 = best_over_gold(text, w.answers[i])
            if em < 1:
                wrong.append((prob, i, text, span, f1))
        wrong.sort(key=lambda m: (-m[0], m[1]))
        predictions = {str(i): _chosen(c, null, w)[0] for i, (c, null) in enumerate(picked)}
        return {"mistakes": [_mistake(w, i, text, span, prob, f1) for prob, i, text, span, f1 in wrong[:mistakes]],
                "mistakes_title": "most confident wrong answers",
                "per_class": _parts(predictions, w.answers), "per_class_title": "per kind of question",
                "majority_label": "(no answer)", "majority_baseline": baseline.get(metric)}

    # ---- what `tunelab summary --data` reports

    def describe(self, data, tokenizer, max_length, say):
        from ..summary import DataSummary

        settings = SpanSettings()
        stride = settings.stride(max_length)
        rows, balance, lengths, truncated, details, baseline = {}, {}, {}, {}, {}, {}
        q_col, c_col = data.equation.inputs
        for split in data.splits:
            say(f"tokenizing {split}")
            ds = data.split(split)
            questions, contexts = column_values(ds, q_col), column_values(ds, c_col)
            rows[split] = len(ds)
            q_len = _token_counts(tokenizer, questions)
            c_len = _token_counts(tokenizer, contexts)
            pair = q_len + c_len + tokenizer.num_special_tokens_to_add(pair=True)
            lengths[split] = _percentiles(pair)
            truncated[split] = float(np.mean(pair > max_length)) if len(pair) else 0.0
            enc = self.encode(data, split, tokenizer, max_length, None)      # the windows as fit cuts them
            n_windows = np.bincount(enc.task_state.example_of, minlength=len(ds))
            info = {"question_tokens": _percentiles(q_len), "context_tokens": _percentiles(c_len),
                    "windows_per_example": _percentiles(n_windows.astype(np.int64)),
                    "windows": int(n_windows.sum()), "doc_stride": stride}
            if data.labeled.get(split):
                answers = enc.task_state.answers             # read once, by encode
                empty = sum(not a for a in answers)
                balance[split] = {"answerable": len(answers) - empty, "unanswerable": empty}
                first = [a[0] for a in answers if a]
                info["answer_tokens"] = _percentiles(_token_counts(tokenizer, first)) if first else {}
                info["unanswerable_share"] = empty / max(1, len(answers))
                info["answers_across_windows"] = enc.task_state.crossing
                baseline[split] = empty / max(1, len(answers))      # "no answer" everywhere: F1 = the NoAns share
            details[split] = info
        return DataSummary(data.name, str(data.equation), rows, balance, lengths, truncated, max_length,
                           "f1", baseline, data.held_out_validation, "(no answer)", task_details=details)

    # ---- what `tunelab check` tries

    def example_texts(self, data, split, n):
        return self.input_texts(data.sample(split, n, 0), split)

    def baseline_outputs(self, data, encoded, label2id, outputs):
        """"No answer" everywhere: [CLS] the best start and end in every window."""
        guesses = []
        for logits in outputs:
            guess = np.zeros_like(np.asarray(logits))
            guess[0, :] = 1.0
            guesses.append(guess)
        return guesses, "always no answer"

    def shown_beside(self, metric):
        return tuple(dict.fromkeys((metric, "exact_match")))

    def varied_inputs(self):
        return list(VARIED_QUESTIONS)

    def output_checks(self, logits, mask, config, new_head):
        """A start and an end logit per token: each is a distribution over the real tokens of its input, and the
        best spans (or [CLS], no answer) should differ across varied questions."""
        real = mask.astype(bool)
        if logits.ndim != 3 or logits.shape[-1] != 2:
            return [("label_mapping", "fail", f"a span head gives a start and an end logit per token; this one gives "
                                              f"outputs of shape {tuple(logits.shape[1:])}")]
        mapping = ("label_mapping", "warn", "the span head is randomly initialised: fine-tune first") if new_head else \
            ("label_mapping", "pass", "a start and an end logit per token (its labels are token positions)")
        if not np.isfinite(logits[real]).all():
            return [mapping, ("probabilities", "fail", "the model outputs NaN or infinite logits")]
        error, picks, spread = 0.0, [], 0.0
        for row, keep in zip(logits, real):
            scores = row[keep]                                     # (real tokens, 2)
            e = np.exp(scores - scores.max(0))
            probs = e / e.sum(0)
            error = max(error, float(np.abs(probs.sum(0) - 1).max()))
            spread = max(spread, float(np.ptp(probs, axis=0).max()))
            picks.append(tuple(int(i) for i in scores.argmax(0)))
        probabilities = ("probabilities", "pass" if error <= 1e-4 else "fail",
                         f"start and end each sum to 1 over the tokens (off by at most {error:.1g})" if error <= 1e-4
                         else f"start or end probabilities do not sum to 1 over the tokens (off by up to {error:.2g})")
        n = len(picks)
        silent = sum(1 for s, _ in picks if s == 0)
        what = f"{n} question–context pairs: {n - silent} answered, {silent} no answer ([CLS])"
        if len(set(picks)) > 1:
            vary = ("predictions_vary", "pass", f"{what}, {len(set(picks))} different spans")
        elif spread < 1e-3:
            vary = ("predictions_vary", "warn" if new_head else "fail",
                    f"{what}: every token gets the same start and end probability, so the "
                    + ("random head ignores its input" if new_head else "model ignores its input"))
        else:
            vary = ("predictions_vary", "warn", f"{what}, all at the same token positions"
                    + (": the head is random" if new_head else ""))
        return [mapping, probabilities, vary]

    # ---- what `tunelab cat` prints: question<TAB>context<TAB>answer

    def cat_header(self, equation):
        return [*equation.inputs, equation.label]

    def cat_rows(self, data, split, limit):
        ds = data.split(split)
        if limit and limit < len(ds):
            ds = ds.select(range(limit))
        q_col, c_col = data.equation.inputs
        label = data.equation.label
        labelled = data.labeled.get(split)
        ids = _ids(ds)
        answers = column_values(ds, label) if labelled else [None] * len(ds)
        for qid, q, c, a in zip(ids, column_values(ds, q_col), column_values(ds, c_col), answers):
            record = {"id": qid, q_col: q, c_col: c, **({label: a} if labelled else {})}
            shown = " | ".join(a["text"]) if a and a["text"] else ("(no answer)" if labelled else "")
            yield record, [[q, c, shown]]

    def default_metric(self, label_names, data_name, is_pair):
        return "f1"

    def check_metric(self, name, *, named_by_user=True, label_names=None):
        if name not in self.metrics:
            raise TuneLabError(f"metric {name!r} does not apply to a {self.keyword} task; use one of: "
                               f"{', '.join(self.metrics)}")

    # ---- explaining: what drove the answer

    def explain_target(self, predictor, logits, words, target, word):
        """The answer's start logit plus its end logit (the best span of the context's first window, as post-processing
        scores spans), or with `--target no-answer` the [CLS] start + end (the null score)."""
        if word is not None:
            raise TuneLabError(f"--word picks a word of a token-tagging model; {predictor.name} answers questions")
        if target not in (None, "answer", "no-answer"):
            raise TuneLabError(f"--target {target!r}: a question-answering model explains its answer (answer, the "
                               "default) or its null score (no-answer)")
        if target == "no-answer":
            return ExplainTarget("no answer (null score)", lambda lg: lg[:, 0, 0] + lg[:, 0, 1], (0,))
        context = sorted(p for w in words if w.segment == 1 for p in w.positions)
        if not context:
            raise TuneLabError("the context has no words to answer from")
        longest = predictor_settings(predictor).max_answer_length
        start, end = logits[0, context, 0].float(), logits[0, context, 1].float()
        pair = start[:, None] + end[None, :]
        n = len(context)
        ok = torch_triu_band(n, longest, pair.device)
        best = int(pair.masked_fill(~ok, float("-inf")).argmax())
        s, e = context[best // n], context[best % n]
        shown = " ".join(w.text for w in words if w.segment == 1 and any(s <= p <= e for p in w.positions))
        return ExplainTarget(f"answer {shown!r} (start + end logits)", lambda lg, s=s, e=e: lg[:, s, 0] + lg[:, e, 1],
                             (s, e))

    # ---- predicting: a question about a context

    def predict_batch(self, predictor, texts, pairs, batch_size):
        """SpanPredictions for questions (`texts`) about contexts (`pairs`), read in windows as in training."""
        from ..inference import predict_outputs

        if pairs is None or any(p is None for p in pairs):
            raise TuneLabError(f"{predictor.name} answers a question about a context: give the context too "
                               "(--context, or question<TAB>context lines with --input)")
        start = time.perf_counter()
        settings = predictor_settings(predictor)
        questions = [q.lstrip() for q in texts]
        ids = [str(i) for i in range(len(texts))]
        ids_, types, example_of, context_start, offsets = encode_windows(
            predictor.tokenizer, questions, list(pairs), predictor.max_length, settings.stride(predictor.max_length), None)
        from ..batching import EncodedSplit

        windows = Windows(np.asarray(example_of), np.asarray(context_start), offsets, ids, questions, list(pairs),
                          None, None, settings, True)
        split = EncodedSplit(ids_, types, None, np.fromiter((len(x) for x in ids_), dtype=np.int32), 0,
                             task_state=windows)
        outputs = predict_outputs(predictor.model, split, batch_size, predictor.device,
                                  predictor.tokenizer.pad_token_id or 0, predictor.autocast)
        share = (time.perf_counter() - start) * 1000 / max(1, len(texts))
        per_example = np.bincount(windows.example_of, minlength=len(texts))
        out = []
        for i, (cands, null) in enumerate(pick_answers(outputs, windows)):
            text, prob, span = _chosen(cands, null, windows)
            probs = _probabilities(cands, null)
            alternatives = [{"answer": c.text, "score": p, "start": c.start, "end": c.end}
                            for c, p in zip(cands, probs) if span != (c.start, c.end)][:5]
            out.append(SpanPrediction(texts[i], pairs[i], text, prob, span[0] if span else None,
                                      span[1] if span else None, alternatives, float(probs[-1]), share,
                                      int(per_example[i])))
        return out


QA = register(ExtractiveQA())


# ---------------------------------------------------------------- windows

def encode_windows(tokenizer, questions: list, contexts: list, max_length: int, stride: int, ids: list | None):
    """Every example as windows of question + part of its context: (input ids, token type ids or None, the example
    of each window, the position of each window's first context token, each window's context offsets).

    A question that leaves no room for the context in `max_length` is refused, and so is a `stride` not below that
    room (the tokenizer panics on it), naming the question by its id; `ids` None (questions typed at predict time):
    by its text, and the stride is narrowed to fit instead (the windows still cover the whole context)."""
    if not getattr(tokenizer, "is_fast", False):
        raise TuneLabError("classify_spans needs a fast tokenizer (one with offset mappings, tokenizer.json); this "
                           "model's tokenizer is a slow one")
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    q_len = _token_counts(tokenizer, questions, special=False)
    if len(q_len):
        longest = int(q_len.argmax())
        room = max_length - int(q_len[longest]) - specials
        which = f"id {ids[longest]!r}" if ids is not None else shorten(questions[longest], 50)
        if room < 1:
            raise TuneLabError(f"the question ({which}) is {int(q_len[longest])} tokens: with {specials} special "
                               f"tokens it leaves no room for the context in --max-length {max_length}; shorten the "
                               "question or raise --max-length")
        if room <= stride and ids is None:
            stride = room - 1
        elif room <= stride:
            raise TuneLabError(f"--doc-stride {stride} is not below --max-length {max_length} minus the longest "
                               f"question ({int(q_len[longest])} tokens, {which}) and {specials} special "
                               f"tokens, {room}: lower --doc-stride or raise --max-length")
    input_ids, types, example_of, context_start, offsets = [], None, [], [], []
    for first in range(0, len(questions), CHUNK):
        enc = tokenizer(questions[first:first + CHUNK], contexts[first:first + CHUNK], truncation="only_second",
                        max_length=max_length, stride=stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True)
        has_types = "token_type_ids" in enc
        if has_types and types is None:
            types = []
        for w, seq in enumerate(enc["input_ids"]):
            input_ids.append(np.asarray(seq, dtype=np.int32))
            if has_types:
                types.append(np.asarray(enc["token_type_ids"][w], dtype=np.int8))
            example_of.append(first + enc["overflow_to_sample_mapping"][w])
            seq_ids = enc.sequence_ids(w)
            ctx = [t for t, s in enumerate(seq_ids) if s == 1]
            context_start.append(ctx[0] if ctx else 0)
            offs = enc["offset_mapping"][w]
            offsets.append(np.asarray([offs[t] for t in ctx], dtype=np.int32).reshape(-1, 2))
    return input_ids, types, example_of, context_start, offsets


def _window_label(context_start: int, offsets: np.ndarray, start_char: int, end_char: int) -> tuple[int, int]:
    """The (start, end) token positions of an answer in a window, or (0, 0) ([CLS]: no answer) when the window does
    not hold the whole answer."""
    if not len(offsets) or offsets[0, 0] > start_char or offsets[-1, 1] < end_char:
        return 0, 0
    s = int(np.searchsorted(offsets[:, 0], start_char, side="right")) - 1     # last token starting at or before it
    if offsets[s, 1] <= start_char:                                         # it ends before: the answer starts later
        s += 1
    e = int(np.searchsorted(offsets[:, 1], end_char, side="left"))          # first token ending at or after its end
    e = min(e, len(offsets) - 1)
    if offsets[e, 0] >= end_char and e > s:                                 # it starts after: the answer ended before
        e -= 1
    return context_start + s, context_start + e


# ---------------------------------------------------------------- post-processing

def pick_answers(outputs, windows: Windows) -> list[tuple[list[Candidate], float]]:
    """Per example: its n-best spans over all its windows (best first, one per character span) and its null score
    (the lowest [CLS] start + end logit over its windows)."""
    settings = windows.settings
    n_examples = len(windows.contexts)
    spans: list[dict] = [{} for _ in range(n_examples)]
    nulls = np.full(n_examples, np.inf)
    for w, logits in enumerate(outputs):
        e = int(windows.example_of[w])
        logits = np.asarray(logits, dtype=np.float64)
        nulls[e] = min(nulls[e], logits[0, 0] + logits[0, 1])
        first, offs = int(windows.context_start[w]), windows.offsets[w]
        n = min(len(offs), len(logits) - first)
        if n <= 0:
            continue
        starts, ends = logits[first:first + n, 0], logits[first:first + n, 1]
        k = min(settings.n_best, n)
        top_s = np.argpartition(-starts, k - 1)[:k]
        top_e = np.argpartition(-ends, k - 1)[:k]
        length = top_e[None, :] - top_s[:, None]
        ok = (length >= 0) & (length < settings.max_answer_length)
        score = starts[top_s][:, None] + ends[top_e][None, :]
        for a, b in zip(*np.nonzero(ok)):
            s, t = int(top_s[a]), int(top_e[b])
            key = (int(offs[s, 0]), int(offs[t, 1]))
            value = float(score[a, b])
            if key[1] > key[0] and value > spans[e].get(key, -np.inf):
                spans[e][key] = value
    out = []
    for e in range(n_examples):
        best = sorted(spans[e].items(), key=lambda kv: (-kv[1], kv[0]))[:settings.n_best]
        context = windows.contexts[e]
        out.append(([Candidate(v, s, t, context[s:t]) for (s, t), v in best], float(nulls[e])))
    return out


def _probabilities(cands: list[Candidate], null: float) -> np.ndarray:
    """Softmax over the spans' scores and the null score (last)."""
    scores = np.asarray([c.score for c in cands] + [null], dtype=np.float64)
    e = np.exp(scores - scores.max())
    return e / e.sum()


def _chosen(cands: list[Candidate], null: float, windows: Windows, threshold: float | None = None):
    """(answer text, its probability, its character span or None) of one example."""
    threshold = windows.settings.null_threshold if threshold is None else threshold
    probs = _probabilities(cands, null)
    if not cands or (windows.allow_null and null - cands[0].score > threshold):
        return NO_ANSWER, float(probs[-1]), None
    return cands[0].text, float(probs[0]), (cands[0].start, cands[0].end)


def _scores(predictions: dict, answers: list) -> dict:
    """SQuAD's scores, F1 (the figure of merit) first, as fit's progress lines and eval list them."""
    refs = {str(i): a for i, a in enumerate(answers)}
    scores = {k: float(v) for k, v in squad_scores(predictions, refs).items() if not k.endswith("total")}
    return {k: scores[k] for k in SPAN_METRICS if k in scores} | scores


def _parts(predictions: dict, answers: list) -> list[dict]:
    """Exact match, F1 and the count of questions: all of them, and for v2 data those with an answer (HasAns) and
    those without (NoAns), under SQuAD's own names (the rows `tunelab eval` and the Evaluate screen show)."""
    refs = {str(i): a for i, a in enumerate(answers)}
    scores = squad_scores(predictions, refs)
    rows = [{"label": "all", "exact_match": float(scores["exact_match"]), "f1": float(scores["f1"]),
             "support": int(scores["total"])}]
    for part in ("HasAns", "NoAns"):
        if f"{part}_total" in scores:
            rows.append({"label": part, "exact_match": float(scores[f"{part}_exact_match"]),
                         "f1": float(scores[f"{part}_f1"]), "support": int(scores[f"{part}_total"])})
    return rows


def _best_threshold(picked, w: Windows) -> tuple[float, float]:
    """The --null-threshold that would have scored the best F1 on these questions, and that F1."""
    margins, span_scores, null_scores = [], [], []
    for i, (cands, null) in enumerate(picked):
        gold = w.answers[i]
        best = cands[0].score if cands else -np.inf
        margins.append(best - null if cands else -1e9)
        text = cands[0].text if cands else NO_ANSWER
        span_scores.append(best_over_gold(text, gold)[1])
        null_scores.append(1.0 if not gold else 0.0)
    t, best = best_null_threshold(margins, span_scores, null_scores)
    # best_null_threshold answers where margin > t, t being the highest margin left unanswered; _chosen answers where
    # null - span <= threshold, i.e. margin >= -threshold. Report the middle of the gap between t and the lowest
    # answered margin, so that eval --null-threshold with the reported value (even rounded) scores that best F1.
    answered = [m for m in margins if m > t]
    return -(t + (min(answered) if answered else t + 1.0)) / 2, best


def _trained_with_null(data) -> bool:
    """Whether train has unanswerable questions (a v2 model learns to say "no answer")."""
    return "train" in data.splits and data.labeled.get("train") and any(not a for a in _answer_texts(data, "train"))


# ---------------------------------------------------------------- helpers

def _ids(ds) -> list:
    """Each row's id: the id column's, else its 1-based row number."""
    if "id" in ds.column_names:
        return [str(v) for v in column_values(ds, "id")]
    return [str(i + 1) for i in range(len(ds))]


def _answer_texts(data, split: str) -> list[list[str]]:
    return [list(a["text"]) if a else [] for a in column_values(data.split(split), data.equation.label)]


def _kind(feature) -> str:
    if isinstance(feature, dict):
        return "a structure of " + ", ".join(feature)
    name = type(feature).__name__
    if name == "Value":
        return feature.dtype
    return f"a {name}"


def _token_counts(tokenizer, texts: list, special: bool = False) -> np.ndarray:
    counts = []
    for first in range(0, len(texts), 2000):
        enc = tokenizer(texts[first:first + 2000], add_special_tokens=special, return_length=True,
                        return_attention_mask=False, return_token_type_ids=False)
        counts.extend(enc["length"])
    return np.asarray(counts, dtype=np.int64)


def _percentiles(values: np.ndarray) -> dict:
    if not len(values):
        return {}
    return {f"p{q}": int(np.percentile(values, q)) for q in (50, 90, 99)} | {"max": int(values.max())}


def _mistake(w: Windows, i: int, text: str, span, prob: float, f1: float) -> dict:
    """One wrong answer as `tunelab eval` shows it: the question, the predicted and gold answers, the context around
    both; for --json and the Evaluate screen also the whole context and the character spans."""
    gold = w.answers[i]
    starts = w.answer_starts[i] if w.answer_starts else []
    gold_spans = [[s, s + len(t)] for t, s in zip(gold, starts)]
    marks = [p for sp in gold_spans + ([list(span)] if span else []) for p in sp]
    context = w.contexts[i]
    lo = max(0, min(marks) - CONTEXT_AROUND) if marks else 0
    hi = min(len(context), max(marks) + CONTEXT_AROUND) if marks else min(len(context), 2 * CONTEXT_AROUND)
    around = ("…" if lo else "") + context[lo:hi] + ("…" if hi < len(context) else "")
    return {"id": w.ids[i], "question": w.questions[i], "predicted": text or "(no answer)",
            "gold": " | ".join(gold) if gold else "(no answer)", "probability": prob, "context": around,
            "spans": {"row": i + 1, "f1": float(f1), "context": context, "predicted": list(span) if span else None,
                      "gold": gold_spans, "gold_answers": list(gold)}}


def torch_triu_band(n: int, width: int, device):
    """(n, n) booleans: start i may pair with end j when i <= j < i + width (a span of at most `width` tokens)."""
    import torch

    i = torch.arange(n, device=device)
    gap = i[None, :] - i[:, None]
    return (gap >= 0) & (gap < width)


def predictor_settings(predictor) -> SpanSettings:
    """The run's own --doc-stride, --n-best, --max-answer-length and --null-threshold (defaults for a model that is
    not a TuneLab run), with the Predictor's own `settings` in their place where given."""
    config = (getattr(predictor, "run_config", None) or {}).get("config") or {}
    return settings_from({**config, **(getattr(predictor, "task_settings", None) or {})})


def settings_from(config: dict) -> SpanSettings:
    """SpanSettings from a run.json config (or a FitConfig as a dict); what is missing or odd keeps its default."""
    base = SpanSettings()

    def get(name, kind, default):
        value = config.get(name, default)
        return value if isinstance(value, kind) and not isinstance(value, bool) else default

    return SpanSettings(get("doc_stride", int, None), get("n_best", int, base.n_best),
                        get("max_answer_length", int, base.max_answer_length),
                        float(get("null_threshold", (int, float), base.null_threshold)))
