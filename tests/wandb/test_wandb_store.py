"""The W&B store against the fake W&B server: listing, metrics, prune, fork, faults."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from art_on_wandb import ENTITY, REWARDS, TIMEOUT, lora_files

from ckpt_tui.core import (AlreadyExists, NotFound, Policy, Refused, StoreError, execute_plan,
                           fork_checkpoint, plan_run)
from ckpt_tui.stores import open_store
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.wandb import WandbStore, history_records, step_of_aliases

HISTORY_OPS = {"Run", "RunHistoryKeys", "RunParquetHistory", "HistoryPage", "SampledHistoryPage"}


# -- pure helpers ----------------------------------------------------------------
def test_step_comes_from_the_step_alias():
    assert step_of_aliases(["latest", "step12", "v3"]) == 12
    assert step_of_aliases(["latest", "v3"]) is None
    assert step_of_aliases(["stepx", "mystep3"]) is None


def test_history_rows_are_keyed_by_training_step_else_by_step():
    rows = [{"_step": 0, "_runtime": 1.5, "training_step": 4, "val/reward": 0.5},
            {"_step": 1, "train/reward": 0.1}]
    records, missing = history_records(rows)
    assert records == [{"training_step": 4, "val/reward": 0.5}]
    assert missing == 1
    records, missing = history_records([{"_step": 3, "val/reward": 0.2}])
    assert records == [{"training_step": 3, "val/reward": 0.2}] and missing == 0


def test_location_parsing_and_options():
    store = WandbStore.from_url("wandb://ent/proj")
    assert (store.entity, store.project, store.location) == ("ent", "proj", "wandb://ent/proj")
    assert isinstance(open_store("wandb://ent"), WandbStore)
    for bad in ("wandb://", "wandb://a/b/c", "wandb://../x"):
        with pytest.raises(Refused):
            WandbStore.from_url(bad)
    with pytest.raises(Refused, match="WANDB_BASE_URL"):
        WandbStore.from_url("wandb://ent", endpoint_url="http://x")


def test_wandb_is_imported_only_when_used():
    code = ("import sys; from ckpt_tui.stores import open_store; s = open_store('wandb://ent/p'); "
            "print(s.list_projects(), 'wandb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['p']", "False"]


# -- listing ---------------------------------------------------------------------
def test_lists_projects_and_lora_collections(store, fake):
    assert store.list_projects() == ["demo", "other"]
    assert store.list_runs("demo") == ["agent-001", "agent-002"]  # not the dataset artifact
    assert store.list_runs("other") == ["agent-x"]
    assert store.list_runs("nothing-here") == []


def test_a_project_location_lists_only_that_project(fake, shared_api):
    store = WandbStore(ENTITY, "other", api=shared_api)
    assert store.list_projects() == ["other"]
    assert "GetProjects" not in fake.operations


def test_a_new_project_shows_up_on_refresh(store, fake):
    assert store.list_projects() == ["demo", "other"]
    fake.log_version(ENTITY, "third", "agent-z", lora_files(0, "z"), ["step0"])
    assert store.list_projects() == ["demo", "other", "third"]


def test_versions_become_checkpoints(store, fake):
    run = store.load_run("demo", "agent-001", with_metrics=False)
    assert [c.step for c in run.checkpoints] == list(range(12))
    assert [c.name for c in run.checkpoints] == [f"v{i}" for i in range(12)]
    files = lora_files(7, "agent-001")
    seven = run.checkpoint(7)
    assert seven.bytes == sum(len(b) for b in files.values())
    assert seven.location == "wandb://ent/demo/agent-001:v7"
    assert seven.mtime == pytest.approx(1772366400 + 7 * 60)
    assert run.layout == "wandb" and run.latest_step == 11
    assert run.protected == {2: ("W&B alias prod",)}
    assert not run.metrics.by_step
    assert not HISTORY_OPS & set(fake.operations), "with_metrics=False must not read history"


def test_a_version_without_step_alias_is_pending(store):
    run = store.load_run("demo", "agent-002")
    assert [c.step for c in run.checkpoints] == list(range(6))
    assert len(run.pending) == 1
    assert run.pending[0].name == "v6" and not run.pending[0].complete
    assert "step" in run.pending[0].note


def test_unknown_collection_is_not_found(store):
    with pytest.raises(NotFound):
        store.load_run("demo", "agent-404")


# -- metrics ---------------------------------------------------------------------
def test_metrics_come_from_the_run_history_by_training_step(store):
    metrics = store.read_metrics("demo", "agent-001")
    assert metrics.value(7, "val/reward") == pytest.approx(0.9)
    assert metrics.value(5, "val/reward") == pytest.approx(0.5)  # two rows averaged
    assert metrics.value(4, "train/reward") == pytest.approx(REWARDS[4] / 2)
    assert metrics.ignored == 1  # the NaN row
    assert "_runtime" not in metrics.names() and "training_step" not in metrics.names()


def test_metrics_fall_back_to_the_wandb_step(store):
    metrics = store.read_metrics("other", "agent-x")
    assert metrics.series("val/reward") == [(0, 0.5), (1, 0.2), (2, 0.1)]


def test_a_model_without_a_run_has_no_metrics(store, fake):
    fake.log_version(ENTITY, "demo", "agent-norun", lora_files(0, "n"), ["step0"])
    run = store.load_run("demo", "agent-norun")
    assert run.metrics.by_step == {} and [c.step for c in run.checkpoints] == [0]


def test_read_history_gives_records_for_forks(store):
    records = store.read_history("other", "agent-x")
    assert records == [{"training_step": 0, "val/reward": 0.5}, {"training_step": 1, "val/reward": 0.2},
                       {"training_step": 2, "val/reward": 0.1}]
    with pytest.raises(Refused, match="history"):
        fork_checkpoint(store, "other", "agent-x", "new", with_history=True)


# -- prune -----------------------------------------------------------------------
def test_plan_keeps_best_latest_and_custom_aliases(store):
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest"))
    assert (plan.best_step, plan.latest_step) == (7, 11)
    assert {k.step for k in plan.keep} == {2, 7, 11}
    assert plan.delete_steps == {0, 1, 3, 4, 5, 6, 8, 9, 10}


def test_prune_deletes_versions_with_their_aliases(store, fake):
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest"))
    result = execute_plan(store, plan)
    assert result.ok and {d.step for d in result.deleted} == plan.delete_steps
    seen = {d["version"]: d for d in fake.deleted}
    assert set(seen) == {f"v{s}" for s in plan.delete_steps}
    for version, call in seen.items():
        assert call["deleteAliases"] is True
        assert call["aliases"] == [f"step{version[1:]}"]  # never 'latest', never 'prod'
    left = store.load_run("demo", "agent-001", with_metrics=False)
    assert [c.step for c in left.checkpoints] == [2, 7, 11]
    assert result.freed_bytes == sum(d.bytes for d in plan.delete)


def test_prune_is_refused_when_the_metric_is_absent(store, fake):
    plan = plan_run(store.load_run("demo", "agent-002"), Policy.parse("best,latest"))
    assert plan.refused and "val/reward" in plan.refused
    with pytest.raises(Refused):
        execute_plan(store, plan)
    assert fake.deleted == []


def test_the_version_holding_latest_is_never_deleted(store, fake):
    # A re-uploaded older step: W&B's 'latest' is not on the highest step.
    fake.log_version(ENTITY, "demo", "agent-003", lora_files(0, "3"), ["step9"])
    fake.log_version(ENTITY, "demo", "agent-003", lora_files(1, "3"), ["step4"])
    run = store.load_run("demo", "agent-003", with_metrics=False)
    assert run.latest_step == 9
    with pytest.raises(Refused, match="latest"):
        store.delete_checkpoint("demo", "agent-003", run.checkpoint(4))
    assert fake.deleted == []


def test_a_changed_version_is_not_deleted(store, fake):
    run = store.load_run("demo", "agent-001", with_metrics=False)
    fake.find(ENTITY, "demo", "agent-001:v3").aliases = []  # step3 alias moved away meanwhile
    with pytest.raises(NotFound):
        store.delete_checkpoint("demo", "agent-001", run.checkpoint(3))
    assert fake.deleted == []


# -- fork ------------------------------------------------------------------------
def test_fork_within_wandb_links_without_copying(store, fake):
    result = fork_checkpoint(store, "demo", "agent-001", "agent-new", step=7)
    assert len(fake.links) == 1
    link = fake.links[0]
    assert link["artifactPortfolioName"] == "agent-new" and link["projectName"] == "demo"
    assert [a["alias"] for a in link["aliases"]] == ["step7"]
    assert link["artifactID"] == fake.find(ENTITY, "demo", "agent-001:v7").artifact.id
    assert not [p for p in fake.downloads if p.startswith("/files/")], "a link must not download"
    forked = store.load_run("demo", "agent-new", with_metrics=False)
    assert [c.step for c in forked.checkpoints] == [7]
    assert result.location == forked.checkpoints[0].location
    assert "agent-new" in store.list_runs("demo")


def test_fork_never_joins_an_existing_run(store, fake):
    fork_checkpoint(store, "demo", "agent-001", "agent-new", step=7)
    for step in (7, 3):
        with pytest.raises(AlreadyExists, match="a fork creates a new run"):
            fork_checkpoint(store, "demo", "agent-001", "agent-new", step=step)
    source = store.load_run("demo", "agent-001", with_metrics=False)
    with pytest.raises(AlreadyExists):  # the store itself checks too, not only the core
        store.fork_into(store, source, source.checkpoint(3), "demo", "agent-new")
    assert len(fake.links) == 1


def test_fork_with_history_into_wandb_is_refused_before_linking(store, fake):
    with pytest.raises(Refused, match="history"):
        fork_checkpoint(store, "demo", "agent-001", "agent-new", step=7, with_history=True)
    assert fake.links == []


def test_fork_to_a_local_art_base_downloads_that_version(store, fake, tmp_path: Path):
    local = LocalStore(tmp_path / "art")
    result = fork_checkpoint(store, "demo", "agent-001", "agent-local", step=7, to_store=local,
                             with_history=True)
    target = tmp_path / "art" / "demo" / "models" / "agent-local" / "checkpoints" / "0007"
    expected = lora_files(7, "agent-001")
    assert sorted(p.name for p in target.iterdir()) == sorted(expected)
    for name, data in expected.items():
        assert (target / name).read_bytes() == data
    assert result.history_records == 8 * 2 + 2  # steps 0-7, two rows each, + step 5 twice, + a NaN row
    assert local.read_metrics("demo", "agent-local").value(7, "val/reward") == pytest.approx(0.9)
    fetched = {p.split("/")[2] for p in fake.downloads if p.startswith("/files/")}
    assert fetched == {fake.find(ENTITY, "demo", "agent-001:v7").artifact.id}


def test_upload_to_wandb_is_refused(store, art_base):
    with pytest.raises(Refused, match="not supported"):
        fork_checkpoint(LocalStore(art_base), "demo", "agent-001", "x", to_store=store)


# -- faults ----------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["500", "hang"])
def test_a_failing_server_gives_one_clear_error_and_deletes_nothing(store, fake, fault):
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest"))
    fake.fault = fault
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        execute_plan(store, plan)
    assert time.monotonic() - started < TIMEOUT * 3
    message = str(info.value)
    assert "\n" not in message and "wandb://ent" in message and f"{TIMEOUT:g} s" in message
    fake.fault = None
    assert fake.deleted == []
    assert len(store.load_run("demo", "agent-001", with_metrics=False).checkpoints) == 12


def test_an_unreachable_server_fails_fast(wandb_server, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    store = WandbStore(ENTITY, base_url=url, timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect to W&B"):
        store.list_projects()
    assert time.monotonic() - started < TIMEOUT * 3


def test_a_missing_api_key_is_a_clear_error(wandb_server, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY")
    # Another host name, since the SDK keeps the key it read from the environment at start-up.
    other_host = wandb_server.url.replace("127.0.0.1", "localhost")
    store = WandbStore(ENTITY, base_url=other_host, timeout=TIMEOUT)
    with pytest.raises(StoreError, match="WANDB_API_KEY"):
        store.list_projects()


def test_a_linked_fork_protects_its_source_and_prunes_by_unlinking(store, fake):
    fork_checkpoint(store, "demo", "agent-001", "agent-new", step=3)
    # A second version linked into the fork by hand, as the W&B UI does.
    source_run = store.load_run("demo", "agent-001", with_metrics=False)
    store._version("demo", "agent-001", source_run.checkpoint(8)).link(f"{ENTITY}/demo/agent-new", aliases=["step8"])
    source = execute_plan(store, plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest")))
    assert [d.step for d, why in source.failed] == [3, 8]
    assert "linked into demo/agent-new" in source.failed[0][1]
    assert 3 not in {int(d["version"][1:]) for d in fake.deleted}

    # In the fork, step 3 is neither best (no run of that name, so no metric) nor latest.
    fork_plan = plan_run(store.load_run("demo", "agent-new"), Policy.parse("latest", metric="none"))
    result = execute_plan(store, fork_plan)
    assert result.ok and [d.step for d in result.deleted] == [3]
    assert [(u["collection"], u["aliases"]) for u in fake.unlinked] == [("agent-new", ["step3"])]
    assert fake.find(ENTITY, "demo", "agent-001:v3") is not None, "the source version stays"


def test_long_runs_and_many_projects_are_read_page_by_page(store, fake):
    for step in range(0, 1200, 10):  # 120 versions: three pages of 50
        fake.log_version(ENTITY, "long", "agent-long", {"a.bin": b"x" * (step + 1)}, [f"step{step}"])
    for i in range(60):
        fake.project(ENTITY, f"p{i:02d}")
    fake.add_run(ENTITY, "long", "agent-long", [{"training_step": s, "val/reward": s % 7} for s in range(1500)])
    run = store.load_run("long", "agent-long")
    assert [c.step for c in run.checkpoints] == list(range(0, 1200, 10))
    assert run.checkpoint(990).bytes == 991
    assert run.metrics.value(1190, "val/reward") == 1190 % 7
    assert len(store.list_projects()) == 63
    assert fake.operations.count("ProjectArtifacts") >= 3
