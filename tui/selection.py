"""What the user has picked so far, shared by every screen of the app: `app.selection`.

The Models screen sets `model`, the Data screen `data`, `eqn` and `columns`, the Train and Runs screens `run`;
every other screen (Evaluate, Predict, Attention, Check) reads them when it is shown. Screens never edit the
object (it is frozen): they call `app.select(model=...)`, which swaps in a new `Selection` and tells the
screens that are mounted (`Screen.on_selection_changed(selection)`, when a screen defines it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Selection:
    """The model, data and run the app works on.

    model    a model spec as `tunelab fit --model` takes it: "minilm-l6" (bundled, the default), a hub id,
             a local model directory, or a run directory (its trained model)
    data     a data spec as `--data` takes it: "demo" (bundled, the default), a file, a directory of splits,
             explicit splits "train=a.tsv,validation=b.tsv", or a hub dataset "H:glue,cola"
    eqn      the gft equation, e.g. "classify: label ~ sentence"; None means the demo data's own
    columns  names for the columns of a headerless CSV/TSV, or None
    run      the run directory last started, opened or followed (absolute path), or None
    """

    model: str = "minilm-l6"
    data: str = "demo"
    eqn: str | None = None
    columns: tuple[str, ...] | None = None
    run: str | None = None

    def replace(self, **changes) -> "Selection":
        if changes.get("columns") is not None:
            changes["columns"] = tuple(changes["columns"])
        return replace(self, **changes)

    def describe(self) -> str:
        """One line for a status bar: model · data · equation."""
        parts = [self.model, self.data]
        if self.eqn:
            parts.append(self.eqn)
        return " · ".join(parts)
