"""What a store remembers between reads stays within what its reader asks for."""

from __future__ import annotations

from ckpt_tui.stores import open_store
from ckpt_tui.stores.backends.local import LocalBackend


def every_run(store):
    return [(project, run) for project in store.list_projects() for run in store.list_runs(project)]


def test_a_limited_store_remembers_few_verdicts_and_reads_the_same(demo_base, monkeypatch):
    full, limited = open_store(str(demo_base)), open_store(str(demo_base))
    limited.limit_caches(10)
    for key in every_run(full):
        assert limited.load_run(*key) == full.load_run(*key)
        assert len(limited._verdicts.known) <= 10
    assert len(full._verdicts.known) > 10  # the default keeps every weights file's verdict
    opened = []
    real = LocalBackend.open_listed
    monkeypatch.setattr(LocalBackend, "open_listed",
                        lambda self, path, *listed: opened.append(path) or real(self, path, *listed))
    last = every_run(full)[-1]
    full.load_run(*last)
    assert not opened  # remembered: not read again
    limited.load_run(*every_run(limited)[0])
    assert opened  # forgotten: read again, the same verdicts
