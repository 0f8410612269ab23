"""``json.loads`` through the C scanner ``json`` itself reads with, without importing ``json``:
its package compiles a dozen patterns and builds its encoder's tables when imported (about 4% of
``ls`` of a small tree, which reads a history line or a weights file's header). The same values,
and the same texts refused (``ValueError``; ``RecursionError`` for nesting thousands deep)."""

from __future__ import annotations

import sys

from _json import make_scanner

_SPACE = " \t\n\r"  # what json skips around a value (its WHITESPACE)


class _Decoder:
    """What ``json.JSONDecoder()`` hands its scanner: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan = make_scanner(_Decoder)


def loads(text: str | bytes | bytearray) -> object:
    """``json.loads(text)``."""
    if isinstance(text, str):
        if text.startswith("\ufeff"):
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    else:
        text = text.decode(_encoding(text), "surrogatepass")
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    except SystemError:
        # Python 3.11's scanner raises its refusal through ``json.decoder``, which it looks up without
        # importing: before anything imported it, a text refused came out as a SystemError. Imported
        # now (a text refused is rare), the scan of the same text raises json's own ValueError.
        if "json.decoder" in sys.modules:
            raise
        import json.decoder  # noqa: F401
        return loads(text)
    if text[end:].lstrip(_SPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


def _encoding(data: bytes | bytearray) -> str:
    """``json.detect_encoding``: a byte order mark, else where the first bytes are zeros."""
    if data.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if data.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(data) >= 4:
        if not data[0]:
            return "utf-16-be" if data[1] else "utf-32-be"
        if not data[1]:
            return "utf-16-le" if data[2] or data[3] else "utf-32-le"
    elif len(data) == 2:
        if not data[0]:
            return "utf-16-be"
        if not data[1]:
            return "utf-16-le"
    return "utf-8"
