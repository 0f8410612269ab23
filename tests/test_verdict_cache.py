"""Weights files found whole by one scan are not read again by the next, while they are as they
were (device, inode, size, times): a file changed since, or changed just before it was read, or
found cut, is read every time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from completeness_trees import art_step, rewrite_in_place, safetensors_bytes, scan_runs

from ckpt_tui.core.models import Run
from ckpt_tui.stores import verdict_cache
from ckpt_tui.stores.backends.local import LocalBackend
from ckpt_tui.stores.local import LocalStore

WHOLE = safetensors_bytes()


@pytest.fixture
def header_reads(monkeypatch) -> list[str]:
    """The weights files whose headers a scan opens."""
    opened: list[str] = []
    original = LocalBackend.open_listed

    def counting(self, path, *listed):
        opened.append(path)
        return original(self, path, *listed)

    monkeypatch.setattr(LocalBackend, "open_listed", counting)
    return opened


def base_of(tmp_path: Path, runs: int = 1, steps: int = 3) -> Path:
    base = tmp_path / ".art"
    for r in range(runs):
        for step in range(1, steps + 1):
            art_step(base / "p" / "models" / f"run-{r}", step, WHOLE)
    return base


def records(cache_home: Path, base: Path, run: str = "run-0") -> set[str]:
    return verdict_cache.load(verdict_cache.cache_file(os.path.realpath(base), "p", run))


def test_a_second_scan_reads_no_header_of_a_file_found_whole(tmp_path, cache_home, settled_now, header_reads):
    base = base_of(tmp_path)
    first = scan_runs(base)
    assert len(header_reads) == 3 and len(records(cache_home, base)) == 3
    header_reads.clear()
    second = scan_runs(base)
    assert header_reads == []
    assert [c.step for c in second["p", "run-0"].checkpoints] == [c.step for c in first["p", "run-0"].checkpoints] == [1, 2, 3]
    assert os.stat(verdict_cache.cache_file(os.path.realpath(base), "p", "run-0")).st_mode & 0o777 == 0o600


def test_files_changed_just_before_they_were_read_are_never_kept(tmp_path, cache_home, header_reads):
    """Without the test's clock: what it wrote a moment ago is racy, so every scan reads it."""
    base = base_of(tmp_path)
    scan_runs(base)
    assert records(cache_home, base) == set()
    art_step(base / "p" / "models" / "run-0", 3, WHOLE[:-64])  # rewritten in place, cut
    header_reads.clear()
    run = scan_runs(base)["p", "run-0"]
    assert len(header_reads) == 3
    assert [c.step for c in run.checkpoints] == [1, 2]
    assert "promises" in run.pending[0].detail


def test_a_file_rewritten_in_place_is_read_again(tmp_path, cache_home, settled_now, header_reads):
    base = base_of(tmp_path)
    scan_runs(base)
    assert len(records(cache_home, base)) == 3
    weights = base / "p" / "models" / "run-0" / "checkpoints" / "0003" / "adapter_model.safetensors"
    cut = WHOLE.replace(b"[0, 256]", b"[0, 264]")  # promises 8 bytes more than it holds: same size, same mtime
    assert cut != WHOLE
    rewrite_in_place(weights, cut)
    header_reads.clear()
    run = scan_runs(base)["p", "run-0"]
    assert header_reads == ["p/models/run-0/checkpoints/0003/adapter_model.safetensors"]
    assert [c.step for c in run.checkpoints] == [1, 2]


def test_a_cut_file_is_never_kept_and_always_read(tmp_path, cache_home, settled_now, header_reads):
    base = base_of(tmp_path, steps=2)
    art_step(base / "p" / "models" / "run-0", 3, WHOLE[:-1])
    for reads in (3, 1):  # the second scan reads only the cut file
        header_reads.clear()
        run = scan_runs(base)["p", "run-0"]
        assert len(header_reads) == reads and [c.step for c in run.checkpoints] == [1, 2]
        assert "promises" in run.pending[0].detail
    assert header_reads == ["p/models/run-0/checkpoints/0003/adapter_model.safetensors"]
    assert len(records(cache_home, base)) == 2


def test_files_deleted_since_drop_out_of_the_cache(tmp_path, cache_home, settled_now):
    base = base_of(tmp_path)
    scan_runs(base)
    (base / "p" / "models" / "run-0" / "checkpoints" / "0002" / "adapter_model.safetensors").unlink()
    scan_runs(base)
    assert len(records(cache_home, base)) == 2


def test_many_runs_read_by_worker_processes_keep_what_each_found(tmp_path, cache_home, settled_now, header_reads):
    base = base_of(tmp_path, runs=8, steps=2)
    found = scan_runs(base)
    assert len(found) == 8
    assert all(len(records(cache_home, base, f"run-{r}")) == 2 for r in range(8))  # written by the workers
    header_reads.clear()
    scan_runs(base)
    assert header_reads == []


@pytest.mark.parametrize("content", [b"", b"not ours", verdict_cache.MAGIC + b"x" * (verdict_cache.RECORD - 1)])
def test_a_cache_file_not_of_ours_is_ignored(tmp_path, cache_home, settled_now, header_reads, content):
    base = base_of(tmp_path)
    path = verdict_cache.cache_file(os.path.realpath(base), "p", "run-0")
    os.makedirs(os.path.dirname(path))
    Path(path).write_bytes(content)
    assert len(scan_runs(base)["p", "run-0"].checkpoints) == 3
    assert len(header_reads) == 3 and len(records(cache_home, base)) == 3


def test_a_listing_of_one_run_leaves_the_others_records(tmp_path, cache_home, settled_now, header_reads):
    base = base_of(tmp_path, runs=2)
    scan_runs(base)
    store = LocalStore(base)
    assert isinstance(dict(store.load_runs([("p", "run-1")]))["p", "run-1"], Run)
    assert len(records(cache_home, base, "run-0")) == len(records(cache_home, base, "run-1")) == 3
    header_reads.clear()
    scan_runs(base)
    assert header_reads == []


def test_cache_files_unused_for_a_month_are_removed(tmp_path, cache_home, settled_now):
    base = base_of(tmp_path, runs=2)
    scan_runs(base)
    stale = verdict_cache.cache_file(os.path.realpath(base), "p", "run-1")
    month = 31 * 86400
    os.utime(stale, (os.stat(stale).st_atime - month, os.stat(stale).st_mtime - month))
    store = LocalStore(base)
    dict(store.load_runs([("p", "run-0")]))
    assert not os.path.exists(stale) and records(cache_home, base, "run-0")


def test_no_cache_folder_is_no_failure(tmp_path, monkeypatch, settled_now):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # a file where the folder would be
    base = base_of(tmp_path)
    assert len(scan_runs(base)["p", "run-0"].checkpoints) == 3


def test_a_cache_folder_that_is_a_symbolic_link_is_neither_written_nor_cleaned(tmp_path, cache_home, settled_now):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    old_file = elsewhere / "notes.txt"
    old_file.write_text("mine")
    month = 31 * 86400
    os.utime(old_file, (old_file.stat().st_atime - month, old_file.stat().st_mtime - month))
    (cache_home / "ckpt-tui").mkdir(parents=True)
    (cache_home / "ckpt-tui" / "whole-weights").symlink_to(elsewhere)
    base = base_of(tmp_path)
    assert len(scan_runs(base)["p", "run-0"].checkpoints) == 3
    assert [p.name for p in elsewhere.iterdir()] == ["notes.txt"]


def test_only_cache_files_are_removed_from_the_cache_folder(tmp_path, cache_home, settled_now):
    base = base_of(tmp_path)
    scan_runs(base)
    folder = Path(verdict_cache.cache_file(os.path.realpath(base), "p", "run-0")).parent
    stranger = folder / "notes.txt"
    stranger.write_text("mine")
    month = 31 * 86400
    os.utime(stranger, (stranger.stat().st_atime - month, stranger.stat().st_mtime - month))
    verdict_cache.forget_old()
    assert stranger.exists()


def test_files_on_a_file_system_with_coarse_times_are_never_kept(tmp_path, cache_home, settled_now, header_reads,
                                                                   monkeypatch):
    """Times kept to the second (FAT, Lustre, sshfs): a write in the same second as the one recorded
    would leave them as they were, so such files are read by every scan."""
    from ckpt_tui.stores.backends import local

    fine = local._identify
    monkeypatch.setattr(local, "_identify", lambda dev, ino, size, mtime_ns, ctime_ns: fine(
        dev, ino, size, mtime_ns - mtime_ns % 10**9, ctime_ns - ctime_ns % 10**9))
    base = base_of(tmp_path)
    for _ in range(2):
        header_reads.clear()
        assert [c.step for c in scan_runs(base)["p", "run-0"].checkpoints] == [1, 2, 3]
        assert len(header_reads) == 3
    assert records(cache_home, base) == set()
    monkeypatch.setattr(local, "_identify", fine)  # the same files, times in nanoseconds: kept
    scan_runs(base)
    assert len(records(cache_home, base)) == 3


def test_a_fifo_where_the_cache_is_written_is_no_wait(tmp_path, cache_home, settled_now):
    """A FIFO (or a link) in place of the file being written: the scan goes on and keeps nothing."""
    import threading

    base = base_of(tmp_path)
    path = verdict_cache.cache_file(os.path.realpath(base), "p", "run-0")
    os.makedirs(os.path.dirname(path))
    os.mkfifo(f"{path}.{os.getpid()}.tmp")
    scanned: list[dict] = []
    scanning = threading.Thread(target=lambda: scanned.append(scan_runs(base)), daemon=True)
    scanning.start()
    scanning.join(60)  # a bound on a hang, not a measure of speed
    assert not scanning.is_alive() and len(scanned[0]["p", "run-0"].checkpoints) == 3
    assert records(cache_home, base) == set()


def test_a_file_found_whole_by_an_earlier_version_of_the_check_is_judged_again(tmp_path, cache_home, settled_now,
                                                                              monkeypatch):
    """Records of a version that took a safetensors file without a readable header (zeros) for whole
    are not reused: that file is a save still being written."""
    from ckpt_tui.stores.layouts import whole_files

    base = base_of(tmp_path, steps=2)
    art_step(base / "p" / "models" / "run-0", 3, b"\0" * len(WHOLE))
    with monkeypatch.context() as older:
        older.setattr(whole_files, "safetensors_problem", lambda stream, size: "")
        assert [c.step for c in scan_runs(base)["p", "run-0"].checkpoints] == [1, 2, 3]
    path = verdict_cache.cache_file(os.path.realpath(base), "p", "run-0")
    kept = Path(path).read_bytes()
    assert kept.startswith(verdict_cache.MAGIC) and len(records(cache_home, base)) == 3
    Path(path).write_bytes(b"ckpt-tui whole weights v1\n" + kept[len(verdict_cache.MAGIC):])
    run = scan_runs(base)["p", "run-0"]
    assert [c.step for c in run.checkpoints] == [1, 2]
    assert "header not written yet" in run.pending[0].detail


def test_records_found_again_unchanged_are_kept_in_place_and_from_being_forgotten(tmp_path, cache_home, settled_now):
    """A scan that finds whole exactly the files recorded leaves the records as they are (no rewrite)
    but marks them used; one file fewer, and they are written again without it."""
    base = base_of(tmp_path)
    scan_runs(base)
    kept = verdict_cache.cache_file(os.path.realpath(base), "p", "run-0")
    before = os.stat(kept)
    weeks_ago = before.st_mtime - 29 * 86400  # not yet forgotten as unused
    os.utime(kept, (weeks_ago, weeks_ago))
    scan_runs(base)
    after = os.stat(kept)  # the same file (a rewrite makes a new one while the old is there), used now
    assert after.st_ino == before.st_ino and after.st_mtime > weeks_ago + 28 * 86400
    assert len(records(cache_home, base)) == 3
    (base / "p" / "models" / "run-0" / "checkpoints" / "0002" / "adapter_model.safetensors").unlink()
    scan_runs(base)
    assert os.stat(kept).st_ino != before.st_ino and len(records(cache_home, base)) == 2
