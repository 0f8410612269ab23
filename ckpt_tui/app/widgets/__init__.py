"""Widgets of the main screen."""

from .checkpoint_table import CheckpointTable, Column
from .details import DetailsPanel
from .key_footer import KeyFooter
from .metric_plot import MetricPlot
from .run_tree import RunSummary, RunTree
from .status_line import StatusLine

__all__ = ["CheckpointTable", "Column", "DetailsPanel", "KeyFooter", "MetricPlot", "RunSummary", "RunTree", "StatusLine"]
