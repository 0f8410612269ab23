"""Hidden bytes in the core: uploads attributed to runs, the age threshold with an injected
clock, and the note a prune prints where the store keeps deleted objects."""

from __future__ import annotations

import io
import sys

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core.errors import Refused
from ckpt_tui.core.hidden import attribute, older_than, parse_age, soft_delete_note
from ckpt_tui.core.models import Upload

NOW = 1_800_000_000.0


def upload(path: str, age: float, size: int = 10) -> Upload:
    return Upload(path, f"id-{path}-{age}", NOW - age, size, 1)


def test_uploads_belong_to_the_run_whose_folder_holds_them():
    uploads = [upload("p/models/agent-1/checkpoints/0003/a.bin", 5), upload("p/models/agent-10/b.bin", 5),
               upload("p/models/agent-1x", 5), upload("other/c.bin", 5), upload("p/models/agent-1/x", 9)]
    runs, elsewhere = attribute(uploads, {("p", "agent-1"): "p/models/agent-1", ("p", "agent-10"): "p/models/agent-10",
                                          ("p", "none"): None})
    assert [u.path for u in runs[("p", "agent-1")].uploads] == ["p/models/agent-1/checkpoints/0003/a.bin",
                                                                 "p/models/agent-1/x"]
    assert [u.path for u in runs[("p", "agent-10")].uploads] == ["p/models/agent-10/b.bin"]
    assert [u.path for u in elsewhere.uploads] == ["p/models/agent-1x", "other/c.bin"]
    assert runs[("p", "agent-1")].bytes == 20 and runs[("p", "agent-1")].oldest == NOW - 9


def test_a_run_at_the_location_itself_owns_every_upload_but_deeper_runs():
    runs, elsewhere = attribute([upload("a/x", 1), upload("deep/run/y", 1)], {("loc", "top"): "", ("d", "run"): "deep/run"})
    assert [u.path for u in runs[("loc", "top")].uploads] == ["a/x"]
    assert [u.path for u in runs[("d", "run")].uploads] == ["deep/run/y"] and elsewhere.count == 0


def test_only_uploads_at_least_as_old_as_the_threshold_are_due():
    uploads = [upload("young", 3599), upload("hour", 3600), upload("old", 90000)]
    assert [u.path for u in older_than(uploads, 3600, now=NOW)] == ["hour", "old"]
    assert [u.path for u in older_than(uploads, parse_age("1d"), now=NOW)] == ["old"]
    assert [u.path for u in older_than(uploads, parse_age("0s"), now=NOW)] == ["young", "hour", "old"]
    with pytest.raises(Refused):
        parse_age("yesterday")


def test_prune_notes_what_soft_delete_keeps(art_base, monkeypatch, capsys):
    from ckpt_tui.stores.backends.local import LocalBackend

    assert soft_delete_note(None) is None and soft_delete_note(0) is None
    monkeypatch.setattr(LocalBackend, "soft_delete_seconds", lambda self: 7 * 86400)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(["prune", str(art_base), "-r", "agent-001", "--yes"])
    err = capsys.readouterr().err
    assert code == 0 and "note: this bucket keeps deleted objects for 7 days (soft delete)" in err

    code = main(["prune", str(art_base), "-r", "agent-001", "--yes"])  # nothing left to delete: no note
    assert code == 0 and "soft delete" not in capsys.readouterr().err
