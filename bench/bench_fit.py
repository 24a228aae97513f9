"""Benchmark: `tunelab fit` against the standard recipe (HF Trainer + DataCollatorWithPadding), in one run.

Same data (the bundled demo set), same model (the bundled MiniLM-L6), same hyperparameters (epochs, lr,
batch size, warm-up, weight decay, seed, max length, per-epoch evaluation, fused AdamW). Prints samples/s of
the training loop with its per-epoch evaluations (what `trainer.train()` times; for TuneLab from RunStarted to
the last EvalDone), TuneLab's whole `fit()` call too (model loading, tokenising, final test scoring and saving
included), and the test figure of merit (MCC), then the ratios.

    python bench/bench_fit.py [--epochs 4] [--json out.json]
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


def run_trainer(model_dir: str, epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int, max_length: int, out: str) -> dict:
    import numpy as np
    from datasets import load_dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)
    from sklearn.metrics import matthews_corrcoef

    from tunelab.core.data import demo_dir

    files = {s: str(demo_dir() / f"{s}.jsonl") for s in ("train", "validation", "test")}
    ds = load_dataset("json", data_files=files)
    names = sorted(set(ds["train"]["label"]))
    label2id = {n: i for i, n in enumerate(names)}
    tok = AutoTokenizer.from_pretrained(model_dir)
    ds = ds.map(lambda b: {**tok(b["sentence"], truncation=True, max_length=max_length),
                           "labels": [label2id[x] for x in b["label"]]}, batched=True,
                remove_columns=["sentence", "label", "phenomenon", "pair_id"])
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(names), id2label=dict(enumerate(names)), label2id=label2id, attn_implementation="sdpa")
    steps = int(np.ceil(len(ds["train"]) / batch) * epochs)

    def metrics(p):
        return {"mcc": matthews_corrcoef(p.label_ids, p.predictions.argmax(-1))}

    args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, per_device_eval_batch_size=128,
                             learning_rate=lr, num_train_epochs=epochs, warmup_steps=int(warmup * steps), weight_decay=wd,
                             eval_strategy="epoch", save_strategy="no", logging_steps=1, seed=seed, report_to=[],
                             dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["validation"],
                      data_collator=DataCollatorWithPadding(tok), compute_metrics=metrics)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    test = trainer.predict(ds["test"])
    return {"seconds": seconds, "samples_per_second": len(ds["train"]) * epochs / seconds,
            "test_mcc": float(matthews_corrcoef(test.label_ids, test.predictions.argmax(-1)))}


def run_tunelab(epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int, max_length: int, out: str) -> dict:
    from tunelab.core.config import FitConfig
    from tunelab.core.events import EvalDone, RunStarted
    from tunelab.core.fit import fit

    config = FitConfig(epochs=epochs, lr=lr, batch_size=batch, warmup=warmup, weight_decay=wd, seed=seed,
                       max_length=max_length, out=out)
    marks = {}

    def on_event(event):
        if isinstance(event, (RunStarted, EvalDone)):
            marks[type(event).__name__] = time.perf_counter()

    start = time.perf_counter()
    result = fit(config, on_event=on_event)
    seconds = time.perf_counter() - start
    loop = marks["EvalDone"] - marks["RunStarted"]   # like trainer.train(): the loop and its per-epoch evaluations
    n = 2400  # demo train rows
    return {"seconds": loop, "samples_per_second": n * epochs / loop, "whole_call_seconds": seconds,
            "whole_call_samples_per_second": n * epochs / seconds, "test_mcc": result.metrics["test"]["mcc"]}


def main() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from tunelab.core.models import bundled_model_dir

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--order", default="trainer,tunelab")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    hp = dict(epochs=a.epochs, lr=5e-5, batch=32, warmup=0.1, wd=0.01, seed=42, max_length=128)
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
        "mcc_difference": t["test_mcc"] - h["test_mcc"],
    }
    print(f"tunelab fit  {t['samples_per_second']:7.1f} samples/s  test MCC {t['test_mcc']:.4f}  ({t['seconds']:.1f}s; "
          f"whole fit() call {t['whole_call_seconds']:.1f}s, {t['whole_call_samples_per_second']:.1f} samples/s)")
    print(f"HF Trainer   {h['samples_per_second']:7.1f} samples/s  test MCC {h['test_mcc']:.4f}  ({h['seconds']:.1f}s)")
    print(f"speed ratio {summary['speed_ratio']:.2f}x (whole fit() call: {summary['speed_ratio_whole_call']:.2f}x)   "
          f"MCC difference {summary['mcc_difference']:+.4f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
