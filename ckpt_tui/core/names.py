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
