"""What periodic resumable checkpoints cost: the time of one save of the bundled MiniLM-L6's full training state
(weights, AdamW moments, schedule, RNG), written the way `fit` writes it (core/checkpoint.save: safetensors and
JSON into last.tmp, then an atomic swap), and the share of training time that is at each --save-every interval.

    python bench/bench_checkpoint.py [--repeats 5]

A CoLA-sized run (8,551 sentences, batch 32, 3 epochs = 804 steps) takes about 3.7 minutes of training on this
machine's 2 CPU cores at the measured ~115 samples/s, so the default --save-every 10m never triggers there; the
table gives the overhead at 10m, 5m and 1m for runs long enough to reach them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    from tunelab.core import checkpoint
    from tunelab.core.checkpoint import TrainState
    from tunelab.core.fit import adamw
    from tunelab.core.models import load_classifier, resolve_model

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    model, _ = load_classifier(resolve_model("minilm-l6"), num_labels=2, id2label={0: "a", 1: "b"},
                               problem_type="single_label_classification")
    optimizer = adamw(model, 5e-5, 0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, 10, 100)
    model, optimizer = accelerator.prepare(model, optimizer)
    batch = {"input_ids": torch.randint(1000, 2000, (32, 24)), "attention_mask": torch.ones(32, 24, dtype=torch.long),
             "labels": torch.randint(0, 2, (32,))}
    accelerator.backward(model(**batch).loss)
    optimizer.step()                                  # AdamW now holds its two moments per weight
    scheduler.step()

    root = Path(tempfile.mkdtemp(prefix="tunelab-ckpt-"))
    last = root / "checkpoints" / "last"
    last.parent.mkdir(parents=True)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        checkpoint.save(last, accelerator.unwrap_model(model), optimizer, scheduler, TrainState(step=1), rank=0,
                        barrier=accelerator.wait_for_everyone)
        seconds.append(time.perf_counter() - start)
    size = sum(p.stat().st_size for p in last.rglob("*") if p.is_file())
    shutil.rmtree(root)
    save = statistics.median(seconds)
    print(f"checkpoint size {size / 2**20:.0f} MiB; one save: median {save:.2f} s "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {args.repeats} saves)")
    print("| --save-every | overhead (share of training time) |")
    print("|---|---|")
    for label, interval in (("10m (default)", 600), ("5m", 300), ("1m", 60)):
        print(f"| {label} | {100 * save / (interval + save):.2f}% |")


if __name__ == "__main__":
    main()
