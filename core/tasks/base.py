"""The task interface: everything that differs between sentence labels, token tags and answer spans.

A task is named by an equation's keyword (`classify: label ~ sentence`, `classify_tokens: ner_tags ~ tokens`).
The rest of the engine (fit's loop, evaluation, the Predictor, check, summary, the CLI and the screens) asks
the task object and never tests the keyword. One module per task lives beside this one; `task_for` maps a
keyword, or one of gft's aliases, to its task. Modelled on Hugging Face's pipelines (preprocess, forward,
postprocess, one file per task) and harlequin's adapter base class.

What a task answers:
- `check_equation`: how many inputs and outputs its equations take;
- `check_split`, `labelled_splits`, `label_names`: what the equation's columns must hold (one line naming the row
  when they do not), which splits carry labels, and the label vocabulary;
- `encode`: a split as token ids with labels aligned to them (an `EncodedSplit`);
- `head_class`, `num_outputs`, `model_kwargs`: the head it trains;
- `score`, `metrics`, `default_metric`: its scores and figure of merit;
- `details`: what `tunelab eval` reports beyond the scores (per class, confusion, mistakes, the baseline);
- `describe`: what `tunelab summary --data` reports about the data; `cat_header`, `cat_rows`: what `tunelab cat`
  prints;
- `check_trainable`: what fit refuses before it writes anything; `run_record`: what run.json keeps about the
  training labels beyond their names (a regression's range of each output);
- `example_texts`, `baseline_outputs`, `varied_inputs`, `output_checks`, `shown_beside`: what `tunelab check` runs the
  model on and how it judges its outputs;
- `explain_target`, `deletion_check`: what `tunelab explain` attributes to the input words (the scalar read from the
  model's outputs: a class's probability, a tag's at one word, an answer's start + end logits, an output value), and
  whether the deletion (faithfulness) check applies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ..errors import TuneLabError, some_of


@dataclass(frozen=True)
class ExplainTarget:
    """What an explanation attributes: one number per input, read from the model's logits (as
    `inference.logits_of` gives them: (batch, outputs), or (batch, tokens, outputs) for a head per token)."""
    name: str                                  # what is explained, for the user: "acceptable", "B-PER at word 2 'paris'"
    read: Callable                             # logits tensor -> (batch,) tensor: the scalar attributed
    positions: tuple[int, ...]                 # the tokens whose attention rollout rows explain it ([CLS]: (0,))
    probability: bool = False                  # `read` is a probability (deleting words can only move it in [0, 1])


class Task(ABC):
    """One kind of supervised target. Instances are stateless singletons, found by `task_for`."""

    keyword: ClassVar[str]                  # the equation keyword, e.g. "classify_tokens"
    aliases: ClassVar[tuple[str, ...]] = ()  # gft's and Hugging Face's other names for it
    title: ClassVar[str]                    # what it predicts, in words: "a label per sentence"
    metrics: ClassVar[tuple[str, ...]]      # scores it computes itself (offline); the first few are shown first
    has_classes: ClassVar[bool] = True      # predicts one of named classes (False: numbers)
    per_token: ClassVar[bool] = False       # one prediction per word rather than per example
    answers_from_context: ClassVar[bool] = False   # the answer is a span of the second input, a passage (QA)
    max_inputs: ClassVar[int] = 2
    default_max_length: ClassVar[int | None] = None   # --max-length when none is given (None: TuneLab's default)
    several_outputs: ClassVar[bool] = False   # an equation may name several output columns (`a + b ~ text`)
    settings: ClassVar[tuple[str, ...]] = ()         # the config's TASK_OPTIONS it reads (others given are refused)

    # ---- the equation and its columns

    def check_equation(self, text: str, outputs: tuple[str, ...], inputs: tuple[str, ...]) -> None:
        """Refuse an equation of the wrong shape for this task (TuneLabError naming the equation)."""
        if len(outputs) != 1:
            raise TuneLabError(f"equation {text!r}: exactly one label column is supported, got {len(outputs)}")
        if not 1 <= len(inputs) <= self.max_inputs:
            if self.max_inputs == 1:
                raise TuneLabError(f"equation {text!r}: {self.keyword} reads one input column (the words), "
                                   f"got {len(inputs)}")
            raise TuneLabError(f"equation {text!r}: one input or a pair of inputs (a + b) is supported, got {len(inputs)}")

    @abstractmethod
    def check_columns(self, ds, equation, split: str, name: str, where, columns=None) -> None:
        """Refuse input columns of a type this task cannot read (`columns`: the names --columns gave a headerless
        file, whose first line must then be data)."""

    @abstractmethod
    def check_split(self, ds, equation, split: str, where, labelled: bool) -> None:
        """Refuse input or label cells this task cannot read, naming the row (`where(split, row)` words it)."""

    @abstractmethod
    def labelled_splits(self, splits: dict, equation, minus_one_is_a_label: bool = False) -> dict[str, bool]:
        """Which splits carry usable labels."""

    @abstractmethod
    def label_names(self, splits: dict, labeled: dict, equation, name: str) -> tuple[str, ...]:
        """The label vocabulary (classes or tags), sorted; () for numeric targets."""

    def check_trainable(self, data, label2id: dict[str, int], train) -> None:
        """What fit refuses before anything is written (fewer than two classes, classes train never has)."""

    # ---- encoding

    @abstractmethod
    def encode(self, data, split: str, tokenizer, max_length: int, label2id: dict[str, int] | None, **options):
        """One split of a TaskData as an EncodedSplit (labels aligned to the token ids, or None unlabelled);
        `options`: task settings from the config (label_all_tokens), ignored by tasks that have none."""

    # ---- the head

    @abstractmethod
    def head_class(self):
        """The transformers AutoModelFor... class this task trains."""

    def fits_model(self, get) -> bool:
        """Whether a model config (`get(key, default)` reads it) has this task's head."""
        suffix = self.head_class().__name__.replace("AutoModel", "")
        return any(str(a).endswith(suffix) for a in get("architectures") or ())

    def num_outputs(self, label_names) -> int:
        return len(label_names)

    def model_kwargs(self, label_names) -> dict:
        """Config overrides for a new head: labels and problem type."""
        return {"id2label": dict(enumerate(label_names))}

    def check_head(self, config, name: str, equation: str) -> None:
        """Refuse a trained model whose head does not fit this task (TuneLabError naming both)."""
        arch = " ".join(getattr(config, "architectures", None) or [])
        expected = self.head_class().__name__.replace("AutoModel", "")
        if arch and not arch.endswith(expected):
            raise TuneLabError(f"the equation says {equation.split(':')[0]} but {name} is a {arch}; a {self.keyword} "
                               f"task needs a model with a {expected} head")

    def label_problem(self, data, *, trains: bool = False) -> str | None:
        """A one-line refusal for label values this task cannot train on or score (`trains`: also those it can
        score but not train on), or None."""
        return None

    def non_finite_hint(self, train) -> str | None:
        """The data's likely part in a NaN or infinite training loss (`train`: the encoded train split), or None."""
        return None

    def run_record(self, train, label_names) -> dict:
        """What run.json keeps about the training labels besides their names (`train`: the encoded train split),
        for those who read the run later (the Predict screen scales a regression's bars by it); {} by default."""
        return {}

    def input_texts(self, data, split: str) -> list:
        """Every row's input as a tokenizer reads a typed sentence (a string, or an (a, b) pair): what the attention
        statistics (heads, attention-diff) run the model on."""
        return data.texts(split)

    # ---- what `tunelab check` tries

    @abstractmethod
    def example_texts(self, data, split: str, n: int) -> list:
        """Up to n inputs of `split` as a tokenizer reads them (strings, or pairs), varied (classes mixed)."""

    @abstractmethod
    def baseline_outputs(self, data, encoded, label2id: dict[str, int], outputs):
        """Outputs shaped like `outputs` (a model's on `encoded`) of the constant guess a model must beat (train's
        majority class, its mean value, no entity), and that guess in words."""

    def predict_batch(self, predictor, texts: list, pairs: list | None, batch_size: int) -> list | None:
        """The task's own predictions for `texts` (and `pairs`) with a loaded Predictor, or None when the Predictor's
        own path (a label per input, a tag per word) serves it."""
        return None

    def varied_inputs(self) -> list | None:
        """What `check` runs a model of this task on when no data is given (strings, or pairs), or None for check's own
        varied sentences."""
        return None

    def output_checks(self, logits, mask, config, new_head: bool) -> list | None:
        """`check`'s verdicts on one forward pass over varied inputs, as (name, status, detail) for label_mapping,
        probabilities and predictions_vary, where this task's head is not one distribution over named classes per
        example or per token; None: check judges the logits itself. `logits` as inference.logits_of gives them,
        `mask` the attention mask (numpy)."""
        return None

    # ---- what `tunelab explain` attributes

    deletion_check: ClassVar[bool] = False     # the faithfulness check (delete top words, watch the class's
                                               # probability) applies: one predicted class per example

    def explain_target(self, predictor, logits, words, target: str | None, word: int | None) -> ExplainTarget:
        """What to attribute for one input: `logits` the model's (1, ...) output on it (a torch tensor), `words` the
        input's words (each with `.positions`, its token indices, and `.segment`, 0 or 1 for a pair's second input),
        `target` the user's choice of class or output (None: the predicted one), `word` a 1-based word index for a
        task that predicts per word. A target or word that does not fit is a TuneLabError naming the choices."""
        raise TuneLabError(f"explaining a {self.keyword} model is not supported")

    def shown_beside(self, metric: str) -> tuple[str, ...]:
        """The scores `check` shows for the figure of merit `metric`."""
        return (metric,)

    # ---- scores

    @abstractmethod
    def score(self, outputs, encoded, label_names, metric: str) -> dict[str, float]:
        """Every built-in score of `outputs` (model outputs per example, as inference returns them) against the
        labels in `encoded` (ids into `label_names`), plus the figure of merit `metric`."""

    def details(self, data, split: str, outputs, encoded, label_names, metric: str, mistakes: int) -> dict:
        """What `tunelab eval` reports beyond the scores, as EvalReport fields (per class, confusion, mistakes, the
        majority baseline)."""
        return {}

    @abstractmethod
    def describe(self, data, tokenizer, max_length: int, say):
        """What `tunelab summary --data` reports about the data (a summary.DataSummary); `say(text)` hears progress."""

    @abstractmethod
    def cat_header(self, equation) -> list[str] | None:
        """The first line of `tunelab cat`'s text form (column names), or None."""

    @abstractmethod
    def cat_rows(self, data, split: str, limit: int | None):
        """(record, lines) per example of `split` (at most `limit`): the JSON record `tunelab cat --json` writes, and
        the lines (lists of fields) of its text form."""

    @abstractmethod
    def default_metric(self, label_names, data_name: str, is_pair: bool) -> str:
        """The figure of merit when the user names none."""

    def check_metric(self, name: str, *, named_by_user: bool = True, label_names=None) -> None:
        """Refuse, before anything is written, a metric that does not fit this task or cannot be loaded
        (`label_names`: the labels it would score, where a metric needs labels of a kind)."""
        from ..metrics import load_metric

        others = {m for task in all_tasks() if task is not self for m in task.metrics} - set(self.metrics)
        if name in others:
            raise TuneLabError(f"metric {name!r} does not apply to a {self.keyword} task; use one of: "
                               f"{', '.join(self.metrics)}")
        if name not in self.metrics:
            load_metric(name, named_by_user=named_by_user)


# ---------------------------------------------------------------- the registry

_TASKS: dict[str, Task] = {}
_ALIASES: dict[str, str] = {}


def register(task: Task) -> Task:
    _TASKS[task.keyword] = task
    for alias in task.aliases:
        _ALIASES[alias] = task.keyword
    return task


_MODULES = ("sequence", "tokens", "spans")    # the task modules, in the order the CLI and the TUI list their keywords


def _load_all() -> None:
    # every time, not only while the registry is empty: a caller may have imported one task module directly
    from . import sequence, spans, tokens  # noqa: F401  (each module registers its tasks)


def all_tasks() -> list[Task]:
    _load_all()
    order = {keyword: i for i, keyword in enumerate(_TASKS)}
    return sorted(_TASKS.values(), key=lambda t: (_MODULES.index(type(t).__module__.rsplit(".", 1)[-1]),
                                                  order[t.keyword]))


def keywords() -> tuple[str, ...]:
    """The equation keywords TuneLab trains, in the order the CLI and the TUI list them."""
    return tuple(task.keyword for task in all_tasks())


def canonical_keyword(word: str) -> str | None:
    """The task keyword for `word` (a keyword or an alias), or None."""
    _load_all()
    if word in _TASKS:
        return word
    return _ALIASES.get(word)


def task_for(keyword) -> Task:
    """The task for an equation keyword, an alias, an Equation or a TaskData."""
    keyword = getattr(getattr(keyword, "equation", keyword), "task", keyword)
    found = canonical_keyword(keyword)
    if found is None:
        raise TuneLabError(f"unknown task keyword {keyword!r}; use one of: {', '.join(keywords())}")
    return _TASKS[found]


def task_of_model(config, run_config: dict | None = None) -> str:
    """The task keyword a trained model answers: its TuneLab run's equation when the registry knows its keyword,
    else the first task whose head its config's architecture is (`fits_model`). The one place a loaded model's task
    is decided (the Predictor, eval without --eqn, check, the screens)."""
    equation = (run_config or {}).get("equation")
    if isinstance(equation, str) and ":" in equation:
        found = canonical_keyword(equation.split(":", 1)[0].strip())
        if found:
            return found
    get = config.get if isinstance(config, dict) else (lambda key, default=None: getattr(config, key, default))
    tasks = all_tasks()
    return next((task.keyword for task in tasks if task.fits_model(get)), tasks[0].keyword)


def pick_label(labels: list, target: str | None, default: int, what: str = "class") -> int:
    """The index of `target` among `labels` (a label's name, else its index as digits), `default` when None; an
    unknown target is a TuneLabError naming the choices."""
    if target is None:
        return default
    names = [str(n) for n in labels]
    if target in names:
        return names.index(target)
    if target.strip().isdigit() and int(target) < len(names):
        return int(target)
    raise TuneLabError(f"--target {target!r} is not one of this model's {what}es: {some_of(names, 8, quote=True)}"
                       if what == "class" else
                       f"--target {target!r} is not one of this model's {what}s: {some_of(names, 8, quote=True)}")


def pad_ragged(rows: list, width: int, fill, dtype) -> np.ndarray:
    """Rows of different lengths as one (len(rows), width) array, the gaps holding `fill`."""
    out = np.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out
