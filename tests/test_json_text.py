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


def fresh_python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` run by an interpreter of its own (no site hooks: nothing imports ``json`` first)."""
    return subprocess.run([sys.executable, "-S", "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path[1:]]), **env})
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
    code = ("import sys; base = sys.argv[1]; sys.argv = ['ckpt-tui', 'ls', base]; from ckpt_tui.__main__ import main; "
            "code = main(); print('json' in sys.modules); sys.exit(code)")
    done = fresh_python(code, str(art_base))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"


def test_texts_refused_before_json_is_imported_are_refused_as_json_refuses_them():
    """Python 3.11's scanner raises its error through ``json.decoder``, looked up without importing it: a
    text refused in a process that had not imported ``json`` raised a SystemError (no clear line: ``ls``
    failed on a history with one bad line, or a weights file whose header was cut)."""
    texts = ["{bad", '{"a": 1', "[1,]", '{"a" 1}', '"\\x"', "[", "-", b'{"w": {"dt\x00\x00\x00\x00', "1 2"]
    code = ("import sys; from ckpt_tui.core.json_text import loads\n"
            "for text in eval(sys.argv[1]):\n"
            "    try:\n        loads(text)\n    except ValueError:\n        print('ValueError')\n"
            "    else:\n        print('read')\n"
            "print('json' in sys.modules)")
    done = fresh_python(code, repr(texts))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:-1] == ["ValueError"] * len(texts)


def test_a_listing_reads_a_bad_history_line_and_a_cut_header_without_json_imported(art_base):
    """``ls`` in a process of its own: a history line that is no JSON is counted, a weights file whose header
    was cut mid-write (a preallocated file) makes its step incomplete; the listing does not fail."""
    model = art_base / "demo" / "models" / "agent-001"
    with open(model / "history.jsonl", "a") as history:
        history.write("{bad\n")
    header = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'
    cut = (len(header)).to_bytes(8, "little") + header[:10] + b"\0" * (len(header) - 10) + b"\0" * 16
    step = sorted(p for p in (model / "checkpoints").iterdir())[0]
    (step / "adapter_model.safetensors").write_bytes(cut)
    code = ("import sys; base = sys.argv[1]; sys.argv = ['ckpt-tui', 'ls', base]; from ckpt_tui.__main__ import main; "
            "code = main(); import json; from ckpt_tui.core import list_runs; "
            "from ckpt_tui.stores.local import LocalStore; store = LocalStore(base); "
            "print(json.dumps({r: (run.metrics.malformed, [c.step for c in run.checkpoints]) "
            "for (p, r), run in store.load_runs(list_runs(store))})); sys.exit(code)")
    done = fresh_python(code, str(art_base), CKPT_TUI_SETTLE_SECONDS="0", XDG_CACHE_HOME=str(art_base / "cache"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    malformed, complete = json.loads(done.stdout.splitlines()[-1])["agent-001"]
    assert malformed >= 1 and complete and int(step.name) not in complete
