"""`tunelab explain` on the bundled MiniLM (its head random: what is checked is the mechanics at full size): every
method on the benchmark's 20-word sentence, IG complete within its reported delta at the default steps, the delta
small enough that no warning is raised, and the words those of the sentence."""

import json

import pytest

from tunelab.cli import main

pytestmark = pytest.mark.slow

SENTENCE = "The keys to the wooden cabinet in the hallway is on the kitchen table next to the red lamp ."


def test_every_method_on_the_bundled_model(capsys):
    for method in ("ig", "grad-input", "grad-norm", "rollout"):
        assert main(["explain", "--model", "minilm-l6", SENTENCE, "--method", method, "--json"]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["words"] == SENTENCE.split() and len(record["scores"]) == 20
        if method == "ig":
            change = record["output"] - record["baseline_output"]
            assert sum(record["scores"]) == pytest.approx(change, abs=abs(record["delta"]) + 1e-6)
            assert record["warning"] is None and record["steps"] == 32
