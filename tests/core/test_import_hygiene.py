"""core/ is the engine: importing any of its modules must not pull in textual or rich."""

import pkgutil
import subprocess
import sys

import tunelab.core


def test_core_modules_import_no_ui_library():
    modules = [m.name for m in pkgutil.iter_modules(tunelab.core.__path__) if not m.name.startswith("_")]
    assert {"fit", "data", "predictor", "evaluation"} <= set(modules)
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module('tunelab.core.' + m)\n"
            "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"core imported {out.stdout.strip()}"
