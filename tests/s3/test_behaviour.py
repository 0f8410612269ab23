"""One behaviour suite, every backend: a folder on disk, moto and SeaweedFS (S3),
fake-gcs-server (GCS) and Azurite (Azure Blob's emulator) over HTTP, and memory (a backend
of the primitives only). gcp-storage-emulator runs the same GCS code but for batch
deletion, which tests/clouds/test_gcs_store.py covers on it.

Every test builds the same tree on a disk, uploads it when the backend is not the disk,
and checks what the tree store does with it: a layout must behave identically
wherever its files are. Each backend is one factory in ``TREES``.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "layouts"))
sys.path.insert(0, str(Path(__file__).parent.parent / "clouds"))

from layout_trees import LIGHTNING_FILES, blob, lightning_dir, megatron_save, orbax_dir, verl_dir  # noqa: E402
from azurite import AzureLocation, azurite, azurite_server, use_location  # noqa: E402,F401 - fixtures
from completeness_trees import safetensors_bytes  # noqa: E402
from memory_location import MemoryLocation  # noqa: E402
from s3_servers import Location  # noqa: E402

from ckpt_tui.core import (AlreadyExists, Pending, Policy, execute_plan, fork_checkpoint,  # noqa: E402
                           plan_run)
from ckpt_tui.stores.local import LocalStore  # noqa: E402
from ckpt_tui.stores.tree import TreeStore  # noqa: E402

LATEST_ONLY = Policy.parse("latest", "none")


@dataclass
class Tree:
    """A tree built on disk under ``source``, and where the store reads it (the same folder,
    or a copy in a bucket)."""

    source: Path
    location: Location | AzureLocation | MemoryLocation | None = None  # set for a bucket and memory

    def store(self) -> TreeStore:
        return self.location.store() if self.location else LocalStore(self.source)

    def publish(self) -> Tree:
        """Make what was built under ``source`` visible to the store."""
        if self.location is not None:
            self.location.upload(self.source)
        return self

    def put(self, path: str, data: bytes = b"x") -> None:
        """Add a file behind the store's back (a trainer writing)."""
        if self.location is not None:
            self.location.put(path, data)
        else:
            blob(self.source / path, len(data), data[:1] or b"x")

    def keys(self, under: str = "") -> set[str]:
        if self.location is not None:
            return self.location.keys(under)
        root = self.source / under if under else self.source
        return {p.relative_to(self.source).as_posix() for p in root.rglob("*") if p.is_file()}


def disk_tree(request: pytest.FixtureRequest, source: Path) -> Tree:
    return Tree(source)


def s3_tree(request: pytest.FixtureRequest, source: Path) -> Tree:
    return Tree(source, Location.fresh(request.getfixturevalue(f"{request.param}_server")))


def azure_tree(request: pytest.FixtureRequest, source: Path) -> Tree:
    location = AzureLocation.fresh(request.getfixturevalue("azurite").endpoint)
    return Tree(source, use_location(request.getfixturevalue("monkeypatch"), location))


def memory_tree(request: pytest.FixtureRequest, source: Path) -> Tree:
    return Tree(source, MemoryLocation.fresh())


def gcs_tree(request: pytest.FixtureRequest, source: Path) -> Tree:
    """On fake-gcs-server or gcp-storage-emulator (tests/clouds/gcs_servers.py)."""
    return Tree(source, request.getfixturevalue(f"{request.param}_fresh_location"))


TREES = {"disk": disk_tree, "moto": s3_tree, "seaweedfs": s3_tree, "memory": memory_tree, "azurite": azure_tree,
         "fake_gcs": gcs_tree}
GROUPS = {"azurite": pytest.mark.azure, "fake_gcs": pytest.mark.gcs}


@pytest.fixture(params=[pytest.param(name, marks=GROUPS.get(name, ())) for name in TREES])
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> Tree:
    source = tmp_path / "tree"
    source.mkdir()
    return TREES[request.param](request, source)


def names(run) -> tuple[list, list]:
    return [c.name for c in run.checkpoints], [(c.name, c.pending) for c in run.pending]


# -- ART ----------------------------------------------------------------------------------
def test_art_prune_keeps_best_and_latest_and_deletes_exactly_the_rest(tree, art_base):
    shutil.copytree(art_base, tree.source, dirs_exist_ok=True)
    store = tree.publish().store()
    assert store.list_runs("demo") == ["agent-001", "agent-002", "agent-legacy"]
    run = store.load_run("demo", "agent-001")
    assert run.layout == "art" and [c.step for c in run.checkpoints] == list(range(12))
    assert run.checkpoints[3].bytes == sum(p.stat().st_size for p in (
        art_base / "demo/models/agent-001/checkpoints/0003").iterdir())
    before = tree.keys()
    result = execute_plan(store, plan_run(run, Policy()))
    assert result.ok and sorted(d.step for d in result.deleted) == list(range(10))
    gone = {k for k in before if k.startswith("demo/models/agent-001/checkpoints/")
            and k.split("/")[4] not in ("0010", "0011")}
    assert tree.keys() == before - gone
    assert store.load_run("demo", "agent-legacy").layout == "art-legacy"


def test_steps_tied_for_best_are_all_kept(tree):
    for step, reward in enumerate([0.1, 0.9, 0.3, 0.9, 0.2]):
        blob(tree.source / f"p/models/m/checkpoints/{step:04d}/w.bin", 10)
        with open(tree.source / "p/models/m/history.jsonl", "a") as history:
            history.write(json.dumps({"step": step, "val/reward": reward}) + "\n")
    store = tree.publish().store()
    execute_plan(store, plan_run(store.load_run("p", "m"), Policy()))
    assert [c.step for c in store.load_run("p", "m").checkpoints] == [1, 3, 4]


def test_runs_whose_names_share_a_prefix_never_touch_each_other(tree):
    for run in ("agent-1", "agent-10"):
        for step in (1, 2, 3):
            blob(tree.source / f"demo/models/{run}/checkpoints/{step:04d}/w.bin", step)
    store = tree.publish().store()
    execute_plan(store, plan_run(store.load_run("demo", "agent-1"), LATEST_ONLY))
    assert [c.step for c in store.load_run("demo", "agent-1").checkpoints] == [3]
    assert [c.step for c in store.load_run("demo", "agent-10").checkpoints] == [1, 2, 3]


def test_a_step_written_after_the_preview_is_never_deleted(tree, art_base):
    shutil.copytree(art_base, tree.source, dirs_exist_ok=True)
    store = tree.publish().store()
    plan = plan_run(store.load_run("demo", "agent-002"), LATEST_ONLY)
    tree.put("demo/models/agent-002/checkpoints/0006/adapter_model.safetensors", safetensors_bytes())
    result = execute_plan(store, plan)
    # 5 was latest at the preview and is kept; 6 appeared since and is never a candidate.
    assert [c.step for c in store.load_run("demo", "agent-002").checkpoints] == [5, 6]
    assert sorted(d.step for d in result.deleted) == [0, 1, 2, 3, 4]


# -- trainer layouts ---------------------------------------------------------------------------
def test_every_trainer_layout_reads_and_prunes_alike(tree, hf_fixture):
    shutil.copytree(hf_fixture / "lora-adapter", tree.source / "hf")
    blob(tree.source / "hf" / "tmp-checkpoint-35" / "adapter_model.safetensors", 7)
    megatron_save(tree.source / "slime")
    verl_dir(tree.source / "verl", tracker="10")
    lightning_dir(tree.source / "lit" / "version_0", last_link=None, best_k=(100,))
    orbax_dir(tree.source / "jax")
    store = tree.publish().store()
    project = store.backend.root_name  # runs directly in the location belong to a project named after it
    expected = {
        "hf": ("hf", {10: ("trainer's best",)}, [("tmp-checkpoint-35", Pending.SAVE_IN_PROGRESS)]),
        "slime": ("megatron", {30: ("tracker",)}, [("iter_0000040", Pending.NEWER_THAN_TRACKER)]),
        "verl": ("verl", {10: ("tracker",)}, [("global_step_15", Pending.NEWER_THAN_TRACKER)]),
        "jax": ("orbax", {}, [("400.orbax-checkpoint-tmp-1712345678", Pending.SAVE_IN_PROGRESS)]),
    }
    for name, (layout, protected, pending) in expected.items():
        run = store.load_run(project, name)
        assert (run.layout, run.protected, names(run)[1]) == (layout, protected, pending), name
        kept = {c.step for c in run.checkpoints} & (set(protected) | {run.latest_step})
        execute_plan(store, plan_run(run, LATEST_ONLY))
        after = store.load_run(project, name)
        assert {c.step for c in after.checkpoints} == kept and names(after)[1] == pending, name
    lit = store.load_run("lit", "version_0")
    assert lit.protected == {100: ("trainer's best",)} and lit.metrics.value(200, "val_loss") == 0.3
    execute_plan(store, plan_run(lit, LATEST_ONLY))
    assert names(store.load_run("lit", "version_0"))[0] == [LIGHTNING_FILES[100], LIGHTNING_FILES[300]]


# -- forks --------------------------------------------------------------------------------
def test_a_fork_creates_a_whole_new_run_and_never_joins_one(tree, art_base):
    shutil.copytree(art_base, tree.source, dirs_exist_ok=True)
    megatron_save(tree.source / "exps" / "glm")
    store = tree.publish().store()
    fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=4, with_history=True)
    new = store.load_run("demo", "agent-001-b")
    assert [c.step for c in new.checkpoints] == [4] and new.pending == [] and max(new.metrics.by_step) == 4
    assert tree.keys("demo/models/agent-001-b/") == {"demo/models/agent-001-b/history.jsonl"} | {
        f"demo/models/agent-001-b/checkpoints/0004/{f}" for f in ("adapter_config.json", "adapter_model.safetensors")}
    before = tree.keys()
    with pytest.raises(AlreadyExists, match="a fork creates a new run"):
        fork_checkpoint(store, "demo", "agent-001", "agent-002", step=4)
    assert tree.keys() == before
    fork_checkpoint(store, "exps", "glm", "glm-b", step=20)
    forked = store.load_run("exps", "glm-b")
    assert [c.step for c in forked.checkpoints] == [20] and forked.protected == {20: ("tracker",)}


# -- interrupted deletions -----------------------------------------------------------------------
def test_an_interrupted_delete_is_pending_and_finished_by_the_next_prune(tree, art_base, monkeypatch):
    shutil.copytree(art_base, tree.source, dirs_exist_ok=True)
    store = tree.publish().store()
    backend = store.backend
    real = backend.delete_tree if tree.location is None else backend.delete_files

    def crash_on_step_3(paths, *rest):
        touched = [paths] if isinstance(paths, str) else paths
        if any("/0003" in p or p.rsplit("/", 1)[-1].startswith(".deleting-3-") for p in touched):
            raise KeyboardInterrupt  # the process dies here
        return real(paths, *rest)

    monkeypatch.setattr(backend, "delete_tree" if tree.location is None else "delete_files", crash_on_step_3)
    plan = plan_run(store.load_run("demo", "agent-002"), LATEST_ONLY)
    with pytest.raises(KeyboardInterrupt):
        execute_plan(store, plan)
    monkeypatch.undo()
    run = store.load_run("demo", "agent-002")
    assert 3 not in {c.step for c in run.checkpoints}
    assert (3, Pending.INTERRUPTED_DELETE) in {(c.step, c.pending) for c in run.pending}
    execute_plan(store, plan_run(run, LATEST_ONLY))
    after = store.load_run("demo", "agent-002")
    assert [c.step for c in after.checkpoints] == [5] and after.pending == []
    assert not {k for k in tree.keys("demo/models/agent-002/") if "/0003" in k or "deleting" in k}


# -- slimming ---------------------------------------------------------------------------------------
def test_slimming_keeps_the_weights_and_records_what_went(tree, hf_fixture):
    shutil.copytree(hf_fixture / "full-model", tree.source / "full-model")
    store = tree.publish().store()
    project = store.backend.root_name
    plan = plan_run(store.load_run(project, "full-model", with_state=True),
                    Policy.parse("every:8,latest", "none", full="latest"))
    assert [s.step for s in plan.slim] == [4, 8, 16]  # 4 is kept as the Trainer's best
    before = tree.keys("full-model/checkpoint-8/")
    result = execute_plan(store, plan)
    assert result.ok and [s.step for s in result.slimmed] == [4, 8, 16]
    state = {f"full-model/checkpoint-8/{f}" for f in ("optimizer.pt", "scheduler.pt", "rng_state.pth")}
    assert tree.keys("full-model/checkpoint-8/") == (before - state) | {"full-model/checkpoint-8/.ckpt-tui-slim.json"}
    run = store.load_run(project, "full-model")
    assert [c.step for c in run.checkpoints if c.weights_only] == [4, 8, 16] and run.pending == []
    assert not [k for k in tree.keys("full-model/") if "slimming" in k or "slimmed" in k]


# -- metrics ------------------------------------------------------------------------------
def test_tensorboard_event_files_are_read_alike(tree):
    pytest.importorskip("tensorboard")
    from test_tensorboard import megatron_logs, write_events

    save = megatron_save(tree.source / "gpt")
    megatron_logs(save)
    write_events(save / "iter_0000010", [(10, {"lm-loss": 99.0})])  # inside a checkpoint: not the run's log
    store = tree.publish().store()
    got = store.load_run(store.backend.root_name, "gpt")
    want = LocalStore(tree.source).load_run(tree.source.name, "gpt")
    assert got.metrics.names() == ["learning-rate", "lm-loss"] and got.metrics.by_step == want.metrics.by_step
    assert got.metrics.notes == want.metrics.notes == []
