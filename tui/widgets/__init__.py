"""Reusable widgets for TuneLab's screens, one per module: `CurveChart` (live training curves), the attention
heatmap `AttentionHeatmap` and the layer x head overview `HeadGrid`, and the smaller panels beside them."""

from .curve import CurveChart
from .head_grid import HeadGrid
from .heatmap import AttentionHeatmap

__all__ = ["CurveChart", "AttentionHeatmap", "HeadGrid"]
