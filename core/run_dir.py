"""The run directory: the contract between a training process and whoever watches it.

    DIR/run.json             the resolved configuration (written first)
    DIR/events.jsonl         append-only progress events, one JSON line each
    DIR/checkpoints/last/    the resumable state (model, optimizer, scheduler, RNG, step)
    DIR/checkpoints/best/    the best model so far by the figure of merit
    DIR/model/               the final model: save_pretrained (safetensors) + tokenizer
    DIR/metrics.json         final scores

Watchers (the CLI, the TUI, a notebook) only read it. Runs are also remembered in a small history file
so `tunelab models` can list recent outputs. Called by the trainer, resume, `tunelab runs`/`models`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import TuneLabError


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "run.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def last(self) -> Path:
        return self.root / "checkpoints" / "last"

    @property
    def best(self) -> Path:
        return self.root / "checkpoints" / "best"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    def read_config(self) -> dict:
        if not self.config.is_file():
            raise TuneLabError(f"{str(self.root)!r} is not a TuneLab run directory (no run.json)")
        return json.loads(self.config.read_text(encoding="utf-8"))


def new_run_dir(out: str) -> RunDir:
    """Create DIR for a new run; refuse one that already holds a run or other files."""
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise TuneLabError(f"--out {out!r} is a file, not a directory")
    if root.is_dir() and any(root.iterdir()):
        if (root / "run.json").exists():
            raise TuneLabError(f"--out {out!r} already holds a run; continue it with --resume {out} or pick another --out")
        raise TuneLabError(f"--out {out!r} is not empty; pick a new or empty directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TuneLabError(f"cannot create --out {out!r}: {err.strerror}") from None
    return RunDir(root)


def write_json_atomic(path: Path, data) -> None:
    """Write JSON through a temporary file and a rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a fully written directory into place (the old one is removed only after the new one is there)."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def state_dir() -> Path:
    """Where TuneLab keeps its own small files (TUNELAB_HOME, else $XDG_STATE_HOME/tunelab)."""
    base = os.environ.get("TUNELAB_HOME") or Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "tunelab"
    return Path(base)


def remember_run(root: Path) -> None:
    try:
        state_dir().mkdir(parents=True, exist_ok=True)
        with open(state_dir() / "runs.txt", "a", encoding="utf-8") as fh:
            fh.write(str(root.resolve()) + "\n")
    except OSError:
        pass  # the history is a convenience; never fail a run over it


def recent_runs(limit: int = 20) -> list[Path]:
    """Run directories from the history (newest first) that still exist, plus any under ./runs."""
    seen: dict[str, None] = {}
    history = state_dir() / "runs.txt"
    if history.is_file():
        for line in reversed(history.read_text(encoding="utf-8").splitlines()):
            seen.setdefault(line.strip(), None)
    local = Path("runs")
    if local.is_dir():
        for child in sorted(local.iterdir(), reverse=True):
            seen.setdefault(str(child.resolve()), None)
    runs = [Path(p) for p in seen if p and (Path(p) / "run.json").is_file()]
    return runs[:limit]
