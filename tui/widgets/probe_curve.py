"""The per-layer probe curve as a small bar chart: which layer of an encoder knows the task's label.

The Attention screen shows it for a fine-tuned run beside its base model. `set_report(report)` takes a
`tunelab.core.probe.ProbeReport`; each layer gets one line per model (named as in the attention grid: `emb` for the embeddings, `L0` for
the output of the first encoder layer), a bar of its held-out probe accuracy (the
better of the [CLS] and mean-pooled probes) from the majority-class baseline up to 1, coloured with the theme's
plot series (`series-1` for the first model, `series-2` for the one it is compared with).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tunelab.themes import SERIES_VARIABLES, theme_color
from tunelab.tui.widgets.probability_bars import bar_cells


class ProbeCurve(Widget):
    """Probe accuracy per layer for one or two models, with the majority baseline as the bars' zero."""

    DEFAULT_CSS = """
    ProbeCurve { height: auto; width: 1fr; }
    ProbeCurve > .probe-curve--muted { color: $foreground-muted; }
    ProbeCurve > .probe-curve--track { background: $panel; }
    """

    COMPONENT_CLASSES = {"probe-curve--muted", "probe-curve--track"}

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._report = None
        self._names: list[str] = []

    def set_report(self, report, names: list[str] | None = None) -> None:
        """Show `report`; `names` label its curves (default: the models' names, shortened)."""
        self._report = report
        self._names = names or [_short(curve.model) for curve in report.curves]
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        if self._report is None:
            return 1
        curves = self._report.curves
        return 1 + len(curves) + len(curves[0].layers) * len(curves)

    def render(self) -> Text:
        muted = self.get_component_rich_style("probe-curve--muted")
        if self._report is None:
            return Text("no probe yet", style=muted)
        report = self._report
        floor = report.majority_accuracy
        width = self.content_region.width or self.size.width
        bar_width = max(4, width - 10)
        track = self.get_component_rich_style("probe-curve--track")
        colors = [Style(color=theme_color(self.app, SERIES_VARIABLES[i % len(SERIES_VARIABLES)]).rich_color,
                        bgcolor=track.bgcolor) for i in range(len(report.curves))]
        lines = [Text(f"bars from majority {floor:.2f}", style=muted)]
        width_name = max(len(name) for name in self._names)
        for curve, style, name in zip(report.curves, colors, self._names):
            best = curve.best_layer
            lines.append(Text.assemble(("■ ", style), (f"{name:<{width_name}} best {layer_name(best.layer)} "
                                                        f"{best.best:.2f}", muted)))
        for layer in range(len(report.curves[0].layers)):
            for i, (curve, style) in enumerate(zip(report.curves, colors)):
                score = curve.layers[layer].best
                share = (score - floor) / (1 - floor) if floor < 1 else 0.0
                bar, used = bar_cells(share, bar_width)
                name = layer_name(layer) if i == 0 else ""
                line = Text(f"{name:<4}", style=muted)
                line.append(bar, style=style)
                line.append(" " * (bar_width - used), style=track)
                line.append(f" {score:.2f}", style=muted)
                lines.append(line)
        return Text("\n").join(lines)


def layer_name(layer: int) -> str:
    """The probe's layer 0 is the embeddings; layer k is the output of the encoder's layer k - 1, which the
    attention grid calls L(k-1)."""
    return "emb" if layer == 0 else f"L{layer - 1}"


def _short(name: str, width: int = 16) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]
