"""The local ART store and the core's execution/fork, on copies of a tree ART wrote."""

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from ckpt_tui.core import (AlreadyExists, InvalidName, NotFound, Policy, Refused, execute_plan,
                           fork_checkpoint, plan_location, plan_run)
import ckpt_tui.stores.backends.local as local_backend
from ckpt_tui.stores.local import LocalStore

MODELS = "demo/models"


def steps_on_disk(base: Path, model: str, legacy: bool = False) -> set[int]:
    root = base / MODELS / model if legacy else base / MODELS / model / "checkpoints"
    return {int(p.name) for p in root.iterdir() if p.name.isdigit()}


def prune(store, model, **policy):
    plan = plan_run(store.load_run("demo", model), Policy(**policy))
    return execute_plan(store, plan)


def test_listing_matches_the_tree(art_base):
    store = LocalStore(art_base)
    assert store.list_projects() == ["demo"]
    assert store.list_runs("demo") == ["agent-001", "agent-002", "agent-legacy"]
    run = store.load_run("demo", "agent-001")
    assert [c.step for c in run.checkpoints] == list(range(12))
    ckpt = run.checkpoints[3]
    files = {f.path: f.bytes for f in store.checkpoint_files(run, ckpt)}
    on_disk = {p.name: p.stat().st_size for p in (art_base / MODELS / "agent-001/checkpoints/0003").iterdir()}
    assert files == on_disk and ckpt.bytes == sum(on_disk.values())
    assert run.layout == "art" and store.load_run("demo", "agent-legacy").layout == "art-legacy"
    assert {"val/reward", "train/reward", "train/loss"} <= set(run.metrics.names())


# What ART 0.5.18's own delete_checkpoints kept on this tree (tests/fixtures/README.md).
@pytest.mark.parametrize("model, metric, expected", [
    ("agent-001", "val/reward", {10, 11}),
    ("agent-002", "val/reward", {3, 5}),
    ("agent-001", "train/reward", {10, 11}),
    ("agent-002", "train/reward", {4, 5}),
])
def test_prune_keeps_what_art_keeps(art_base, model, metric, expected):
    result = prune(LocalStore(art_base), model, metric=metric)
    assert steps_on_disk(art_base, model) == expected
    assert {d.step for d in result.deleted} == set(range(12 if model == "agent-001" else 6)) - expected


@pytest.mark.parametrize("model, expected", [("agent-001", {10, 11}), ("agent-002", {4, 5})])
def test_prune_minimises_a_loss(art_base, model, expected):
    prune(LocalStore(art_base), model, metric="train/loss")
    assert steps_on_disk(art_base, model) == expected


def test_prune_leaves_non_checkpoint_files_alone(art_base):
    model_dir = art_base / MODELS / "agent-001"
    (model_dir / "trajectories").mkdir()
    (model_dir / "trajectories" / "0001.jsonl").write_text("{}")
    before = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file()}
    prune(LocalStore(art_base), "agent-001")
    assert {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file()} == before
    assert (model_dir / "trajectories" / "0001.jsonl").exists()


def test_legacy_layout_prunes_only_step_directories(art_base):
    prune(LocalStore(art_base), "agent-legacy")
    model_dir = art_base / MODELS / "agent-legacy"
    assert steps_on_disk(art_base, "agent-legacy", legacy=True) == {3}
    assert (model_dir / "history.jsonl").exists() and (model_dir / "state.json").exists()


def test_second_prune_keeps_the_best_surviving_step(art_base):
    store = LocalStore(art_base)
    # First prune keeps the *worst* train/reward step (0) and the latest (11).
    prune(store, "agent-001", metric="train/reward", mode="min")
    assert steps_on_disk(art_base, "agent-001") == {0, 11}
    # The best val/reward ever logged (step 10) is gone; ART would keep only 11.
    # Among what exists, step 0 is the best (step 11 has no val/reward).
    result = prune(store, "agent-001", metric="val/reward")
    assert steps_on_disk(art_base, "agent-001") == {0, 11}
    assert result.deleted == []


def test_missing_metric_refuses_and_deletes_nothing(art_base):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-001"), Policy(metric="val/accuracy"))
    assert plan.refused and "val/accuracy" in plan.refused
    with pytest.raises(Refused):
        execute_plan(store, plan)
    assert steps_on_disk(art_base, "agent-001") == set(range(12))


def add_step(base: Path, model: str, step: int, history: str) -> None:
    ckpts = base / MODELS / model / "checkpoints"
    shutil.copytree(ckpts / "0000", ckpts / f"{step:04d}")
    with open(base / MODELS / model / "history.jsonl", "a") as handle:
        handle.write(history + "\n")


def test_a_step_written_after_the_preview_survives_with_the_previous_latest(art_base):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-001"), Policy())
    add_step(art_base, "agent-001", 12, '{"train/reward": 0.1, "step": 12}')
    result = execute_plan(store, plan)
    assert steps_on_disk(art_base, "agent-001") == {10, 11, 12}
    assert {d.step for d in result.deleted} == set(range(10))


def test_a_new_best_after_the_preview_keeps_the_old_best_too(art_base):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-001"), Policy())
    add_step(art_base, "agent-001", 12, '{"val/reward": 5.0, "step": 12}')
    result = execute_plan(store, plan)
    # 10 was previewed as kept, so it is not deleted even though it is no longer best.
    assert steps_on_disk(art_base, "agent-001") == {10, 11, 12}
    assert result.plan.best_step == 12


def test_interrupted_delete_never_leaves_a_step_that_looks_whole(art_base, monkeypatch):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-001"), Policy())
    real_remove = local_backend._remove_tree

    def crash_midway(path):
        if Path(path).name.startswith(".deleting-5-"):
            next(Path(path).iterdir()).unlink()  # half of the step is gone...
            raise OSError(5, "Input/output error")  # ...then the machine falls over
        return real_remove(path)

    monkeypatch.setattr(local_backend, "_remove_tree", crash_midway)
    result = execute_plan(store, plan)
    assert [d.step for d, _ in result.failed] == [5]
    assert "Input/output error" in result.failed[0][1]
    monkeypatch.setattr(local_backend, "_remove_tree", real_remove)
    # Every other step is either whole or gone; step 5 is not a checkpoint any more.
    run = store.load_run("demo", "agent-001")
    assert [c.step for c in run.checkpoints] == [10, 11]
    assert [(c.step, c.note) for c in run.pending] == [(5, "interrupted delete")]
    for ckpt in run.checkpoints:
        assert {f.path for f in store.checkpoint_files(run, ckpt)} == {"adapter_config.json",
                                                                       "adapter_model.safetensors"}
    # The next execution finishes the leftover first.
    execute_plan(store, plan_run(run, Policy()))
    assert store.load_run("demo", "agent-001").pending == []
    assert sorted(os.listdir(art_base / MODELS / "agent-001/checkpoints")) == ["0010", "0011"]


def test_a_failing_rename_loses_nothing(art_base, monkeypatch):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-002"), Policy())

    def denied(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(local_backend, "rename_no_replace", denied)
    result = execute_plan(store, plan)
    assert result.deleted == [] and len(result.failed) == len(plan.delete)
    assert "Permission denied" in result.failed[0][1]
    assert steps_on_disk(art_base, "agent-002") == set(range(6))


def test_cancel_between_checkpoints(art_base):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-001"), Policy())
    seen = []
    result = execute_plan(store, plan, progress=lambda done, total, item: seen.append((done, total)),
                          should_cancel=lambda: len(seen) >= 3)
    assert result.cancelled and len(result.deleted) == 3 and seen[-1] == (3, 10)
    assert len(steps_on_disk(art_base, "agent-001")) == 12 - 3


def test_a_prune_that_cannot_be_stopped_removes_side_by_side_and_reports_in_order(art_base, monkeypatch):
    store = LocalStore(art_base)
    plan = plan_run(store.load_run("demo", "agent-001"), Policy())
    removing = {}
    real_remove = local_backend._remove_tree

    def remove(path):
        removing[Path(path).name] = threading.current_thread().name
        return real_remove(path)

    monkeypatch.setattr(local_backend, "_remove_tree", remove)
    seen = []
    result = execute_plan(store, plan, progress=lambda done, total, item: seen.append((done, item.step)))
    assert [step for _, step in seen] == [d.step for d in plan.delete] and [n for n, _ in seen] == list(range(1, 11))
    assert len(result.deleted) == 10 and not result.failed and len(removing) == 10
    assert all(thread.startswith("ckpt-tui-remove") for thread in removing.values())
    assert steps_on_disk(art_base, "agent-001") == {10, 11}
    assert not any(name.startswith(".deleting") for name in os.listdir(art_base / MODELS / "agent-001/checkpoints"))


def test_symlinks_are_not_followed_out_of_the_base(art_base, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.bin").write_bytes(b"x" * 1000)
    ckpts = art_base / MODELS / "agent-002" / "checkpoints"
    (ckpts / "0007").symlink_to(outside, target_is_directory=True)  # a step that is a symlink
    (ckpts / "0002" / "linked.bin").symlink_to(outside / "precious.bin")
    store = LocalStore(art_base)
    run = store.load_run("demo", "agent-002")
    assert 7 not in {c.step for c in run.checkpoints}
    assert "linked.bin" not in {f.path for f in store.checkpoint_files(run, run.checkpoint(2))}
    execute_plan(store, plan_run(run, Policy()))
    assert (outside / "precious.bin").read_bytes() == b"x" * 1000
    assert (ckpts / "0007").is_symlink() and not (ckpts / "0002").exists()


def test_run_names_are_validated(art_base):
    store = LocalStore(art_base)
    with pytest.raises(InvalidName):
        store.load_run("demo", "../demo")
    with pytest.raises(NotFound):
        store.load_run("demo", "agent-999")


def test_plan_location_plans_every_run_on_its_own(art_base):
    plans = plan_location(LocalStore(art_base), Policy())
    assert [(p.run, p.best_step, p.latest_step) for p in plans] == [
        ("agent-001", 10, 11), ("agent-002", 3, 5), ("agent-legacy", 3, 3)]


# -- fork ---------------------------------------------------------------------
def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fork_copies_one_step_byte_for_byte(art_base):
    store = LocalStore(art_base)
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-fork", not_after_step=7)
    assert result.step == 7
    target = art_base / MODELS / "agent-001-fork"
    assert sorted(os.listdir(target)) == ["checkpoints"]  # no history, trajectories or logs
    assert tree_bytes(target / "checkpoints/0007") == tree_bytes(art_base / MODELS / "agent-001/checkpoints/0007")


def test_fork_defaults_to_latest_and_can_bring_history(art_base):
    store = LocalStore(art_base)
    result = fork_checkpoint(store, "demo", "agent-002", "b", to_project="other", with_history=True)
    assert result.step == 5 and result.to_project == "other"
    run = store.load_run("other", "b")
    assert [c.step for c in run.checkpoints] == [5]
    assert max(run.metrics.by_step) == 5 and result.history_records > 0


def test_fork_from_the_legacy_layout_writes_the_current_layout(art_base):
    store = LocalStore(art_base)
    fork_checkpoint(store, "demo", "agent-legacy", "modern", step=2)
    assert (art_base / MODELS / "modern/checkpoints/0002/adapter_model.safetensors").exists()


def test_fork_never_overwrites(art_base):
    store = LocalStore(art_base)
    fork_checkpoint(store, "demo", "agent-001", "copy", step=4)
    marker = art_base / MODELS / "copy/checkpoints/0004/adapter_config.json"
    marker.write_text("mine")
    with pytest.raises(AlreadyExists):
        fork_checkpoint(store, "demo", "agent-001", "copy", step=4)
    assert marker.read_text() == "mine"
    with pytest.raises(Refused):
        fork_checkpoint(store, "demo", "agent-001", "agent-001", step=4)


def test_fork_is_atomic_when_the_copy_fails(art_base, monkeypatch):
    store = LocalStore(art_base)
    real_copy = shutil.copy2
    calls = []

    def fail_second_file(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copy2", fail_second_file)
    with pytest.raises(Exception, match="No space left"):
        fork_checkpoint(store, "demo", "agent-001", "half", step=3)
    ckpts = art_base / MODELS / "half" / "checkpoints"
    assert not ckpts.exists() or os.listdir(ckpts) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "bad\nname", "..", "tab\tname"])
def test_fork_rejects_bad_names(art_base, name):
    with pytest.raises(InvalidName):
        fork_checkpoint(LocalStore(art_base), "demo", "agent-001", name)
    assert sorted(os.listdir(art_base / MODELS)) == ["agent-001", "agent-002", "agent-legacy"]


def test_fork_step_selection_errors(art_base):
    store = LocalStore(art_base)
    with pytest.raises(NotFound, match="no checkpoint at step 99"):
        fork_checkpoint(store, "demo", "agent-001", "x", step=99)
    shutil.rmtree(art_base / MODELS / "agent-002/checkpoints/0000")
    with pytest.raises(NotFound, match="at or before step 0"):
        fork_checkpoint(store, "demo", "agent-002", "x", not_after_step=0)


def test_a_fork_still_being_written_survives_a_prune_and_an_abandoned_one_does_not(art_base):
    from ckpt_tui.stores.layouts.base import ABANDONED_FORK_SECONDS

    ckpts = art_base / MODELS / "agent-002" / "checkpoints"
    fresh = ckpts / ".forking-9-aaaa0000"
    stale = ckpts / ".forking-8-bbbb0000"
    for temp in (fresh, stale):
        shutil.copytree(ckpts / "0001", temp)  # copies keep their source's file times
    old = os.stat(stale).st_mtime - ABANDONED_FORK_SECONDS - 60
    for path in (stale, *stale.iterdir()):
        os.utime(path, (old, old))
    store = LocalStore(art_base)
    run = store.load_run("demo", "agent-002")
    assert {(c.name, c.note) for c in run.pending} == {(fresh.name, "fork in progress"),
                                                       (stale.name, "interrupted fork")}
    execute_plan(store, plan_run(run, Policy()))
    assert fresh.is_dir() and not stale.exists()


class FailingStore(LocalStore):
    """A store whose deletion of one step is refused by the storage."""

    def __init__(self, base, fail_step):
        super().__init__(base)
        self.fail_step = fail_step

    def delete_checkpoints(self, run, checkpoints, done=None, should_cancel=None):
        failing = [c for c in checkpoints if c.step == self.fail_step]
        outcome = super().delete_checkpoints(run, [c for c in checkpoints if c.step != self.fail_step],
                                             done, should_cancel)
        for ckpt in failing:
            outcome[ckpt.key] = "refused by the server"
            done(ckpt)
        return outcome


def test_a_step_that_fails_is_reported_alone_and_the_others_go(art_base):
    store = FailingStore(art_base, fail_step=6)
    seen = []
    result = execute_plan(store, plan_run(store.load_run("demo", "agent-001"), Policy()),
                          progress=lambda done, total, item: seen.append(done))
    assert [(d.step, why) for d, why in result.failed] == [(6, "refused by the server")]
    assert steps_on_disk(art_base, "agent-001") == {6, 10, 11} and seen == list(range(1, 11))


def test_an_entry_renamed_away_after_the_listing_holds_nothing(tmp_path):
    """A trainer renames ``tmp-checkpoint-N`` in while a run is read: no error; the entry is gone
    (and the store leaves it out of the run), nothing is counted for it."""
    backend = local_backend.LocalBackend(tmp_path)
    (tmp_path / "checkpoint-1").mkdir()
    (tmp_path / "checkpoint-1" / "model.bin").write_bytes(b"12345")
    usage = backend.usage_many("", ["checkpoint-1", "tmp-checkpoint-2"])
    assert usage["checkpoint-1"].bytes == 5 and isinstance(usage["tmp-checkpoint-2"], NotFound)


def test_removing_a_folder_takes_subfolders_and_links_but_never_what_links_point_at(tmp_path):
    outside = tmp_path / "outside"
    (outside / "kept").mkdir(parents=True)
    (outside / "kept" / "weights.bin").write_bytes(b"w")
    step = tmp_path / "base" / "checkpoint-1"
    (step / "global_step1" / "deeper").mkdir(parents=True)
    (step / "global_step1" / "deeper" / "shard.pt").write_bytes(b"s")
    (step / "model.safetensors").write_bytes(b"m")
    (step / "linked-folder").symlink_to(outside / "kept", target_is_directory=True)
    (step / "linked-file").symlink_to(outside / "kept" / "weights.bin")
    backend = local_backend.LocalBackend(tmp_path / "base")
    backend.delete_tree("checkpoint-1")
    assert not step.exists() and os.listdir(tmp_path / "base") == []
    assert (outside / "kept" / "weights.bin").read_bytes() == b"w"
    # A link to a folder, given as the folder to remove, is removed as a link.
    (tmp_path / "base" / "link").symlink_to(outside, target_is_directory=True)
    backend.delete_tree("link")
    assert not (tmp_path / "base" / "link").is_symlink() and (outside / "kept" / "weights.bin").exists()


def _many_runs(base: Path, runs: int = 12) -> list[tuple[str, str]]:
    """``runs`` ART runs of a few steps each: enough for the store to read them in worker processes."""
    for r in range(runs):
        for step in range(r % 4 + 1):
            folder = base / "p" / "models" / f"run-{r:02d}" / "checkpoints" / f"{step:04d}"
            folder.mkdir(parents=True)
            (folder / "adapter_model.safetensors").write_bytes(b"x" * (10 + step))
        (base / "p" / "models" / f"run-{r:02d}" / "history.jsonl").write_text('{"step": 0, "val/reward": 0.5}\n')
    return [("p", f"run-{r:02d}") for r in range(runs)]


def _latest_step(run):
    return run.latest_step


def _fails_for_run_03(run):
    if run.name == "run-03":
        raise ValueError("run-03 is not for this function")
    return run.name


def _counting_forks(monkeypatch) -> list[int]:
    """Two cores, and the processes forked (so that a test knows the runs were read in workers)."""
    forks, fork = [], os.fork

    def counted() -> int:
        pid = fork()
        if pid:  # the parent: the child's pid, to check it is reaped
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # idle pools other tests left behind
    monkeypatch.setattr(os, "fork", counted)
    return forks


def _no_children_left(forks: list[int]) -> bool:
    """Every worker forked is gone and reaped (servers other tests started may still run)."""
    for pid in forks:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue  # reaped already
        return False
    return True


def test_many_runs_are_read_by_worker_processes_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "0")
    forks = _counting_forks(monkeypatch)
    pairs = _many_runs(tmp_path)
    pairs.insert(5, ("p", "no-such-run"))
    store = LocalStore(tmp_path)
    forked = list(store.map_runs(pairs, _latest_step))
    serial = [(pair, _latest_step(store.load_run(*pair))) for pair in pairs if pair[1] != "no-such-run"]
    assert [pair for pair, _ in forked] == pairs
    assert isinstance(forked[5][1], NotFound)
    assert forked[:5] + forked[6:] == serial and [step for _, step in serial] == [r % 4 for r in range(12)]
    assert len(forks) == 2 and _no_children_left(forks)


def test_an_error_in_a_worker_process_is_raised_where_runs_are_read(tmp_path, monkeypatch):
    forks = _counting_forks(monkeypatch)
    results = LocalStore(tmp_path).map_runs(_many_runs(tmp_path), _fails_for_run_03)
    assert [next(results) for _ in range(3)] == [(("p", f"run-{r:02d}"), f"run-{r:02d}") for r in range(3)]
    with pytest.raises(ValueError, match="run-03 is not for this function"):
        next(results)
    assert len(forks) == 2 and _no_children_left(forks)


def test_a_reader_that_stops_early_leaves_no_worker_process(tmp_path, monkeypatch):
    forks = _counting_forks(monkeypatch)
    results = LocalStore(tmp_path).map_runs(_many_runs(tmp_path), _latest_step)
    assert next(results)[0] == ("p", "run-00")
    results.close()
    assert len(forks) == 2 and _no_children_left(forks)


def _bytes_or_not(run):
    """Bytes (a run's JSON, as ``ls --json`` sends them) for some runs, other values for the rest."""
    if run.name.endswith(("1", "4")):
        return ("\n".join(c.name for c in run.checkpoints) * 3000).encode()  # larger than a pipe's buffer
    return b"" if run.name.endswith("2") else bytearray(b"not bytes") if run.name.endswith("3") else [run.name]


def test_bytes_from_worker_processes_come_back_whole_and_as_bytes_beside_other_values(tmp_path, monkeypatch):
    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "0")
    forks = _counting_forks(monkeypatch)
    pairs = _many_runs(tmp_path)
    store = LocalStore(tmp_path)
    forked = list(store.map_runs(pairs, _bytes_or_not))
    serial = [(pair, _bytes_or_not(store.load_run(*pair))) for pair in pairs]
    assert forked == serial and len(forks) == 2 and _no_children_left(forks)
    assert [type(result) for _, result in forked] == [type(result) for _, result in serial]


def test_ls_json_read_by_worker_processes_is_the_listing_read_here_with_the_whole_plans(tmp_path, monkeypatch, capsys):
    """Runs rendered to JSON in workers (only bytes travel) print what one process prints, and each
    run's best and kept steps and refusal are its whole plan's."""
    from ckpt_tui.cli import main
    from ckpt_tui.core.policy import Policies, flag_settings, plan_for

    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "0")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    base = tmp_path / "base"
    pairs = _many_runs(base)
    for r in range(0, 12, 3):  # some runs log the metric at several steps, one not at all (refused)
        history = base / "p" / "models" / f"run-{r:02d}" / "history.jsonl"
        history.write_text("".join(f'{{"step": {s}, "val/reward": {0.1 * ((s * 7) % 3)}}}\n' for s in range(4))
                           if r != 3 else '{"step": 0, "train/loss": 1.0}\n')
    (base / ".ckpt-tui.toml").write_text('[projects.p.runs.run-07]\nkeep = "best,latest,last:2"\n'
                                        '[projects.p.runs.run-03]\nmetric = "val/reward"\n')  # not logged
    monkeypatch.setattr(threading, "active_count", lambda: 2)  # one process: a thread is running
    assert main(["ls", str(base), "--json"]) == 0
    here = capsys.readouterr().out
    forks = _counting_forks(monkeypatch)
    assert main(["ls", str(base), "--json"]) == 0
    assert capsys.readouterr().out == here and len(forks) == 2 and _no_children_left(forks)
    store = LocalStore(base)
    policies, flags = Policies(store, flag_settings()), flag_settings()
    shown = {(run["project"], run["run"]): run for run in json.loads(here)["runs"]}
    assert list(shown) == pairs
    for pair in pairs:
        run = store.load_run(*pair)
        plan = plan_for(run, policies.resolve(*pair, run.metrics.names()))
        assert (shown[pair]["best_steps"], shown[pair]["kept"], shown[pair]["refused"]) == (
            plan.best_steps, sorted({k.step for k in plan.keep}), plan.refused)
    assert shown[("p", "run-03")]["refused"] and shown[("p", "run-03")]["kept"] == [0, 1, 2, 3]
    assert shown[("p", "run-07")]["kept"] == [0, 2, 3] and shown[("p", "run-06")]["kept"] == [2]
