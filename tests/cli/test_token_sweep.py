"""Token-tagging mistakes a new user makes from the CLI, through every verb: one line, exit 2, nothing written
(no run directory left after a refused `fit`)."""

from __future__ import annotations

import pytest

from conftest import build_tiny_bert, write_toy_splits
from tunelab.cli import main


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("base"))


def _refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_label_all_tokens_on_a_sentence_task_is_refused_before_any_run_directory(tmp_path, base, capsys):
    # before: accepted and silently ignored (one label per example has no sub-words to label)
    data = write_toy_splits(tmp_path / "cls")
    err = _refused(capsys, ["fit", "--model", str(base), "--data", str(data), "--eqn", "classify: label ~ sentence",
                            "--epochs", "1", "--label-all-tokens", "--out", str(tmp_path / "run")])
    assert "--label-all-tokens" in err and "classify" in err
    assert not (tmp_path / "run").exists()
