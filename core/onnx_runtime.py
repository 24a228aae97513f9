"""Low-latency CPU prediction: export a classifier to ONNX once, then run it with ONNX Runtime.

PyTorch's eager forward on a single short sentence is bound by per-operator overhead and a GEMM that uses
one core; ONNX Runtime fuses attention, GELU and LayerNorm and runs the graph in its own thread pool, with
the same fp32 arithmetic (outputs agree to ~1e-6). The export is cached under TuneLab's state directory,
keyed by the model's path, file stamps and head (a sentence classifier's graph and a token tagger's never share
a folder), so only the first prediction pays for it; a cached graph is used only when the sha256 of the model's
files and of the graph match what was recorded when it was exported, its head is the model's, and its output width
is the model's number of classes (else it is exported again). A token head's graph gives logits per token
(batch, tokens, classes); a sequence head's, per example. Called by the Predictor on CPU, and by an evaluation asked
for the ONNX backend or int8 (both through onnx_backend.py).

The graph is exported with eager attention (a pattern ONNX Runtime's transformer optimizer recognises) and then run
through that optimizer (`optimize`: fused attention, embedding LayerNorm, SkipLayerNorm and BiasGelu, still fp32).
The fused graph is kept only when it gives the plain graph's logits on a sample (to 1e-4); when the optimizer is
missing, fails or disagrees, the plain graph is cached instead. export.json says which (`optimized`).

`quantize` makes the opt-in int8 graph from the fp32 one (dynamic quantization), cached beside it in the same folder
(`model.int8.onnx`, vouched for by `int8.json`); only a Predictor or an evaluation asked for int8 ever uses it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from . import strict_json
from .run_dir import state_dir

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _cache_key(model_path: str, head: str = "") -> str:
    """Where a model's export lives: its path, its files' sizes and times (a quick guess, checked by `_verified`),
    and a head other than a sentence classifier's ("" keeps the folder sentence classifiers have always used)."""
    h = hashlib.sha256(str(Path(model_path).resolve()).encode())
    if head:
        h.update(f"head:{head}".encode())
    for name in SOURCE_FILES:
        f = Path(model_path) / name
        if f.is_file():
            st = f.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


# The cache is a folder anyone who can write $TUNELAB_HOME (or a copied home) could fill: a graph there is used only
# when export.json beside it holds the sha256 of the very files it was exported from and of the graph itself, and
# the graph's inputs and outputs are the model's. Anything else is exported again, silently (it is a cache).
SOURCE_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")
META_NAME = "export.json"
META_VERSION = 2     # 2: the graph may be the optimizer's (older caches are exported again)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_digest(model_path: str) -> dict[str, str]:
    """sha256 of each file the export is made from (config and weights)."""
    return {name: _sha256_file(Path(model_path) / name) for name in SOURCE_FILES if (Path(model_path) / name).is_file()}


def _read_meta(folder: Path, name: str = META_NAME) -> dict | None:
    try:
        meta = strict_json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _verified(folder: Path, source: dict[str, str], num_labels: int, head: str) -> bytes | None:
    """The cached graph's bytes when export.json vouches for it against `source`, `num_labels` and `head`, else None.
    The bytes checked are the bytes ONNX Runtime is given: the file is read once."""
    meta = _read_meta(folder)
    if not meta or meta.get("version") != META_VERSION or meta.get("source") != source or not source:
        return None
    if meta.get("num_labels") != num_labels or meta.get("head") != head:
        return None
    try:
        graph = (folder / "model.onnx").read_bytes()
    except OSError:
        return None
    if hashlib.sha256(graph).hexdigest() != meta.get("onnx_sha256"):
        return None
    return graph


def export(model, tokenizer, model_path: str, *, per_token: bool = False) -> bytes:
    """The ONNX graph of `model` (serialised bytes): from the cache when it checks out against the model's files,
    else exported now and cached (atomically, the graph first and its export.json last). `per_token`: the head
    gives logits for every token (a token tagger), so the graph's output keeps the tokens axis dynamic."""
    import json

    import torch

    from .atomic_write import write_atomic

    head = _head(model, per_token)
    folder = cache_folder(model, model_path, per_token=per_token)
    target = folder / "model.onnx"
    num_labels = int(model.config.num_labels)
    source = _source_digest(model_path)
    cached = _verified(folder, source, num_labels, head)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    sample = tokenizer("a short sentence", "and a pair", return_tensors="pt")
    names = [n for n in INPUTS if n in sample]
    tmp = target.with_name(f"model.{os.getpid()}.tmp.onnx")
    model = model.eval()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings(), _eager_attention(model):
        warnings.simplefilter("ignore")  # tracer notes about shape checks that are constant for an encoder
        torch.onnx.export(model, tuple(sample[n] for n in names), str(tmp), input_names=names, output_names=["logits"],
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                        "logits": {0: "batch", 1: "tokens"} if per_token else {0: "batch"}},
                          opset_version=17, dynamo=False)
    plain = tmp.read_bytes()
    feed = {n: sample[n].numpy().astype(np.int64) for n in names}
    fused = optimize(tmp, model.config, feed)
    graph = fused if fused is not None else plain
    tmp.write_bytes(graph)
    os.replace(tmp, target)
    meta = {"version": META_VERSION, "model_path": str(Path(model_path).resolve()), "source": source,
            "num_labels": num_labels, "head": head, "optimized": fused is not None,
            "onnx_sha256": hashlib.sha256(graph).hexdigest()}
    write_atomic(folder / META_NAME, json.dumps(meta, indent=2))
    return graph


def _head(model, per_token: bool) -> str:
    return f"{type(model).__name__}:{'tokens' if per_token else 'sequence'}"


def cache_folder(model, model_path: str, *, per_token: bool = False) -> Path:
    """The folder that holds `model`'s exported graphs (fp32 `model.onnx`, and `model.int8.onnx` once quantized)."""
    head = _head(model, per_token)
    return state_dir() / "onnx" / _cache_key(model_path, head if per_token else "")


# The int8 graph is made from the fp32 graph beside it and vouched for the same way: int8.json holds the sha256 of the
# fp32 graph it was quantized from (itself checked against the model's files by `export`) and of the int8 graph.
INT8_NAME = "model.int8.onnx"
INT8_META = "int8.json"
INT8_VERSION = 2     # 2: weights quantized per output channel (1: per tensor; cached graphs are quantized again)


def quantize(graph: bytes, folder: Path) -> bytes:
    """The dynamic int8 version of the fp32 `graph` (weights stored as int8, activations quantized per batch as it
    runs; onnxruntime.quantization.quantize_dynamic, which turns the fused attention into QAttention and the dense
    layers into integer matrix multiplies): from `folder` when int8.json vouches for it, else quantized now and cached
    there (the graph first, int8.json last). Raises what the quantizer raises when it cannot quantize the graph."""
    import json

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .atomic_write import write_atomic

    source = hashlib.sha256(graph).hexdigest()
    meta = _read_meta(folder, INT8_META)
    if meta and meta.get("version") == INT8_VERSION and meta.get("fp32_sha256") == source:
        try:
            cached = (folder / INT8_NAME).read_bytes()
        except OSError:
            cached = None
        if cached is not None and hashlib.sha256(cached).hexdigest() == meta.get("int8_sha256"):
            return cached
    folder.mkdir(parents=True, exist_ok=True)
    plain = folder / f"fp32.{os.getpid()}.tmp.onnx"
    tmp = folder / f"int8.{os.getpid()}.tmp.onnx"
    try:
        plain.write_bytes(graph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import logging

            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)     # the quantizer's advice to pre-process goes to the root logger
            try:
                # the fused operators (com.microsoft) have no ONNX shape inference: their outputs are fp32.
                # Per channel: each output column of a weight gets its own scale; on MiniLM it halved the largest
                # probability difference from fp32 (0.15 -> 0.08) for about the same speed (bench_predict.py)
                quantize_dynamic(str(plain), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            finally:
                root.setLevel(level)
        int8 = tmp.read_bytes()
        os.replace(tmp, folder / INT8_NAME)
    finally:
        plain.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    write_atomic(folder / INT8_META, json.dumps({"version": INT8_VERSION, "fp32_sha256": source,
                                                 "int8_sha256": hashlib.sha256(int8).hexdigest(),
                                                 "weights": "int8 per channel", "activations": "uint8, dynamic"},
                                                indent=2))
    return int8


class _eager_attention:
    """Within it, the model computes attention in plain operators (the pattern the optimizer fuses), not SDPA;
    the model's own setting is restored after. A model that cannot switch is exported as it is."""

    def __init__(self, model):
        self.model, self.before = model, getattr(model.config, "_attn_implementation", None)

    def __enter__(self):
        if self.before not in (None, "eager") and hasattr(self.model, "set_attn_implementation"):
            try:
                self.model.set_attn_implementation("eager")
            except Exception:   # noqa: BLE001 - an architecture without eager attention: export it as it is
                self.before = None
        return self

    def __exit__(self, *exc):
        if self.before not in (None, "eager"):
            self.model.set_attn_implementation(self.before)
        return False


def _optimizer():
    """ONNX Runtime's transformer optimizer (`optimize_model`), or None when this install has none."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except Exception:   # noqa: BLE001 - an install without the transformers tools (or a broken one)
        return None
    return optimize_model


def optimize(path: Path, config, feed: dict) -> bytes | None:
    """The graph at `path` with ONNX Runtime's BERT fusions (attention, embedding LayerNorm, SkipLayerNorm,
    BiasGelu; fp32), or None when the optimizer is not installed, fails, or its graph's logits on `feed` differ from
    the plain graph's by more than 1e-4."""
    optimize_model = _optimizer()
    heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
    if optimize_model is None or not heads or not hidden:
        return None
    out = path.with_name(f"{path.stem}.fused.onnx")
    try:
        import logging

        quiet = logging.getLogger("onnxruntime.transformers")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            fused = optimize_model(str(path), model_type="bert", num_heads=int(heads), hidden_size=int(hidden),
                                   opt_level=0, use_gpu=False)
            fused.save_model_to_file(str(out))
        finally:
            quiet.setLevel(level)
        graph = out.read_bytes()
        plain_logits = OnnxClassifier(path.read_bytes(), threads=1).session.run(None, feed)[0]
        fused_logits = OnnxClassifier(graph, threads=1).session.run(None, feed)[0]
    except Exception:   # noqa: BLE001 - the optimizer is a speed-up only: the plain graph still works
        return None
    finally:
        out.unlink(missing_ok=True)
    if fused_logits.shape != plain_logits.shape or not np.allclose(fused_logits, plain_logits, rtol=0, atol=1e-4):
        return None
    return graph


class OnnxClassifier:
    """Runs an exported classifier: `logits(encoding)` takes the tokenizer's numpy output."""

    def __init__(self, graph: bytes | Path, threads: int | None = None, num_labels: int | None = None,
                 per_token: bool = False):
        """`graph`: the serialised model (as `export` returns it) or a path. With `num_labels`, a graph whose
        inputs or output width are not a classifier's of that many classes is refused (ValueError), and so is one
        whose output is not per token (`per_token`) or per example (not `per_token`)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        # no custom-op library is ever registered, and session options stored in the graph are not read
        source = graph if isinstance(graph, bytes) else str(graph)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"],
                                            read_config_from_model=0)
        self.names = [i.name for i in self.session.get_inputs()]
        if num_labels is not None:
            outputs = self.session.get_outputs()
            width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
            rank = len(outputs[0].shape) if outputs and outputs[0].shape else None
            if (not set(self.names) <= set(INPUTS) or "input_ids" not in self.names or width != num_labels
                    or rank != (3 if per_token else 2)):
                raise ValueError(f"the ONNX graph takes {self.names} and gives {width} outputs, not this model's "
                                 f"{num_labels}")

    def logits(self, encoding) -> np.ndarray:
        feed = {n: np.asarray(encoding[n], dtype=np.int64) for n in self.names if n in encoding}
        if "token_type_ids" in self.names and "token_type_ids" not in feed:   # a batch of single sentences
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return self.session.run(None, feed)[0]
