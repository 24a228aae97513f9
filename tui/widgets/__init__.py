"""Reusable widgets for TuneLab's screens: `CurveChart` (live training curves) and the attention heatmaps
`AttentionHeatmap` and `HeadGrid`. Screens import them from here; each lives in its own module."""

from .curve import CurveChart
from .heatmap import AttentionHeatmap, HeadGrid

__all__ = ["CurveChart", "AttentionHeatmap", "HeadGrid"]
