"""`tunelab summary --data` on a large CSV: wall time, time to the first line of progress, and peak memory set
against the data's own in-memory size; beside it, the standard recipe (datasets' load_dataset + a batched
tokenizer map for the lengths, as a notebook does) on the same file.

Writes a CSV of `--rows` sentences (default 915,000, about 50 MB) from the demo data's vocabulary, then runs, each
in its own process with its peak RSS sampled every 20 ms:

  baseline   `tunelab summary` on the first 1,000 rows: the imports and the tokenizer, no data to speak of
  tunelab    `tunelab summary --data big.csv`
  recipe     load_dataset("csv") + dataset.map(tokenizer, batched=True) + label counts (skip with --no-recipe)

The figure that matters is the data's share of memory: peak RSS minus the baseline, divided by the size of the
file as an Arrow table (what reading it costs at least). Not part of the test run.

    python bench/bench_summary.py                      # 915k rows
    python bench/bench_summary.py --rows 200000 --no-recipe
"""

from __future__ import annotations

import argparse
import csv
import os
import pty
import random
import select
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

RECIPE = textwrap.dedent("""
    import sys, collections
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from tunelab.core.models import resolve_model
    tok = AutoTokenizer.from_pretrained(resolve_model("minilm-l6").path)
    ds = load_dataset("csv", data_files={"train": sys.argv[1]}, cache_dir=sys.argv[2])["train"]
    print("loaded", flush=True)
    lengths = ds.map(lambda b: {"n": [len(x) for x in tok(b["sentence"])["input_ids"]]}, batched=True,
                     remove_columns=ds.column_names)
    counts = collections.Counter(ds["label"])
    print(len(lengths), max(lengths["n"]), dict(counts))
""")


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Sentences from the demo data's generators (the bundled agreement task): 70% acceptable."""
    from tunelab.core import demo_data

    makers = [demo_data.subject_verb_agreement, demo_data.anaphor_agreement, demo_data.determiner_noun_agreement]
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sentence", "label"])
        for _ in range(rows):
            good, bad = rng.choice(makers)(rng)
            out.writerow([good, "acceptable"] if rng.random() < 0.7 else [bad, "unacceptable"])


def run(cmd: list[str], what: str) -> dict:
    """Run `cmd` with its stderr on a pseudo-terminal (as a user sees the progress spinner), sampling the RSS of
    its process tree every 20 ms; returns the wall time, the peak RSS and when the first progress appeared."""
    master, slave = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    ps = psutil.Process(proc.pid)
    peak, first, err = 0, None, b""
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True)))
        except psutil.Error:
            pass
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
            if first is None and chunk.strip():
                first = time.perf_counter() - start
        time.sleep(0.02)
    out = proc.stdout.read()
    os.close(master)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{(out + err).decode(errors='replace')[-2000:]}")
    return {"wall": wall, "peak_mb": peak / 2**20, "first": first if first is not None else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=915_000)
    parser.add_argument("--no-recipe", action="store_true", help="skip the load_dataset + map comparison")
    parser.add_argument("--keep", help="directory for the generated files (default: a temporary one)")
    args = parser.parse_args()

    work = Path(args.keep or tempfile.mkdtemp(prefix="tunelab-summary-"))
    work.mkdir(parents=True, exist_ok=True)
    big, small = work / "big.csv", work / "small.csv"
    if not big.exists():
        write_csv(big, args.rows)
    with open(big, encoding="utf-8") as src, open(small, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > 1000:
                break
            dst.write(line)
    import pyarrow.csv

    arrow_mb = pyarrow.csv.read_csv(big).nbytes / 2**20
    print(f"{big}: {args.rows:,} rows, {big.stat().st_size / 2**20:.1f} MB on disk, {arrow_mb:.1f} MB as an Arrow table; "
          f"{os.cpu_count()} CPU cores")

    tunelab = [sys.executable, "-m", "tunelab", "summary", "--eqn", "classify: label ~ sentence", "--data"]
    base = run(tunelab + [str(small)], "baseline")
    ours = run(tunelab + [str(big)], "tunelab summary")
    share = ours["peak_mb"] - base["peak_mb"]
    print(f"baseline (1,000 rows)   {base['wall']:6.1f} s   peak RSS {base['peak_mb']:7.0f} MB")
    print(f"tunelab summary         {ours['wall']:6.1f} s   peak RSS {ours['peak_mb']:7.0f} MB   first output after "
          f"{ours['first']:.1f} s   data's share {share:.0f} MB = {share / arrow_mb:.2f}x the Arrow table")
    if not args.no_recipe:
        cache = tempfile.mkdtemp(prefix="hf-cache-", dir=work)      # a fresh cache: map() must not reuse a result
        recipe = run([sys.executable, "-c", RECIPE, str(big), cache], "recipe")
        rshare = recipe["peak_mb"] - base["peak_mb"]
        print(f"load_dataset + map      {recipe['wall']:6.1f} s   peak RSS {recipe['peak_mb']:7.0f} MB   "
              f"data's share {rshare:.0f} MB = {rshare / arrow_mb:.2f}x the Arrow table")
        print(f"tunelab / recipe: time {ours['wall'] / recipe['wall']:.2f}x, peak RSS {ours['peak_mb'] / recipe['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
