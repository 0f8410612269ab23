"""docs/app.md names every key the app binds: the main screen's, the step table's, the run
list's and the compare chart's."""

from __future__ import annotations

import re
from pathlib import Path

from ckpt_tui.app.screens.compare import CompareRuns
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.app.widgets import CheckpointTable, RunTree

DOC = Path(__file__).resolve().parents[2] / "docs" / "app.md"
# Textual's key names as the docs write them.
SHOWN = {"question_mark": "?", "slash": "/", "colon": ":", "escape": "Esc", "space": "Space", "delete": "Delete",
         "enter": "Enter", "up": "↑", "down": "↓", "left": "←", "right": "→", "pageup": "PgUp", "pagedown": "PgDn",
         "home": "Home", "end": "End", "shift+up": "Shift+↑", "shift+down": "Shift+↓", "ctrl+b": "Ctrl+B",
         "ctrl+f": "Ctrl+F", "left_square_bracket": "[", "right_square_bracket": "]", "plus": "+",
         "equals_sign": "=", "minus": "-", "comma": ",", "full_stop": "."}


def keys_in_docs() -> set[str]:
    """Every key written in code spans of docs/app.md (``Home End`` is two keys)."""
    spans = re.findall(r"`([^`]+)`", DOC.read_text())
    return {key for span in spans for part in span.split(" / ") for key in part.split()}


def test_every_bound_key_is_described_in_the_docs():
    described = keys_in_docs()
    missing = []
    for owner in (MainScreen, CheckpointTable, RunTree, CompareRuns):
        for binding in owner.BINDINGS:
            for key in binding.key.split(","):
                if SHOWN.get(key, key) not in described:
                    missing.append(f"{owner.__name__}: {key} ({binding.action})")
    assert not missing, missing
