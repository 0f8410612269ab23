"""The walk of step folders a local scan makes (``folder_usage``): files looked up from a descriptor
of the checkpoints folder count exactly what whole paths count, links are never followed, and a
checkpoints folder that cannot be opened is still walked, by whole paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ckpt_tui.core.errors import Unreadable
from ckpt_tui.stores.backends.local import LocalBackend, folder_usage


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def step_tree(root: Path, outside: Path) -> Path:
    """A checkpoints folder: a plain step, one with a subfolder, hard links and links in and out."""
    ckpts = root / "checkpoints"
    write(ckpts / "0001" / "adapter_model.safetensors", 100)
    write(ckpts / "0001" / "adapter_config.json", 10)
    write(ckpts / "0002" / "adapter_model.safetensors", 200)
    write(ckpts / "0002" / "optimizer" / "state.pt", 300)
    os.link(ckpts / "0002" / "adapter_model.safetensors", ckpts / "0002" / "copy.safetensors")
    os.link(ckpts / "0001" / "adapter_config.json", ckpts / "0002" / "adapter_config.json")
    write(outside / "big.bin", 5000)
    (ckpts / "0002" / "out").symlink_to(outside)
    (ckpts / "0002" / "out.bin").symlink_to(outside / "big.bin")
    return ckpts


def test_looked_up_from_the_folder_counts_what_whole_paths_count(tmp_path):
    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    base = str(ckpts)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for step in ("0001", "0002"):
            by_path: list = []
            by_fd: list = []
            whole = folder_usage(f"{base}/{step}", by_path)
            relative = folder_usage(f"{base}/{step}", by_fd, fd, len(base))
            assert relative == whole
            assert sorted(by_fd) == sorted(by_path)
    finally:
        os.close(fd)
    usage = folder_usage(f"{base}/0002")
    assert usage.bytes == 200 + 300 + 10  # the hard-linked weights once, no link followed
    assert {info.path for info in by_fd} == {"adapter_model.safetensors", "copy.safetensors", "adapter_config.json",
                                             "optimizer/state.pt"}


def test_every_step_is_walked_when_the_checkpoints_folder_cannot_be_opened(tmp_path, monkeypatch):
    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    backend = LocalBackend(tmp_path / "run")
    expected = backend.usage_and_files_many("checkpoints", ["0001", "0002"])
    real_open, refused = os.open, []

    def refusing(path, flags, *args, **kwargs):
        if path == "checkpoints" and flags & os.O_DIRECTORY:
            refused.append(path)
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    assert backend.usage_and_files_many("checkpoints", ["0001", "0002"]) == expected
    assert refused == ["checkpoints"]
    assert expected[0]["0001"].bytes == 110


def test_a_link_in_place_of_the_checkpoints_folder_is_not_opened_through(tmp_path, monkeypatch):
    real = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    os.rename(real, tmp_path / "run" / "real-checkpoints")
    (tmp_path / "run" / "checkpoints").symlink_to(tmp_path / "run" / "real-checkpoints")
    opened = []
    real_open = os.open

    def noting(path, flags, *args, **kwargs):
        try:
            fd = real_open(path, flags, *args, **kwargs)
        except OSError as exc:
            opened.append((path, flags, exc.errno))
            raise
        opened.append((path, flags, None))
        return fd

    monkeypatch.setattr(os, "open", noting)
    usage = LocalBackend(tmp_path / "run").usage_many("checkpoints", ["0001"])
    tried = [(flags, failed) for path, flags, failed in opened if path == "checkpoints"]
    assert tried and all(flags & os.O_NOFOLLOW and failed is not None for flags, failed in tried)
    assert isinstance(usage["0001"], Unreadable)


def test_a_checkpoints_folder_swapped_for_a_link_out_of_the_location_is_not_read_through(tmp_path):
    """Listed as a folder, then replaced by a link leading out: its whole paths would follow the link,
    so nothing is read through it; every step is unreadable (shown, never deleted)."""
    step_tree(tmp_path / "run", tmp_path / "elsewhere")
    write(tmp_path / "outside" / "0001" / "secret.safetensors", 5000)
    os.rename(tmp_path / "run" / "checkpoints", tmp_path / "run" / "aside")
    (tmp_path / "run" / "checkpoints").symlink_to(tmp_path / "outside", target_is_directory=True)
    usage, walked = LocalBackend(tmp_path / "run").usage_and_files_many("checkpoints", ["0001", "0002"])
    assert walked == {}
    assert set(usage) == {"0001", "0002"}
    assert all(isinstance(found, Unreadable) and "not followed" in str(found) for found in usage.values())


def test_a_run_folder_swapped_for_a_link_out_of_the_location_is_not_read_through(tmp_path):
    """The same for a folder above the checkpoints folder: it is reached from the root, never through a link."""
    step_tree(tmp_path / "root" / "run", tmp_path / "elsewhere")
    write(tmp_path / "outside" / "checkpoints" / "0001" / "secret.safetensors", 5000)
    os.rename(tmp_path / "root" / "run", tmp_path / "root" / "aside")
    (tmp_path / "root" / "run").symlink_to(tmp_path / "outside", target_is_directory=True)
    usage, walked = LocalBackend(tmp_path / "root").usage_and_files_many("run/checkpoints", ["0001"])
    assert walked == {} and isinstance(usage["0001"], Unreadable)


def test_a_location_that_is_itself_a_link_is_walked_through_it(tmp_path):
    """The location a user names may be a link: its steps are read as before."""
    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    (tmp_path / "named").symlink_to(ckpts, target_is_directory=True)
    usage = LocalBackend(tmp_path / "named").usage_many("", ["0001", "0002"])
    assert usage["0001"].bytes == 110 and usage["0002"].bytes == 510


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_is_left_open_by_a_scan_of_many_steps(tmp_path, monkeypatch):
    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    names = [f"{n:04d}" for n in range(3, 2003)]  # steps listed, gone before they are walked
    backend = LocalBackend(tmp_path / "run")
    before = open_descriptors()
    for _ in range(300):
        backend.usage_and_files_many("checkpoints", ["0001", "0002", *names[:5]])
    backend.usage_many("checkpoints", names)
    (ckpts / "0001").chmod(0)  # one step unreadable (for an unprivileged user), one folder that fails
    try:
        backend.usage_many("checkpoints", ["0001", "0002"])
    finally:
        (ckpts / "0001").chmod(0o755)
    real_usage = folder_usage

    def failing(*args, **kwargs):
        raise RuntimeError("stopped mid-walk")

    monkeypatch.setattr("ckpt_tui.stores.backends.local.folder_usage", failing)
    with pytest.raises(RuntimeError):
        backend.usage_many("checkpoints", ["0001"])
    monkeypatch.setattr("ckpt_tui.stores.backends.local.folder_usage", real_usage)
    assert open_descriptors() == before


def test_a_step_swapped_for_a_link_after_the_listing_is_unreadable_and_not_walked_through(tmp_path):
    """The checkpoints folder listed 0001 and 0002 as folders; 0002 is then swapped for a link to a
    folder outside: the walk opens it from its parent without following the link, and reads nothing there."""
    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    write(tmp_path / "outside" / "secret.safetensors", 5000)
    names = [e.name for e in LocalBackend(tmp_path / "run").list_dir("checkpoints")]  # the listing
    os.rename(ckpts / "0002", tmp_path / "aside")
    (ckpts / "0002").symlink_to(tmp_path / "outside", target_is_directory=True)
    usage, walked = LocalBackend(tmp_path / "run").usage_and_files_many("checkpoints", sorted(names))
    assert usage["0001"].bytes == 110 and [f.path for f in walked["0001"]] != []
    assert isinstance(usage["0002"], Unreadable) and "not followed" in str(usage["0002"])
    assert "0002" not in walked
    assert isinstance(LocalBackend(tmp_path / "run").usage_many("checkpoints", ["0002"])["0002"], Unreadable)


def test_a_subfolder_swapped_for_a_link_mid_walk_makes_the_step_unreadable(tmp_path, monkeypatch):
    """``optimizer`` is looked at (a folder), then swapped for a link before the walk goes into it."""
    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")
    write(tmp_path / "outside" / "secret.pt", 5000)
    real_lstat, swapped, before = os.lstat, [], open_descriptors()

    def swapping(path, *args, **kwargs):
        found = real_lstat(path, *args, **kwargs)
        if path == "optimizer" and not swapped:
            os.rename(ckpts / "0002" / "optimizer", tmp_path / "optimizer-aside")
            (ckpts / "0002" / "optimizer").symlink_to(tmp_path / "outside", target_is_directory=True)
            swapped.append(path)
        return found

    monkeypatch.setattr(os, "lstat", swapping)
    files: list = []
    with pytest.raises(Unreadable, match="not followed"):
        folder_usage(f"{ckpts}/0002", files)
    assert swapped and all("secret" not in info.path for info in files)
    monkeypatch.setattr(os, "lstat", real_lstat)
    usage, walked = LocalBackend(tmp_path / "run").usage_and_files_many("checkpoints", ["0002"])
    assert usage["0002"].bytes == 200 + 10  # now a link inside the step: not followed, as du does
    assert open_descriptors() == before


def test_a_step_swapped_for_a_link_between_listing_and_walk_is_a_pending_unreadable_step(tmp_path, monkeypatch):
    """Through the store: a hook swaps step 0002 for a link between the checkpoints folder's listing
    and the walk of its steps. 0002 is shown unreadable (never complete, never pruned), nothing outside
    is counted, and the other steps load as ever."""
    from ckpt_tui.stores.local import LocalStore

    root = tmp_path / "base"
    for step in (1, 2, 3):
        write(root / "p" / "models" / "m" / "checkpoints" / f"{step:04d}" / "adapter_config.json", 10)
        write(root / "p" / "models" / "m" / "checkpoints" / f"{step:04d}" / "README.md", 20)
    write(tmp_path / "outside" / "adapter_model.safetensors", 5000)
    ckpts = root / "p" / "models" / "m" / "checkpoints"
    real = LocalBackend.usage_and_files_many

    def swap_then_walk(self, folder, names):
        names = list(names)
        if "0002" in names and not (ckpts / "0002").is_symlink():
            os.rename(ckpts / "0002", tmp_path / "aside")
            (ckpts / "0002").symlink_to(tmp_path / "outside", target_is_directory=True)
        return real(self, folder, names)

    monkeypatch.setattr(LocalBackend, "usage_and_files_many", swap_then_walk)
    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "0")
    run = LocalStore(root).load_run("p", "m")
    assert 2 not in [c.step for c in run.checkpoints]
    [pending] = [c for c in run.pending if c.step == 2]
    assert pending.pending.name == "UNREADABLE" and "not followed" in pending.detail
    assert run.total_bytes < 5000


def test_a_step_swapped_for_a_link_between_its_walk_and_its_header_read_is_not_read_through(tmp_path, monkeypatch):
    """The walk finds 0002's adapter cut short; before its header is read, 0002 is swapped for a link
    to a folder whose adapter is whole. The header read refuses the file that is not the one listed:
    the step is not whole, and nothing outside is read."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from completeness_trees import age, art_step, safetensors_bytes

    from ckpt_tui.stores.local import LocalStore

    whole = safetensors_bytes()
    model = tmp_path / "base" / "p" / "models" / "m"
    for step in (1, 2):
        age(art_step(model, step, whole if step == 1 else whole[:-4]))
    outside = tmp_path / "outside"
    age(art_step(outside, 2, whole))
    ckpts = model / "checkpoints"
    real, read = LocalBackend.open_listed, []

    def swap_then_open(self, path, tag=""):
        if path.endswith("0002/adapter_model.safetensors") and not (ckpts / "0002").is_symlink():
            os.rename(ckpts / "0002", tmp_path / "aside")
            (ckpts / "0002").symlink_to(outside / "checkpoints" / "0002", target_is_directory=True)
        try:
            stream = real(self, path, tag)
        except Exception as exc:
            read.append((path, type(exc).__name__))
            raise
        read.append((path, "opened"))
        return stream

    monkeypatch.setattr(LocalBackend, "open_listed", swap_then_open)
    run = LocalStore(tmp_path / "base").load_run("p", "m")
    assert [c.step for c in run.checkpoints] == [1]
    [pending] = run.pending
    assert pending.step == 2 and "not the file listed" in pending.detail
    assert ("p/models/m/checkpoints/0002/adapter_model.safetensors", "Replaced") in read


def _two_step_model(tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from completeness_trees import age, art_step, safetensors_bytes

    whole = safetensors_bytes()
    model = tmp_path / "base" / "p" / "models" / "m"
    for step in (1, 2):
        age(art_step(model, step, whole))
    return model / "checkpoints", whole, age, art_step


def test_a_swap_undone_after_a_refused_header_read_leaves_the_step_whole_at_the_next_look(tmp_path, monkeypatch):
    """A header read refused as not the file listed (its folder swapped for a link meanwhile) is not
    remembered: once the swap is undone, the same store (as ``watch`` holds it) finds the step whole."""
    from ckpt_tui.stores.local import LocalStore

    ckpts, whole, age, art_step = _two_step_model(tmp_path)
    outside = tmp_path / "outside"
    age(art_step(outside, 2, whole))
    real, swapping = LocalBackend.open_listed, [True]

    def swap_then_open(self, path, tag=""):
        if swapping and path.endswith("0002/adapter_model.safetensors"):
            swapping.clear()
            os.rename(ckpts / "0002", tmp_path / "aside")
            (ckpts / "0002").symlink_to(outside / "checkpoints" / "0002", target_is_directory=True)
        return real(self, path, tag)

    monkeypatch.setattr(LocalBackend, "open_listed", swap_then_open)
    store = LocalStore(tmp_path / "base")
    assert [c.step for c in store.load_run("p", "m").checkpoints] == [1]
    (ckpts / "0002").unlink()
    os.rename(tmp_path / "aside", ckpts / "0002")  # the swap undone: the very file listed first
    assert [c.step for c in store.load_run("p", "m").checkpoints] == [1, 2]


def test_a_weights_file_replaced_by_another_of_the_same_size_and_time_is_judged_again(tmp_path):
    """Step 2's weights were judged whole; another file (a preallocated one: zeros) is put in their
    place with the same size and modification time. It is not given the verdict of the file it
    replaced: the step is not whole."""
    from ckpt_tui.stores.local import LocalStore

    ckpts, whole, _, _ = _two_step_model(tmp_path)
    store = LocalStore(tmp_path / "base")
    assert [c.step for c in store.load_run("p", "m").checkpoints] == [1, 2]
    weights = ckpts / "0002" / "adapter_model.safetensors"
    st = weights.stat()
    fresh = tmp_path / "fresh.safetensors"
    fresh.write_bytes(bytes(len(whole)))
    os.utime(fresh, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(fresh, weights)
    run = store.load_run("p", "m")
    assert [c.step for c in run.checkpoints] == [1]
    assert [c.step for c in run.pending] == [2]


def test_the_usual_step_read_in_one_pass_counts_what_the_whole_walk_counts(tmp_path):
    """A step of plain files is read in a pass of its own, keeping only its weights files (and whether it
    holds more than descriptions); every other step is walked whole. Both say what the whole walk says."""
    from ckpt_tui.stores.layouts.whole_files import WEIGHT_SUFFIXES, is_description

    ckpts = step_tree(tmp_path / "run", tmp_path / "elsewhere")  # 0001: a hard link; 0002: a subfolder, links
    write(ckpts / "0003" / "adapter_model.safetensors", 70)
    write(ckpts / "0003" / "README.md", 7)
    write(ckpts / "0004" / "adapter_config.json", 4)  # descriptions alone: no payload
    write(ckpts / "0004" / "NOTES.TXT", 4)
    write(ckpts / "0005" / "model.gguf", 5)  # a payload that is no weights file the checks read
    write(ckpts / "0005" / "optimizer.pt", 6)
    write(ckpts / "0006" / ".ckpt-tui-slim.json", 2)  # a marker
    write(ckpts / "0006" / "adapter_model.safetensors", 8)
    (ckpts / "0007").mkdir()  # empty
    write(ckpts / "0008" / "adapter_model.safetensors", 9)
    os.mkfifo(ckpts / "0008" / "pipe")  # a special file: not counted, the step walked whole
    names = sorted(os.listdir(ckpts))
    usage, walked = LocalBackend(tmp_path / "run").usage_and_files_many("checkpoints", names)
    assert LocalBackend(tmp_path / "run").usage_many("checkpoints", names) == usage
    for name in names:
        files: list = []
        whole = folder_usage(f"{ckpts}/{name}", files)  # every file listed: the whole walk
        if not files:  # an empty folder: its own usage (its time)
            assert usage[name].files == 0 and name not in walked
            continue
        assert usage[name] == whole
        assert sorted(walked[name]) == sorted(f for f in files if f.path.endswith(WEIGHT_SUFFIXES))
        assert walked[name].payload == any(not is_description(f.path) for f in files)
    assert [walked[n].payload for n in ("0003", "0004", "0005")] == [True, False, True]
    assert usage["0006"].markers == {".ckpt-tui-slim.json"} and usage["0008"].files == 1


@pytest.mark.parametrize("seed", range(6))
def test_the_one_pass_read_and_the_whole_walk_agree_on_random_steps(tmp_path, seed, monkeypatch):
    """Randomised steps (plain files, descriptions alone, subfolders, links in and out, FIFOs, hard links
    within and out of the step, markers, files of no permission, entries vanishing as they are looked at):
    the one-pass read of ``usage_and_files_many`` says what the whole walk says of each step."""
    import random

    from ckpt_tui.stores.backends import local
    from ckpt_tui.stores.backends.base import STEP_MARKERS
    from ckpt_tui.stores.layouts.whole_files import WEIGHT_SUFFIXES, is_description

    rng = random.Random(seed)
    ckpts, outside = tmp_path / "run" / "checkpoints", tmp_path / "elsewhere"
    write(outside / "shared.safetensors", 11)
    plain = ["model.safetensors", "pytorch_model.bin", "optimizer.pt", "rng.pth", "config.json", "README.md",
             "NOTES.TXT", "tokenizer.model", "model.gguf", "scheduler", "Weights.SAFETENSORS", "trainer_state.json"]
    vanishing: set[str] = set()
    for s in range(40):
        step = ckpts / f"{s:04d}"
        step.mkdir(parents=True)
        for name in rng.sample(plain, rng.randint(1, 5)):
            write(step / name, rng.randint(0, 300))
            if rng.random() < 0.1:
                os.chmod(step / name, 0)
        extra = rng.choice(["", "", "", "sub", "link", "dirlink", "dangling", "fifo", "inner", "outer", "marker",
                            "vanish", "vanish"])
        if extra == "sub":
            write(step / "sub" / rng.choice(plain), rng.randint(1, 50))
        elif extra == "link":
            (step / "link.safetensors").symlink_to(outside / "shared.safetensors")
        elif extra == "dirlink":
            (step / "out").symlink_to(outside)
        elif extra == "dangling":
            (step / "gone.bin").symlink_to(step / "nothing")
        elif extra == "fifo":
            os.mkfifo(step / "pipe")
        elif extra == "inner":
            os.link(next(p for p in step.iterdir()), step / "twin.safetensors")
        elif extra == "outer":
            os.link(outside / "shared.safetensors", step / "shared.safetensors")
        elif extra == "marker":
            write(step / rng.choice(sorted(STEP_MARKERS)), 2)
        elif extra == "vanish":
            write(step / "going.safetensors", 5)
            vanishing.add(f"{step.name}/going.safetensors")
    names = sorted(os.listdir(ckpts))
    real_lstat = os.lstat

    def lstat(path, *, dir_fd=None, **kwargs):  # a file another process deletes as the walk looks at it
        if dir_fd is not None and path == "going.safetensors":
            here = os.readlink(f"/proc/self/fd/{dir_fd}")
            if f"{os.path.basename(here)}/{path}" in vanishing:
                os.unlink(path, dir_fd=dir_fd)
                vanishing.discard(f"{os.path.basename(here)}/{path}")
        return real_lstat(path, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(local.os, "lstat", lstat)
    usage, walked = LocalBackend(tmp_path / "run").usage_and_files_many("checkpoints", names)
    monkeypatch.setattr(local.os, "lstat", real_lstat)
    assert not vanishing
    for name in names:
        files: list = []
        whole = folder_usage(f"{ckpts}/{name}", files)  # every file listed: the whole walk
        if not files:
            assert usage[name].files == 0 and name not in walked
            continue
        assert usage[name] == whole, name
        assert sorted(walked[name]) == sorted(f for f in files if f.path.endswith(WEIGHT_SUFFIXES)), name
        assert walked[name].payload == any(not is_description(f.path) for f in files), name
    assert LocalBackend(tmp_path / "run").usage_many("checkpoints", names) == usage
