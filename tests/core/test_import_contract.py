"""The import-linter contract in pyproject.toml: tunelab.core imports no textual, rich, tunelab.cli or tunelab.tui,
directly or through anything it imports. Beside test_import_hygiene.py, which imports each core module."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_core_keeps_the_import_linter_contract(tmp_path):
    # the repository maps core/, tui/ and themes/ onto tunelab.* through package-dir, which import-linter's
    # module finder does not follow: lay the package out as it installs, then lint that copy
    package = tmp_path / "tunelab"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "demo", "*.jsonl", "__snapshots__")
    shutil.copytree(REPO / "tunelab", package, ignore=ignore)
    for source, name in (("core", "core"), ("tui", "tui"), ("themes", "themes")):
        shutil.copytree(REPO / source, package / name, ignore=ignore)
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout
