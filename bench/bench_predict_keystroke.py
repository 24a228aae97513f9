"""Benchmark: time from a keystroke on the Predict screen to the updated label on screen, on the bundled model.

Hosts the real `PredictScreen` in a headless Textual app (`App.run_test`, a virtual 80x24 terminal) with the
bundled MiniLM-L6 (`--model minilm-l6`, a fresh 2-class head: the timing does not depend on the head) on CPU,
through `Predictor`, i.e. ONNX Runtime. Each sample types one character (or a backspace) into the sentence,
waits past the debounce so the keystroke starts a prediction at once, and takes the time from just before the
key is sent to the moment the screen put the new label up (`PredictScreen.shown_at`), and the model's own share
(`Prediction.latency_ms`). A second series types whole words at typing speed and times the last keystroke of
each word to its label: that one may wait out the 150 ms debounce, by design. For reference, the same sentences go once each through a `transformers` pipeline
(the standard recipe, PyTorch), and the ratio of medians is printed.

    python bench/bench_predict_keystroke.py [--n 100] [--model minilm-l6] [--no-pipeline]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BASE = "The keys to the cabinet"
TAIL = " is on the table near the door"


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


async def keystrokes(model: str, n: int, words: int) -> tuple[list[float], list[float], list[float], list[float], str]:
    from textual.app import App

    from tunelab.themes import register_themes, theme_variable_defaults
    from tunelab.tui.screens.predict import DEBOUNCE_S, PredictScreen

    class Host(App):
        def get_theme_variable_defaults(self):
            return theme_variable_defaults(self.current_theme)

        def on_mount(self):
            register_themes(self)
            self.push_screen(PredictScreen(text=BASE, model=model))

    app = Host()
    single, screen_side, burst, model_ms = [], [], [], []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen

        async def wait_for(text: str, timeout: float = 30.0) -> None:
            deadline = time.monotonic() + timeout
            while screen.prediction is None or screen.prediction.text != text:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no label for {text!r}")
                await asyncio.sleep(0.0005)

        await wait_for(BASE, timeout=300)
        backend = f"{screen._model_name} ({app.screen.query_one('#predict-model').render()})"
        await pilot.press("end")
        text = BASE
        for i in range(n + 5):                     # the first 5 warm up
            position = i % (2 * len(TAIL))
            key = TAIL[position] if position < len(TAIL) else "backspace"
            text = text + TAIL[position] if position < len(TAIL) else text[:-1]
            await asyncio.sleep(DEBOUNCE_S * 1.5)  # a quiet spell: the keystroke is sent at once
            start = time.perf_counter()
            await pilot.press("space" if key == " " else key)
            await wait_for(text)
            if i >= 5:
                single.append((screen.shown_at - start) * 1000)
                screen_side.append(screen.key_to_label_ms)
                model_ms.append(screen.prediction.latency_ms)
        for w in range(words):                      # typing a word at ~30 ms per key, then waiting for its label
            word = f" w{w % 10}ord"
            for ch in word:
                await asyncio.sleep(0.03)
                start = time.perf_counter()
                await pilot.press("space" if ch == " " else ch)
            text += word
            await wait_for(text)
            burst.append((screen.shown_at - start) * 1000)
    return single, screen_side, burst, model_ms, backend


def pipeline_latency(sentences: list[str]) -> list[float]:
    """One call of a transformers text-classification pipeline per sentence (PyTorch, CPU), after a warm-up."""
    import tempfile

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    from tunelab.core.models import bundled_model_dir

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        AutoModelForSequenceClassification.from_pretrained(bundled_model_dir(), num_labels=2).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(bundled_model_dir()).save_pretrained(tmp)
        pipe = pipeline("text-classification", model=tmp, device=-1)
        for s in sentences[:5]:
            pipe(s)
        out = []
        for s in sentences:
            start = time.perf_counter()
            pipe(s)
            out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--n", type=int, default=100, help="single keystrokes to time (default: %(default)s)")
    parser.add_argument("--words", type=int, default=20, help="words typed at speed (default: %(default)s)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the transformers pipeline reference")
    args = parser.parse_args()

    single, screen_side, burst, model_ms, backend = asyncio.run(keystrokes(args.model, args.n, args.words))
    print(f"model: {backend}")
    print(f"keystroke -> label on screen ({len(single)} keystrokes after a pause): "
          f"p50 {statistics.median(single):.1f} ms   p99 {percentile(single, 99):.1f} ms")
    print(f"  of which the screen saw (input changed -> label): p50 {statistics.median(screen_side):.1f} ms   "
          f"p99 {percentile(screen_side, 99):.1f} ms")
    print(f"  of which the model (Predictor.predict: tokenizer + ONNX forward): p50 {statistics.median(model_ms):.1f} ms"
          f"   p99 {percentile(model_ms, 99):.1f} ms")
    print(f"last keystroke of a word typed at speed -> label ({len(burst)} words; up to the 150 ms debounce): "
          f"p50 {statistics.median(burst):.1f} ms   p99 {percentile(burst, 99):.1f} ms")
    if not args.no_pipeline:
        sentences = [BASE + TAIL[:k] for k in range(1, len(TAIL) + 1)] * 3
        reference = pipeline_latency(sentences)
        ratio = statistics.median(single) / statistics.median(reference)
        print(f"transformers pipeline, one call per sentence (PyTorch, no UI): p50 {statistics.median(reference):.1f} ms"
              f"   p99 {percentile(reference, 99):.1f} ms")
        print(f"keystroke-to-label p50 / pipeline-call p50: {ratio:.2f}")


if __name__ == "__main__":
    main()
