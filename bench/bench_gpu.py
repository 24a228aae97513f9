"""Benchmark: training throughput and model FLOP utilisation (MFU) on a GPU, for the precisions and attention
kernels TuneLab picks between.

Two models: a BERT-base-shaped encoder (12 layers, hidden 768, 12 heads, random weights from a BertConfig: no hub
access) and the bundled MiniLM-L6. Data: random token ids with a GLUE-like spread of lengths (most sentences 8-30
tokens, a tail to the cap), cut in length-grouped batches padded to their longest, as `tunelab fit` does. Each
step is TuneLab's training step: forward with the [CLS] shortcut, loss, backward, clipping, fused AdamW, under
autocast in the precision measured. For each model, precision (fp32 with TF32 where the GPU has it, and bf16 or
fp16 autocast) and attention kernel (sdpa, and flash where flash-attn is installed) it prints samples/s,
tokens/s and MFU:

    MFU = 6 x parameters x tokens per second / the GPU's peak dense bf16 FLOP/s

(6 x parameters per token: forward 2, backward 4; attention's own FLOPs are left out, and the tokens are the real
ones, not padding, so the figure is conservative). The peak comes from a small table by device name, or
--peak-tflops. Warm-up steps are not timed; the GPU is synchronised before each clock reading.

    python bench/bench_gpu.py [--steps 50] [--batch-size 32] [--peak-tflops 989] [--trainer] [--json out.json]
    python bench/bench_gpu.py --smoke      # a tiny model on the CPU: checks the script runs (no figures)

Without a CUDA GPU (and without --smoke) it says so in one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Peak dense bf16 tensor-core TFLOP/s (no sparsity), by a part of the name torch reports; the first match wins.
PEAK_BF16_TFLOPS = [
    ("H200", 989.0), ("GH200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("H800", 989.0), ("B200", 2250.0),
    ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0),
    ("A6000", 155.0), ("RTX 4090", 165.0), ("RTX 3090", 71.0), ("V100", 125.0), ("T4", 65.0),   # V100/T4: fp16
]


def peak_tflops(name: str) -> float | None:
    for part, tflops in PEAK_BF16_TFLOPS:
        if part.lower() in name.lower():
            return tflops
    return None


def glue_lengths(n: int, cap: int, seed: int):
    """Sentence lengths in tokens (with [CLS] and [SEP]) spread like GLUE's single-sentence sets: a log-normal
    around 12-20 tokens with a long tail, cut at `cap`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.lognormal(mean=math.log(16), sigma=0.55, size=n)), 5, cap).astype(np.int64)


def make_batches(lengths, batch_size: int, vocab: int, seed: int):
    """Length-grouped batches (sorted within groups of 50 batches, then shuffled), each padded to its longest."""
    import numpy as np
    import torch

    from tunelab.core.batching import length_grouped_batches

    rng = np.random.default_rng(seed)
    out = []
    for index in length_grouped_batches(lengths, batch_size, seed, 0):
        lens = lengths[index]
        width = int(lens.max())
        ids = torch.zeros(len(index), width, dtype=torch.long)
        mask = torch.zeros(len(index), width, dtype=torch.long)
        for row, n in enumerate(lens):
            ids[row, :n] = torch.from_numpy(rng.integers(1000, vocab, size=int(n)))
            ids[row, 0], ids[row, n - 1] = 101, 102
            mask[row, :n] = 1
        labels = torch.from_numpy(rng.integers(0, 2, size=len(index)))
        out.append(({"input_ids": ids, "attention_mask": mask, "labels": labels}, int(lens.sum())))
    return out


def build(shape: str, smoke: bool):
    """(name, model) with a 2-class head and random weights where the shape says so."""
    from transformers import BertConfig, BertForSequenceClassification

    if smoke:
        config = BertConfig(vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128, num_labels=2)
        return "tiny BERT (smoke)", BertForSequenceClassification(config)
    if shape == "bert-base":
        config = BertConfig(num_labels=2)   # BERT-base: 12 x 768, 12 heads, vocab 30522, 110M parameters
        return "BERT-base shape (random)", BertForSequenceClassification(config)
    from tunelab.core.models import bundled_model_dir

    return "MiniLM-L6 (bundled)", BertForSequenceClassification.from_pretrained(str(bundled_model_dir()), num_labels=2)


def measure(model, batches, device, precision: str, attention: str, steps: int, warmup: int) -> dict:
    """Train `steps` steps (after `warmup` untimed ones) as TuneLab's loop does; samples/s and tokens/s."""
    import torch

    from tunelab.core import cls_shortcut
    from tunelab.core.attention_kernel import IMPLEMENTATION
    from tunelab.core.fit import adamw

    model.set_attn_implementation(IMPLEMENTATION[attention])
    cls_shortcut.install(model)
    model.to(device).train()
    optimizer = adamw(model, 5e-5, 0.01)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def step(batch):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(**batch).loss
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for i in range(warmup):
        step(batches[i % len(batches)][0])
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    samples = tokens = 0
    start = time.perf_counter()
    for i in range(steps):
        batch, real = batches[(warmup + i) % len(batches)]
        step(batch)
        samples += len(batch["labels"])
        tokens += real
    sync()
    seconds = time.perf_counter() - start
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else 0.0
    return {"samples_per_second": samples / seconds, "tokens_per_second": tokens / seconds, "seconds": seconds,
            "peak_gpu_mb": round(peak_mb, 1)}


def measure_trainer(model, lengths, batch_size: int, precision: str, attention: str, steps: int, seed: int) -> dict:
    """The standard recipe on the same data: Hugging Face's Trainer (DataCollatorWithPadding, its own sampler, fused
    AdamW, the same precision and attention kernel) for `steps` optimizer steps; its own samples/s figure."""
    import tempfile

    import numpy as np
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, PreTrainedTokenizerFast, Trainer, TrainingArguments
    from tokenizers import Tokenizer, models

    from tunelab.core.attention_kernel import IMPLEMENTATION

    rng = np.random.default_rng(seed)
    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    for n in lengths[: batch_size * steps]:
        ids = rng.integers(1000, model.config.vocab_size, size=int(n)).tolist()
        ids[0], ids[-1] = 101, 102
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * int(n))
        rows["labels"].append(int(rng.integers(0, 2)))
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1}, "[UNK]")),
                                  pad_token="[PAD]", unk_token="[UNK]")
    model.set_attn_implementation(IMPLEMENTATION[attention])
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch_size, learning_rate=5e-5,
                                 weight_decay=0.01, max_steps=steps, bf16=precision == "bf16",
                                 fp16=precision == "fp16", tf32=None, save_strategy="no", logging_steps=10**9,
                                 report_to=[], dataloader_num_workers=0, disable_tqdm=True, optim="adamw_torch_fused",
                                 seed=seed)
        trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict(rows),
                          data_collator=DataCollatorWithPadding(tok))
        result = trainer.train()
    return {"samples_per_second": result.metrics["train_samples_per_second"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per configuration")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (kernel choice, allocator)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--models", default="bert-base,minilm", help="bert-base, minilm or both (comma-separated)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's peak dense bf16 TFLOP/s for MFU (default: from the table by device name)")
    parser.add_argument("--smoke", action="store_true", help="a tiny model for a few steps on the CPU: the script runs")
    parser.add_argument("--trainer", action="store_true",
                        help="also run Hugging Face's Trainer on the same data in the GPU's half precision with SDPA, "
                             "and print TuneLab's training step against it")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)

    import torch

    from tunelab.core.attention_kernel import flash_problem
    from tunelab.core.device import enable_tf32, precision_for

    if not args.smoke and not torch.cuda.is_available():
        print("bench_gpu.py: no CUDA GPU here (torch.cuda.is_available() is False), so there is nothing to measure; "
              "run it on a GPU machine, or --smoke for a CPU check of the script", file=sys.stderr)
        return 2
    device = torch.device("cuda" if not args.smoke else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke: no figures)"
    peak = args.peak_tflops or (peak_tflops(name) if device.type == "cuda" else None)
    tf32 = enable_tf32(device)
    half = precision_for(device)                  # bf16 where the GPU has it, else fp16
    precisions = ["fp32"] + ([half] if half != "fp32" else [])
    steps, warmup = (3, 1) if args.smoke else (args.steps, args.warmup)
    print(f"device: {name}; peak bf16 {peak or '?'} TFLOP/s; TF32 for fp32: {'on' if tf32 else 'off'}; "
          f"torch {torch.__version__}")
    lengths = glue_lengths(args.batch_size * (steps + warmup) if args.smoke else 8500, args.max_length, seed=0)
    results = []
    for shape in ([s.strip() for s in args.models.split(",")] if not args.smoke else ["tiny"]):
        label, model = build(shape, args.smoke)
        params = sum(p.numel() for p in model.parameters())
        batches = make_batches(lengths, args.batch_size, model.config.vocab_size, seed=0)
        initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for precision in precisions:
            for attention in ("sdpa", "flash"):
                if attention == "flash" and flash_problem(model, device, precision):
                    continue
                model.load_state_dict(initial)        # each configuration starts from the same weights
                got = measure(model, batches, device, precision, attention, steps, warmup)
                flops = 6 * params * got["tokens_per_second"]
                mfu = flops / (peak * 1e12) if peak else None
                results.append({"model": label, "parameters": params, "precision": precision,
                                "tf32": tf32 and precision == "fp32", "attention": attention,
                                "batch_size": args.batch_size, **got, "model_tflops": flops / 1e12, "mfu": mfu})
                print(f"{label:26s} {precision:5s} {attention:6s} {got['samples_per_second']:9.0f} samples/s "
                      f"{got['tokens_per_second']:10.0f} tok/s  {flops / 1e12:7.1f} TFLOP/s"
                      + (f"  MFU {100 * mfu:5.1f}%" if mfu is not None else "")
                      + (f"  peak {got['peak_gpu_mb'] / 1024:.1f} GB" if got["peak_gpu_mb"] else ""))
        if args.trainer:
            recipe_precision = precisions[-1]
            model.load_state_dict(initial)
            recipe = measure_trainer(model, lengths, args.batch_size, recipe_precision, "sdpa", steps + warmup, seed=0)
            ours = next(r for r in results if r["model"] == label and r["precision"] == recipe_precision
                        and r["attention"] == "sdpa")
            ratio = ours["samples_per_second"] / recipe["samples_per_second"]
            results.append({"model": label, "recipe": "transformers.Trainer", "precision": recipe_precision,
                            "attention": "sdpa", **recipe, "tunelab_over_trainer": ratio})
            print(f"{label:26s} {recipe_precision:5s} sdpa   {recipe['samples_per_second']:9.0f} samples/s  "
                  f"(Trainer; TuneLab's step {ratio:.2f}x; the Trainer's figure includes its first steps)")
        del model
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "peak_bf16_tflops": peak, "torch": torch.__version__, "results": results}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
