"""Benchmark: single-sentence latency of TuneLab's Predictor against `transformers.pipeline`, in one run, and batch
prediction throughput with the fused graph against the PyTorch batches `predict --input` ran before.

All load the same fine-tuned model (a run directory, or the bundled MiniLM with its head fitted on the demo train
split's pooled features; --random-head leaves it random). Single sentences:
the pipeline, the Predictor with the fused fp32 ONNX graph, and the Predictor with the opt-in int8 graph label the
same sentences one at a time after a warm-up, alternated twice; prints median and p90 latency, each one's ratio to the
pipeline, and int8's agreement with fp32 on those sentences (label agreement, largest probability difference). Batches:
`predict_batch` over the whole test file (repeated to --batch-n sentences) with PyTorch (before), the fused fp32
graph and int8, best of 3 each; prints sentences per second and the ratios, and checks fp32's labels equal PyTorch's.

    python bench/bench_predict.py [--model RUN_DIR] [--n 200] [--batch-n 1200] [--batch-size 64] [--threads N]
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


def fit_head(model, tokenizer, rows: list[dict]) -> None:
    """Fit the classifier head alone on the frozen encoder's pooled output of the demo train split (a linear probe,
    seconds), so the benchmark's model has labels that mean something: int8's agreement is then measured on the kind
    of confident answers a fine-tuned model gives."""
    import torch

    names = sorted({r["label"] for r in rows})
    labels = torch.tensor([names.index(r["label"]) for r in rows])
    model.eval()
    feats = []
    with torch.inference_mode():
        for i in range(0, len(rows), 64):
            enc = tokenizer([r["sentence"] for r in rows[i:i + 64]], padding=True, return_tensors="pt")
            feats.append(model.bert(**enc).pooler_output)
    feats = torch.cat(feats).clone()
    head = model.classifier
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(feats), labels).backward()
        opt.step()
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}


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
    p.add_argument("--batch-n", type=int, default=1200, help="sentences labelled in batches (the test file repeated)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--random-head", action="store_true",
                   help="keep the bundled MiniLM's new head random (its probabilities sit near 0.5, so int8's small "
                        "changes flip labels that mean nothing) instead of fitting it on the demo train split")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for PyTorch and ONNX Runtime alike (default: theirs, every core); 1 keeps the "
                        "ratios steady on a machine that other work shares")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.threads:
        from tunelab.core import onnx_runtime

        torch.set_num_threads(a.threads)
        # the Predictor's sessions take OnnxClassifier's default thread count (every core): the bench's instead
        onnx_runtime.OnnxClassifier.__init__.__defaults__ = (a.threads, None, False)
    every = [json.loads(line)["sentence"] for line in open(demo_dir() / "test.jsonl", encoding="utf-8")]
    sentences = every[: a.n]
    batch = (every * (a.batch_n // len(every) + 1))[: a.batch_n]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = a.model
        if model_dir is None:
            torch.manual_seed(0)
            m = AutoModelForSequenceClassification.from_pretrained(bundled_model_dir(), num_labels=2)
            tok = AutoTokenizer.from_pretrained(bundled_model_dir())
            if not a.random_head:
                fit_head(m, tok, [json.loads(line) for line in open(demo_dir() / "train.jsonl", encoding="utf-8")])
            m.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            model_dir = tmp
        elif os.path.isdir(os.path.join(model_dir, "model")):
            model_dir = os.path.join(model_dir, "model")
        pipe = pipeline("text-classification", model=model_dir, device=-1)
        pred = Predictor(model_dir, device="cpu")
        int8 = Predictor(model_dir, int8=True)
        torch_pred = Predictor(model_dir, device="cpu", backend="torch")
        assert (pred.backend, pred.precision, int8.precision) == ("onnx", "fp32", "int8")
        # same answers first: the comparison is only fair if both compute the same thing
        for s in sentences[:20]:
            ours = pred.predict(s).probabilities
            out = pipe(s, top_k=None)
            theirs = {d["label"]: d["score"] for d in (out[0] if isinstance(out[0], list) else out)}
            assert all(abs(ours[k] - theirs[k]) < 1e-4 for k in ours), (ours, theirs)
        agreement = int8.agreement(sentences)          # int8 against fp32, both graphs run on the sentences
        results = {}
        for _ in range(2):
            for name, fn in (("pipeline", lambda s: pipe(s)), ("fp32 fused", pred.predict), ("int8", int8.predict)):
                results.setdefault(name, []).extend(timed(fn, sentences))
        throughput = {}
        for _ in range(3):                             # batches: best of 3 each, alternated
            for name, p in (("pytorch (before)", torch_pred), ("fp32 fused", pred), ("int8", int8)):
                t = time.perf_counter()
                labels = [x.label for x in p.predict_batch(batch, batch_size=a.batch_size)]
                throughput[name] = max(throughput.get(name, 0.0), len(batch) / (time.perf_counter() - t))
                if name == "pytorch (before)":
                    before_labels = labels
                elif name == "fp32 fused":
                    assert labels == before_labels, "the fused graph's batch labels differ from PyTorch's"
    summary = {k: {"median_ms": statistics.median(v), "p90_ms": float(np.percentile(v, 90)), "n": len(v)} for k, v in results.items()}
    base = summary["pipeline"]["median_ms"]
    ratios = {k: v["median_ms"] / base for k, v in summary.items() if k != "pipeline"}
    print(f"single sentence ({len(sentences)} sentences, alternated twice; threads {torch.get_num_threads()}):")
    for k, v in summary.items():
        ratio = "" if k == "pipeline" else f"   {ratios[k]:.2f}x the pipeline's latency"
        print(f"  {k:11s} median {v['median_ms']:6.2f} ms   p90 {v['p90_ms']:6.2f} ms   ({v['n']} calls){ratio}")
    print(f"  {agreement.line()}")
    print(f"batches ({len(batch)} sentences, batch size {a.batch_size}, best of 3):")
    before = throughput["pytorch (before)"]
    for k, v in throughput.items():
        print(f"  {k:16s} {v:8.1f} sentences/s   {v / before:.2f}x pytorch")
    print("  fp32 fused labels = pytorch labels: yes")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"single": summary, "ratios": ratios, "int8_agreement": agreement.record(),
                       "batch_sentences_per_s": throughput}, fh, indent=2)


if __name__ == "__main__":
    main()
