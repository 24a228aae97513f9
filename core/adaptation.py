"""How a pretrained encoder is adapted before fine-tuning: which weights train, which start again, at what rate.

The ways of fine-tuning people compare, all FitConfig settings (core/config.py):
    --freeze-layers N    the embeddings and the first N encoder layers do not train
    --reinit-layers N    the top N encoder layers and the pooler start again from the model's own initialisation
                         (`_init_weights`), as in Zhang et al. 2021, "Revisiting Few-sample BERT Fine-tuning"
    --lora-r R           LoRA adapters of rank R (PEFT) on the attention's projections; every pretrained weight is
                         frozen, and the modules outside the encoder (the task's head, the pooler) train in full
                         (PEFT's `modules_to_save`, named from the model itself, so a head is never left behind)
    --layer-lr-decay F   layer-wise learning rates: the head and pooler at --lr, each encoder layer F times the one
                         above it, the embeddings lowest

`prepare` applies the first three to a freshly loaded model; `parameter_groups` builds AdamW's groups (weight
decay never on biases and LayerNorm weights); `save_model_files` writes a LoRA run's model merged
(`merge_and_unload`: a plain transformers model that `pipeline()` and every verb load unchanged) with the adapter
beside it; `save_weights` keeps a LoRA model's whole state for best/. Called by core/fit.py and core/summary.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .errors import TuneLabError, some_of


# ---------------------------------------------------------------- the model's parts

def is_lora(model) -> bool:
    """The model is wrapped by PEFT (it carries adapters)."""
    return hasattr(model, "peft_config") and callable(getattr(model, "get_base_model", None))


def transformer(model):
    """The transformers model itself, inside a PEFT wrapper or not."""
    return model.get_base_model() if is_lora(model) else model


def encoder_layers(model) -> list:
    """The encoder's layers, bottom first: BERT family base_model.encoder.layer, else the first list of modules in
    the base model as long as its config's num_hidden_layers (DistilBERT's transformer.layer); [] when none is."""
    import torch

    base = transformer(model).base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is not None:
        return list(layers)
    count = getattr(getattr(base, "config", None), "num_hidden_layers", None)
    for module in base.modules():
        if isinstance(module, torch.nn.ModuleList) and count and len(module) == count:
            return list(module)
    return []


def _embeddings(model):
    return getattr(transformer(model).base_model, "embeddings", None)


def head_module_names(model) -> list[str]:
    """The modules with weights outside the embeddings and the encoder layers, by their full names: the task's head
    (classifier, qa_outputs, ...) and the pooler. They are what fine-tuning adds or what the pretrained checkpoint
    may lack, so LoRA trains them in full. Asked of the model, never of the task's keyword."""
    net = transformer(model)
    base = net.base_model
    inside = {id(p) for part in [_embeddings(net), *encoder_layers(net)] if part is not None for p in part.parameters()}
    names = []
    for name, child in net.named_children():
        params = [id(p) for p in child.parameters()]
        if child is base:
            names += [f"{name}.{n}" for n, c in base.named_children()
                      if (ids := [id(p) for p in c.parameters()]) and not any(i in inside for i in ids)]
        elif params:
            names.append(name)
    return names


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters. A LoRA model's total is the encoder's, the adapters' and the head's (PEFT's
    frozen copy of the head, kept to switch adapters off, is not counted)."""
    trainable = total = 0
    for name, p in model.named_parameters():
        if ".original_module." in name:
            continue
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def describe(model) -> dict:
    """What run.json records about how the model trains: parameter counts and, with LoRA, its targets and the
    modules trained in full."""
    trainable, total = parameter_counts(model)
    out: dict = {"trainable": trainable, "total": total}
    if is_lora(model):
        config = model.peft_config["default"]
        out["lora_targets"] = sorted(config.target_modules) if not isinstance(config.target_modules, str) \
            else [config.target_modules]
        out["trained_in_full"] = list(config.modules_to_save or [])
    return out


# ---------------------------------------------------------------- checks before anything is written

def check(config, model_config, head_class=None, *, trust_remote_code: bool = False) -> None:
    """Refuse what cannot apply to this model (one line): more layers to re-initialise than it has, re-initialised
    layers that --freeze-layers would freeze, LoRA targets the model lacks (looked up in the model with its head
    (`head_class`, an AutoModelFor... class) built on the meta device: no weights are read)."""
    n_layers = getattr(model_config, "num_hidden_layers", 0) or 0
    if config.reinit_layers > n_layers:
        raise TuneLabError(f"--reinit-layers {config.reinit_layers}: the model has only {n_layers} layers")
    if config.reinit_layers and config.freeze_layers >= 0 and config.freeze_layers + config.reinit_layers > n_layers:
        raise TuneLabError(f"--freeze-layers {config.freeze_layers} would freeze some of the top "
                           f"{config.reinit_layers} layers --reinit-layers starts again (the model has {n_layers}), so "
                           f"they would stay random; give at most --freeze-layers {n_layers - config.reinit_layers}")
    if not (config.lora_r or config.reinit_layers or config.layer_lr_decay != 1.0):
        return
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        with torch.device("meta"):
            net = (head_class or AutoModelForSequenceClassification).from_config(
                model_config, trust_remote_code=trust_remote_code)
    except Exception:       # building it for real says what is wrong, in its own words
        return
    if (config.reinit_layers or config.layer_lr_decay != 1.0) and len(encoder_layers(net)) != n_layers:
        flag = "--reinit-layers" if config.reinit_layers else "--layer-lr-decay"
        raise TuneLabError(f"{flag}: TuneLab cannot tell the encoder layers of a {model_config.model_type} model "
                           f"apart (it looks for base_model.encoder.layer); drop {flag}")
    if config.lora_r:
        refuse_missing_targets(net, lora_targets(model_config.model_type, config.lora_targets))


def lora_targets(model_type: str, given: str) -> list[str]:
    """The module names that get LoRA adapters: the user's --lora-targets, else PEFT's own for the architecture."""
    if given.strip():
        return [t.strip() for t in given.split(",")]
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    targets = PEFT_TARGETS.get(model_type)
    if not targets:
        raise TuneLabError(f"PEFT has no default LoRA targets for {model_type} models; name the modules with "
                           f"--lora-targets (e.g. the attention's projections, such as q_lin,v_lin)")
    return list(targets)


def _adaptable(module) -> bool:
    import torch

    return isinstance(module, (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d)) \
        or type(module).__name__ == "Conv1D"


def refuse_missing_targets(model, targets: list[str]) -> None:
    """Each LoRA target names at least one linear (or embedding) module of the model, as PEFT matches names (the
    whole name, or its last dotted parts)."""
    modules = dict(model.named_modules())
    for target in targets:
        found = [m for name, m in modules.items() if name == target or name.endswith("." + target)]
        if not any(_adaptable(m) for m in found):
            names = sorted({name.rsplit(".", 1)[-1] for name, m in modules.items() if _adaptable(m)})
            what = "no module" if not found else "no linear module"
            raise TuneLabError(f"--lora-targets: the model has {what} named {target!r}; its linear and embedding layers are "
                               f"named "
                               f"{some_of(names, 12)}")


# ---------------------------------------------------------------- preparing the model

def prepare(model, config):
    """The freshly loaded model as `config` trains it: frozen (--freeze-layers), partly re-initialised
    (--reinit-layers) and wrapped with LoRA adapters (--lora-r). Draws random numbers (seed first)."""
    freeze(model, config.freeze_layers)
    reinit_top_layers(model, config.reinit_layers)
    if config.lora_r:
        model = with_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout,
                          lora_targets(model.config.model_type, config.lora_targets))
    return model


def freeze(model, n_layers: int) -> None:
    """Freeze the embeddings and the first n encoder layers (n = -1 freezes nothing)."""
    if n_layers < 0:
        return
    embeddings = _embeddings(model)
    for part in [*([embeddings] if embeddings is not None else []), *encoder_layers(model)[:n_layers]]:
        for p in part.parameters():
            p.requires_grad_(False)


def reinit_top_layers(model, n: int) -> None:
    """Re-initialise the top n encoder layers and the pooler with the model's own `_init_weights` (as
    `from_config` would initialise them); n = 0 does nothing."""
    if n <= 0:
        return
    net = transformer(model)
    layers = encoder_layers(net)
    if n > len(layers):
        raise TuneLabError(f"--reinit-layers {n}: the model has only {len(layers)} layers")
    pooler = getattr(net.base_model, "pooler", None)
    for part in [*layers[-n:], *([pooler] if pooler is not None else [])]:
        for module in part.modules():
            # transformers' init functions skip tensors marked as loaded from the checkpoint: unmark them first
            for p in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                p._is_hf_initialized = False
            module._is_hf_initialized = False
            net._init_weights(module)


def with_lora(model, r: int, alpha: float, dropout: float, targets: list[str]):
    """`model` wrapped with LoRA adapters on `targets`; the modules outside the encoder (head, pooler) train in full
    and are saved with the adapter (naming them is what keeps a head from being lost on reload: PEFT guesses only
    'classifier' and 'score')."""
    from peft import LoraConfig, get_peft_model

    refuse_missing_targets(model, targets)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        modules_to_save=head_module_names(model))
    try:
        with warnings.catch_warnings():     # PEFT asks transformers a deprecated question (is_gradient_checkpointing)
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(model, config)
    except ValueError as err:
        raise TuneLabError(f"LoRA cannot be applied to this model: {str(err).splitlines()[0]}") from None


# ---------------------------------------------------------------- the optimizer's groups

def _decayed(name: str, p) -> bool:
    """AdamW decays weight matrices only: not biases, not LayerNorm weights."""
    return not (p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name)


def layer_depths(model) -> dict[int, int]:
    """id(parameter) -> its depth: 0 for the embeddings, i + 1 for encoder layer i; parameters not listed (head,
    pooler) are above the top layer."""
    depth = {}
    embeddings = _embeddings(model)
    if embeddings is not None:
        depth.update({id(p): 0 for p in embeddings.parameters()})
    for i, layer in enumerate(encoder_layers(model)):
        depth.update({id(p): i + 1 for p in layer.parameters()})
    return depth


def parameter_groups(model, lr: float, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """AdamW's parameter groups over the trainable parameters. Without layer decay: decayed and not decayed, both at
    the optimizer's lr. With it, per depth (head first, embeddings last), the group's lr = lr x decay ** (how far
    below the head it is): the head and pooler at lr, the top layer at lr x decay, the embeddings lowest."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if layer_decay == 1.0:
        decay = [p for name, p in trainable if _decayed(name, p)]
        no_decay = [p for name, p in trainable if not _decayed(name, p)]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    depths = layer_depths(model)
    top = len(encoder_layers(model)) + 1
    groups = []
    for depth in range(top, -1, -1):
        at_depth = [(name, p) for name, p in trainable if depths.get(id(p), top) == depth]
        where = "head" if depth == top else "embeddings" if depth == 0 else f"layer {depth - 1}"
        for decayed in (True, False):
            params = [p for name, p in at_depth if _decayed(name, p) == decayed]
            if params:
                groups.append({"params": params, "weight_decay": weight_decay if decayed else 0.0,
                               "lr": lr * layer_decay ** (top - depth), "name": where})
    return groups


# ---------------------------------------------------------------- saving

def save_weights(model, folder: Path) -> None:
    """The model's weights as folder/model.safetensors: save_pretrained for a plain model; every tensor of a LoRA
    model (its save_pretrained would write the adapter alone), so best/ can be put back into it."""
    if not is_lora(model):
        model.save_pretrained(folder, safe_serialization=True)
        return
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / "model.safetensors"))


def load_weights(model, file: Path) -> None:
    """Put back what `save_weights` wrote for a LoRA model: every tensor, strictly (a key that does not fit fails)."""
    from safetensors.torch import load_model

    load_model(model, str(file), strict=True)


def save_model_files(model, folder: Path, adapter: Path | None) -> None:
    """The final model in `folder` as transformers loads it. A LoRA model: its adapter (with the head and pooler
    trained in full) into `adapter` first, then merged into the weights (merge_and_unload) and saved plain, with no
    adapter file beside it that would make transformers load the adapter a second time."""
    if not is_lora(model):
        model.save_pretrained(folder, safe_serialization=True)
        return
    if adapter is not None:
        model.save_pretrained(adapter, safe_serialization=True)
    merged = model.merge_and_unload()
    merged.save_pretrained(folder, safe_serialization=True)


# ---------------------------------------------------------------- in words

def method_text(config: dict) -> str:
    """How a run fine-tuned, in a few words, from its run.json "config": "full fine-tuning", "LoRA r 8 (alpha 16)",
    "embeddings and 4 layers frozen", with "top 2 layers re-initialised" and "layer lr decay 0.9" added."""
    def number(name, default):
        value = config.get(name, default)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    r, freeze_n = number("lora_r", 0) or 0, number("freeze_layers", -1)
    if r:
        parts = [f"LoRA r {r:g} (alpha {number('lora_alpha', 16.0):g})"]
    elif freeze_n >= 0:
        parts = [f"embeddings and {freeze_n:g} layers frozen" if freeze_n else "embeddings frozen"]
    else:
        parts = ["full fine-tuning"]
    if number("reinit_layers", 0):
        parts.append(f"top {number('reinit_layers', 0):g} layers re-initialised")
    if number("layer_lr_decay", 1.0) != 1.0:
        parts.append(f"layer lr decay {number('layer_lr_decay', 1.0):g}")
    return ", ".join(parts)


def trained_text(parameters: dict, count=lambda n: f"{n:,}") -> str:
    """"295k of 22.9M parameters trained (1.3%)" from run.json's "parameters" ("" when it has none)."""
    if not isinstance(parameters, dict):
        return ""
    trainable, total = parameters.get("trainable"), parameters.get("total")
    if not (isinstance(trainable, int) and isinstance(total, int) and total > 0):
        return ""
    if trainable == total:
        return f"all {count(total)} parameters trained"
    return f"{count(trainable)} of {count(total)} parameters trained ({trainable / total:.1%})"
