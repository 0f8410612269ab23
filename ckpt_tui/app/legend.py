"""What the marks in the run list and the step table mean: defined once, for the line under
the steps and for the help screen."""

from __future__ import annotations

from .widgets.run_tree import REFUSED_MARK

# (mark, its word on the line under the steps or "" for none there, what it means in full)
LEGEND = (
    ("★", "best", "the best step by the metric (never deleted)"),
    ("L", "latest", "the latest step (never deleted)"),
    ("P", "pinned", "pinned with p (always kept)"),
    ("M", "marked", "marked with Space: deleted by the preview unless it must stay"),
    ("W", "weights only", "weights only: slimmed, its training state removed (never offered for resuming)"),
    ("DEL", "", "deleted by the preview (red, struck through)"),
    ("SLIM -X", "", "kept, but slimmed by the preview: its training state goes, freeing X"),
    ("…", "", "a save in progress or an interrupted delete (never touched)"),
    ("-1.2 GB", "", "in the run list during a project preview: what that run frees"),
    (REFUSED_MARK, "", "in the run list: its rule cannot apply there (a preview says why); nothing is deleted"),
)


def legend_line() -> str:
    """The short legend under the steps."""
    return " · ".join([f"{mark} {word}" for mark, word, _ in LEGEND if word]
                      + ["DEL/SLIM by the preview", "? every key"])
