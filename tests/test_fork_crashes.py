"""Forks killed part-way: the new run never looks whole, nothing lands in $TMPDIR, a retry succeeds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from killed import cli_killed_at

from ckpt_tui.cli import main

pytestmark = pytest.mark.usefixtures("no_terminal")

MODELS = "demo/models"
LOCAL = "ckpt_tui.stores.backends.local:LocalBackend"


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def listed_runs(base: Path, capsys) -> tuple[set[str], list[str]]:
    assert main(["ls", str(base), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    return {r["run"] for r in listed["runs"]}, listed["notes"]


@pytest.mark.parametrize("where, needle", [("copy_from", "adapter_model"), ("write", "history.jsonl")])
def test_a_fork_with_history_killed_part_way_leaves_no_run_and_a_retry_succeeds(art_base, capsys, where, needle):
    args = ["fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "copy", "--with-history"]
    cli_killed_at(f"{LOCAL}.{where}", needle, *args)
    models = art_base / MODELS
    assert visible(models) == ["agent-001", "agent-002", "agent-legacy"]
    assert [n.split("-")[1] for n in hidden(models)] == ["copy"]
    runs, notes = listed_runs(art_base, capsys)
    assert "copy" not in runs and any(".forking-copy-" in note for note in notes)
    assert main([str(a) for a in args]) == 0, capsys.readouterr().err
    assert hidden(models) == [] and visible(models / "copy") == ["checkpoints", "history.jsonl"]
    assert visible(models / "copy" / "checkpoints") == ["0011"]
    assert (models / "copy" / "history.jsonl").read_text().count("\n") > 10


def test_a_fork_to_another_location_killed_part_way_stages_inside_it_only(art_base, tmp_path, tmpdir_env, capsys):
    target = tmp_path / "elsewhere"
    args = ["fork", art_base, "-p", "demo", "-r", "agent-002", "--to", "copy", "--to-location", target]
    cli_killed_at(f"{LOCAL}.copy_from", "adapter_model", *args, env=tmpdir_env)
    assert os.listdir(tmpdir_env["TMPDIR"]) == []
    assert visible(target / MODELS) == [] and len(hidden(target / MODELS)) == 1
    assert main([str(a) for a in args]) == 0
    assert hidden(target / MODELS) == [] and visible(target / MODELS / "copy" / "checkpoints") == ["0005"]


def test_an_abandoned_staging_folder_is_removed_by_a_fork_of_another_name(art_base, capsys):
    cli_killed_at(f"{LOCAL}.copy_from", "adapter_model", "fork", art_base, "-p", "demo", "-r", "agent-001",
                  "--to", "first")
    assert main(["fork", str(art_base), "-p", "demo", "-r", "agent-001", "--to", "second"]) == 0
    assert hidden(art_base / MODELS) == [] and "first" not in visible(art_base / MODELS)


def test_a_fork_into_an_existing_run_is_refused_and_mixes_nothing(art_base, capsys):
    before = sorted(os.listdir(art_base / MODELS / "agent-002" / "checkpoints"))
    code = main(["fork", str(art_base), "--project", "demo", "--run", "agent-001", "--to", "agent-002"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == (f"ckpt-tui: demo/agent-002 already exists in {art_base}; a fork creates "
                                         "a new run: choose another name; nothing copied")
    assert sorted(os.listdir(art_base / MODELS / "agent-002" / "checkpoints")) == before
    assert main(["prune", str(art_base), "-p", "demo", "-r", "agent-002", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plans"][0]["latest_step"] == 5


def test_a_copy_that_fails_in_a_bucket_leaves_no_object_a_slower_copy_writes_afterwards(art_base):
    """The fork's copies are side by side: when one fails, the fork removes what it named only
    once every other copy is over, so none writes into the abandoned run after that."""
    import threading

    from memory_location import MemoryLocation

    from ckpt_tui.core import StoreError, fork_checkpoint
    from ckpt_tui.stores.claims import FORK_MARKER

    location = MemoryLocation.fresh(art_base)
    store = location.store()
    backend = store.backend
    run = store.load_run("demo", "agent-001")
    files = sorted(f.path for f in store.checkpoint_files(run, run.checkpoints[-1]))
    assert len(files) >= 2
    removed, slow_started, late_copy_done = threading.Event(), threading.Event(), threading.Event()
    put, delete = backend.put_stream, backend.delete_files

    def put_stream(stream, target, done=None):
        if target.endswith("/" + files[0]):
            slow_started.wait(timeout=1)
            raise StoreError("cannot copy: the server failed")
        if target.endswith("/" + files[-1]):  # the slow one: done after the fork gave up, if it does not wait
            slow_started.set()
            removed.wait(timeout=1)
            put(stream, target, done)
            late_copy_done.set()
            return
        put(stream, target, done)

    def delete_files(paths):
        failed = delete(paths)
        if any(p.endswith(FORK_MARKER) for p in paths):
            removed.set()
        return failed

    backend.put_stream, backend.delete_files = put_stream, delete_files
    with pytest.raises(StoreError):
        fork_checkpoint(store, "demo", "agent-001", "agent-x")
    assert late_copy_done.wait(timeout=5)
    assert location.keys(f"{MODELS}/agent-x/") == set()


def test_a_fork_interrupted_during_its_copies_removes_them_once_none_is_running(art_base):
    """Ctrl-C while the copies run: the fork waits for the copies under way, starts no other,
    then removes what it named and leaves its run's name free."""
    import signal
    import threading

    from memory_location import MemoryLocation

    from ckpt_tui.core import fork_checkpoint
    from ckpt_tui.stores.claims import FORK_MARKER

    location = MemoryLocation.fresh(art_base)
    store = location.store()
    backend = store.backend
    run = store.load_run("demo", "agent-001")
    files = sorted(f.path for f in store.checkpoint_files(run, run.checkpoints[-1]))
    removed, late_copy_done = threading.Event(), threading.Event()
    put, delete = backend.put_stream, backend.delete_files
    main = threading.main_thread().ident

    def put_stream(stream, target, done=None):
        if target.endswith("/" + files[0]):  # the user presses Ctrl-C while this copy runs
            signal.pthread_kill(main, signal.SIGINT)
            removed.wait(timeout=1)
            put(stream, target, done)
            late_copy_done.set()
            return
        put(stream, target, done)

    def delete_files(paths):
        failed = delete(paths)
        if any(p.endswith(FORK_MARKER) for p in paths):
            removed.set()
        return failed

    backend.put_stream, backend.delete_files = put_stream, delete_files
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            fork_checkpoint(store, "demo", "agent-001", "agent-x")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert late_copy_done.wait(timeout=5)
    assert location.keys(f"{MODELS}/agent-x/") == set()


def test_a_second_ctrl_c_while_copies_run_keeps_the_fork_marker_for_a_later_cleanup(art_base, monkeypatch):
    """Ctrl-C again while the fork awaits its copies under way: the fork gives up at once but
    removes nothing (a copy still running would write after the removal, into a run without its
    marker); the marker stays, the run is an unfinished fork, and a later fork into that name,
    once the first one's process is gone, takes it over."""
    import threading
    import types
    from concurrent.futures import ThreadPoolExecutor

    from memory_location import MemoryLocation

    from ckpt_tui.core import fork_checkpoint
    from ckpt_tui.stores import claims, tree
    from ckpt_tui.stores.claims import FORK_MARKER

    location = MemoryLocation.fresh(art_base)
    store = location.store()
    backend = store.backend
    run = store.load_run("demo", "agent-001")
    files = sorted(f.path for f in store.checkpoint_files(run, run.checkpoints[-1]))
    slow_started, gave_up, late_copy_done = threading.Event(), threading.Event(), threading.Event()
    put, real_map = backend.put_stream, backend.map
    workers = ThreadPoolExecutor(4)

    def put_stream(stream, target, done=None):
        if target.endswith("/" + files[0]):  # still running when the fork gives up
            slow_started.set()
            gave_up.wait(timeout=5)
            put(stream, target, done)
            late_copy_done.set()
            return
        put(stream, target, done)

    def interrupted_map(function, items):
        if len(items) < 2 or function.__qualname__ != "_every.<locals>.attempt":
            return real_map(function, items)
        for item in items:
            workers.submit(function, item)
        slow_started.wait(timeout=5)
        raise KeyboardInterrupt  # Ctrl-C while the fork waits for its copies

    class SecondCtrlC(threading.Condition):  # Ctrl-C again while the copies under way are awaited
        def wait(self, timeout=None):
            raise KeyboardInterrupt

    monkeypatch.setattr(tree, "threading", types.SimpleNamespace(**{**vars(threading), "Condition": SecondCtrlC}))
    backend.put_stream, backend.map = put_stream, interrupted_map
    try:
        with pytest.raises(KeyboardInterrupt):
            fork_checkpoint(store, "demo", "agent-001", "agent-x")
    finally:
        gave_up.set()
        workers.shutdown(wait=True)
    assert late_copy_done.is_set()
    left = location.keys(f"{MODELS}/agent-x/")
    markers = [key for key in left if key.endswith(FORK_MARKER)]
    assert len(markers) == 1, left
    named = json.loads(backend.read_bytes(markers[0]))["paths"]
    assert left - set(named) == {markers[0]}  # nothing the fork did not name
    assert left - {markers[0]}  # the late copy's object, covered by the marker
    monkeypatch.setattr(tree, "threading", threading)
    monkeypatch.setattr(claims, "abandoned", lambda who, last_write: True)  # its process gone
    later = location.store()  # a later command
    fork_checkpoint(later, "demo", "agent-001", "agent-x")
    assert not any(key.endswith(FORK_MARKER) for key in location.keys(f"{MODELS}/agent-x/"))
    assert location.store().load_run("demo", "agent-x").checkpoints[-1].complete
