"""The fine-tuning configuration: one frozen dataclass, the CLI flags and run.json are views of it.

Called by the CLI (flags -> FitConfig), the trainer (reads it), and resume (run.json -> FitConfig).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import TuneLabError


DEFAULT_MAX_LENGTH = 128  # covers CoLA (longest 47 tokens) and SST-2; capped at the model's own limit


@dataclass(frozen=True)
class FitConfig:
    model: str = "minilm-l6"        # the bundled MiniLM-L6: works offline, small enough for a laptop CPU
    data: str = "demo"              # the bundled minimal-pair acceptability set
    eqn: str | None = None          # None: the demo data's own equation
    columns: tuple[str, ...] | None = None  # names for a headerless CSV/TSV
    epochs: float = 4.0             # BERT authors: 2-4; the demo set passes 0.9 test accuracy after 3
    lr: float = 5e-5                # top of BERT's 2e-5..5e-5 range: small encoders like the larger end
    batch_size: int = 32            # BERT authors' 16 or 32
    max_length: int | None = None   # a cap, not a pad width (batches pad to their own longest); None: 128 or the model's limit
    warmup: float = 0.1             # share of steps (<1) or a number of steps (>=1) of linear warm-up
    weight_decay: float = 0.01      # AdamW decay on weights, never on biases or LayerNorm
    seed: int = 42                  # seeds the model head, dropout, batch order and the validation split
    grad_accum: int = 1             # micro-batches per optimizer step (effective batch = batch_size * grad_accum)
    freeze_layers: int = -1         # -1: train everything; N>=0: freeze embeddings and the first N layers
    eval_every: int = 0             # 0: evaluate at each epoch's end; N: every N optimizer steps
    early_stop: int = 0             # 0: off; P: stop after P evaluations without a better figure of merit
    metric: str | None = None       # figure of merit; None picks the task's (MCC for acceptability, ...)
    eval_batch_size: int = 128      # no gradients at evaluation, so larger batches fit
    max_grad_norm: float = 1.0      # gradient clipping, as in BERT and the HF Trainer
    log_seconds: float = 0.5        # StepLogged events go out at most this often (one device sync each); every step's loss is kept
    out: str = ""                   # run directory; "" makes runs/<time>-<model>

    def with_out(self) -> "FitConfig":
        if self.out:
            return self
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = Path(self.model).name if self.model else "model"
        return FitConfig(**{**asdict(self), "out": str(Path("runs") / f"{stamp}-{name}")})

    def validate(self) -> None:
        checks = [
            (self.epochs > 0, "--epochs must be above 0"),
            (self.lr > 0, "--lr must be above 0"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.max_length is None or self.max_length >= 8, "--max-length must be at least 8"),
            (self.warmup >= 0, "--warmup must be 0 or more"),
            (self.weight_decay >= 0, "--weight-decay must be 0 or more"),
            (self.grad_accum >= 1, "--grad-accum must be at least 1"),
            (self.freeze_layers >= -1, "--freeze-layers must be 0 or more"),
            (self.eval_every >= 0, "--eval-every must be 0 or more"),
            (self.early_stop >= 0, "--early-stop must be 0 or more"),
            (self.log_seconds >= 0, "log_seconds must be 0 or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise TuneLabError(message)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "FitConfig":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if values.get("columns") is not None:
            values["columns"] = tuple(values["columns"])
        return cls(**values)
