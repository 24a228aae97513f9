"""Benchmark: `tunelab fit` on extractive question answering against the standard recipe (HF Trainer on
transformers' examples/pytorch/question-answering/run_qa.py preprocessing and post-processing), in one run.

Same data (the bundled QA demo set, `demo-qa`: SQuAD v2's flat shape, a third of the questions unanswerable), same
model (the bundled MiniLM-L6), same hyperparameters (epochs, lr, batch size, warm-up, weight decay, seed, max length
384, doc stride 128, per-epoch evaluation, fused AdamW) and the same post-processing settings (20 best candidates,
answers of at most 30 tokens, v2 with a null-score threshold of 0). The recipe is a shorter rewrite of run_qa.py with
its defaults (pad_to_max_length=False, so DataCollatorWithPadding pads each batch; no length-grouped batches):

- `prepare_train_features`: question and context through the tokenizer with truncation="only_second", max_length,
  stride=doc_stride, overflowing tokens and offset mappings; a window that does not hold the whole first answer,
  and an unanswerable question, is labelled at [CLS];
- `prepare_validation_features`: every window of every example, with its example_id and its offset mapping (None
  outside the context);
- `postprocess_qa_predictions` (utils_qa.py, version_2_with_negative): the n best starts and ends of every window,
  the best span over all windows against the smallest null score, with the threshold;
- QuestionAnsweringTrainer (trainer_qa.py): evaluation and prediction run the model, then post-process and score.

Both sides are scored with TuneLab's `core.squad_metrics.squad_scores`, the official SQuAD v2 definition offline
(run_qa.py's `evaluate.load("squad_v2")` needs the network). Prints the demo set's question+context lengths in
tokens, samples/s (questions, not windows) of the training loop with its per-epoch evaluations (what
`trainer.train()` times; for TuneLab from RunStarted to the last EvalDone), TuneLab's whole `fit()` call too (model
loading, tokenising, final test scoring and saving included) against the recipe's loop (the whole-process ratio, as
bench_fit.py reports it) and against the recipe's whole run (loading, tokenising, training, test prediction and
post-processing), both test F1 and EM scores (HasAns/NoAns too), then the ratios.

    python bench/bench_fit_qa.py [--epochs 4] [--order trainer,tunelab] [--only trainer] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EQN = "classify_spans: answers ~ question + context"
SCORES = ("f1", "exact_match", "HasAns_f1", "HasAns_exact_match", "NoAns_f1", "NoAns_exact_match")


def data_files() -> dict:
    from tunelab.core.data import DEMO_QA_NAME, demo_dir

    return {s: str(demo_dir(DEMO_QA_NAME) / f"{s}.jsonl") for s in ("train", "validation", "test")}


def train_questions() -> int:
    """The number of training questions (the samples of samples/s on both sides; windows are an encoding detail)."""
    with open(data_files()["train"], encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def length_stats(model_dir: str, max_length: int, batch: int, seed: int) -> dict:
    """Question+context lengths in tokens (special tokens included) on each split, how many exceed max_length (and
    so need several windows), and on train what random batches of `batch` pad to (what length grouping could save)."""
    import random

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    out = {}
    for split, path in data_files().items():
        with open(path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        lengths = [len(ids) for ids in tok([r["question"] for r in rows], [r["context"] for r in rows])["input_ids"]]
        out[split] = {"examples": len(lengths), "min": min(lengths), "median": statistics.median(lengths),
                      "max": max(lengths), "over_max_length": sum(n > max_length for n in lengths)}
        if split == "train":
            rng, padded = random.Random(seed), []
            for _ in range(10):                  # ten shuffled epochs: the mean padded width of a random batch
                order = rng.sample(lengths, len(lengths))
                padded += [max(order[i:i + batch]) * len(order[i:i + batch]) for i in range(0, len(order), batch)]
            out[split]["random_batch_padding_share"] = 1 - 10 * sum(lengths) / sum(padded)
    return out


# ---------------------------------------------------------------- the recipe: run_qa.py, utils_qa.py, trainer_qa.py

def postprocess_qa_predictions(examples, features, predictions, n_best: int, max_answer_length: int,
                               null_threshold: float) -> dict:
    """utils_qa.py's postprocess_qa_predictions with version_2_with_negative=True, without its files: id -> answer
    text ("" for no answer)."""
    import numpy as np

    all_start, all_end = predictions
    windows = collections.defaultdict(list)
    for i, example_id in enumerate(list(features["example_id"])):
        windows[example_id].append(i)
    offsets_of = list(features["offset_mapping"])
    answers = {}
    for example in examples:
        null, candidates = None, []
        for i in windows[example["id"]]:
            start_logits, end_logits, offsets = all_start[i], all_end[i], offsets_of[i]
            window_null = start_logits[0] + end_logits[0]
            if null is None or window_null < null:           # the smallest null score over the windows
                null = window_null
            starts = np.argsort(start_logits)[-1:-n_best - 1:-1].tolist()
            ends = np.argsort(end_logits)[-1:-n_best - 1:-1].tolist()
            for s in starts:
                for e in ends:
                    if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                        continue                             # padding, or outside the context
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    candidates.append((start_logits[s] + end_logits[e], offsets[s][0], offsets[e][1]))
        candidates.append((null, 0, 0))
        best = sorted(candidates, key=lambda c: c[0], reverse=True)[:n_best]
        texts = [(score, example["context"][a:b]) for score, a, b in best]
        spans = [(score, text) for score, text in texts if text != ""]
        if not spans:                                        # utils_qa.py's "empty" fallback
            spans = [(0.0, "empty")]
        score, text = spans[0]
        answers[example["id"]] = "" if null - score > null_threshold else text
    return answers


def features_of(tok, max_length: int, doc_stride: int):
    """run_qa.py's prepare_train_features and prepare_validation_features for this tokenizer and these lengths."""
    pad_on_right = tok.padding_side == "right"

    def windows(examples):
        questions = [q.lstrip() for q in examples["question"]]
        return tok(questions if pad_on_right else examples["context"],
                   examples["context"] if pad_on_right else questions,
                   truncation="only_second" if pad_on_right else "only_first", max_length=max_length,
                   stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)

    def prepare_train_features(examples):                                    # run_qa.py
        enc = windows(examples)
        sample_of = enc.pop("overflow_to_sample_mapping")
        offsets_of = enc.pop("offset_mapping")
        enc["start_positions"], enc["end_positions"] = [], []
        side = 1 if pad_on_right else 0
        for i, offsets in enumerate(offsets_of):
            ids = enc["input_ids"][i]
            cls = ids.index(tok.cls_token_id) if tok.cls_token_id in ids else 0
            seq = enc.sequence_ids(i)
            answers = examples["answers"][sample_of[i]]
            if not answers["answer_start"]:                                  # unanswerable: [CLS]
                enc["start_positions"].append(cls)
                enc["end_positions"].append(cls)
                continue
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            lo = seq.index(side)                                             # the window's context tokens
            hi = len(ids) - 1 - seq[::-1].index(side)
            if not (offsets[lo][0] <= start_char and offsets[hi][1] >= end_char):
                enc["start_positions"].append(cls)                           # the answer is not all in this window
                enc["end_positions"].append(cls)
                continue
            while lo < len(offsets) and offsets[lo][0] <= start_char:
                lo += 1
            while offsets[hi][1] >= end_char:
                hi -= 1
            enc["start_positions"].append(lo - 1)
            enc["end_positions"].append(hi + 1)
        return enc

    def prepare_validation_features(examples):                               # run_qa.py
        enc = windows(examples)
        sample_of = enc.pop("overflow_to_sample_mapping")
        side = 1 if pad_on_right else 0
        enc["example_id"] = [examples["id"][s] for s in sample_of]
        enc["offset_mapping"] = [[o if k == side else None for k, o in zip(enc.sequence_ids(i), offsets)]
                                 for i, offsets in enumerate(enc["offset_mapping"])]
        return enc

    return prepare_train_features, prepare_validation_features


def run_trainer(model_dir: str, epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int,
                max_length: int, doc_stride: int, n_best: int, max_answer_length: int, null_threshold: float,
                out: str) -> dict:
    import numpy as np
    from datasets import load_dataset
    from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)
    from transformers.trainer_utils import PredictionOutput

    from tunelab.core.squad_metrics import squad_scores

    whole = time.perf_counter()
    raw = load_dataset("json", data_files=data_files())
    tok = AutoTokenizer.from_pretrained(model_dir)
    max_length = min(max_length, tok.model_max_length)
    prepare_train_features, prepare_validation_features = features_of(tok, max_length, doc_stride)
    columns = raw["train"].column_names
    train = raw["train"].map(prepare_train_features, batched=True, remove_columns=columns)
    validation = raw["validation"].map(prepare_validation_features, batched=True, remove_columns=columns)
    test = raw["test"].map(prepare_validation_features, batched=True, remove_columns=columns)

    def references(examples):
        return {ex["id"]: ex["answers"]["text"] for ex in examples}

    def scores(examples, features, predictions):                             # run_qa.py's post_processing_function
        answers = postprocess_qa_predictions(examples, features, predictions, n_best, max_answer_length, null_threshold)
        return squad_scores(answers, references(examples))

    class QuestionAnsweringTrainer(Trainer):                                 # trainer_qa.py, shortened
        def __init__(self, *args, eval_examples=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.eval_examples = eval_examples

        def evaluate(self, eval_dataset=None, eval_examples=None, ignore_keys=None, metric_key_prefix="eval"):
            features = self.eval_dataset if eval_dataset is None else eval_dataset
            examples = self.eval_examples if eval_examples is None else eval_examples
            output = self.evaluation_loop(self.get_eval_dataloader(features), description="Evaluation",
                                          ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
            metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores(examples, features, output.predictions).items()}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def predict(self, test_dataset, test_examples=None, ignore_keys=None, metric_key_prefix="test"):
            output = self.evaluation_loop(self.get_test_dataloader(test_dataset), description="Prediction",
                                          ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
            return PredictionOutput(predictions=output.predictions, label_ids=None,
                                    metrics=scores(test_examples, test_dataset, output.predictions))

    set_seed(seed)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir, attn_implementation="sdpa")
    steps = int(np.ceil(len(train) / batch) * epochs)
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    # run_qa.py's default: random batches, not length-grouped (group_by_length=False before transformers 5,
    # train_sampling_strategy="random" since)
    no_grouping = {"group_by_length": False} if "group_by_length" in fields else {"train_sampling_strategy": "random"}
    args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, per_device_eval_batch_size=128,
                             learning_rate=lr, num_train_epochs=epochs, warmup_steps=int(warmup * steps), weight_decay=wd,
                             eval_strategy="epoch", save_strategy="no", logging_steps=1, seed=seed, report_to=[],
                             optim="adamw_torch_fused", dataloader_num_workers=0, disable_tqdm=True, **no_grouping)
    trainer = QuestionAnsweringTrainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                                       eval_examples=raw["validation"], processing_class=tok,
                                       data_collator=DataCollatorWithPadding(tok))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    test_scores = trainer.predict(test, raw["test"]).metrics
    whole = time.perf_counter() - whole
    n = len(raw["train"])
    validation_scores = [{k: v for k, v in log.items() if k.startswith("eval_")}
                         for log in trainer.state.log_history if "eval_f1" in log]
    return {"seconds": seconds, "samples_per_second": n * epochs / seconds, "whole_run_seconds": whole,
            "whole_run_samples_per_second": n * epochs / whole, "train_questions": n, "train_windows": len(train),
            **{f"test_{k}": float(test_scores[k]) for k in SCORES if k in test_scores},
            "validation_per_epoch": validation_scores}


# ---------------------------------------------------------------- TuneLab

def check_tunelab() -> None:
    """Stop, before anything runs, when this TuneLab has no classify_spans settings yet."""
    from tunelab.core.config import FitConfig

    missing = sorted({"doc_stride", "n_best", "max_answer_length", "null_threshold"}
                     - {f.name for f in dataclasses.fields(FitConfig)})
    if missing:
        raise SystemExit(f"this TuneLab has no classify_spans settings yet (FitConfig lacks {', '.join(missing)}); "
                         f"run the recipe alone with --only trainer")


def run_tunelab(epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int, max_length: int,
                doc_stride: int, n_best: int, max_answer_length: int, null_threshold: float, out: str) -> dict:
    from tunelab.core.config import FitConfig
    from tunelab.core.data import DEMO_QA_NAME
    from tunelab.core.events import EvalDone, RunStarted
    from tunelab.core.fit import fit

    qa = dict(doc_stride=doc_stride, n_best=n_best, max_answer_length=max_answer_length, null_threshold=null_threshold)
    config = FitConfig(data=DEMO_QA_NAME, eqn=EQN, epochs=epochs, lr=lr, batch_size=batch, warmup=warmup,
                       weight_decay=wd, seed=seed, max_length=max_length, out=out, **qa)
    marks = {}

    def on_event(event):
        if isinstance(event, (RunStarted, EvalDone)):
            marks[type(event).__name__] = time.perf_counter()

    start = time.perf_counter()
    result = fit(config, on_event=on_event)
    seconds = time.perf_counter() - start
    loop = marks["EvalDone"] - marks["RunStarted"]   # like trainer.train(): the loop and its per-epoch evaluations
    n = train_questions()                            # questions, as on the recipe's side
    test = result.metrics["test"]
    return {"seconds": loop, "samples_per_second": n * epochs / loop, "whole_call_seconds": seconds,
            "whole_call_samples_per_second": n * epochs / seconds, "train_questions": n,
            **{f"test_{k}": float(test[k]) for k in SCORES if k in test}}


def describe(name: str, r: dict, whole_key: str, whole_label: str) -> str:
    parts = "  ".join(f"{k} {r['test_' + k]:.4f}" for k in ("HasAns_f1", "NoAns_f1") if f"test_{k}" in r)
    return (f"{name:12s} {r['samples_per_second']:7.1f} samples/s  test F1 {r['test_f1']:.4f}  "
            f"EM {r['test_exact_match']:.4f}  {parts}  ({r['seconds']:.1f}s; {whole_label} {r[whole_key]:.1f}s, "
            f"{r[whole_key.replace('_seconds', '_samples_per_second')]:.1f} samples/s)")


def main() -> None:
    import datasets
    import torch
    from transformers.utils import logging as hf_logging

    from tunelab.core.models import bundled_model_dir

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42, help="one seed for both sides: the test F1 moves by about 2 points with it")
    p.add_argument("--order", default="trainer,tunelab")
    p.add_argument("--only", choices=("trainer", "tunelab"), default=None,
                   help="run one side alone (no ratios): e.g. the recipe before classify_spans exists")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    hp = dict(epochs=a.epochs, lr=a.lr, batch=32, warmup=0.1, wd=0.01, seed=a.seed, max_length=384, doc_stride=128,
              n_best=20, max_answer_length=30, null_threshold=0.0)
    sides = [a.only] if a.only else a.order.split(",")
    if "tunelab" in sides:
        check_tunelab()
    model_dir = str(bundled_model_dir())
    lengths = length_stats(model_dir, hp["max_length"], hp["batch"], hp["seed"])
    for split, s in lengths.items():
        extra = (f", random batches of {hp['batch']} are {s['random_batch_padding_share']:.0%} padding"
                 if "random_batch_padding_share" in s else "")
        print(f"{split:10s} question+context tokens: min {s['min']}, median {s['median']:g}, max {s['max']}; "
              f"{s['over_max_length']} of {s['examples']} over {hp['max_length']} (several windows){extra}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sides:
            if name == "trainer":
                results[name] = run_trainer(model_dir, out=f"{tmp}/trainer", **hp)
            else:
                results[name] = run_tunelab(out=f"{tmp}/tunelab", **hp)
            print(name, json.dumps(results[name]), flush=True)
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "hyperparameters": hp, "lengths": lengths, "results": results,
    }
    if "tunelab" in results:
        print(describe("tunelab fit", results["tunelab"], "whole_call_seconds", "whole fit() call"))
    if "trainer" in results:
        print(describe("HF Trainer", results["trainer"], "whole_run_seconds", "whole recipe"))
    if len(results) == 2:
        t, h = results["tunelab"], results["trainer"]
        summary.update({
            "speed_ratio": t["samples_per_second"] / h["samples_per_second"],
            "speed_ratio_whole_call": t["whole_call_samples_per_second"] / h["samples_per_second"],
            "speed_ratio_whole_runs": t["whole_call_samples_per_second"] / h["whole_run_samples_per_second"],
            "f1_difference": t["test_f1"] - h["test_f1"],
            "exact_match_difference": t["test_exact_match"] - h["test_exact_match"],
        })
        print(f"speed ratio {summary['speed_ratio']:.2f}x (whole fit() call against the recipe's loop: "
              f"{summary['speed_ratio_whole_call']:.2f}x; whole against whole: {summary['speed_ratio_whole_runs']:.2f}x)   "
              f"F1 difference {summary['f1_difference']:+.4f}  EM difference {summary['exact_match_difference']:+.4f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
