"""What a view shows of a report with many classes: `tunelab eval` and the Evaluate screen call it.

A task with thousands of classes has a per-class table of thousands of rows and a confusion matrix of millions of
cells; a terminal (or a 3,000 x 3,000 table) shows none of it usefully, and drawing it stalls. Views show the
classes with the most examples and say how many more there are; the whole matrix goes out only when asked for.
Pure Python, no numpy or torch, so a screen can import it on the event loop.
"""

from __future__ import annotations

SHOWN_CLASSES = 20      # classes a terminal view (tunelab eval, the Evaluate screen) shows: the most frequent
JSON_CLASSES = 100      # classes whose confusion matrix `eval --json` writes unless asked for all of it


def top_classes(report, limit: int | None) -> list[int]:
    """Indices of the `limit` classes with the most gold examples in `report` (an evaluation.EvalReport): all when
    limit is None or there are no more; in label order, so the matrix reads as before; ties go to the earlier label."""
    n = len(report.labels) or len(report.per_class)     # rows that name no class (QA's parts) are all shown
    if limit is None or n <= limit:
        return list(range(n))
    if report.per_class:
        support = [row["support"] for row in report.per_class]
    else:
        support = [sum(row) for row in report.confusion]
    return sorted(sorted(range(n), key=lambda i: -support[i])[:limit])


def sub_confusion(report, classes: list[int]) -> list[list[int]]:
    """The confusion matrix restricted to `classes` (rows: gold, columns: predicted), in that order."""
    return [[report.confusion[i][j] for j in classes] for i in classes]


def sub_entity_confusion(report, classes: list[int]) -> tuple[list[str], list[list[int]]]:
    """A token task's entity-type confusion (its types, then O) restricted to `classes` of `report.labels` and O:
    (the row and column names, the matrix)."""
    keep = [*classes, len(report.labels)]
    names = [*(report.labels[i] for i in classes), "O"]
    return names, [[report.entity_confusion[i][j] for j in keep] for i in keep]
