"""evaluate_model reports progress and can be cancelled between batches (the TUI's Evaluate screen relies on it)."""

import threading

import pytest

from tunelab.core.evaluation import evaluate_model
from tunelab.core.inference import ScoringCancelled

from conftest import train_tiny, write_toy_splits


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-progress")
    result = train_tiny(root, write_toy_splits(root / "toy"), epochs=1)
    return result.run_dir


def test_progress_counts_up_to_the_split_and_the_report_is_unchanged(run):
    seen = []
    report = evaluate_model(run, batch_size=8, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 40) and all(total == 40 for _, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 5       # one call per batch of 8
    assert report.scores == evaluate_model(run, batch_size=8).scores


def test_a_set_cancel_event_stops_the_scoring(run):
    cancel = threading.Event()
    calls = []

    def progress(done, total):
        calls.append(done)
        if done >= 16:
            cancel.set()

    with pytest.raises(ScoringCancelled):
        evaluate_model(run, batch_size=8, progress=progress, cancel=cancel)
    assert max(calls) == 16                                                          # stopped after that batch
