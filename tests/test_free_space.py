"""Free space as each store reports it: the filesystem holding a directory; what a bucket or
W&B says instead. The app's top line and ``watch --min-free`` ask the store for it."""

from __future__ import annotations

import shutil

import pytest
from memory_location import MemoryLocation

from ckpt_tui.app.app import CkptApp
from ckpt_tui.core import Refused
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.wandb import WandbStore
from ckpt_tui.watch import MinFree, Watch


def test_a_directory_reports_the_free_space_of_the_filesystem_holding_it(tmp_path):
    space = LocalStore(tmp_path).space()
    usage = shutil.disk_usage(tmp_path)
    assert space.free is not None and 0 < space.free <= usage.total and space.total == usage.total


def test_a_location_not_made_yet_reports_the_filesystem_it_will_be_on(tmp_path):
    assert LocalStore(tmp_path / "not" / "yet").space().total == shutil.disk_usage(tmp_path).total


def test_buckets_and_wandb_say_what_they_report_instead_of_free_space():
    bucket = MemoryLocation.fresh().store().space()
    assert (bucket.free, bucket.total, bucket.note) == (None, None, "bucket: no size limit")
    wandb = WandbStore("someone").space()
    assert wandb.free is None and wandb.note == "W&B: no free-space figure"


def test_the_app_asks_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage",
                        lambda path: shutil._ntuple_diskusage(1000, 600, 400))
    assert CkptApp(str(tmp_path)).free_space() == (400, 1000, "")
    assert CkptApp(MemoryLocation.fresh().url).free_space().note == "bucket: no size limit"


def test_min_free_reads_the_store_and_needs_one_that_reports_free_space(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage",
                        lambda path: shutil._ntuple_diskusage(1000, 950, 50))
    store = LocalStore(tmp_path)
    assert MinFree(fraction=0.1).short(store) and not MinFree(bytes=50).short(store)
    location = MemoryLocation.fresh()
    with pytest.raises(Refused, match="--min-free measures free space on a disk"):
        Watch(location.store(), min_free=MinFree(bytes=1))
