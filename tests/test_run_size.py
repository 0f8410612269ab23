"""The size-only pass (``Store.run_size``): a run's rows and bytes from a listing of its files,
the same bytes a full read totals (hard links once), without reading any file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from memory_location import MemoryLocation

from ckpt_tui.core.errors import CkptError
from ckpt_tui.core.models import Pending
from ckpt_tui.core.store import RunSize
from ckpt_tui.stores import open_store
from ckpt_tui.stores.backends.local import LocalBackend

CHECKPOINTS = "demo/models/agent-001/checkpoints"
TREES = ["art", "hf-trainer", "lightning", "nemo-rl", "openrlhf", "orbax", "prime-rl", "ray", "skyrl", "accelerate",
         "real-trainers/nemo2", "real-trainers/deepspeed-zero3", "real-trainers/megatron-dcp"]


def full_read(store, project: str, run: str) -> RunSize:
    """What a full read shows: its rows, and its total bytes."""
    loaded = store.load_run(project, run)
    return RunSize(len(loaded.checkpoints) + len(loaded.pending), loaded.total_bytes)


def every_run(store):
    return [(project, run) for project in store.list_projects() for run in store.list_runs(project)]


@pytest.mark.parametrize("name", TREES)
def test_every_layout_gets_the_bytes_and_rows_of_a_full_read(name, tmp_path):
    source = Path(__file__).parent / "fixtures" / name
    root = shutil.copytree(source, tmp_path / "tree", symlinks=True)
    store = open_store(str(root))
    runs = every_run(store)
    assert runs
    for key in runs:
        assert store.run_size(*key) == full_read(store, *key), key


@pytest.fixture
def art(art_base: Path) -> Path:
    """agent-001 with step 3 hard-linked to step 11 (inside the run) and step 4 to agent-002's
    step 0 (outside it), a save cut short (no adapter weights), and an interrupted delete."""
    ckpts = art_base / CHECKPOINTS
    for source, target in ((ckpts / "0011", ckpts / "0003"),
                           (art_base / "demo/models/agent-002/checkpoints/0000", ckpts / "0004")):
        for path in target.iterdir():
            path.unlink()
            os.link(source / path.name, path)
    (ckpts / "0005" / "adapter_model.safetensors").unlink()
    (ckpts / "0006").rename(ckpts / ".deleting-6-x")
    return art_base


def inodes_once(root: Path) -> int:
    """What ``du -sb`` counts for the files under ``root``: each inode once."""
    seen = {(st.st_dev, st.st_ino): st.st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            for st in [p.lstat()]}
    return sum(seen.values())


def test_hard_links_count_once_and_unfinished_steps_count_as_rows(art):
    store = open_store(str(art))
    found = store.run_size("demo", "agent-001")
    assert found == full_read(store, "demo", "agent-001")
    assert found == RunSize(12, inodes_once(art / CHECKPOINTS))
    loaded = store.load_run("demo", "agent-001")
    pending = {c.name: c.pending for c in loaded.pending}  # the full read still judges them
    assert pending[".deleting-6-x"] is Pending.INTERRUPTED_DELETE and "0005" in pending


READERS = ("read_file", "read_bytes", "read_lines", "open", "open_listed")


def refuse_reading(monkeypatch) -> None:
    def refused(*_args, **_kwargs):
        raise AssertionError("a file was read")

    for name in READERS:
        monkeypatch.setattr(LocalBackend, name, refused)


def test_it_reads_no_file(art, monkeypatch):
    store = open_store(str(art))
    expected = full_read(store, "demo", "agent-001")
    store = open_store(str(art))
    refuse_reading(monkeypatch)
    assert store.run_size("demo", "agent-001") == expected


def test_a_full_read_would_have_read_files(art, monkeypatch):
    """What the test above refuses is what a full read does."""
    store = open_store(str(art))
    refuse_reading(monkeypatch)
    with pytest.raises(AssertionError, match="a file was read"):
        store.load_run("demo", "agent-001")


def test_a_step_removed_meanwhile_is_not_counted(art, monkeypatch):
    store = open_store(str(art))
    before = store.run_size("demo", "agent-001")
    listed = LocalBackend.usage_many

    def removing(self, folder, names):
        shutil.rmtree(art / CHECKPOINTS / "0002")  # another prune, between the listing and the walk
        return listed(self, folder, names)

    monkeypatch.setattr(LocalBackend, "usage_many", removing)
    after = store.run_size("demo", "agent-001")
    assert after.steps == before.steps - 1 and after.bytes < before.bytes


def test_a_run_gone_since_the_listing_says_so(art):
    store = open_store(str(art))
    store.list_projects()
    shutil.rmtree(art / "demo/models/agent-002")
    with pytest.raises(CkptError):
        store.run_size("demo", "agent-002")


def test_a_bucket_gets_the_same_from_its_listing(art):
    location = MemoryLocation.fresh(art)
    store = location.store()
    for key in every_run(store):
        assert store.run_size(*key) == full_read(store, *key), key


def test_a_store_without_a_cheaper_way_says_so(demo_base):
    from ckpt_tui.core.store import Store

    store = open_store(str(demo_base))
    assert Store.run_size(store, *every_run(store)[0]) is None  # the app reads its runs in full instead
