"""Benchmark: single-sentence latency of TuneLab's Predictor on a token model against `transformers.pipeline`
("token-classification", aggregation_strategy="first"), in one run.

Both load the same model (a token run directory, or the bundled MiniLM with a fresh head over demo-ner's tags)
and tag the demo-ner test sentences one at a time after a warm-up; the entities must agree first. Prints
median and p90 latency and the ratio.

    python bench/bench_predict_tokens.py [--model RUN_DIR] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_predict import timed  # noqa: E402  (the same timing loop as the sentence benchmark)


def main() -> None:
    import numpy as np
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    from tunelab.core.data import demo_dir
    from tunelab.core.models import bundled_model_dir
    from tunelab.core.predictor import Predictor

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None, help="a token run or model directory (default: bundled MiniLM + a new head)")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    rows = [json.loads(line) for line in open(demo_dir("demo-ner") / "test.jsonl", encoding="utf-8")][: a.n]
    sentences = [" ".join(r["tokens"]) for r in rows]
    tags = sorted({t for r in rows for t in r["ner_tags"]}, key=lambda t: (t != "O", t[2:], t))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = a.model
        if model_dir is None:
            torch.manual_seed(0)
            m = AutoModelForTokenClassification.from_pretrained(bundled_model_dir(), id2label=dict(enumerate(tags)),
                                                                label2id={t: i for i, t in enumerate(tags)})
            m.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(bundled_model_dir()).save_pretrained(tmp)
            model_dir = tmp
        elif os.path.isdir(os.path.join(model_dir, "model")):
            model_dir = os.path.join(model_dir, "model")
        pipe = pipeline("token-classification", model=model_dir, aggregation_strategy="first", device=-1)
        pred = Predictor(model_dir, device="cpu")
        # the same answers first: the comparison is only fair if both compute the same thing
        for s in sentences[:20]:
            ours = [(e.type, e.start, e.end) for e in pred.predict(s).entities]
            theirs = [(d["entity_group"], d["start"], d["end"]) for d in pipe(s)]
            assert ours == theirs, (s, ours, theirs)
        results: dict = {}
        for name, fn in (("pipeline", pipe), ("tunelab", pred.predict), ("pipeline", pipe), ("tunelab", pred.predict)):
            results.setdefault(name, []).extend(timed(fn, sentences))
    summary = {k: {"median_ms": statistics.median(v), "p90_ms": float(np.percentile(v, 90)), "n": len(v)}
               for k, v in results.items()}
    ratio = summary["tunelab"]["median_ms"] / summary["pipeline"]["median_ms"]
    for k, v in summary.items():
        print(f"{k:9s} median {v['median_ms']:6.2f} ms   p90 {v['p90_ms']:6.2f} ms   ({v['n']} calls)")
    print(f"tunelab / pipeline median latency: {ratio:.2f} (pipeline is {1 / ratio:.2f}x slower); "
          f"backend {pred.backend}; threads {torch.get_num_threads()}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({**summary, "ratio": ratio}, fh, indent=2)


if __name__ == "__main__":
    main()
