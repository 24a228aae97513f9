"""The Attention screen on a tiny fine-tuned run: the grid holds every layer and head of the sentence, the arrow
keys and [ ] { } move between heads, enter opens the chosen head as a token x token heatmap with the weight under
the cursor, `s` marks the heads that stand out over the data, `d` lists the heads fine-tuning changed most (enter
jumps to one), `p` draws the probe curve of run and base, and `e` exports for bertviz and shows the paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, settle, wait_until
from textual.widgets import OptionList
from widget_apps import run_async

from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.widgets.head_grid import HeadGrid
from tunelab.tui.widgets.heatmap import AttentionHeatmap
from tunelab.tui.widgets.probe_curve import ProbeCurve

SENTENCE = "the keys near the cabinet are on the big red table ."


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("attention-screen")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=3, lr=2e-3).run_dir


def status(screen) -> str:
    return str(screen.query_one("#att-status").render())


@run_async
async def test_grid_heads_and_the_chosen_head(tiny_run):
    app = ScreenApp(lambda: AttentionScreen(text=SENTENCE), Selection(run=tiny_run))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await settle(pilot)
        result = screen.result
        assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]" and "cabinet" in result.tokens
        assert result.attentions.shape[:2] == (2, 2)
        grid, heatmap = screen.query_one(HeadGrid), screen.query_one(AttentionHeatmap)
        assert grid.has_focus and np.array_equal(grid._maps, result.attentions)

        await pilot.press("right")                       # layer 0, head 1
        assert screen.head == (0, 1) and np.array_equal(heatmap.matrix, result.attentions[0, 1])
        assert status(screen).startswith("L0 H1")
        await pilot.press("right_curly_bracket")         # next layer
        assert screen.head == (1, 1)
        await pilot.press("left_square_bracket")         # previous head
        assert screen.head == (1, 0) and np.array_equal(heatmap.matrix, result.attentions[1, 0])

        await pilot.press("enter")                       # open the head
        assert screen.has_class("-head") and heatmap.has_focus
        await pilot.press("down", "down", "right")
        row, col = heatmap.cursor
        assert (row, col) == (2, 1)
        readout = heatmap.render_line(0).text
        assert f"{result.tokens[2]} [2] → {result.tokens[1]} [1]" in readout
        assert f"{result.attentions[1, 0, 2, 1]:.3f}" in readout
        assert "entropy" in status(screen)           # the head's statistics, as the side panel is hidden at 80
        await pilot.press("escape")
        assert not screen.has_class("-head") and grid.has_focus

        # The side panel: this head's statistics for this sentence, and the standouts.
        assert "this sentence" in str(screen.query_one("#att-head-info").render())

        # A new sentence, typed: the attention follows.
        await pilot.press("i", "end", *" near the dog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.result is not result and screen.result.tokens[-3:-1] == ["the", "dog"])


@run_async
async def test_statistics_change_probe_and_export(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_BERTVIZ_JS", str(tmp_path))  # no script copies: the pages fall back to the CDN
    app = ScreenApp(lambda: AttentionScreen(text=SENTENCE), Selection(run=tiny_run))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None)

        await pilot.press("s")
        await wait_until(pilot, lambda: screen.dataset_stats is not None)
        assert screen.dataset_stats.n_sentences == 40  # the run's validation split
        assert "40 sentences" in str(screen.query_one("#att-extra-title").render())
        marked = screen.query_one("#att-standouts", OptionList)
        assert marked.option_count == len(screen.dataset_stats.standouts())
        assert screen.query_one(HeadGrid).marks == {(s.layer, s.head) for s in screen.dataset_stats.standouts()}

        await pilot.press("d")
        await wait_until(pilot, lambda: screen.diff is not None)
        changed = screen.query_one("#att-changed", OptionList)
        top = screen.diff.most_changed(1)[0]
        assert changed.option_count == 4 and changed.has_focus
        assert str(changed.get_option_at_index(0).prompt).startswith(f"L{top.layer} H{top.head}")
        await pilot.press("enter")                       # jump to the head that changed most
        assert screen.head == (top.layer, top.head) and screen.has_class("-head")
        assert "moved" in str(screen.query_one("#att-head-info").render())

        await pilot.press("p")
        await wait_until(pilot, lambda: screen.probe_report is not None)
        curves = screen.probe_report.curves
        assert len(curves) == 2 and len(curves[0].layers) == 3  # run and base; embeddings + 2 layers
        assert "L1" in str(screen.query_one(ProbeCurve).render())

        await pilot.press("e")
        await pilot.pause()
        folder = tmp_path / "export"
        await pilot.press("ctrl+u", *str(folder), "enter")
        await wait_until(pilot, lambda: screen.export is not None)
        for name in ("head_view.html", "model_view.html", "attention.npz", "tokens.json"):
            assert (folder / name).is_file()
            assert name in str(screen.query_one("#att-export").render())
        assert "need the network" in str(screen.query_one("#att-export").render())
        meta = json.loads((folder / "tokens.json").read_text(encoding="utf-8"))
        assert meta["tokens"] == screen.result.tokens and meta["meta"]["sentence"] == SENTENCE


@run_async
async def test_diff_needs_a_fine_tuned_run(tiny_run):
    base = str(Path(tiny_run).parent / "base")
    app = ScreenApp(lambda: AttentionScreen(text=SENTENCE, model=base))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await pilot.press("d")
        await wait_until(pilot, lambda: bool(app._notifications))
        assert any("not a fine-tuned run" in n.message for n in app._notifications)
        assert screen.diff is None and not screen._busy


JS_DIR = Path(__file__).resolve().parents[2] / ".ci" / ".cache" / "browser-js"


@pytest.mark.skipif(not (JS_DIR / "d3.min.js").is_file(), reason="no local copies of bertviz's scripts "
                    "(.ci/install-browser puts them in .ci/.cache/browser-js)")
@run_async
async def test_export_is_self_contained_when_the_scripts_are_at_hand(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_BERTVIZ_JS", str(JS_DIR))
    app = ScreenApp(lambda: AttentionScreen(text=SENTENCE), Selection(run=tiny_run))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+u", *str(tmp_path / "offline"), "enter")
        await wait_until(pilot, lambda: screen.export is not None)
        assert "no network needed" in str(screen.query_one("#att-export").render())
        assert (tmp_path / "offline" / "head_view.html").stat().st_size > 300_000  # the three scripts inlined
