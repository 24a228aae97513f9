"""What an explanation costs: milliseconds per explanation for each method of `tunelab explain` (core/explain.py), on
the bundled MiniLM-L6 on CPU, for a 20-word sentence, Integrated Gradients at its default steps (and at a few others),
and each as a multiple of one forward pass of the same sentence (PyTorch, the model the explainer uses).

    OMP_NUM_THREADS=2 python bench/bench_explain.py [--threads 2] [--repeats 7]

The target is IG under 1 s at the default 32 steps on 2 cores, so that the TUI's attribution colouring stays
interactive. The median of the repeats is printed, after one warm-up call per method, as wall time and as this
process's CPU time: other processes sharing the cores stretch the wall time (the README's figures were taken on a
2-core machine shared with other jobs), far less the CPU time, which bounds the wall time of an idle machine with
as many threads (CPU time / threads, when the threads keep busy).
"""

from __future__ import annotations

import argparse
import statistics
import time

SENTENCE = "The keys to the wooden cabinet in the hallway is on the kitchen table next to the red lamp ."   # 20 words


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from transformers.utils import logging

    logging.set_verbosity_error()
    from tunelab.core.explain import DEFAULT_STEPS, METHODS, Explainer
    from tunelab.core.predictor import Predictor

    predictor = Predictor("minilm-l6", backend="torch")
    explainer = Explainer(predictor)
    batch, words, tokens, _ = explainer.encode(SENTENCE)
    print(f"bundled MiniLM-L6 on CPU, {args.threads} threads; {len(words)} words, {len(tokens)} tokens; "
          f"median of {args.repeats}")

    def timed(fn) -> tuple[float, float]:
        """Median wall and CPU milliseconds (CPU time: this process's, all its threads; robust to other processes
        on the cores, which only stretch the wall time)."""
        fn()
        wall, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        return statistics.median(wall), statistics.median(cpu)

    print(f"{'':<22} {'wall ms':>9} {'CPU ms':>9} {'CPU x forward':>14}")
    with torch.inference_mode():
        forward = timed(lambda: predictor.model(**batch))
    print(f"{'one forward pass':<22} {forward[0]:9.1f} {forward[1]:9.1f} {1.0:13.1f}x")
    rows = [(m, DEFAULT_STEPS) for m in METHODS] + [("ig", 16), ("ig", 64)]
    for method, steps in rows:
        wall, cpu = timed(lambda: explainer.explain(SENTENCE, method=method, steps=steps))
        name = f"{method} ({steps} steps)" if method == "ig" else method
        print(f"{name:<22} {wall:9.1f} {cpu:9.1f} {cpu / forward[1]:13.1f}x")


if __name__ == "__main__":
    main()
