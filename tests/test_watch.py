"""``ckpt-tui watch``: a run kept pruned while a trainer writes it, stopped by a signal."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from watch_helpers import (Trainer, WatchProcess, best_step, check_latest_and_best_present, eval_losses,
                           save_on_disk, steps_on_disk)

import ckpt_tui.stores.backends.local as local_backend
from ckpt_tui.cli import main
from ckpt_tui.core import Policy, execute_plan, plan_run
from ckpt_tui.policy_file import POLICY_FILE, flag_settings
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.watch import Event, MinFree, Watch, follow_changes

PER_STEP = ("adapter_model.safetensors", "adapter_config.json")
CLI_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def art_run(base: Path, model: str, rewards: list[float], project: str = "demo") -> Path:
    """An ART model with one checkpoint and one ``val/reward`` record per step."""
    root = base / project / "models" / model
    for step in range(len(rewards)):
        add_art_step(root, step, rewards[step])
    return root


def add_art_step(root: Path, step: int, reward: float | None) -> None:
    folder = root / "checkpoints" / f"{step:04d}"
    folder.mkdir(parents=True)
    for name in PER_STEP:
        (folder / name).write_bytes(f"{name} {step}".encode())
    if reward is not None:
        with open(root / "history.jsonl", "a") as history:
            history.write(json.dumps({"step": step, "val/reward": reward}) + "\n")


def art_steps(root: Path) -> set[int]:
    return {int(p.name) for p in (root / "checkpoints").iterdir() if p.name.isdigit()}


def leftovers(root: Path) -> list[str]:
    return [p.name for p in (root / "checkpoints").iterdir() if not p.name.isdigit()]


def deleted_steps(watch: WatchProcess) -> set[int]:
    return {e["step"] for e in watch.actions("deleted")}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def take(self) -> list[tuple]:
        """(action, run, step) of the events since the last call."""
        taken = [(e.action, e.run, e.step) for e in self.events]
        self.events.clear()
        return taken


# -- beside a trainer ---------------------------------------------------------------------
def test_watch_keeps_pace_with_a_trainer_and_ends_where_one_prune_would(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    losses = eval_losses(30, seed=11)
    trainer = Trainer(save_on_disk(out), losses)
    keep = "best,last:2"
    with WatchProcess(out, "--metric", "eval_loss", "--keep", keep, "--interval", "0.2") as watch:
        watch.started()
        trainer.start()
        judged = 0
        while trainer.is_alive():
            judged += check_latest_and_best_present(trainer, lambda: steps_on_disk(out))
        assert trainer.error is None, trainer.error
        assert check_latest_and_best_present(trainer, lambda: steps_on_disk(out))
        steps = list(range(1, len(losses) + 1))
        expected = {best_step(losses, steps), *steps[-2:]}
        watch.wait_for(lambda: deleted_steps(watch) == set(steps) - expected, "every deletion reported")
        assert watch.terminate() == 0
    assert steps_on_disk(out) == expected

    deleted = [e["step"] for e in watch.actions("deleted")]
    assert sorted(deleted) == sorted(set(steps) - expected)  # each once, and each really gone
    kept_before = set()
    for event in watch.events:
        if event["action"] == "kept":
            kept_before.add(event["step"])
        elif event["action"] == "deleted":  # watch had seen a later step before deleting this one
            assert max(kept_before) > event["step"]
    assert not watch.actions("error") and not watch.actions("failed") and watch.stderr[-1] == "stopped"
    assert {e["run"] for e in watch.events} == {"out"}
    code = main(["prune", str(out), "--metric", "eval_loss", "--keep", keep, "--dry-run", "--json"])
    assert code == 0


def test_prune_after_watch_has_nothing_left_to_do(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    losses = eval_losses(12, seed=3)
    trainer = Trainer(save_on_disk(out), losses)
    with WatchProcess(out, "--metric", "eval_loss", "--interval", "0.2") as watch:
        watch.started()
        trainer.run()  # in this thread: saves as fast as it can
        steps = list(range(1, 13))
        expected = {best_step(losses, steps), 12}
        watch.wait_for(lambda: deleted_steps(watch) == set(steps) - expected, "every deletion reported")
        assert watch.terminate() == 0
    assert steps_on_disk(out) == expected
    assert main(["prune", str(out), "--metric", "eval_loss", "--dry-run", "--json"]) == 0
    out_json = capsys.readouterr().out
    assert json.loads(out_json)["planned_freed_bytes"] == 0, out_json


def test_sigterm_exits_0_and_leaves_nothing_the_next_prune_cannot_finish(tmp_path, capsys):
    base = tmp_path / "base"
    runs = [art_run(base, f"agent-{i}", [((s * 7 + i) % 40) / 40 for s in range(40)]) for i in range(6)]
    before = {(r.name, s): (r / "checkpoints" / f"{s:04d}" / PER_STEP[0]).read_bytes()
              for r in runs for s in art_steps(r)}
    with WatchProcess(base, "--interval", "0.2") as watch:
        watch.wait_for(lambda: watch.actions("deleted"), "a first deletion")
        assert watch.terminate() == 0
    assert watch.stderr[-1] == "stopped"
    for (run, step), data in before.items():  # every step is whole or gone
        folder = base / "demo/models" / run / "checkpoints" / f"{step:04d}"
        assert not folder.exists() or (folder / PER_STEP[0]).read_bytes() == data
    for event in watch.actions("deleted"):
        assert not (base / "demo/models" / event["run"] / "checkpoints" / f"{event['step']:04d}").exists()

    assert main(["prune", str(base), "--yes", "--json"]) == 0
    capsys.readouterr()
    store = LocalStore(base)
    for root in runs:
        assert leftovers(root) == []
        run = store.load_run("demo", root.name)
        assert not plan_run(run, Policy.parse()).delete and len(run.checkpoints) <= 2


# -- in one process -------------------------------------------------------------------------
def test_a_stop_during_a_deletion_puts_the_rest_back_whole(tmp_path):
    root = art_run(tmp_path, "agent", [0.1, 0.9, 0.2, 0.3, 0.4, 0.5])
    store = LocalStore(tmp_path)
    events = Recorder()
    watch = Watch(store, report=events)
    delete_tree = store.backend.delete_tree

    def delete_then_stop(path: str) -> None:
        delete_tree(path)
        watch.request_stop()  # as a SIGTERM after the first checkpoint went

    store.backend.delete_tree = delete_then_stop
    watch.cycle()
    assert events.take() == [("kept", "agent", 1), ("kept", "agent", 5), ("deleted", "agent", 0)]
    assert art_steps(root) == {1, 2, 3, 4, 5} and leftovers(root) == []
    assert watch.todo == {("demo", "agent")}  # the rest is for the next poll

    store.backend.delete_tree = delete_tree
    watch.stop.clear()
    watch.cycle()
    assert events.take() == [("deleted", "agent", s) for s in (2, 3, 4)] and art_steps(root) == {1, 5}


def test_only_new_checkpoints_wake_a_run_and_a_missing_metric_is_told_once(tmp_path):
    good = art_run(tmp_path, "good", [0.5, 0.2])
    bare = art_run(tmp_path, "bare", [None, None])
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), "demo", report=events)
    watch.cycle()
    assert events.take() == [("refused", "bare", None), ("kept", "good", 0), ("kept", "good", 1)]
    watch.cycle()
    assert events.take() == []
    add_art_step(bare, 2, None)
    add_art_step(good, 2, 0.1)
    add_art_step(good, 3, 0.6)
    (bare.parent / "late").mkdir()  # a new run of the project, empty so far
    watch.cycle()
    assert events.take() == [("kept", "good", 3), ("deleted", "good", 0), ("deleted", "good", 1),
                             ("deleted", "good", 2)]
    add_art_step(bare, 3, 0.7)  # the metric appears
    art_run(tmp_path, "late", [0.3, 0.1])
    watch.cycle()
    assert events.take() == [("kept", "bare", 3), ("deleted", "bare", 0), ("deleted", "bare", 1),
                             ("deleted", "bare", 2), ("kept", "late", 0), ("kept", "late", 1)]
    assert art_steps(good) == {3} and art_steps(bare) == {3}


def test_errors_are_told_once_and_retried_until_they_clear(tmp_path):
    (tmp_path / "demo").mkdir()
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), "other", "agent", report=events)
    watch.check()  # a project the trainer has not written yet is no reason to stop
    watch.cycle()
    watch.cycle()
    [(action, run, step)] = events.take()
    assert action == "error" and "no project 'other'" in watch.problems["runs"]
    root = art_run(tmp_path, "agent", [0.1, 0.2, 0.3], project="other")
    watch.cycle()
    assert events.take() == [("kept", "agent", 2), ("deleted", "agent", 0), ("deleted", "agent", 1)]
    assert watch.problems == {} and art_steps(root) == {2}


def test_the_policy_file_is_followed_as_it_changes_and_an_invalid_one_deletes_nothing(tmp_path):
    root = art_run(tmp_path, "agent", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    (tmp_path / POLICY_FILE).write_text('keep = "last:4"\n')
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), report=events)
    watch.cycle()
    assert art_steps(root) == {2, 3, 4, 5}
    events.take()
    (tmp_path / POLICY_FILE).write_text('keep = "last:two"\n')
    add_art_step(root, 6, 0.7)
    watch.cycle()
    watch.cycle()
    [error] = watch.problems.values()
    assert events.take() == [("error", None, None)] and art_steps(root) == {2, 3, 4, 5, 6}
    assert error.startswith(f"{tmp_path}/{POLICY_FILE}: keep: rule 'last' needs a whole number")
    (tmp_path / POLICY_FILE).write_text('[projects.demo.runs.agent]\nkeep = "last:2"\npins = [2]\n')
    watch.cycle()
    assert art_steps(root) == {2, 5, 6} and watch.problems == {}
    assert ("kept", "agent", 2) in events.take()


def test_flags_override_the_file_and_a_policy_that_cannot_apply_stops_watch_at_once(tmp_path, capsys):
    root = art_run(tmp_path, "agent", [0.1, 0.2, 0.3])
    (tmp_path / POLICY_FILE).write_text('metric = "none"\n')
    watch = Watch(LocalStore(tmp_path), flags=flag_settings(keep="latest"))
    watch.cycle()
    assert art_steps(root) == {2}
    assert main(["watch", str(tmp_path), "--interval", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ckpt-tui: demo/agent: rules 'best,latest' (default) need a metric") and \
        f"({tmp_path}/{POLICY_FILE}: metric)" in err


def test_a_run_named_alone_in_several_projects_is_never_watched_in_both(tmp_path):
    """--run alone naming runs of two projects is refused at start (exit 2, nothing deleted), as
    prune refuses it; a second project appearing while watching stops the pruning with one problem."""
    first = art_run(tmp_path, "agent", [0.1, 0.2, 0.3])
    other = art_run(tmp_path, "agent", [0.1, 0.2, 0.3], project="other")
    done = subprocess.run([sys.executable, "-m", "ckpt_tui", "watch", tmp_path, "-r", "agent", "--keep", "latest",
                           "--metric", "none"], capture_output=True, text=True, timeout=60, env=CLI_ENV)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "demo/agent, other/agent" in done.stderr and "--project" in done.stderr
    assert art_steps(first) == art_steps(other) == {0, 1, 2}

    shutil.rmtree(tmp_path / "other")
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), run="agent", flags=flag_settings(keep="latest", metric="none"), report=events)
    watch.cycle()
    assert art_steps(first) == {2} and ("deleted", "agent", 1) in events.take()
    other = art_run(tmp_path, "agent", [0.1, 0.2, 0.3], project="other")
    add_art_step(first, 3, None)
    watch.cycle()
    [problem] = events.events
    assert problem.action == "error" and "pass --project too" in problem.reasons[0]
    assert art_steps(first) == {2, 3} and art_steps(other) == {0, 1, 2}


@pytest.mark.parametrize(("args", "message"), [
    (["--interval", "0"], "--interval must be a number of seconds above 0"),
    (["--min-free", "lots"], "--min-free 'lots': give a size"),
    (["--min-free", ""], "--min-free '': give a size"),
    (["--min-free", " "], "--min-free '': give a size"),
    (["--min-free", "100%"], "--min-free '100%'"),
    (["--keep", "best,soon"], "--keep: unknown rule 'soon'"),
    (["--smoothing", "3"], "--smoothing: must be a number in (0, 1]"),
])
def test_bad_flags_are_refused_before_watching(tmp_path, capsys, args, message):
    art_run(tmp_path, "agent", [0.1, 0.2, 0.3])
    assert main(["watch", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ckpt-tui: {message}") and len(err.splitlines()) == 1
    assert art_steps(tmp_path / "demo/models/agent") == {0, 1, 2}


def test_min_free_sizes():
    assert MinFree.parse("50G") == MinFree(bytes=50 * 10**9) == MinFree.parse("50 gb")
    assert MinFree.parse("2TiB") == MinFree(bytes=2 * 2**40) and MinFree.parse("1.5m") == MinFree(bytes=1_500_000)
    assert MinFree.parse("4096") == MinFree(bytes=4096) == MinFree.parse("4096B")
    assert MinFree.parse("12.5%") == MinFree(fraction=0.125) and str(MinFree(fraction=0.125)) == "12.5%"
    assert MinFree(fraction=0.1).wanted(1000) == 100 and MinFree(bytes=7).wanted(1000) == 7


def test_min_free_prunes_only_while_space_is_short_and_stops_once_there_is_enough(tmp_path, monkeypatch):
    root = art_run(tmp_path, "agent", [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    step_bytes = sum(len(f"{name} 1") for name in PER_STEP)
    disk = {"free": 10 * step_bytes}

    def usage(path):
        assert Path(path) == tmp_path
        held = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name in PER_STEP)
        free = disk["free"] + 7 * step_bytes - held  # removing frees space, renaming aside does not
        return shutil._ntuple_diskusage(100 * step_bytes, 100 * step_bytes - free, free)

    monkeypatch.setattr("shutil.disk_usage", usage)
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), report=events, min_free=MinFree(bytes=10 * step_bytes))
    watch.cycle()
    assert events.take() == [] and art_steps(root) == set(range(7))  # 10 free: not short
    disk["free"] = 8 * step_bytes
    watch.cycle()
    # Two steps bring free space back to 10: the oldest go first, then it stops.
    assert events.take() == [("kept", "agent", 0), ("kept", "agent", 6), ("deleted", "agent", 1),
                             ("deleted", "agent", 2)]
    assert art_steps(root) == {0, 3, 4, 5, 6} and leftovers(root) == []
    watch.cycle()
    assert events.take() == []
    disk["free"] = 5 * step_bytes
    watch.cycle()
    assert events.take() == [("deleted", "agent", s) for s in (3, 4, 5)] and art_steps(root) == {0, 6}


def test_file_changes_wake_watch_long_before_its_interval(tmp_path):
    root = art_run(tmp_path, "agent", [0.2, 0.1])
    with WatchProcess(tmp_path, "--interval", "600") as watch:
        watch.wait_for(lambda: len(watch.actions("kept")) == 2, "the first poll")
        add_art_step(root, 2, 0.15)
        watch.wait_for(lambda: watch.actions("deleted"), "a deletion after a new step")
        assert watch.terminate() == 0
    assert [(e["step"], e["action"]) for e in watch.events] == [(0, "kept"), (1, "kept"), (2, "kept"),
                                                                (1, "deleted")]
    # Every event has the fields a log pipeline reads.
    assert set(watch.events[-1]) == {"time", "project", "run", "step", "action", "bytes", "reasons"}
    assert watch.events[-1]["bytes"] > 0 and watch.events[-1]["reasons"] == ["rule: keep best val/reward (max) + latest"]


def test_plans_as_prune_does_on_an_identical_tree(tmp_path):
    rewards = [0.2, 0.8, 0.1, 0.5, 0.3, 0.6, 0.4]
    watched, pruned = art_run(tmp_path / "a", "agent", rewards), art_run(tmp_path / "b", "agent", rewards)
    policy = Policy.parse("best,latest,every:3,top:2", "val/reward")
    Watch(LocalStore(tmp_path / "a"), flags=flag_settings("val/reward", None, "best,latest,every:3,top:2")).cycle()
    store = LocalStore(tmp_path / "b")
    execute_plan(store, plan_run(store.load_run("demo", "agent"), policy))
    assert art_steps(watched) == art_steps(pruned) == {0, 1, 3, 5, 6}


def test_without_watchfiles_polling_alone_drives_the_loop(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # as if not installed
    assert follow_changes(str(tmp_path), threading.Event(), threading.Event()) is None
    root = art_run(tmp_path, "agent", [0.2, 0.1])
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), report=events)
    loop = threading.Thread(target=watch.run, args=(0.05,))
    loop.start()
    try:
        add_art_step(root, 2, 0.15)
        deadline = time.monotonic() + 10
        while ("deleted", "agent", 1) not in [(e.action, e.run, e.step) for e in list(events.events)]:
            assert time.monotonic() < deadline, events.events
            time.sleep(0.01)
    finally:
        watch.request_stop()
        loop.join(10)
    assert not loop.is_alive() and art_steps(root) == {0, 2}


def test_what_an_interrupted_deletion_left_is_finished_even_with_nothing_else_to_delete(tmp_path):
    root = art_run(tmp_path, "agent", [0.2, 0.1])
    left = root / "checkpoints" / ".deleting-5-0123abcd-0"
    left.mkdir()
    (left / PER_STEP[0]).write_bytes(b"half")
    Watch(LocalStore(tmp_path)).cycle()
    assert not left.exists() and art_steps(root) == {0, 1}


def test_a_step_that_cannot_be_deleted_is_told_once_and_retried_at_each_poll(tmp_path):
    root = art_run(tmp_path, "agent", [0.1, 0.2, 0.3, 0.4])
    store = LocalStore(tmp_path)
    delete_tree, refusing = store.backend.delete_tree, {"on": True}

    def delete_tree_but_step_1(path: str) -> None:
        if refusing["on"] and path.split("/")[-1].startswith(".deleting-1-"):
            raise local_backend.os_error(PermissionError(13, "Permission denied"), f"cannot remove {path}")
        delete_tree(path)

    store.backend.delete_tree = delete_tree_but_step_1
    events = Recorder()
    watch = Watch(store, report=events)
    watch.cycle()
    assert events.take() == [("kept", "agent", 3), ("deleted", "agent", 0), ("deleted", "agent", 2),
                             ("failed", "agent", 1)]
    [left] = leftovers(root)
    watch.cycle()  # tried again, not told again
    assert events.take() == [] and leftovers(root) == [left]
    refusing["on"] = False
    watch.cycle()
    assert [(e.action, e.reasons) for e in events.events] == [("finished", (f"removed {root}/checkpoints/{left}",))]
    assert art_steps(root) == {3} and leftovers(root) == []
    watch.cycle()
    assert watch.todo == set() and watch.problems == {}


def test_full_slims_kept_steps_as_they_stop_being_the_ones_resumed_from(hf_fixture):
    """With ``--full latest``, each kept step loses its training state once a newer one lands."""
    run = hf_fixture / "full-model"
    for late in ("checkpoint-12", "checkpoint-16", "checkpoint-20", "checkpoint-24"):
        shutil.move(run / late, hf_fixture.parent / late)  # saved later, one at a time
    events = Recorder()
    flags = flag_settings("eval_loss", "min", "every:4", full="latest")
    watch = Watch(LocalStore(hf_fixture), "hf-trainer", "full-model", flags, events)
    watch.cycle()
    assert [e for e in events.take() if e[0] == "slimmed"] == [("slimmed", "full-model", 4)]
    assert not (run / "checkpoint-4" / "optimizer.pt").exists() and (run / "checkpoint-8" / "optimizer.pt").exists()
    shutil.move(hf_fixture.parent / "checkpoint-12", run / "checkpoint-12")
    watch.cycle()
    assert [e for e in events.take() if e[0] == "slimmed"] == [("slimmed", "full-model", 8)]
    assert (run / "checkpoint-12" / "optimizer.pt").exists() and (run / "checkpoint-8" / "model.safetensors").exists()


def test_a_step_folder_still_empty_at_a_poll_is_looked_at_again(tmp_path):
    """The quick poll sees folders; the full read sees an empty one as unfinished. Once the
    trainer has written into it, the next poll takes it as new and prunes."""
    root = art_run(tmp_path, "agent", [0.2, 0.1])
    events = Recorder()
    watch = Watch(LocalStore(tmp_path), report=events)
    watch.cycle()
    events.take()
    (root / "checkpoints" / "0002").mkdir()  # created, nothing written yet
    watch.cycle()
    assert [e for e in events.take() if e[0] == "deleted"] == [] and art_steps(root) == {0, 1, 2}
    shutil.rmtree(root / "checkpoints" / "0002")
    add_art_step(root, 2, 0.15)
    watch.cycle()
    assert ("deleted", "agent", 1) in events.take() and art_steps(root) == {0, 2}
