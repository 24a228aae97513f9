"""The Attention screen's long work, called from its thread workers: each model loaded once, one sentence's
attention with its head statistics and its words, head statistics over a sample of the data, the attention change against a
run's base model, the probe curve of run and base, and the bertviz export.

Every function returns what the screen shows, or raises TuneLabError with the line to show; a `progress(done,
total)` callback may raise to stop a loop between sentences (how the screen cancels). torch and transformers
are imported here, inside the calls, never when the app starts.
"""

from __future__ import annotations

import threading

from tunelab.tui.screens.target import Target, base_model_of

STATS_LIMIT = 100         # sentences of the data for the head statistics and the attention change
PROBE_LIMIT = 300         # train and held-out examples for each layer's probe


class AttentionModels:
    """(model, tokenizer) for attention, per model spec, loaded once and shared by the screen's workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple] = {}

    def get(self, spec: str) -> tuple:
        from tunelab.core.attention import load_attention_model_noted

        with self._lock:
            if spec not in self._loaded:
                self._loaded[spec] = load_attention_model_noted(spec)
            return self._loaded[spec][:2]

    def note(self, spec: str) -> str:
        """What stood in for `spec` when it is a run with no final model yet (its best checkpoint or its base
        model), '' otherwise or before it is loaded."""
        with self._lock:
            loaded = self._loaded.get(spec)
        return loaded[2] if loaded else ""


def task_data(spec: str, target: Target) -> tuple[str | None, str | None, list[str] | None]:
    """(data, equation, columns) for statistics and probes: the selection's, else those the run was trained on
    (it reads run.json)."""
    data, eqn, columns = target.data, target.eqn, target.columns
    found = base_model_of(spec)
    if found is not None:
        run = found[1]
        config = run.get("config") or {}
        if data is None or (eqn is None and data != "demo"):
            data = data or config.get("data")
            eqn = eqn or run.get("equation")
            columns = columns or config.get("columns")
    return data, eqn, columns


def sentence_attention(models: AttentionModels, spec: str, text: str, pair: str | None, cancelled=lambda: False):
    """(AttentionResult, HeadStats of this one sentence, the token index of each word's first sub-word, whether the
    model tags words, whether it answers a question from a context), or None if `cancelled()` once the model is
    loaded."""
    import numpy as np

    from tunelab.core.attention import ExampleAttention, attention_for
    from tunelab.core.head_stats import HeadStatsAccumulator
    from tunelab.core.tasks.base import task_for, task_of_model

    model, tokenizer = models.get(spec)
    if cancelled():
        return None
    result = attention_for(model, tokenizer, text, pair)
    accumulator = HeadStatsAccumulator(tokenizer.cls_token_id, tokenizer.sep_token_id)
    accumulator.add(ExampleAttention(np.asarray(tokenizer.convert_tokens_to_ids(result.tokens)), result.attentions))
    task = task_for(task_of_model(model.config))     # the encoder of a token or QA model keeps its architecture
    return (result, accumulator.result(), word_starts(tokenizer, text, pair, result.tokens), task.per_token,
            task.answers_from_context)


def word_starts(tokenizer, text: str, pair: str | None, tokens: list[str]) -> list[int]:
    """The token index of each word's first sub-word (special tokens are no word), as the tokenizer's `word_ids`
    say; without a fast tokenizer, every token that is not a `##` continuation or a special token."""
    special = set(getattr(tokenizer, "all_special_tokens", []))
    encoding = tokenizer(text, pair, truncation=True, max_length=max(1, len(tokens)))
    if getattr(encoding, "is_fast", False):
        words, sequences = encoding.word_ids(0), encoding.sequence_ids(0)
        return [i for i in range(min(len(tokens), len(words))) if words[i] is not None
                and (i == 0 or (words[i], sequences[i]) != (words[i - 1], sequences[i - 1]))]
    return [i for i, t in enumerate(tokens) if t not in special and not t.startswith("##")]


def dataset_stats(models: AttentionModels, spec: str, target: Target, progress) -> tuple:
    """(HeadStats over up to STATS_LIMIT sentences of the data, a few words saying which)."""
    from tunelab.core.head_stats import head_stats, sample_texts

    data, eqn, columns = task_data(spec, target)
    texts, _split = sample_texts(data, eqn, split=None, limit=STATS_LIMIT, columns=columns)
    model, tokenizer = models.get(spec)
    stats = head_stats(model, tokenizer, texts, progress=progress)
    return stats, f"{len(texts)} sentences of {tail(data or 'demo', 12)}"


def attention_change(models: AttentionModels, spec: str, target: Target, progress) -> tuple:
    """(AttentionDiff of the run `spec` against its base model, the base's name)."""
    from tunelab.core.attention_diff import attention_diff
    from tunelab.core.errors import TuneLabError
    from tunelab.core.head_stats import sample_texts

    found = base_model_of(spec)
    if found is None:
        raise TuneLabError(f"{spec} is not a fine-tuned run (no run.json naming a base model), so there is no base "
                           "to compare its attention with; open a run directory")
    base = found[0]
    data, eqn, columns = task_data(spec, target)
    texts, _ = sample_texts(data, eqn, limit=STATS_LIMIT, columns=columns)
    return attention_diff(models.get(base), models.get(spec), texts, progress=progress), base


def probe_curves(spec: str, target: Target, progress=None):
    """The ProbeReport of `spec`, and of its base model beside it when `spec` is a run."""
    from tunelab.core.probe import probe

    found = base_model_of(spec)
    data, eqn, columns = task_data(spec, target)
    return probe(spec, data, eqn, compare=found[0] if found else None, columns=columns, limit=PROBE_LIMIT,
                 progress=progress)


def export_for_bertviz(result, folder: str, meta: dict) -> tuple:
    """(ExportResult, self-contained?, a note): the pages are self-contained (they open with no network) when the
    three scripts bertviz loads can be had from the local cache, else they load them from the CDN and the note
    says why."""
    from tunelab.core.bertviz_export import export_attention
    from tunelab.core.errors import TuneLabError

    options, note = {}, ""
    try:
        from tunelab.core import bertviz_scripts

        bertviz_scripts.load_scripts()
        options["self_contained"] = True
    except ImportError:  # a TuneLab without self-contained pages
        note = "the pages load their scripts from the CDN (they need the network)"
    except TuneLabError as err:
        note = f"the pages need the network: {err}"
    return export_attention(result, folder, meta=meta, **options), bool(options), note


def tail(path: str, width: int = 18) -> str:
    """The end of a long path, `width` characters at most."""
    return path if len(path) <= width else "…" + path[-(width - 1):]
