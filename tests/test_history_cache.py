"""A run's history parsed by one scan is not parsed again by the next while the file is as it was
(device, inode, size, times of the very file opened): a line appended, a rewrite of the same size
and time, a file put in its place, a history changed just before it was read, or a damaged record,
and the history is parsed again, and its values are the file's as it is now."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from completeness_trees import age, art_step, rewrite_in_place, safetensors_bytes, scan_runs

from ckpt_tui.core.metrics import parse_history_lines
from ckpt_tui.core.store import list_runs
from ckpt_tui.stores import history_cache, tree, verdict_cache
from ckpt_tui.stores.local import LocalStore


@pytest.fixture
def parses(monkeypatch) -> list[int]:
    """How many histories a scan parses."""
    counted: list[int] = []

    def counting(lines):
        counted.append(1)
        return parse_history_lines(lines)

    monkeypatch.setattr(tree, "parse_history_lines", counting)
    return counted


def history_line(step: int, loss: float) -> str:
    return f'{{"step": {step}, "train/loss": {loss}}}\n'


def base_of(tmp_path: Path, runs: int = 1) -> Path:
    base = tmp_path / ".art"
    for r in range(runs):
        model = base / "p" / "models" / f"run-{r}"
        for step in (1, 2, 3):
            art_step(model, step, safetensors_bytes())
        age(model)
        (model / "history.jsonl").write_text("".join(history_line(s, 1.5) for s in (1, 2, 3)))
    return base


def history(base: Path, run: str = "run-0") -> Path:
    return base / "p" / "models" / run / "history.jsonl"


def losses(base: Path) -> dict[str, dict[int, float]]:
    found = scan_runs(base)
    return {run: {s: v["train/loss"] for s, v in loaded.metrics.by_step.items()} for (_, run), loaded in found.items()}


def test_a_second_scan_parses_no_unchanged_history(tmp_path, cache_home, settled_now, parses):
    base = base_of(tmp_path)
    first = losses(base)
    assert len(parses) == 1 and first == {"run-0": {1: 1.5, 2: 1.5, 3: 1.5}}
    parses.clear()
    assert losses(base) == first
    assert parses == []
    kept = history_cache.cache_file(os.path.realpath(base), "p", "run-0")
    assert os.stat(kept).st_mode & 0o777 == 0o600


def test_a_line_appended_is_parsed(tmp_path, cache_home, settled_now, parses):
    base = base_of(tmp_path)
    losses(base)
    with open(history(base), "a") as handle:
        handle.write(history_line(3, 0.5))  # a second record of step 3: averaged
    parses.clear()
    assert losses(base)["run-0"] == {1: 1.5, 2: 1.5, 3: 1.0}
    assert parses == [1]


def test_a_history_rewritten_with_the_same_size_and_time_is_parsed(tmp_path, cache_home, settled_now, parses):
    base = base_of(tmp_path)
    losses(base)
    path = history(base)
    rewrite_in_place(path, path.read_bytes().replace(b"1.5}", b"2.5}", 1))
    parses.clear()
    assert losses(base)["run-0"] == {1: 2.5, 2: 1.5, 3: 1.5}
    assert parses == [1]


def test_a_history_replaced_by_another_file_of_the_same_size_and_time_is_parsed(tmp_path, cache_home, settled_now,
                                                                                parses):
    base = base_of(tmp_path)
    losses(base)
    path = history(base)
    before = os.stat(path)
    fresh = path.with_name("fresh.jsonl")
    fresh.write_text(path.read_text().replace("1.5}", "0.5}"))
    os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(fresh, path)
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    parses.clear()
    assert losses(base)["run-0"] == {1: 0.5, 2: 0.5, 3: 0.5}
    assert parses == [1]


def test_a_history_changed_just_before_it_was_read_is_never_kept(tmp_path, cache_home, parses):
    """Without the test's clock: what it wrote a moment ago is racy, so every scan parses it."""
    base = base_of(tmp_path)
    losses(base)
    assert history_cache.load(history_cache.cache_file(os.path.realpath(base), "p", "run-0")) is None
    parses.clear()
    losses(base)
    assert parses == [1]


@pytest.mark.parametrize("damage", [lambda data: data[:-1], lambda data: data[:-1] + bytes([data[-1] ^ 1]),
                                    lambda data: b"not ours" + data[8:], lambda data: b""])
def test_a_damaged_record_is_ignored(tmp_path, cache_home, settled_now, parses, damage):
    base = base_of(tmp_path)
    first = losses(base)
    kept = Path(history_cache.cache_file(os.path.realpath(base), "p", "run-0"))
    kept.write_bytes(damage(kept.read_bytes()))
    parses.clear()
    assert losses(base) == first
    assert parses == [1]


def test_runs_read_by_worker_processes_keep_each_its_history(tmp_path, cache_home, settled_now, parses):
    base = base_of(tmp_path, runs=8)
    with open(history(base, "run-5"), "a") as handle:
        handle.write(history_line(4, 9.0))
    first = losses(base)  # eight runs: read by worker processes
    assert first["run-5"][4] == 9.0 and all(4 not in first[f"run-{r}"] for r in range(8) if r != 5)
    for r in range(8):
        tag, _ = history_cache.load(history_cache.cache_file(os.path.realpath(base), "p", f"run-{r}"))
        fd = os.open(history(base, f"run-{r}"), os.O_RDONLY)
        assert tag == history_cache.identity(fd)
        os.close(fd)
    with open(history(base, "run-2"), "a") as handle:
        handle.write(history_line(4, 7.0))
    assert losses(base) == {**first, "run-2": {**first["run-2"], 4: 7.0}}


def test_no_cache_folder_is_no_failure(tmp_path, monkeypatch, settled_now, parses):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/not/used")
    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "0")
    base = base_of(tmp_path)
    assert losses(base) == losses(base) == {"run-0": {1: 1.5, 2: 1.5, 3: 1.5}}
    assert len(parses) == 2


def test_parsed_histories_unused_for_a_month_are_removed(tmp_path, cache_home, settled_now):
    base = base_of(tmp_path)
    losses(base)
    kept = history_cache.cache_file(os.path.realpath(base), "p", "run-0")
    old = os.stat(kept).st_mtime - 31 * 86400
    os.utime(kept, (old, old))
    (Path(kept).parent / "notes.txt").write_text("not a cache file")
    verdict_cache.forget_old()
    assert not os.path.exists(kept) and (Path(kept).parent / "notes.txt").exists()


def test_a_history_linked_out_of_the_location_is_neither_read_nor_kept(tmp_path, cache_home, settled_now, parses):
    base = base_of(tmp_path)
    outside = tmp_path / "outside.jsonl"
    os.replace(history(base), outside)
    history(base).symlink_to(outside)
    store = LocalStore(base)
    [(_, run)] = store.load_runs(list_runs(store))
    assert run.metrics.by_step == {} and "leading out of" in run.refusal and parses == []
    assert not os.path.exists(history_cache.cache_file(os.path.realpath(base), "p", "run-0"))


def test_a_run_read_by_another_thread_meanwhile_neither_uses_nor_writes_the_kept_history(tmp_path, cache_home,
                                                                                      settled_now, monkeypatch):
    """A listing keeps one run's parsed history; a run read meanwhile by another thread of the same store
    (a prune's execution read, an API caller's ``load_run``) reads its own history as it is, and never takes
    or writes the listing's record (a record taken from one run and checked against another)."""
    import threading

    from ckpt_tui.stores import local

    base = base_of(tmp_path, runs=2)
    store = LocalStore(base)
    inside, go = threading.Event(), threading.Event()

    def parse(lines):
        if threading.current_thread() is listing:
            inside.set()
            assert go.wait(30)
        return parse_history_lines(lines)

    monkeypatch.setattr(tree, "parse_history_lines", parse)
    listing = threading.Thread(target=local._read, args=(store, ("p", "run-0"), local._same, True))
    listing.start()
    try:
        assert inside.wait(30)  # the listing of run-0 is parsing its history, its record kept open
        kept = history_cache.cache_file(os.path.realpath(base), "p", "run-0")
        other = store.load_run("p", "run-1")
        assert {s: v["train/loss"] for s, v in other.metrics.by_step.items()} == {1: 1.5, 2: 1.5, 3: 1.5}
        assert not os.path.exists(kept)  # run-1's history never recorded as run-0's
        assert not os.path.exists(history_cache.cache_file(os.path.realpath(base), "p", "run-1"))
    finally:
        go.set()
        listing.join()
    tag, _ = history_cache.load(kept)
    fd = os.open(history(base, "run-0"), os.O_RDONLY)
    assert tag == history_cache.identity(fd)
    os.close(fd)


def test_histories_from_records_are_what_parsing_them_gives(art_base, cache_home, settled_now, parses):
    """The shared ART fixtures, one with every hostile line, one averaging steps logged many times (sums past
    a float, NaN, infinities, bools, float steps, lone surrogates, lines past the switch to orjson): the
    metrics a listing takes from the kept records are exactly those parsing each file gives (values, bad
    lines, dropped values), and so are the best steps ``ls`` and a prune's plan name."""
    from test_hostile_input import write_hostile_history

    write_hostile_history(art_base)
    legacy = art_base / "demo" / "models" / "agent-legacy" / "history.jsonl"
    lines = [legacy.read_text().rstrip("\n")]
    for i in range(200):
        step = i % 7
        lines.append(json_line := '{"step": %s, "val/reward": %r, "loss": %s, "flag": true, "when": "t%d"}'
                     % (f"{step}.0" if i % 5 == 0 else step, i / 3, "1e308" if i % 3 else "NaN", i))
        lines.append(json_line.replace('"loss"', '"lo\\ud800ss"'))
        lines.append('{"step": %d, "val/reward": Infinity}' % step if i % 11 == 0 else "{bad json")
    legacy.write_text("\n".join(lines) + "\n")
    store = LocalStore(art_base)
    pairs = list_runs(store)
    histories = {pair: store._place(*pair).root for pair in pairs}
    first = dict(store.load_runs(pairs))
    assert len(parses) == len(pairs)
    parses.clear()
    second = dict(LocalStore(art_base).load_runs(pairs))
    assert parses == [] and first.keys() == second.keys()
    for pair, run in second.items():
        with open(os.path.join(art_base, histories[pair], "history.jsonl"), "rb") as handle:
            parsed = parse_history_lines(handle)
        for kept in (run.metrics, first[pair].metrics):
            assert (kept.by_step, kept.malformed, kept.ignored, kept.notes, kept.aliases) == \
                (parsed.by_step, parsed.malformed, parsed.ignored, parsed.notes, parsed.aliases), pair
            assert repr(kept.by_step) == repr(parsed.by_step)  # -0.0 and the order of steps and names too
    assert second[("demo", "agent-legacy")].metrics.malformed >= 180
    assert second[("demo", "agent-legacy")].metrics.ignored >= 150


def test_a_record_that_cannot_be_written_whole_leaves_no_file_behind(tmp_path, cache_home, settled_now, monkeypatch):
    """A full disk or a quota met part-way through a record: the listing goes on, and neither a record nor
    its temporary file is left (each listing, by its own process, would leave another)."""
    import errno

    class Full:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def write(fd, data):
            os.write(fd, bytes(data[:3]))
            raise OSError(errno.ENOSPC, "No space left on device")

    base = base_of(tmp_path, runs=2)
    monkeypatch.setattr(verdict_cache, "os", Full())
    for _ in range(2):
        assert losses(base) == {f"run-{r}": {1: 1.5, 2: 1.5, 3: 1.5} for r in range(2)}
    left = [str(p.relative_to(cache_home)) for p in cache_home.rglob("*") if p.is_file()]
    assert left == []
