"""Starting on a large location: only a few runs held in memory (every run's summary is
kept, and read again when the rule changes)."""

from __future__ import annotations

import os

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.memo import RunCache
from ckpt_tui.app.widgets import RunTree
from ckpt_tui.stores.local import LocalStore


def listed(base) -> list[tuple[str, str]]:
    store = LocalStore(base)
    return [(p, r) for p in store.list_projects() for r in store.list_runs(p)]


def test_the_run_cache_lets_the_oldest_runs_go_beyond_its_limit(demo_base, monkeypatch):
    monkeypatch.setattr(RunCache, "limit", 10)
    store, cache = LocalStore(demo_base), RunCache()
    keys = listed(demo_base)
    for key in keys:
        cache[key] = store.load_run(*key)
    gone = cache.trim({keys[0]})
    assert gone and all(run not in cache.values() for run in gone)
    assert keys[0] in cache and keys[-1] in cache  # kept as asked, and the newest
    assert sum(len(r.checkpoints) for k, r in cache.items() if k != keys[0]) <= 10 + len(cache[keys[-1]].checkpoints)
    assert len(cache) < len(keys)


async def test_runs_let_go_keep_their_summary_and_it_follows_the_rule(demo_base, monkeypatch):
    monkeypatch.setattr(RunCache, "limit", 1)  # only the open run and the last one read are held
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        keys = listed(demo_base)
        # The open run, and at most the last other run read: the open run read again after the
        # listing may end after the last summary, and then it alone is the newest.
        assert screen.current in screen.runs and set(screen.runs) - {screen.current} <= {keys[-1]}
        assert set(screen.summaries) == set(keys)
        other = ("email-agent", "agent-002")
        before = screen.summaries[other]
        await pilot.press("d", "d")  # auto -> max -> min: the best step of every run changes
        await settle(pilot)
        run = LocalStore(demo_base).load_run(*other)
        assert screen.summaries[other] == screen._summary(run) != before  # read again, by the new rule
        assert other not in screen.runs
        tree = screen.query_one(RunTree)
        assert f"★{screen.summaries[other].best}" in str(tree._leaves[other].label)
    assert os.path.isdir(demo_base)


def test_the_memo_lets_go_of_what_it_computed_from_a_run_let_go(demo_base):
    from ckpt_tui.app.memo import Memo

    store, memo = LocalStore(demo_base), Memo()
    first, second = (store.load_run(*key) for key in listed(demo_base)[:2])
    for run in (first, second):
        memo.get(run, "bytes", lambda run=run: run.total_bytes)
        memo.get(run.metrics, "names", run.metrics.names)
    memo.forget(first, first.metrics)
    owners = [owner for owner, _ in memo._items.values()]
    assert all(owner is not first and owner is not first.metrics for owner in owners) and len(owners) == 2


async def test_the_store_opened_by_the_app_remembers_about_what_the_run_cache_holds(demo_base, monkeypatch):
    monkeypatch.setattr(RunCache, "limit", 20)
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert set(main(app).summaries) == set(listed(demo_base))  # every run read in full
        assert 0 < len(app.store._verdicts.known) <= 40
