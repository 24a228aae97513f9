"""The fine-tuning configuration: one frozen dataclass; the CLI flags, the TUI's form and run.json are views of it.

Every field is declared once with `setting(...)`: its default (with a comment saying why), its help text, its
valid range, and its command-line flag. `FitConfig.validate()` checks the ranges, `tunelab/cli/fit.py` builds
its flags from `SETTINGS`, and `FitConfig.to_argv()` turns a config back into flags (used to launch a detached
run). Called by the CLI, the trainer, resume (run.json -> FitConfig) and the TUI's Train screen.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from .errors import TuneLabError


DEFAULT_MAX_LENGTH = 128  # covers CoLA (longest 47 tokens) and SST-2; capped at the model's own limit
AUTO_BATCH = "auto"       # --batch-size auto: the largest micro-batch that fits (core/auto_batch.py)
MAX_SEED = 2**32 - 1       # numpy's and torch's seedable range
DEVICE_WORDS = "auto, cpu, cuda, cuda:N or mps"
_DEVICE_TEXT = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
ATTENTION_CHOICES = ("auto", "sdpa", "flash", "eager")


def device_text_problem(text) -> str | None:
    """A one-line complaint when `text` is not a device name TuneLab takes (syntax only: whether this machine has
    it is core.device.pick_device's to say), else None. Here, not in core.device, so the TUI's form checks it
    without importing torch."""
    if isinstance(text, str) and _DEVICE_TEXT.fullmatch(text.strip().lower()):
        return None
    return f"unknown device {text!r}; use {DEVICE_WORDS}"


@dataclass(frozen=True)
class Setting:
    """How one FitConfig field is shown, parsed and checked; read from the field's metadata."""

    name: str
    kind: type                  # int, float, str, bool, or tuple for a list of names
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False         # minimum is exclusive
    flag: str | None = None     # None: no flag of its own (shared flags like --model, or internal)
    metavar: str | None = None
    group: str = "training"     # where the TUI's form puts it: data, training, adaptation, evaluation, saving, device, advanced
    words: tuple[str, ...] = () # values a number setting also takes (--batch-size auto); a text setting's only values

    @property
    def optional(self) -> bool:
        return self.default is None

    def range_text(self) -> str:
        lo = _number(self.minimum) if self.minimum is not None else ""
        hi = _number(self.maximum) if self.maximum is not None else ""
        if self.minimum is not None and self.maximum is not None:
            return f"above {lo} and at most {hi}" if self.above else f"from {lo} to {hi}"
        if self.minimum is not None:
            return f"above {lo}" if self.above else f"at least {lo}"
        return f"at most {hi}" if self.maximum is not None else ""

    def check(self, value) -> str | None:
        """A one-line complaint about `value`, or None when it is fine."""
        if value is None:
            return None if self.optional else f"{self.label} needs a value"
        if self.kind is bool:
            return None if isinstance(value, bool) else f"{self.label} must be true or false, not {value!r}"
        if self.kind in (int, float):
            if isinstance(value, str) and value in self.words:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.label} must be a number{''.join(' or ' + w for w in self.words)}, not {value!r}"
            if self.kind is int and not float(value).is_integer():
                return f"{self.label} must be a whole number, not {value!r}"
            if not math.isfinite(value):
                return f"{self.label} must be a finite number, not {value}"
            too_low = self.minimum is not None and (value <= self.minimum if self.above else value < self.minimum)
            too_high = self.maximum is not None and value > self.maximum
            if too_low or too_high:
                return f"{self.label} {_number(value)} is out of range: it must be {self.range_text()}"
        if self.name == "device":
            return device_text_problem(value)
        if self.name == "gpus" and not re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*)*)?", str(value)):
            return f"--gpus {value!r}: give GPU numbers separated by commas, e.g. 0,1"
        if self.name == "attention" and value not in ATTENTION_CHOICES:
            return f"unknown attention {value!r}; use {', '.join(ATTENTION_CHOICES)}"
        if self.kind is str and self.words and value not in self.words:
            return f"{self.label} must be one of {', '.join(self.words)}, not {value!r}"
        if self.name == "save_every":
            try:
                parse_interval(value)
            except ValueError as err:
                return str(err)
        return None

    @property
    def label(self) -> str:
        return self.flag or self.name


def _number(value) -> str:
    return str(int(value)) if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15) else f"{value:g}"


def setting(default, help: str, *, minimum=None, maximum=None, above=False, flag: str | None = "", metavar=None,
            group="training", words: tuple[str, ...] = ()):
    """A dataclass field carrying its Setting; flag "" means --name-with-dashes, None means no flag."""
    return field(default=default, metadata={"help": help, "minimum": minimum, "maximum": maximum, "above": above,
                                            "flag": flag, "metavar": metavar, "group": group, "words": words})


def parse_interval(text: str) -> tuple[str, float]:
    """'10m', '90s', '1h' -> ("seconds", 600.0); '500' -> ("steps", 500); '0' -> ("off", 0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|steps?)?\s*", str(text))
    if not match:
        raise ValueError(f"--save-every {text!r}: give minutes (10m), seconds (90s), hours (1h) or steps (500); 0 turns it off")
    amount, unit = float(match.group(1)), match.group(2) or "steps"
    if amount == 0:
        return "off", 0.0
    if unit.startswith("step"):
        if not amount.is_integer():
            raise ValueError(f"--save-every {text!r}: a step count must be a whole number")
        return "steps", amount
    return "seconds", amount * {"s": 1, "m": 60, "min": 60, "h": 3600}[unit]


@dataclass(frozen=True)
class FitConfig:
    model: str = setting("minilm-l6", "the model to fine-tune", flag=None, group="data")
    # the bundled MiniLM-L6: works offline, small enough for a laptop CPU
    data: str = setting("demo", "the data to fine-tune on", flag=None, group="data")
    # the bundled minimal-pair acceptability set
    eqn: str | None = setting(None, "gft equation naming the label and input columns", flag=None, group="data")
    # None: the demo data's own equation
    columns: tuple[str, ...] | None = setting(None, "names for a headerless CSV/TSV", flag=None, group="data")
    epochs: float = setting(4.0, "passes over train, may be fractional", minimum=0, above=True, maximum=1000)
    # BERT authors: 2-4; the demo set passes 0.9 test accuracy after 3
    lr: float = setting(5e-5, "peak learning rate", minimum=0, above=True, maximum=1.0)
    # top of BERT's 2e-5..5e-5 range: small encoders like the larger end
    batch_size: int | str = setting(32, "examples per micro-batch, or auto: the largest micro-batch that fits the "
                                        "device, the effective batch (32 x --grad-accum) kept by gradient accumulation",
                                    minimum=1, maximum=65536, words=(AUTO_BATCH,))
    # BERT authors' 16 or 32; auto finds what fits a GPU without trial and error (core/auto_batch.py)
    max_length: int | None = setting(None, "truncate inputs at N tokens; batches pad only to their longest "
                                           "(default: 128, or the model's limit)", minimum=8, maximum=1_000_000)
    # a cap, not a pad width; None: 128 or the model's limit
    warmup: float = setting(0.1, "linear warm-up: a share of steps (<1) or a step count (>=1)", minimum=0, maximum=1e9)
    weight_decay: float = setting(0.01, "AdamW decay, not on biases/LayerNorm", minimum=0, maximum=10)
    # AdamW decay on weights, never on biases or LayerNorm
    seed: int = setting(42, "seed for head, dropout, batch order, validation split", minimum=0, maximum=MAX_SEED)
    grad_accum: int = setting(1, "micro-batches per optimizer step (effective batch = batch size x this)",
                              minimum=1, maximum=65536)
    freeze_layers: int = setting(-1, "freeze the embeddings and the first N layers (-1: train all)",
                                 minimum=-1, maximum=10_000, metavar="N")
    # LoRA, re-initialisation and layer-wise learning rates (core/adaptation.py): the ways of fine-tuning people compare
    lora_r: int | None = setting(None, "train LoRA adapters of this rank instead of every weight (PEFT); the task's "
                                       "head is trained in full, and the saved model is merged (the adapter is kept "
                                       "in DIR/adapter); not with --freeze-layers or --reinit-layers (empty or 0: off)",
                                 minimum=0, maximum=4096, metavar="R", group="adaptation")
    # off: full fine-tuning is the standard recipe; 8 is the LoRA paper's and PEFT's usual rank
    lora_alpha: float = setting(16.0, "LoRA scaling: the adapters' update is scaled by alpha / r", minimum=0, above=True,
                                maximum=1e6, metavar="ALPHA", group="adaptation")
    # PEFT's examples use 16 with r 8
    lora_dropout: float = setting(0.1, "dropout on the LoRA adapters' input", minimum=0, maximum=0.99, metavar="P",
                                  group="adaptation")
    # the LoRA paper's GLUE runs: 0.1
    lora_targets: str = setting("", "comma-separated names of the modules that get adapters, e.g. query,value "
                                    "(default: PEFT's choice for the architecture)", metavar="NAMES", group="adaptation")
    # "": peft's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING (BERT: query,value)
    reinit_layers: int = setting(0, "re-initialise the top N encoder layers and the pooler before fine-tuning "
                                    "(Zhang et al. 2021); not with --lora-r", minimum=0, maximum=10_000, metavar="N",
                                 group="adaptation")
    # off: reinitialising helps on small data with big models, not by default
    layer_lr_decay: float = setting(1.0, "layer-wise learning-rate decay: the head and pooler train at --lr, the top "
                                         "layer at --lr x F, each layer below at F times the one above, the embeddings "
                                         "lowest (1: off)", minimum=0, above=True, maximum=1.0, metavar="F",
                                    group="adaptation")
    # off; ELECTRA and the LLRD papers use 0.8-0.95
    eval_every: int = setting(0, "evaluate every N optimizer steps (0: at each epoch's end)",
                              minimum=0, maximum=10**9, metavar="STEPS", group="evaluation")
    early_stop: int = setting(0, "stop after N evaluations without a better figure of merit (0: off)",
                              minimum=0, maximum=10**6, metavar="PATIENCE", group="evaluation")
    metric: str | None = setting(None, "figure of merit: accuracy, f1, macro_f1, mcc, pearson, spearman, or a hub "
                                       "metric name for evaluate (default: the task's); a local metric script only "
                                       "as a path, e.g. ./mymetric/mymetric.py", group="evaluation")
    # None picks the task's (MCC for acceptability, ...)
    eval_batch_size: int = setting(128, "examples per batch when scoring", minimum=1, maximum=65536, group="evaluation")
    # no gradients at evaluation, so larger batches fit
    max_grad_norm: float = setting(1.0, "clip gradients to this norm (0: off)", minimum=0, maximum=1e6, group="advanced")
    # as in BERT and the HF Trainer
    save_every: str = setting("10m", "save a resumable checkpoint every 10m / 90s / 1h, or every N steps (0: off)",
                              metavar="INTERVAL", group="saving")
    # a kill -9 or an OOM kill loses at most this much; a MiniLM checkpoint takes about a second to write
    log_seconds: float = setting(0.5, "emit step events at most this often (seconds)", minimum=0, maximum=3600,
                                 flag=None, group="advanced")
    # one device sync per flush; every step's loss is kept
    label_all_tokens: bool = setting(False, "token tags: every sub-word of a word carries its tag (B-X becoming I-X "
                                            "after the first), not only the first sub-word", group="advanced")
    # run_ner.py's default: only the first sub-word of a word is trained on; words are scored on it either way
    doc_stride: int | None = setting(None, "question answering: tokens shared by two windows of a long context "
                                           "(default: a third of --max-length, at most 128)",
                                     minimum=0, maximum=1_000_000, metavar="TOKENS", group="advanced")
    # run_qa.py's 128 at length 384: an answer near a window's edge is whole in the next one
    n_best: int = setting(20, "question answering: start and end candidates per window", minimum=1, maximum=1000,
                          metavar="N", group="advanced")
    # utils_qa.py's n_best_size
    max_answer_length: int = setting(30, "question answering: longest answer, in tokens", minimum=1,
                                     maximum=1_000_000, metavar="TOKENS", group="advanced")
    # utils_qa.py's default: SQuAD answers are short
    null_threshold: float = setting(0.0, "question answering with unanswerable questions: say \"no answer\" when its "
                                         "score beats the best span's by more than this", minimum=-1e6, maximum=1e6,
                                    metavar="X", group="advanced")
    # utils_qa.py's null_score_diff_threshold; eval reports the one that would have scored best
    device: str = setting("auto", f"where to train: {DEVICE_WORDS} (auto: a GPU when torch can use one, else the CPU)",
                          group="device")
    # auto picks CUDA, then Apple's MPS, then the CPU; a named device that is not there is refused in one line
    attention: str = setting("auto", "attention kernel: auto (FlashAttention-2 where installed, on CUDA, for a model "
                                     "that has it; else sdpa), sdpa, flash or eager", group="device")
    # SDPA is torch's fused attention everywhere; flash-attn's variable-length path skips padding on CUDA
    processes: int = setting(1, "training processes (data parallel): one per GPU, or several gloo processes on the "
                                "CPU; tunelab fit starts them itself", minimum=1, maximum=1024, metavar="N",
                             group="device")
    # 1: one process; under torchrun or accelerate launch the launcher's own count holds
    gpus: str = setting("", "which GPUs the processes use, e.g. 0,1 (default: every visible GPU)", metavar="IDS",
                        group="device")
    # sets CUDA_VISIBLE_DEVICES for the processes; "" leaves it as it is
    compile: str = setting("off", "compile the training step with torch.compile (Inductor): on, off, or auto "
                                  "(compile where it was measured to pay: CUDA; eager on CPU)",
                           words=("auto", "on", "off"), metavar="{auto,on,off}", group="advanced")
    # off: on 2 CPU cores compiling MiniLM's step took longer than the whole eager run (README, "Speed")
    out: str = setting("", "run directory (default: runs/<time>-<model>)", group="saving")
    # "" makes runs/<time>-<model>
    trust_remote_code: bool = field(default=False, metadata={"setting": False})
    # run Python code shipped with the model (auto_map): only by the user's --trust-remote-code, never from a file
    # (from_dict drops it, so a run.json from elsewhere cannot turn it on); not a form setting

    def task_options(self) -> dict:
        """The settings a task's encoding and scoring read (token tags, question answering)."""
        return task_options(asdict(self))

    def with_out(self) -> "FitConfig":
        if self.out:
            return self
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = Path(self.model).name if self.model else "model"
        return FitConfig(**{**asdict(self), "out": str(Path("runs") / f"{stamp}-{name}")})

    def validate(self) -> None:
        """Raise TuneLabError naming the first setting out of range."""
        for s in SETTINGS:
            problem = s.check(getattr(self, s.name))
            if problem:
                raise TuneLabError(problem)
        if not isinstance(self.trust_remote_code, bool):
            raise TuneLabError(f"trust_remote_code must be true or false, not {self.trust_remote_code!r}")
        refuse_conflicting_adaptation(self)
        if self.warmup >= 1 and self.warmup != int(self.warmup):
            raise TuneLabError(f"--warmup {self.warmup:g}: a value of 1 or more counts steps, so it must be whole "
                               f"(or below 1, a share of the steps)")

    def to_argv(self) -> list[str]:
        """The `tunelab fit` flags that reproduce this config (non-default values only)."""
        argv: list[str] = []
        for s in SETTINGS:
            value = getattr(self, s.name)
            if value == s.default:
                continue
            if s.name == "columns":
                argv += ["--columns", ",".join(value)]
            elif s.name in ("model", "data", "eqn"):
                argv += [f"--{s.name}", str(value)]
            elif s.kind is bool:
                argv += [s.flag] if value and s.flag else []
            elif s.flag:
                argv += [s.flag, repr(value) if isinstance(value, float) else str(value)]
        if self.trust_remote_code:
            argv.append("--trust-remote-code")
        return argv

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "FitConfig":
        if not isinstance(data, dict):
            raise TuneLabError(f"the saved configuration is a {type(data).__name__}, not a mapping of settings")
        names = {f.name for f in fields(cls)} - {"trust_remote_code"}   # permission to run code is never read
        values = {k: v for k, v in data.items() if k in names}
        if values.get("columns") is not None:
            values["columns"] = tuple(values["columns"])
        return cls(**values)


def refuse_conflicting_adaptation(config: "FitConfig") -> None:
    """Settings of fine-tuning that contradict each other, refused in one line: LoRA freezes every pretrained weight
    (so --freeze-layers would say nothing more, and re-initialised layers would stay random), and re-initialised
    layers must not be frozen."""
    if config.lora_r:
        if config.freeze_layers >= 0:
            raise TuneLabError(f"--lora-r {config.lora_r} already freezes every pretrained weight (only the adapters and "
                               f"the head train); drop --freeze-layers {config.freeze_layers}")
        if config.reinit_layers:
            raise TuneLabError(f"--reinit-layers {config.reinit_layers} with --lora-r {config.lora_r}: LoRA freezes the "
                               f"encoder, so the re-initialised layers would stay random; drop one of them")
    elif config.lora_r is None and (config.lora_targets.strip() or config.lora_alpha != 16.0 or config.lora_dropout != 0.1):
        # an explicit --lora-r 0 is "off" and leaves them unused (a --grid lora_r=0,8 compares against full fine-tuning)
        given = next(flag for flag, changed in (("--lora-targets", bool(config.lora_targets.strip())),
                                               ("--lora-alpha", config.lora_alpha != 16.0),
                                               ("--lora-dropout", config.lora_dropout != 0.1)) if changed)
        raise TuneLabError(f"{given} shapes LoRA adapters, but LoRA is off; give --lora-r R (e.g. --lora-r 8) "
                           f"or drop {given}")
    targets = [t.strip() for t in config.lora_targets.split(",")] if config.lora_targets.strip() else []
    if any(not t for t in targets):
        raise TuneLabError(f"--lora-targets {config.lora_targets!r}: give comma-separated module names, none of them "
                           f"empty, e.g. query,value")


def refuse_untrusted_resume(saved: dict, trust_remote_code: bool, run: str) -> None:
    """A run started with --trust-remote-code resumes only when the user passes it again: `saved` (run.json's
    "config") may say so, but a file cannot give the permission."""
    if isinstance(saved, dict) and saved.get("trust_remote_code") is True and trust_remote_code is not True:
        raise TuneLabError(f"{run!r} was started with --trust-remote-code (its model runs code from its own files); "
                           f"resume it with: tunelab fit --resume {run} --trust-remote-code")


def _settings() -> tuple[Setting, ...]:
    out = []
    for f in fields(FitConfig):
        meta = f.metadata
        if meta.get("setting") is False:
            continue
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(str(f.type).split(" |")[0].strip(), str)
        if f.name == "columns":
            kind = tuple
        flag = meta.get("flag", "")
        flag = None if flag is None else (flag or "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        out.append(Setting(f.name, kind, default, meta.get("help", ""), meta.get("minimum"), meta.get("maximum"),
                           meta.get("above", False), flag, meta.get("metavar"), meta.get("group", "training"),
                           tuple(meta.get("words", ()))))
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _settings()
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


TASK_OPTIONS = ("label_all_tokens", "doc_stride", "n_best", "max_answer_length", "null_threshold")


def refuse_foreign_settings(given: dict, kind) -> None:
    """Refuse a task setting (TASK_OPTIONS) given away from its default to a task that does not read it
    (`kind.settings`): --doc-stride on a sentence classifier would be silently ignored."""
    for name in TASK_OPTIONS:
        s = SETTINGS_BY_NAME[name]
        if name in given and given[name] is not None and given[name] != s.default and name not in kind.settings:
            reads = f"; it reads {', '.join('--' + n.replace('_', '-') for n in kind.settings)}" if kind.settings else ""
            raise TuneLabError(f"{s.flag} is a setting of {_task_of_setting(name)}, but this is a {kind.keyword} task, "
                               f"which does not read it{reads}; drop {s.flag}")


def _task_of_setting(name: str) -> str:
    from .tasks.base import all_tasks

    return " and ".join(t.keyword for t in all_tasks() if name in t.settings) or "no task"


def task_options(config: dict) -> dict:
    """The task settings (TASK_OPTIONS) of a config as a dict (a run.json's "config", or a FitConfig's fields), each
    checked as fit checks it; a missing or out-of-range one keeps its default (a run.json from an older TuneLab)."""
    out = {}
    for name in TASK_OPTIONS:
        s = SETTINGS_BY_NAME[name]
        value = config.get(name, s.default) if isinstance(config, dict) else s.default
        out[name] = value if s.check(value) is None else s.default
    return out

