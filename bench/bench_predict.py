"""Benchmark: single-sentence latency of TuneLab's Predictor against `transformers.pipeline`, in one run.

Both load the same fine-tuned model (a run directory, or the bundled MiniLM with a fresh head) and label the
same sentences one at a time after a warm-up; prints median and p90 latency and the ratio.

    python bench/bench_predict.py [--model RUN_DIR] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def timed(fn, sentences, warmup: int = 10) -> list[float]:
    for s in sentences[:warmup]:
        fn(s)
    out = []
    for s in sentences:
        t = time.perf_counter()
        fn(s)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    from tunelab.core.data import demo_dir
    from tunelab.core.models import bundled_model_dir
    from tunelab.core.predictor import Predictor

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None, help="a fine-tuned model directory (default: bundled MiniLM + a new 2-class head)")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    sentences = [json.loads(line)["sentence"] for line in open(demo_dir() / "test.jsonl", encoding="utf-8")][: a.n]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = a.model
        if model_dir is None:
            torch.manual_seed(0)
            m = AutoModelForSequenceClassification.from_pretrained(bundled_model_dir(), num_labels=2)
            m.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(bundled_model_dir()).save_pretrained(tmp)
            model_dir = tmp
        elif os.path.isdir(os.path.join(model_dir, "model")):
            model_dir = os.path.join(model_dir, "model")
        pipe = pipeline("text-classification", model=model_dir, device=-1)
        pred = Predictor(model_dir, device="cpu")
        # same answers first: the comparison is only fair if both compute the same thing
        for s in sentences[:20]:
            ours = pred.predict(s).probabilities
            out = pipe(s, top_k=None)
            theirs = {d["label"]: d["score"] for d in (out[0] if isinstance(out[0], list) else out)}
            assert all(abs(ours[k] - theirs[k]) < 1e-4 for k in ours), (ours, theirs)
        results = {}
        for name, fn in (("pipeline", lambda s: pipe(s)), ("tunelab", pred.predict),
                         ("pipeline", lambda s: pipe(s)), ("tunelab", pred.predict)):
            results.setdefault(name, []).extend(timed(fn, sentences))
    summary = {k: {"median_ms": statistics.median(v), "p90_ms": float(np.percentile(v, 90)), "n": len(v)} for k, v in results.items()}
    ratio = summary["tunelab"]["median_ms"] / summary["pipeline"]["median_ms"]
    for k, v in summary.items():
        print(f"{k:9s} median {v['median_ms']:6.2f} ms   p90 {v['p90_ms']:6.2f} ms   ({v['n']} calls)")
    print(f"tunelab / pipeline median latency: {ratio:.2f} (pipeline is {1 / ratio:.2f}x slower); threads {torch.get_num_threads()}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({**summary, "ratio": ratio}, fh, indent=2)


if __name__ == "__main__":
    main()
