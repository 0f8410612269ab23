"""What the app says when a location holds no runs: where to look instead."""

from __future__ import annotations

import os
from pathlib import Path


def layout_names() -> str:
    """Every trainer layout the tree store reads, by display name."""
    from ..stores.layouts import display_names  # the layouts are imported once a location is opened

    return display_names()


def art_base_above(location: str) -> tuple[Path, str] | None:
    """The ART base holding ``location`` when it is a project, its ``models`` folder, a model or
    its ``checkpoints`` folder (which show no runs of their own), and the relative path to it."""
    if "://" in location:
        return None
    path = Path(os.path.abspath(location))  # ``..`` taken away as the disk backend takes it
    if (path / "models").is_dir():
        return path.parent, ".."
    if path.name == "models":
        return path.parent.parent, "../.."
    if path.parent.name == "models":
        return path.parents[2], "../../.."
    if path.name == "checkpoints" and path.parent.parent.name == "models":
        return path.parents[3], "../../../.."
    return None


def empty_hint(location: str) -> str | None:
    """One line for an empty location inside an ART base (reads the disk: call it in a worker)."""
    found = art_base_above(location)
    if found is None:
        return None
    base, up = found
    return f"This folder is inside the ART base {base}: open the base, [b]ckpt-tui {up}[/b] from here."
