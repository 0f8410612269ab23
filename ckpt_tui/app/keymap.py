"""Binding ids and the user's keymap: ``~/.config/ckpt-tui/keymap.toml``.

Every binding of the app has an id: its action's name, with its argument after a
dot where it has one (``preview_run``, ``jump.1``, ``mark_range.-1``). The keymap
file maps ids to keys, as Textual's ``App.set_keymap`` takes them::

    [keymap]
    preview_run = "P"
    delete = "x,ctrl+d"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from textual.binding import Binding

KEYMAP_ENV = "CKPT_TUI_KEYMAP"


def binding_id(action: str) -> str:
    name, _, argument = action.removeprefix("screen.").removeprefix("app.").partition("(")
    return f"{name}.{argument.rstrip(')')}" if argument else name


def with_ids(bindings: Iterable[Binding]) -> list[Binding]:
    """``bindings``, each with an id (its own, or one made from its action)."""
    return [b if b.id else replace(b, id=binding_id(b.action)) for b in bindings]


def keymap_path() -> Path:
    if os.environ.get(KEYMAP_ENV):
        return Path(os.environ[KEYMAP_ENV])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "ckpt-tui" / "keymap.toml"


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """The user's keymap (empty where there is none) and what is wrong with the file, if anything."""
    path = path or keymap_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}; the default keys apply"
    table = data.get("keymap", {})
    keymap = {k: v for k, v in table.items() if isinstance(v, str)} if isinstance(table, dict) else {}
    if not isinstance(table, dict) or len(keymap) != len(table):
        return keymap, f"{path}: [keymap] maps binding ids to key strings (preview_run = \"P\")"
    return keymap, None
