"""The ONNX export cache under $TUNELAB_HOME is only a cache: a graph found there is used only when it is the
export of the very model asked for. Another model's model.onnx planted under a model's key (same classes, or
another number of classes), a damaged or missing export.json: each is exported again, and the answers are the
model's own (as PyTorch gives them), never the planted graph's, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import build_tiny_bert

from tunelab.core import onnx_runtime
from tunelab.core.predictor import Predictor

TEXT = "the cats are on the mat ."


def cache_folder(model: Path) -> Path:
    from tunelab.core.run_dir import state_dir

    return state_dir() / "onnx" / onnx_runtime._cache_key(str(model))


def answers(model: Path, backend: str) -> dict:
    return Predictor(str(model), backend=backend).predict(TEXT).probabilities


@pytest.fixture
def models(tmp_path):
    return {"a": build_tiny_bert(tmp_path / "a", num_labels=2, seed=1),
            "b": build_tiny_bert(tmp_path / "b", num_labels=2, seed=2),
            "many": build_tiny_bert(tmp_path / "many", num_labels=300, seed=3)}


def close(p: dict, q: dict) -> bool:
    return p.keys() == q.keys() and all(abs(p[k] - q[k]) < 1e-4 for k in p)


def test_a_clean_export_is_cached_with_the_hashes_that_vouch_for_it(models):
    own = answers(models["a"], "torch")
    assert close(answers(models["a"], "onnx"), own)
    meta = json.loads((cache_folder(models["a"]) / "export.json").read_text())
    assert meta["num_labels"] == 2 and set(meta["source"]) == {"config.json", "model.safetensors"}
    graph = (cache_folder(models["a"]) / "model.onnx").read_bytes()
    import hashlib

    assert meta["onnx_sha256"] == hashlib.sha256(graph).hexdigest()
    assert close(answers(models["a"], "onnx"), own)              # the second load reads the cache


@pytest.mark.parametrize("other", ["b", "many"])
@pytest.mark.parametrize("with_meta", [False, True])
def test_another_models_graph_under_a_models_key_is_never_used(models, other, with_meta):
    """Another model's export (2 classes: its answers would pass silently; 300: an IndexError) placed in a's
    cache folder, alone or with that model's own export.json: a's answers, and the cache is a's again."""
    own = answers(models["a"], "torch")
    answers(models["a"], "onnx")
    answers(models[other], "onnx")
    mine, theirs = cache_folder(models["a"]), cache_folder(models[other])
    shutil.copy(theirs / "model.onnx", mine / "model.onnx")
    if with_meta:
        shutil.copy(theirs / "export.json", mine / "export.json")
    predictor = Predictor(str(models["a"]), backend="onnx")
    assert predictor.backend == "onnx"
    assert close(predictor.predict(TEXT).probabilities, own)
    assert (mine / "model.onnx").read_bytes() != (theirs / "model.onnx").read_bytes()


@pytest.mark.parametrize("damage", ["missing", "garbage", "list", "wrong-classes", "graph-cut"])
def test_a_damaged_cache_entry_is_exported_again(models, damage):
    own = answers(models["a"], "torch")
    answers(models["a"], "onnx")
    folder = cache_folder(models["a"])
    meta_file = folder / "export.json"
    if damage == "missing":
        meta_file.unlink()
    elif damage == "garbage":
        meta_file.write_bytes(b"\x00{not json")
    elif damage == "list":
        meta_file.write_text("[1, 2]")
    elif damage == "wrong-classes":
        meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), "num_labels": 3}))
    else:
        graph = (folder / "model.onnx").read_bytes()
        (folder / "model.onnx").write_bytes(graph[: len(graph) // 2])
    assert close(answers(models["a"], "onnx"), own)
    assert json.loads(meta_file.read_text())["num_labels"] == 2


def test_a_graph_of_the_wrong_width_is_refused_by_the_runner(models):
    """OnnxClassifier checks the graph's output width against the model's classes itself, too."""
    graph = onnx_runtime.export(Predictor(str(models["many"]), backend="torch").model,
                                Predictor(str(models["many"]), backend="torch").tokenizer, str(models["many"]))
    with pytest.raises(ValueError, match="gives 300 outputs, not this model's 2"):
        onnx_runtime.OnnxClassifier(graph, num_labels=2)
    assert onnx_runtime.OnnxClassifier(graph, num_labels=300).names
