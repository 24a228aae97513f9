"""The words beside the Attention screen's heads: the highlighted head's statistics against its layer's mean
(`head_info`), the status-line version of them (`head_status`), one line per standout head and per most-changed
head for the side lists (`standout_option`, `changed_option`), and what an export wrote (`export_summary`).

They read `tunelab.core.head_stats.HeadStats`, `core.attention_diff.AttentionDiff` and
`core.bertviz_export.ExportResult` as plain objects, so this module imports neither numpy-heavy core nor torch.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.widgets.option_list import Option

STATISTICS = ("entropy", "cls", "sep", "self", "prev", "next")  # as core.head_stats.STATISTICS (not imported: numpy-free)
SHORT_NAMES = {"entropy": "entropy", "cls": "→[CLS]", "sep": "→[SEP]", "self": "self", "prev": "prev", "next": "next"}
STATUS_NAMES = {"entropy": "entropy", "cls": "[CLS]", "sep": "[SEP]", "self": "self", "prev": "prev", "next": "next"}


def marked(stats, layer: int, head: int) -> set[str]:
    """The statistics on which this head (the model's indices) stands out from its layer."""
    return {s.statistic for s in stats.standouts() if (s.layer, s.head) == (layer, head)}


def _shown(stat: str, value: float) -> str:
    return f"{value:.2f}" if stat == "entropy" else f"{value:.0%}"


def head_info(stats, layer: int, head: int, source: str, diff=None) -> Text:
    """The side panel: each statistic of the head beside its layer's mean, ★ where it stands out, and how far
    fine-tuning moved the head when `diff` is given."""
    stars = marked(stats, layer, head)
    text = Text.assemble((f"L{layer} H{head}", "bold"), ("  ★ stands out" if stars else ""), "\n",
                         (source or "this sentence", "italic"), "\n", ("         head layer\n", "dim"))
    for stat in STATISTICS:
        value = float(stats.values[stat][layer, head])
        mean = float(stats.values[stat][layer].mean())
        text.append(f"{SHORT_NAMES[stat]:<8}{_shown(stat, value):>5}", style="bold" if stat in stars else "")
        text.append(f" {_shown(stat, mean):>5}", style="dim")
        text.append(" ★\n" if stat in stars else "\n")
    if diff is not None:
        moved = diff.mean_abs_change
        rank = int((moved > moved[layer, head]).sum()) + 1
        text.append(f"moved   {moved[layer, head]:>5.0%} #{rank}/{moved.size}\n")
    text.rstrip()
    return text


def head_status(stats, layer: int, head: int) -> Text:
    """The same statistics on one line, for the status line when the side panel is hidden."""
    stars = marked(stats, layer, head)
    line = Text()
    for stat in STATISTICS:
        value = float(stats.values[stat][layer, head])
        line.append(f" {STATUS_NAMES[stat]} {_shown(stat, value)}{'★' if stat in stars else ''}",
                    style="bold" if stat in stars else "")
    return line


def standout_option(s) -> Option:
    """A standout head in the side list; its id ("statistic:layer:head") says where enter jumps."""
    if s.statistic == "entropy":
        what = f"{'broad' if s.value > s.layer_mean else 'focused'} {s.value:.2f}"
    else:
        what = f"{SHORT_NAMES[s.statistic]} {s.value:.0%}"
    return Option(Text(f"★ L{s.layer} H{s.head} {what}"), id=f"{s.statistic}:{s.layer}:{s.head}")


def changed_option(c) -> Option:
    """A head fine-tuning moved, with the statistic that moved most, base → run."""
    return Option(Text(f"L{c.layer} H{c.head} {c.mean_abs_change:4.0%} {STATUS_NAMES[c.statistic]} "
                       f"{c.base_value:.0%}→{c.tuned_value:.0%}"), id=f"diff:{c.layer}:{c.head}")


def export_summary(export, self_contained: bool, note: str) -> Text:
    """The folder and files an export wrote, whether the pages open with no network, and its warnings."""
    text = Text.assemble(("folder ", "dim"), (export.out_dir.rstrip("/") + "/\n", "bold"))
    for path in export.files.values():
        text.append(f"  {os.path.basename(path)}\n")
    if self_contained:
        text.append("self-contained: open head_view.html in a browser, no network needed", style="dim")
    else:
        text.append(note, style="italic")
    for warning in export.warnings:
        text.append(f"\nnote: {warning}", style="italic")
    return text
