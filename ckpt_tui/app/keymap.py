"""Binding ids and the user's keymap: ``~/.config/ckpt-tui/keymap.toml``.

Every binding of the app has an id of its own, across all screens and widgets: its
action's name (``preview_run``), or, where the action takes an argument or is bound
in more than one place, a name given with the binding (``next_match``, ``last_step``,
``close_help``). The keymap file maps ids to keys, as Textual's ``App.set_keymap``
takes them::

    [keymap]
    preview_run = "P"
    delete = "x,ctrl+d"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from textual.binding import Binding, BindingsMap

KEYMAP_ENV = "CKPT_TUI_KEYMAP"


def binding_id(action: str) -> str:
    """The id an action without an argument gets: its name, without its namespace."""
    if "(" in action:  # jump(1) and jump(-1) do different things under different keys
        raise ValueError(f"a binding of {action} needs an id of its own")
    return action.removeprefix("screen.").removeprefix("app.")


def with_ids(bindings: Iterable[Binding]) -> list[Binding]:
    """``bindings``, each with an id (its own, or its action's name)."""
    return [b if b.id else replace(b, id=binding_id(b.action)) for b in bindings]


def keys_in_effect(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[Binding]:
    """``bindings`` as ``keymap`` leaves them: each with the keys that run it now."""
    bindings = list(bindings)
    remapped = BindingsMap(bindings)
    remapped.apply_keymap(dict(keymap))
    keys: dict[str | None, dict[str, None]] = {}  # in order, once each (a remapped binding is there per old key)
    for key, bound in remapped.key_to_bindings.items():
        for binding in bound:
            keys.setdefault(binding.id, {})[key] = None
    return [replace(b, key=",".join(keys[b.id])) for b in bindings if b.id in keys]


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
