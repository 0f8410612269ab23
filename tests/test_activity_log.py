"""``prune``, ``fork`` and ``watch`` add what they did to ``.ckpt-tui.log``, as the app does:
the objects ``watch --json`` prints, and who."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_run import run_cli

from ckpt_tui.core.events import Event
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.watch import Watch

LOG = ".ckpt-tui.log"


def logged(base: Path) -> list[dict]:
    return [json.loads(line) for line in (base / LOG).read_text().splitlines()]


def test_prune_logs_each_step_it_deleted_and_a_dry_run_nothing(art_base, capsys):
    args = ("prune", art_base, "-p", "demo", "-r", "agent-001", "--keep", "latest", "--metric", "val/reward")
    assert run_cli(capsys, *args, "--dry-run")[0] == 0 and not (art_base / LOG).exists()
    code, out, err = run_cli(capsys, *args, "--yes", "--json")
    assert code == 0, err
    deleted = sorted(d["step"] for d in json.loads(out)["plans"][0]["deleted"])
    lines = logged(art_base)
    assert deleted and sorted(e["step"] for e in lines) == deleted
    assert {e["action"] for e in lines} == {"deleted"} and {e["run"] for e in lines} == {"agent-001"}
    assert set(lines[0]) == set(Event("deleted").to_json()) | {"user"} and lines[0]["bytes"] > 0


def test_fork_logs_the_fork(art_base, capsys):
    code, _, err = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "agent-x", "--step", "10")
    assert code == 0, err
    [line] = logged(art_base)
    assert (line["action"], line["run"], line["step"]) == ("forked", "agent-x", 10)
    assert line["reasons"][0] == "from demo/agent-001"


def test_watch_logs_what_it_deletes(art_base):
    (art_base / ".ckpt-tui.toml").write_text('keep = "latest"\nmetric = "val/reward"\n')
    told: list[Event] = []
    Watch(LocalStore(art_base), "demo", "agent-001", report=told.append).cycle()
    deleted = [e for e in told if e.action == "deleted"]
    assert deleted and [(e["action"], e["step"]) for e in logged(art_base)] == [("deleted", e.step) for e in deleted]


def test_a_log_that_is_a_link_or_a_fifo_is_not_written_and_nothing_waits(tmp_path):
    from ckpt_tui.app.activity import append_to_log

    outside = tmp_path / "outside.log"
    outside.write_text("")
    for name, make in (("link", lambda log: log.symlink_to(outside)), ("fifo", os.mkfifo)):
        base = tmp_path / name
        base.mkdir()
        make(base / LOG)
        problem = append_to_log(LocalStore(str(base)), [Event("deleted", "demo", "run", 1)])
        assert problem == f"{LOG} not written: {base / LOG} " + ("is a symbolic link" if name == "link"
                                                                  else "is not a regular file")
    assert outside.read_text() == ""


def entry(step: int, user: str) -> str:
    return json.dumps({**Event("deleted", "demo", "agent-002", step, 1, (), 1_700_000_000.0).to_json(), "user": user})


def test_a_log_rewritten_with_its_size_and_times_as_they_were_is_read_again(tmp_path, monkeypatch):
    """The app keeps the log's entries while its version (size, times, inode) is the same: a file
    changed in the clock's last tick may be changed again with the same size and times (a coarse
    clock, the log cut and one entry of the same length written), so it has no version yet."""
    from ckpt_tui.app.activity import read_log

    log = tmp_path / LOG
    log.write_text(entry(1, "ann") + "\n")
    store = LocalStore(str(tmp_path))
    first = read_log(store, [])
    assert [x.user for x in first.entries] == ["ann"]
    before = os.stat(log)
    log.write_text(entry(1, "bob") + "\n")  # the same length, and the same times as the clock's tick gave
    os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
    for name in ("stat", "fstat"):
        def as_before(*args, _look=getattr(os, name), **kwargs):  # a coarse clock: the tick it was read in
            info = _look(*args, **kwargs)
            return before if (info.st_dev, info.st_ino) == (before.st_dev, before.st_ino) else info

        monkeypatch.setattr(os, name, as_before)
    assert [x.user for x in read_log(store, [], first).entries] == ["bob"]


def test_a_log_settled_long_enough_is_not_read_again_until_it_changes(tmp_path, monkeypatch):
    from ckpt_tui.app.activity import read_log
    from ckpt_tui.stores import verdict_cache

    monkeypatch.setattr(verdict_cache, "RACY_NS", -10**12)  # the file written by the test counts as settled
    (tmp_path / LOG).write_text(entry(1, "ann") + "\n")
    store = LocalStore(str(tmp_path))
    first = read_log(store, [])
    assert first.version is not None and read_log(store, [], first) is first
    with (tmp_path / LOG).open("a") as log:
        log.write(entry(2, "bob") + "\n")
    assert [x.user for x in read_log(store, [], first).entries] == ["bob", "ann"]


def test_a_log_missing_as_it_was_read_and_removed_since_is_not_shown(tmp_path, monkeypatch):
    """Looked for while missing, then made before the read: the entries read are never kept for
    "missing", which would show them after the log is removed."""
    from ckpt_tui.app import activity
    from ckpt_tui.stores import verdict_cache

    monkeypatch.setattr(verdict_cache, "RACY_NS", -10**12)
    log = tmp_path / LOG
    store = LocalStore(str(tmp_path))
    earlier_entries = activity.earlier_entries

    def made_meanwhile(*args, **kwargs):
        log.write_text(entry(1, "ann") + "\n")  # another session's first entry, between the look and the read
        return earlier_entries(*args, **kwargs)

    monkeypatch.setattr(activity, "earlier_entries", made_meanwhile)
    first = activity.read_log(store, [])
    assert [x.user for x in first.entries] == ["ann"]
    monkeypatch.setattr(activity, "earlier_entries", earlier_entries)
    log.unlink()  # the log removed (rotated away)
    assert activity.read_log(store, [], first).entries == []


def test_a_log_that_is_a_link_or_not_a_file_has_no_version_and_nothing_outside_is_looked_at(tmp_path, monkeypatch):
    """The version is what the read would open (never through a link, a regular file): a link
    leading out of the location, a FIFO or a folder has none (the read says why it is not read)."""
    from ckpt_tui.stores import verdict_cache

    monkeypatch.setattr(verdict_cache, "RACY_NS", -10**12)
    base, outside = tmp_path / "base", tmp_path / "outside.log"
    base.mkdir()
    outside.write_text(entry(1, "eve") + "\n")
    store = LocalStore(str(base))
    (base / LOG).write_text(entry(1, "ann") + "\n")
    assert store.location_file_version(LOG) is not None
    (base / LOG).unlink()
    (base / LOG).symlink_to(outside)
    assert store.location_file_version(LOG) is None
    (base / LOG).unlink()
    os.mkfifo(base / LOG)
    assert store.location_file_version(LOG) is None
