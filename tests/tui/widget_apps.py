"""Small apps that host one TuneLab widget with fixed data, shared by the Pilot tests and the SVG snapshot
tests in tests/tui/ (the screens' own tests build the real app instead)."""

from __future__ import annotations

import asyncio
import functools
from typing import Awaitable, Callable

import numpy as np
from textual.app import App, ComposeResult
from textual.containers import Container
from textual.widget import Widget

from tunelab.themes import DEFAULT_THEME, register_themes, theme_variable_defaults

TOKENS = "[CLS] the keys to the cabinet are on the table near the big red door , she said . [SEP]".split()
assert len(TOKENS) == 20


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (keeps tests/tui free of an async pytest plugin)."""

    @functools.wraps(test)
    def run(*args, **kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class WidgetApp(App):
    """Hosts the widgets `make()` returns, under a TuneLab theme, optionally inside a fixed-size box."""

    CSS = """
    #box { width: auto; height: auto; }
    """

    def __init__(self, make: Callable[[], list[Widget]], theme: str = DEFAULT_THEME,
                 box: tuple[int, int] | None = None) -> None:
        super().__init__()
        self._make = make
        self._theme_name = theme
        self._box = box

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        widgets = self._make()
        if self._box is None:
            yield from widgets
        else:
            box = Container(*widgets, id="box")
            box.styles.width, box.styles.height = self._box
            yield box

    def on_mount(self) -> None:
        register_themes(self)
        self.theme = self._theme_name


def training_loss(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy, falling loss per step with one spike at step n // 3."""
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1, dtype=np.float64)
    loss = 2.2 * np.exp(-steps / (n / 5)) + 0.15 + 0.12 * rng.standard_normal(n) ** 2
    loss[n // 3] = 3.5
    return steps, loss


def eval_accuracy(n: int = 3000, every: int = 300) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(every, n + 1, every, dtype=np.float64)
    return steps, 0.55 + 0.35 * (1 - np.exp(-steps / (n / 4)))


def attention_matrix(n: int = 20, seed: int = 0) -> np.ndarray:
    """Rows sum to 1; each token attends mostly to itself, its neighbour and [CLS]."""
    rng = np.random.default_rng(seed)
    m = rng.random((n, n)) ** 6
    m += 3 * np.eye(n) + 1.5 * np.eye(n, k=-1)
    m[:, 0] += 1.0
    return m / m.sum(axis=1, keepdims=True)


def head_maps(layers: int = 6, heads: int = 12, n: int = 20, seed: int = 0) -> np.ndarray:
    """(layers, heads, n, n) attention-like maps: diagonal, previous-token, [CLS] and broad patterns."""
    rng = np.random.default_rng(seed)
    patterns = [np.eye(n), np.eye(n, k=-1) + np.eye(n) * 0.1, np.tile(np.eye(1, n), (n, 1)), np.full((n, n), 1 / n)]
    maps = np.empty((layers, heads, n, n))
    for layer in range(layers):
        for head in range(heads):
            base = patterns[(layer + head) % len(patterns)] + 0.05 * rng.random((n, n))
            maps[layer, head] = base / base.sum(axis=1, keepdims=True)
    return maps


def widget_text(widget: Widget) -> str:
    """What the widget shows, as plain text, one line per row."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))
