"""A step folder listed by one scan is not listed again by the next while it is the very folder it was
(device, inode, modification and change times): an entry added, removed or renamed, a folder put in
its place or swapped for a link, a folder changed just before it was read, a coarse clock or a
damaged record, and the folder is listed again, and the scan says what a scan without records says."""

from __future__ import annotations

import marshal
import os
import random
from binascii import crc32
from pathlib import Path

import pytest
from completeness_trees import OLD, age, art_step, safetensors_bytes, scan_runs

from ckpt_tui.core.models import Run
from ckpt_tui.stores import listing_cache
from ckpt_tui.stores.backends import local
from ckpt_tui.stores.backends.base import SLIM_RECORD
from ckpt_tui.stores.backends.local import LocalBackend, folder_usage
from ckpt_tui.stores.local import LocalStore

WHOLE = safetensors_bytes()


@pytest.fixture
def settled_folders(monkeypatch) -> None:
    """Folders written by the test count as settled; each test ages them first, so that any later
    change gives them other times (else two changes in one tick of the clock could look alike)."""
    monkeypatch.setattr(listing_cache, "RACY_NS", -10**12)


@pytest.fixture
def folder_reads(monkeypatch) -> list[str]:
    """The step folders a scan lists (by descriptor, as the one-pass read lists them)."""
    listed: list[str] = []
    real = os.listdir

    def counting(path=None):
        if isinstance(path, int) and (folder := Path(os.readlink(f"/proc/self/fd/{path}"))).parent.name == "checkpoints":
            listed.append(folder.name)
        return real(path) if path is not None else real()

    monkeypatch.setattr(local.os, "listdir", counting)
    return listed


def base_of(tmp_path: Path, runs: int = 1, steps: int = 3) -> Path:
    base = tmp_path / ".art"
    for r in range(runs):
        model = base / "p" / "models" / f"run-{r}"
        for step in range(1, steps + 1):
            art_step(model, step, WHOLE)
        age(model)
    return base


def scan_without_records(base: Path, monkeypatch) -> dict[tuple[str, str], Run]:
    with monkeypatch.context() as bare:
        bare.setenv("XDG_CACHE_HOME", "relative")  # no cache folder: nothing read or kept
        return scan_runs(base)


def kept(base: Path, run: str = "run-0") -> dict:
    return listing_cache.load(listing_cache.cache_file(os.path.realpath(base), "p", run))


def step_folder(base: Path, step: int, run: str = "run-0") -> Path:
    return base / "p" / "models" / run / "checkpoints" / f"{step:04d}"


def test_a_second_scan_lists_no_unchanged_step_folder(tmp_path, cache_home, settled_folders, folder_reads):
    base = base_of(tmp_path)
    first = scan_runs(base)
    assert sorted(folder_reads) == ["0001", "0002", "0003"]
    assert sorted(kept(base)) == ["0001", "0002", "0003"]
    assert os.stat(listing_cache.cache_file(os.path.realpath(base), "p", "run-0")).st_mode & 0o777 == 0o600
    folder_reads.clear()
    assert scan_runs(base) == first
    assert folder_reads == []


@pytest.mark.parametrize("change", ["add", "remove", "rename", "marker", "subfolder", "replace", "hard link"])
def test_a_step_folder_changed_since_is_listed_again(tmp_path, cache_home, settled_folders, folder_reads,
                                                     monkeypatch, change):
    base = base_of(tmp_path)
    scan_runs(base)
    folder = step_folder(base, 2)
    if change == "add":
        (folder / "optimizer.pt").write_bytes(b"o" * 100)
    elif change == "remove":
        (folder / "adapter_config.json").unlink()
    elif change == "rename":
        (folder / "adapter_config.json").rename(folder / "config.json")
    elif change == "marker":
        (folder / SLIM_RECORD).write_text("{}")
    elif change == "subfolder":
        (folder / "extra").mkdir()
        (folder / "extra" / "notes.bin").write_bytes(b"n" * 10)
    elif change == "replace":  # another folder of the same names put in its place
        twin = folder.with_name("twin")
        art_step(twin.parent.parent, 9, WHOLE[:-1])
        (twin.parent / "0009").rename(folder.with_name("staged"))
        folder.rename(folder.with_name("old"))
        folder.with_name("staged").rename(folder)
    elif change == "hard link":
        os.link(step_folder(base, 1) / "adapter_config.json", folder / "shared.json")
    folder_reads.clear()
    cached = scan_runs(base)
    assert "0002" in folder_reads and "0003" not in folder_reads
    assert "0001" not in folder_reads or change == "hard link"  # its file now linked twice: walked whole
    assert cached == scan_without_records(base, monkeypatch)


def test_a_step_folder_swapped_for_a_link_is_not_read_through(tmp_path, cache_home, settled_folders, monkeypatch):
    base = base_of(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    art_step(elsewhere, 2, WHOLE)
    scan_runs(base)
    folder = step_folder(base, 2)
    folder.rename(folder.with_name("aside"))
    folder.symlink_to(elsewhere / "checkpoints" / "0002")
    run = scan_runs(base)["p", "run-0"]
    assert 2 not in [c.step for c in run.checkpoints]
    assert run == scan_without_records(base, monkeypatch)["p", "run-0"]


def test_a_folder_changed_just_before_it_was_read_is_never_kept(tmp_path, cache_home, folder_reads):
    base = base_of(tmp_path)
    for step in (1, 2, 3):
        (step_folder(base, step) / "README.md").write_text("written now")
    for _ in range(2):
        folder_reads.clear()
        scan_runs(base)
        assert sorted(folder_reads) == ["0001", "0002", "0003"]
    assert kept(base) == {}


def test_a_folder_only_a_coarse_clock_times_is_never_kept():
    second = 1_700_000_000 * 10**9
    assert listing_cache.settled((1, 2, second, second + 123_456_789), second + 10 * 10**9)
    assert not listing_cache.settled((1, 2, second, second + 123_000_000), second + 10 * 10**9)  # whole ms
    assert not listing_cache.settled((1, 2, second, second + 123_456_789), second + 123_456_789 + 10**8)  # just now


def test_a_step_not_read_in_one_pass_is_not_kept(tmp_path, cache_home, settled_folders, folder_reads):
    base = base_of(tmp_path)
    (step_folder(base, 2) / "extra").mkdir()
    age(step_folder(base, 2))
    scan_runs(base)
    assert sorted(kept(base)) == ["0001", "0003"]


def with_crc(body: bytes) -> bytes:
    return listing_cache.MAGIC + crc32(body).to_bytes(4, "little") + body


@pytest.mark.parametrize("content", [
    b"", b"not ours", listing_cache.MAGIC, listing_cache.MAGIC + b"\0\0\0\0" + marshal.dumps({}),
    with_crc(b"\xff not marshal"), with_crc(marshal.dumps(["0002"])),
    with_crc(marshal.dumps({"0002": ((1, 2, 3, 4), ["adapter_config.json"])})),  # a list: not of ours
    with_crc(marshal.dumps({"0002": (1, 2)})), with_crc(marshal.dumps({"0002": ((1, 2, 3, 4),)})),
    *(with_crc(marshal.dumps({"0002": ((1, 2, 3, 4), ("adapter_config.json", name))}))
      for name in ("../0001/adapter_config.json", "..", ".", "", "a\0b", 7))])
def test_a_record_not_of_ours_is_ignored(tmp_path, cache_home, settled_folders, folder_reads, monkeypatch, content):
    base = base_of(tmp_path)
    path = listing_cache.cache_file(os.path.realpath(base), "p", "run-0")
    os.makedirs(os.path.dirname(path), mode=0o700)
    Path(path).write_bytes(content)
    os.chmod(path, 0o600)
    assert listing_cache.load(path) == {}
    cached = scan_runs(base)
    assert sorted(folder_reads) == ["0001", "0002", "0003"]
    assert cached == scan_without_records(base, monkeypatch)


def test_a_record_naming_other_files_is_not_taken_for_a_folder_that_differs(tmp_path, cache_home, settled_folders,
                                                                          monkeypatch):
    """A record of other names for a folder of other times (an earlier state of it) is not used."""
    base = base_of(tmp_path)
    scan_runs(base)
    path = listing_cache.cache_file(os.path.realpath(base), "p", "run-0")
    records = listing_cache.load(path)
    seen, _names = records["0002"]
    records["0002"] = ((seen[0], seen[1], seen[2] - 1, seen[3]), ("adapter_config.json",))
    listing_cache.save(path, records)
    assert scan_runs(base) == scan_without_records(base, monkeypatch)


def test_many_runs_read_by_worker_processes_keep_what_each_listed(tmp_path, cache_home, settled_folders,
                                                                 folder_reads):
    base = base_of(tmp_path, runs=8, steps=2)
    first = scan_runs(base)
    assert len(first) == 8
    assert all(sorted(kept(base, f"run-{r}")) == ["0001", "0002"] for r in range(8))  # written by the workers
    folder_reads.clear()
    assert scan_runs(base) == first
    assert folder_reads == []


def test_records_found_again_are_touched_not_rewritten_and_unused_ones_forgotten(tmp_path, cache_home,
                                                                               settled_folders):
    base = base_of(tmp_path, runs=2)
    scan_runs(base)
    path = listing_cache.cache_file(os.path.realpath(base), "p", "run-0")
    before = os.stat(path)
    weeks_ago = before.st_mtime - 29 * 86400
    os.utime(path, (weeks_ago, weeks_ago))
    scan_runs(base)
    after = os.stat(path)
    assert after.st_ino == before.st_ino and after.st_mtime > weeks_ago  # the same file, used now
    (step_folder(base, 3) / "adapter_config.json").unlink()
    scan_runs(base)
    assert os.stat(path).st_ino != before.st_ino  # written anew
    stale = listing_cache.cache_file(os.path.realpath(base), "p", "run-1")
    month = 31 * 86400
    os.utime(stale, (os.stat(stale).st_atime - month, os.stat(stale).st_mtime - month))
    dict(LocalStore(base).load_runs([("p", "run-0")]))
    assert not os.path.exists(stale) and kept(base, "run-0")


def test_a_prune_s_execution_read_lists_every_folder(tmp_path, cache_home, settled_folders, folder_reads):
    """Only a listing of runs trusts the records: the read a prune makes before it deletes does not."""
    base = base_of(tmp_path)
    scan_runs(base)
    store = LocalStore(base)
    folder_reads.clear()
    run = store.load_run("p", "run-0")  # the app's and an API caller's read: nothing kept is used
    assert [c.step for c in run.checkpoints] == [1, 2, 3]
    assert sorted(folder_reads) == ["0001", "0002", "0003"]


STEP_NAMES = ["model.safetensors", "adapter_model.safetensors", "optimizer.pt", "config.json", "README.md",
              "rng.pth", "tokenizer.model"]


def random_steps(rng: random.Random, ckpts: Path, count: int) -> None:
    for s in range(count):
        folder = ckpts / f"{s:04d}"
        folder.mkdir(parents=True)
        for name in rng.sample(STEP_NAMES, rng.randint(1, 4)):
            (folder / name).write_bytes(b"w" * rng.randint(0, 200))


def mutate(rng: random.Random, folder: Path, elsewhere: Path) -> None:
    unique = rng.randrange(10**9)  # a name not there yet
    names = sorted(os.listdir(folder)) if folder.is_dir() and not folder.is_symlink() else []
    change = rng.choice(["add", "remove", "rename", "marker", "subfolder", "link", "hard link", "fifo", "replace",
                         "swap for a link", "grow"])
    if change == "add" or not names:
        (folder / f"new-{unique}.bin").write_bytes(b"n" * rng.randint(0, 50))
    elif change == "remove":
        (folder / rng.choice(names)).unlink()
    elif change == "rename":
        (folder / rng.choice(names)).rename(folder / f"renamed-{unique}.safetensors")
    elif change == "marker":
        (folder / SLIM_RECORD).write_text("{}")
    elif change == "subfolder":
        (folder / "sub").mkdir(exist_ok=True)
        (folder / "sub" / f"inner-{unique}.bin").write_bytes(b"i" * 7)
    elif change == "link":
        (folder / f"outside-{unique}.safetensors").symlink_to(elsewhere / "shared.safetensors")
    elif change == "hard link":
        os.link(elsewhere / "shared.safetensors", folder / f"linked-{unique}.safetensors")
    elif change == "fifo":
        os.mkfifo(folder / f"pipe-{unique}")
    elif change == "replace":
        staged = folder.with_name(f"staged-{unique}")
        staged.mkdir()
        for name in names:
            (staged / name).write_bytes(b"r" * rng.randint(0, 200))
        folder.rename(folder.with_name(f"old-{unique}"))
        staged.rename(folder)
    elif change == "swap for a link":
        folder.rename(folder.with_name(f"old-{unique}"))
        folder.symlink_to(elsewhere)
    elif change == "grow":  # a file written in place: the folder's times stay, the file's do not
        with open(folder / rng.choice(names), "ab") as handle:
            handle.write(b"g" * rng.randint(1, 30))


@pytest.mark.parametrize("seed", range(8))
def test_scans_with_and_without_records_agree_on_random_changes(tmp_path, cache_home, settled_folders, monkeypatch,
                                                                seed):
    """Random step folders, scanned (and recorded), then randomly changed (entries added, removed,
    renamed, marked, nested, linked, hard-linked, grown; folders replaced or swapped for links):
    the scan with records says what the scan without them says, by run and by step, again and again."""
    rng = random.Random(seed)
    base = tmp_path / ".art"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "shared.safetensors").write_bytes(WHOLE)
    for r in range(2):
        random_steps(rng, base / "p" / "models" / f"run-{r}" / "checkpoints", 12)
    for _round in range(4):
        age(base)
        os.utime(base, (OLD, OLD))
        assert scan_runs(base) == scan_without_records(base, monkeypatch)
        for _ in range(rng.randint(1, 6)):
            run = base / "p" / "models" / f"run-{rng.randint(0, 1)}" / "checkpoints"
            steps = [p for p in sorted(run.iterdir()) if p.name.isdigit()]
            mutate(rng, rng.choice(steps), elsewhere)
        assert scan_runs(base) == scan_without_records(base, monkeypatch)


def test_the_backend_takes_recorded_names_only_for_the_very_folder(tmp_path):
    """``usage_and_files_many`` with records: a folder of other times is listed; one as recorded is not,
    and says what listing it says; each usual folder's listing is given back."""
    ckpts = tmp_path / "run" / "checkpoints"
    random_steps(random.Random(3), ckpts, 6)
    age(ckpts)
    backend = LocalBackend(tmp_path / "run")
    names = sorted(os.listdir(ckpts))
    first: dict = {}
    usage, walked = backend.usage_and_files_many("checkpoints", names, {}, first)
    assert sorted(first) == names
    assert all(first[n][1] == os.listdir(ckpts / n) for n in names)
    again: dict = {}
    assert backend.usage_and_files_many("checkpoints", names, first, again) == (usage, walked)
    assert all(again[n] is first[n] for n in names)
    (ckpts / names[0] / "added.bin").write_bytes(b"a" * 9)
    third: dict = {}
    usage3, _ = backend.usage_and_files_many("checkpoints", names, first, third)
    assert third[names[0]] is not first[names[0]] and "added.bin" in third[names[0]][1]
    assert usage3[names[0]] == folder_usage(str(ckpts / names[0]))


def test_a_step_folder_made_unreadable_after_it_was_recorded_is_unreadable(tmp_path, cache_home):
    """Without root's permission bypass: the names kept of a folder that may no longer be read are not
    taken for it; it is listed unreadable, as a scan without records lists it."""
    import json

    from unprivileged import run_python

    base = base_of(tmp_path)
    settled_ls = ("import sys; from ckpt_tui.stores import listing_cache; listing_cache.RACY_NS = -10**12; "
                  f"from ckpt_tui.cli import main; sys.argv = ['ckpt-tui', 'ls', {str(base)!r}, '--json']; main()")

    def listed() -> dict:
        done = run_python("-c", settled_ls)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["runs"][0]

    assert [c["step"] for c in listed()["checkpoints"]] == [1, 2, 3]
    assert sorted(kept(base)) == ["0001", "0002", "0003"]
    step_folder(base, 2).chmod(0)
    try:
        run = listed()
    finally:
        step_folder(base, 2).chmod(0o755)
    assert [c["step"] for c in run["checkpoints"]] == [1, 3]
    assert [p["name"] for p in run["pending"]] == ["0002"] and "Permission denied" in run["pending"][0]["note"]
