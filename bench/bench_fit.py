"""Benchmark: `tunelab fit` against the standard recipe (HF Trainer + DataCollatorWithPadding), in one run.

Same data, same model (the bundled MiniLM-L6), same hyperparameters (epochs, lr, batch size, warm-up, weight
decay, seed, max length, per-epoch evaluation, fused AdamW). Each side runs in its own Python process, started
from here, so its whole-process time (interpreter start, imports, loading, tokenising, training, scoring the
test split, saving the model, exit) and its peak RSS (os.wait4's ru_maxrss of that child alone) are its own.

Prints for each side: samples/s of the training loop with its per-epoch evaluations (what `trainer.train()`
times; for TuneLab from RunStarted to the last EvalDone), the whole process, the peak RSS, the test figure of
merit (MCC), and where the whole process went (imports, reading and tokenising, loading the model, training
steps, evaluation, saving, exit; TuneLab's taken from its events); then the ratios.

Data (`--data`): `cola-like` (the default: a CoLA-shaped set of 8,551 training sentences of 3-45 words, 70/30
labels, written by bench/cola_like.py into a temporary folder), `demo` (the bundled demo set), or a folder of
train/validation/test .jsonl files with `sentence` and `label` columns (a user's own; `--eqn` for other names).

    python bench/bench_fit.py [--data cola-like|demo|DIR] [--epochs 3] [--compile off|on|auto] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

STARTED = time.time()          # the child's own start (its interpreter start is measured by the parent)


def _files(data: str) -> dict[str, str]:
    from tunelab.core.data import demo_dir

    root = demo_dir() if data == "demo" else Path(data)
    return {s: str(root / f"{s}.jsonl") for s in ("train", "validation", "test") if (root / f"{s}.jsonl").exists()}


def run_trainer(data: str, label_column: str, text_column: str, epochs: float, lr: float, batch: int, warmup: float,
                wd: float, seed: int, max_length: int, out: str, **_) -> dict:
    marks = {"start": STARTED}
    import numpy as np
    from datasets import load_dataset
    from sklearn.metrics import matthews_corrcoef
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)
    from transformers.utils import logging as hf_logging

    from tunelab.core.models import bundled_model_dir

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model_dir = str(bundled_model_dir())
    marks["imported"] = time.time()
    ds = load_dataset("json", data_files=_files(data))
    names = sorted(set(ds["train"][label_column]))
    label2id = {n: i for i, n in enumerate(names)}
    tok = AutoTokenizer.from_pretrained(model_dir)
    ds = ds.map(lambda b: {**tok(b[text_column], truncation=True, max_length=max_length),
                           "labels": [label2id[x] for x in b[label_column]]}, batched=True,
                remove_columns=ds["train"].column_names)
    marks["tokenized"] = time.time()
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
    marks["model_loaded"] = time.time()
    evals = []
    original_evaluate = trainer.evaluate

    def timed_evaluate(*a, **k):
        t = time.time()
        try:
            return original_evaluate(*a, **k)
        finally:
            evals.append(time.time() - t)

    trainer.evaluate = timed_evaluate
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    marks["trained"] = time.time()
    test = trainer.predict(ds["test"])
    marks["tested"] = time.time()
    trainer.save_model(f"{out}/model")         # run_glue.py's last step: the model and its tokenizer
    tok.save_pretrained(f"{out}/model")
    marks["saved"] = time.time()
    n = len(ds["train"])
    split = {"imports": marks["imported"] - marks["start"], "reading+tokenizing": marks["tokenized"] - marks["imported"],
             "loading model": marks["model_loaded"] - marks["tokenized"],
             "training steps": marks["trained"] - marks["model_loaded"] - sum(evals),
             "evaluation": sum(evals) + marks["tested"] - marks["trained"], "saving": marks["saved"] - marks["tested"]}
    return {"seconds": seconds, "samples_per_second": n * epochs / seconds, "train_examples": n, "split": split,
            "test_mcc": float(matthews_corrcoef(test.label_ids, test.predictions.argmax(-1))), "end": time.time()}


def run_tunelab(data: str, eqn: str, epochs: float, lr: float, batch: int, warmup: float, wd: float, seed: int,
                max_length: int, out: str, compile: str | None = None, **_) -> dict:
    marks = {"start": STARTED}
    from tunelab.core.config import FitConfig
    from tunelab.core.events import EvalDone, EvalStarted, RunFinished, RunStarted, SaveStarted, CheckpointSaved
    from tunelab.core.fit import fit

    marks["imported"] = time.time()
    extra = {"compile": compile} if compile else {}
    config = FitConfig(data=data, eqn=eqn, epochs=epochs, lr=lr, batch_size=batch, warmup=warmup, weight_decay=wd,
                       seed=seed, max_length=max_length, out=out, save_every="0", **extra)
    events = []
    phases = {}

    def on_event(event):
        events.append((time.time(), event))

    def on_phase(text):
        phases.setdefault(text.split()[0], time.time())

    result = fit(config, on_event=on_event, on_phase=on_phase)
    end = time.time()
    started = next(t for t, e in events if isinstance(e, RunStarted))
    last_eval = [t for t, e in events if isinstance(e, EvalDone)][-1]
    # evaluation: each EvalStarted to what follows it (EvalDone, or the final save of the test scores)
    evaluation = saving = 0.0
    for (t, e), (t2, _) in zip(events, events[1:] + [(end, None)]):
        if isinstance(e, EvalStarted):
            evaluation += t2 - t
        elif isinstance(e, SaveStarted):
            saving += t2 - t
    finished = next(t for t, e in events if isinstance(e, RunFinished))
    tokenizing = phases.get("tokenizing", marks["imported"])
    loading_model = phases.get("loading", started)
    steps_end = max(t for t, e in events if not isinstance(e, RunFinished))
    split = {"imports": marks["imported"] - marks["start"],
             "reading+tokenizing": loading_model - marks["imported"],
             "loading model": started - loading_model,
             "training steps": steps_end - started - evaluation - saving + (finished - steps_end),
             "evaluation": evaluation, "saving": saving}
    n = _train_rows(events)
    loop = last_eval - started   # like trainer.train(): the loop and its per-epoch evaluations
    return {"seconds": loop, "samples_per_second": n * epochs / loop, "train_examples": n, "split": split,
            "tokenizing_seconds": loading_model - tokenizing,
            "test_mcc": result.metrics["test"]["mcc"], "end": time.time(),
            "compile": _compile_note(events)}


def _train_rows(events) -> int:
    from tunelab.core.events import RunStarted

    return next(e.train_examples for _, e in events if isinstance(e, RunStarted))


def _compile_note(events) -> str:
    for _, e in events:
        if type(e).__name__ == "StepCompiled":
            return f"{e.status} ({e.reason})" if e.reason else e.status
    return ""


def child(side: str, a) -> None:
    """One side, in this process; prints its result as the last line of stdout."""
    hp = _hyperparameters(a)
    if side == "trainer":
        result = run_trainer(out=a.out, **hp)
    else:
        result = run_tunelab(out=a.out, compile=a.compile, **hp)
    print("RESULT " + json.dumps(result), flush=True)


def _hyperparameters(a) -> dict:
    return dict(data=a.data, eqn=a.eqn, label_column=a.eqn.split(":")[1].split("~")[0].strip(),
                text_column=a.eqn.split("~")[1].strip(), epochs=a.epochs, lr=5e-5, batch=32, warmup=0.1, wd=0.01,
                seed=42, max_length=128)


def run_side(side: str, a, out: str) -> dict:
    """Run one side in a child process: its result, whole-process seconds and peak RSS."""
    argv = [sys.executable, __file__, "--side", side, "--data", a.data, "--eqn", a.eqn, "--epochs", str(a.epochs),
            "--out", out] + (["--compile", a.compile] if a.compile else [])
    start = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    end = time.time()
    line = next((x for x in reversed(output.splitlines()) if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{side} failed (exit {proc.returncode}):\n{output[-3000:]}")
    result = json.loads(line[len("RESULT "):])
    result["whole_process_seconds"] = end - start
    result["peak_rss_mib"] = usage.ru_maxrss / 1024          # Linux: KiB
    split = result["split"]
    split["interpreter start"] = 0.0
    split["exit"] = end - result.pop("end")
    split["interpreter start"] = result["whole_process_seconds"] - sum(split.values())
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="cola-like", help="cola-like (generated), demo, or a folder of <split>.jsonl")
    p.add_argument("--eqn", default="classify: label ~ sentence")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--order", default="trainer,tunelab")
    p.add_argument("--compile", default=None, help="TuneLab's --compile setting (default: its own default)")
    p.add_argument("--json", default=None)
    p.add_argument("--side", default=None, help=argparse.SUPPRESS)   # internal: run one side in this process
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.side:
        child(a.side, a)
        return
    import torch

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if a.data == "cola-like":
            sys.path.insert(0, str(Path(__file__).parent))
            from cola_like import write

            write(Path(tmp) / "cola-like")
            a.data = str(Path(tmp) / "cola-like")
        for name in a.order.split(","):
            results[name] = run_side(name, a, f"{tmp}/{name}")
            print(name, json.dumps(results[name]), flush=True)
    t, h = results["tunelab"], results["trainer"]
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "data": a.data, "train_examples": t["train_examples"], "epochs": a.epochs, "results": results,
        "speed_ratio_loop": t["samples_per_second"] / h["samples_per_second"],
        "speed_ratio_whole_process": h["whole_process_seconds"] / t["whole_process_seconds"],
        "peak_rss_ratio": t["peak_rss_mib"] / h["peak_rss_mib"],
        "mcc_difference": t["test_mcc"] - h["test_mcc"],
    }
    for name, r in (("tunelab fit", t), ("HF Trainer", h)):
        print(f"{name:<12} loop {r['samples_per_second']:6.1f} samples/s ({r['seconds']:.1f}s)  whole process "
              f"{r['whole_process_seconds']:.1f}s  peak RSS {r['peak_rss_mib']:.0f} MiB  test MCC {r['test_mcc']:.4f}"
              + (f"  compile: {r['compile']}" if r.get("compile") else ""))
        print("             " + ", ".join(f"{k} {v:.1f}s" for k, v in r["split"].items()))
    print(f"ratios (TuneLab vs Trainer): loop samples/s {summary['speed_ratio_loop']:.2f}x, whole process "
          f"{summary['speed_ratio_whole_process']:.2f}x, peak RSS {summary['peak_rss_ratio']:.2f}x, "
          f"MCC difference {summary['mcc_difference']:+.4f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
