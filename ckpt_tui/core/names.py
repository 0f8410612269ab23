"""Validation of project and run names, which become path segments or key prefixes."""

from __future__ import annotations

import unicodedata

from .errors import InvalidName


def validate_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe single path segment, else raise InvalidName."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{what} must not be empty")
    if name in (".", "..") or ".." in name.split("/"):
        raise InvalidName(f"{what} {name!r} must not contain '..'")
    if "/" in name or "\\" in name:
        raise InvalidName(f"{what} {name!r} must not contain '/' or '\\'")
    if name.startswith("."):
        raise InvalidName(f"{what} {name!r} must not start with a dot")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidName(f"{what} {name!r} must not contain control characters")
    if name != name.strip():
        raise InvalidName(f"{what} {name!r} must not start or end with whitespace")
    if len(name.encode()) > 255:
        raise InvalidName(f"{what} is longer than 255 bytes")
    return name


def validate_project(name: str, what: str = "project name") -> str:
    """A project as selected: one name, or several joined by ``/`` for a project found
    deeper in a tree (``team/demo``); no part may be empty, ``.`` or ``..``."""
    if isinstance(name, str) and "/" in name:
        for part in name.split("/"):
            validate_name(part, what if part in ("", ".", "..") else f"part of {what} {name!r}")
        return name
    return validate_name(name, what)
