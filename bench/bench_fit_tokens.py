"""Benchmark: `tunelab fit` on a token task against the standard recipe (HF Trainer +
DataCollatorForTokenClassification, as transformers' examples/pytorch/token-classification/run_ner.py sets it up),
in one run.

Same data (the bundled NER demo set, `demo-ner`), same model (the bundled MiniLM-L6), same hyperparameters
(epochs, lr, batch size, warm-up, weight decay, seed, max length, per-epoch evaluation, fused AdamW). The recipe
tokenises and aligns labels as run_ner.py does: words through the tokenizer with `is_split_into_words=True`, the
first sub-word of each word carries the word's tag and the others -100, no padding until the collator pads each
batch; its scores come from `seqeval` on the first-sub-word predictions, as run_ner.py's `compute_metrics` does
(through `evaluate.load("seqeval")`, which needs the network; the package is what that metric calls).
Prints samples/s (sentences) of the training loop with its per-epoch evaluations (what `trainer.train()` times; for
TuneLab from RunStarted to the last EvalDone), TuneLab's whole `fit()` call too (model loading, tokenising, final
test scoring and saving included) against the recipe's loop (the whole-process ratio, as bench_fit.py reports it)
and against the recipe's whole run (loading, tokenising, training, test prediction), and both test entity F1
scores, then the ratios.

    python bench/bench_fit_tokens.py [--epochs 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EQN = "classify_tokens: ner_tags ~ tokens"


def run_trainer(model_dir: str, epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int, max_length: int, out: str) -> dict:
    import numpy as np
    from datasets import load_dataset
    from seqeval.metrics import f1_score
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments, set_seed)

    from tunelab.core.data import DEMO_NER_NAME, demo_dir

    whole = time.perf_counter()
    files = {s: str(demo_dir(DEMO_NER_NAME) / f"{s}.jsonl") for s in ("train", "validation", "test")}
    ds = load_dataset("json", data_files=files)
    names = sorted({t for tags in ds["train"]["ner_tags"] for t in tags})      # run_ner.py's get_label_list
    label2id = {n: i for i, n in enumerate(names)}
    tok = AutoTokenizer.from_pretrained(model_dir)

    def tokenize_and_align_labels(examples):                                 # run_ner.py, label_all_tokens=False
        enc = tok(examples["tokens"], truncation=True, max_length=max_length, is_split_into_words=True)
        labels = []
        for i, tags in enumerate(examples["ner_tags"]):
            previous, ids = None, []
            for word in enc.word_ids(batch_index=i):
                ids.append(-100 if word is None or word == previous else label2id[tags[word]])
                previous = word
            labels.append(ids)
        enc["labels"] = labels
        return enc

    ds = ds.map(tokenize_and_align_labels, batched=True, remove_columns=ds["train"].column_names)
    set_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(
        model_dir, num_labels=len(names), id2label=dict(enumerate(names)), label2id=label2id, attn_implementation="sdpa")
    steps = int(np.ceil(len(ds["train"]) / batch) * epochs)

    def tags_of(predictions, label_ids):                                      # run_ner.py's compute_metrics
        pred = predictions.argmax(-1)
        gold = [[names[l] for p, l in zip(ps, ls) if l != -100] for ps, ls in zip(pred, label_ids)]
        said = [[names[p] for p, l in zip(ps, ls) if l != -100] for ps, ls in zip(pred, label_ids)]
        return gold, said

    def metrics(p):
        return {"entity_f1": f1_score(*tags_of(p.predictions, p.label_ids))}

    args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, per_device_eval_batch_size=128,
                             learning_rate=lr, num_train_epochs=epochs, warmup_steps=int(warmup * steps), weight_decay=wd,
                             eval_strategy="epoch", save_strategy="no", logging_steps=1, seed=seed, report_to=[],
                             optim="adamw_torch_fused", dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["validation"],
                      data_collator=DataCollatorForTokenClassification(tok), compute_metrics=metrics)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    test = trainer.predict(ds["test"])
    f1 = float(f1_score(*tags_of(test.predictions, test.label_ids)))
    whole = time.perf_counter() - whole
    n = len(ds["train"])
    return {"seconds": seconds, "samples_per_second": n * epochs / seconds, "whole_run_seconds": whole,
            "whole_run_samples_per_second": n * epochs / whole, "test_entity_f1": f1}


def run_tunelab(epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int, max_length: int, out: str) -> dict:
    from tunelab.core.config import FitConfig
    from tunelab.core.data import DEMO_NER_NAME
    from tunelab.core.events import EvalDone, RunStarted
    from tunelab.core.fit import fit

    config = FitConfig(data=DEMO_NER_NAME, eqn=EQN, epochs=epochs, lr=lr, batch_size=batch, warmup=warmup,
                       weight_decay=wd, seed=seed, max_length=max_length, out=out)
    marks, examples = {}, {}

    def on_event(event):
        if isinstance(event, (RunStarted, EvalDone)):
            marks[type(event).__name__] = time.perf_counter()
        if isinstance(event, RunStarted):
            examples["train"] = event.train_examples

    start = time.perf_counter()
    result = fit(config, on_event=on_event)
    seconds = time.perf_counter() - start
    loop = marks["EvalDone"] - marks["RunStarted"]   # like trainer.train(): the loop and its per-epoch evaluations
    n = examples["train"]                            # demo-ner train sentences
    return {"seconds": loop, "samples_per_second": n * epochs / loop, "whole_call_seconds": seconds,
            "whole_call_samples_per_second": n * epochs / seconds,
            "test_entity_f1": result.metrics["test"]["entity_f1"]}


def main() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from tunelab.core.models import bundled_model_dir

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--order", default="trainer,tunelab")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    hp = dict(epochs=a.epochs, lr=a.lr, batch=32, warmup=0.1, wd=0.01, seed=42, max_length=128)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.order.split(","):
            if name == "trainer":
                results[name] = run_trainer(str(bundled_model_dir()), out=f"{tmp}/trainer", **hp)
            else:
                results[name] = run_tunelab(out=f"{tmp}/tunelab", **hp)
            print(name, json.dumps(results[name]), flush=True)
    t, h = results["tunelab"], results["trainer"]
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "hyperparameters": hp, "results": results,
        "speed_ratio": t["samples_per_second"] / h["samples_per_second"],
        "speed_ratio_whole_call": t["whole_call_samples_per_second"] / h["samples_per_second"],
        "speed_ratio_whole_runs": t["whole_call_samples_per_second"] / h["whole_run_samples_per_second"],
        "entity_f1_difference": t["test_entity_f1"] - h["test_entity_f1"],
    }
    print(f"tunelab fit  {t['samples_per_second']:7.1f} samples/s  test entity F1 {t['test_entity_f1']:.4f}  "
          f"({t['seconds']:.1f}s; whole fit() call {t['whole_call_seconds']:.1f}s, "
          f"{t['whole_call_samples_per_second']:.1f} samples/s)")
    print(f"HF Trainer   {h['samples_per_second']:7.1f} samples/s  test entity F1 {h['test_entity_f1']:.4f}  "
          f"({h['seconds']:.1f}s; whole recipe {h['whole_run_seconds']:.1f}s, "
          f"{h['whole_run_samples_per_second']:.1f} samples/s)")
    print(f"speed ratio {summary['speed_ratio']:.2f}x (whole fit() call against the recipe's loop: "
          f"{summary['speed_ratio_whole_call']:.2f}x; whole against whole: {summary['speed_ratio_whole_runs']:.2f}x)   "
          f"entity F1 difference {summary['entity_f1_difference']:+.4f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
