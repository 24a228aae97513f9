"""What the sweeps of user mistakes (test_second_sweep, test_third_sweep) share: a tiny trained run to damage
copies of, and the check that a refusal is TuneLab's one line with exit 2."""

from __future__ import annotations

from pathlib import Path

from conftest import train_tiny, write_toy_splits


def trained_run(root: Path) -> dict:
    """A tiny run fine-tuned for one epoch on the toy splits: {"run", "data", "base"}."""
    data = write_toy_splits(root / "toy")
    return {"run": Path(train_tiny(root, data, epochs=1).run_dir), "data": data, "base": root / "base"}


def one_line(capsys, rc: int, verb: str) -> str:
    """stderr, asserted to be exactly `tunelab VERB: error: ...` on one line, with exit status 2."""
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert err.startswith(f"tunelab {verb}: error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err
