"""The Attention screen's `w`: beside the heads, the sentence explained by attention rollout and by Integrated
Gradients with their Spearman rank correlation, on a tiny model whose cue word decides the label."""

from __future__ import annotations

import math

import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, wait_until
from widget_apps import run_async

from tunelab.core.explain import spearman
from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.widgets.rollout_ig import RolloutVsIG, bar


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("attention-why")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


@run_async
async def test_w_puts_rollout_beside_ig_with_their_rank_correlation(tiny_run):
    text = "the cat is happy near the table ."
    app = ScreenApp(lambda: AttentionScreen(text=text, model=tiny_run), Selection(run=tiny_run))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None, timeout=120)
        await pilot.press("w")
        await wait_until(pilot, lambda: screen.why is not None, timeout=120)
        found = screen.why
        assert found.rollout.method == "rollout" and found.rollout.attention_based
        assert found.ig.method == "ig" and found.ig.target == "acceptable" and not found.untrained
        assert found.rollout.words == found.ig.words == text.split()
        assert found.spearman == pytest.approx(spearman(found.rollout.scores, found.ig.scores))
        assert max(range(len(found.ig.scores)), key=found.ig.scores.__getitem__) == 3      # happy
        shown = screen.query_one(RolloutVsIG).render().plain
        assert "ρ" in shown and "Spearman" in shown and "happy" in shown
        assert "Rollout vs IG" in str(screen.query_one("#att-extra-title").render())
        assert screen.query_one(RolloutVsIG).display


def test_bar_eighths():
    assert bar(1.0, 1.0) == "█████" and bar(0.0, 1.0) == "     " and bar(0.5, 1.0) == "██▌  "
    assert math.isnan(spearman([1.0], [2.0]))
