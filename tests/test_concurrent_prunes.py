"""Two prunes of one run at once: what the other one deleted is gone, never a failure.

Each test lets the other prune run to its end at one exact point of this one
(inside a call this prune makes), so that the interleaving is the same every time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import Pending, Policy, execute_plan, plan_run
from ckpt_tui.stores.backends.local import LocalBackend
from ckpt_tui.stores.local import LocalStore

pytestmark = pytest.mark.usefixtures("no_terminal")

CHECKPOINTS = "demo/models/agent-001/checkpoints"
KEPT = ["0010", "0011"]


def preview(base: Path):
    store = LocalStore(base)
    return store, plan_run(store.load_run("demo", "agent-001"), Policy())


def on_disk(base: Path) -> list[str]:
    return sorted(os.listdir(base / CHECKPOINTS))


def other_prune_at_first_call(monkeypatch, owner, name: str, base: Path, results: list) -> None:
    """Run a whole second prune inside this process's first call of ``owner.name``."""
    real = getattr(owner, name)
    other_store, other_plan = preview(base)

    def racing(*args, **kwargs):
        if not results:
            results.append(None)
            results[0] = execute_plan(other_store, other_plan)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, racing)


def test_steps_the_other_prune_deleted_are_gone_not_spared(art_base, capsys):
    store, plan = preview(art_base)
    other_store, other_plan = preview(art_base)
    first = execute_plan(other_store, other_plan)
    second = execute_plan(store, plan)
    assert len(first.deleted) == 10 and first.ok
    assert second.ok and second.spared == [] and second.deleted == []
    assert [d.step for d in second.gone] == list(range(10))
    assert on_disk(art_base) == KEPT


def test_removing_a_step_the_other_prune_is_removing_too_is_no_failure(art_base, monkeypatch):
    store, plan = preview(art_base)
    results: list = []
    # This prune has renamed every step aside and starts removing the first one; the
    # other prune finishes those leftovers as interrupted work, all of them, right then.
    other_prune_at_first_call(monkeypatch, os, "unlink", art_base, results)
    mine = execute_plan(store, plan)
    assert results[0].ok and mine.ok, (results[0].failed, mine.failed)
    assert [d.step for d in mine.deleted] == list(range(10))
    assert on_disk(art_base) == KEPT


def test_a_scan_meeting_a_step_deleted_meanwhile_carries_on(art_base, monkeypatch):
    results: list = []
    other_prune_at_first_call(monkeypatch, LocalBackend, "usage_and_files_many", art_base, results)
    run = LocalStore(art_base).load_run("demo", "agent-001")
    assert results[0].ok and on_disk(art_base) == KEPT
    assert [c.step for c in run.checkpoints] == [10, 11]
    assert [c for c in run.pending if c.pending is Pending.UNREADABLE] == []


def test_a_step_renamed_aside_while_its_size_is_counted_is_gone(art_base, monkeypatch):
    step = art_base / CHECKPOINTS / "0003"
    (step / "sub").mkdir()
    (step / "sub" / "optimizer.pt").write_bytes(b"o" * 100)
    real = os.open

    def open_(path, flags, *args, **kwargs):
        if path == "sub" and flags & os.O_DIRECTORY:  # another prune claims the step mid-count
            os.rename(step, step.parent / ".deleting-3-other-0")
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    run = LocalStore(art_base).load_run("demo", "agent-001")
    assert 3 not in [c.step for c in run.checkpoints]
    assert [c for c in run.pending if c.pending is Pending.UNREADABLE] == []


def test_a_prune_whose_steps_another_prune_took_first_says_so_and_succeeds(art_base, monkeypatch, capsys):
    import ckpt_tui.core.execute

    results: list = []
    # Between this prune's preview and its deletion, the other prune does everything.
    other_prune_at_first_call(monkeypatch, ckpt_tui.core.execute, "execute_plan", art_base, results)
    code = main(["prune", str(art_base), "-p", "demo", "-r", "agent-001", "--yes"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "deleted 0 checkpoint(s), freed 0 Bytes; 10 already deleted by another process" in out
    assert results[0].ok and on_disk(art_base) == KEPT


def test_two_prunes_removing_the_same_steps_through_the_cli_both_succeed(art_base, monkeypatch, capsys):
    results: list = []
    other_prune_at_first_call(monkeypatch, os, "unlink", art_base, results)
    code = main(["prune", str(art_base), "-p", "demo", "-r", "agent-001", "--yes"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and "deleted 10 checkpoint(s)" in out
    assert results[0].ok and on_disk(art_base) == KEPT
