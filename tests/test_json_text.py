"""``core.json_text.loads`` reads what ``json.loads`` reads, as it reads it, and refuses what it refuses;
a listing of a small tree imports no ``json``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt_tui.core.json_text import loads

ROOT = Path(__file__).parent.parent
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=12)
SPACE = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0", max_size=3)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                             "utf-32-be"])


def outcome(read, text):
    try:
        value = read(text)
    except RecursionError:
        return "RecursionError"
    except ValueError:
        return "ValueError"
    return json.dumps(value, sort_keys=True), math.isnan(value) if isinstance(value, float) else None


def same(text):
    assert outcome(loads, text) == outcome(json.loads, text), repr(text)


@settings(derandomize=True, max_examples=700, deadline=None)
@given(VALUES, SPACE, SPACE, st.sampled_from(["", "x", ",", "}", "\ufeff", "1", " 1", "\x00"]), st.booleans())
def test_json_documents_read_alike(value, before, after, tail, at_start):
    text = json.dumps(value, allow_nan=True)
    same(tail + before + text + after if at_start else before + text + after + tail)


@settings(derandomize=True, max_examples=700, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tnrufalsNIiy \t\n\r\\/\ufeff\x00\ud800', max_size=24))
def test_any_text_reads_alike(text):
    same(text)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(VALUES, ENCODINGS, st.binary(max_size=4), st.booleans())
def test_bytes_read_alike(value, encoding, noise, noisy):
    data = json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")
    same(noise + data if noisy else data)


def test_deep_nesting_and_constants_read_alike():
    for text in ["[" * 100_000 + "]" * 100_000, "NaN", "-Infinity", '{"a": Infinity}', "", " ", "1 2", "\ufeff1",
                 b"\xef\xbb\xbf1", b"\x00\x001\x00", b"1\x00", "[1,]", '{"a":1,"a":2}', '"\\ud800"', "1e999"]:
        same(text)


def test_a_listing_of_a_small_tree_imports_no_json(art_base):
    code = ("import sys; sys.argv = ['ckpt-tui', 'ls', sys.argv[1]]; from ckpt_tui.__main__ import main; "
            "code = main(); print('json' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(art_base)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path[1:]])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"
