"""Packaging promises: a core free of UI and cloud imports, the Python API, the demo."""

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

import ckpt_tui
from ckpt_tui.core import Refused
from ckpt_tui.demo import DEMO_RUNS, build_demo
from ckpt_tui.stores.local import LocalStore

ROOT = Path(__file__).parent.parent
HEAVY = ("textual", "boto3", "botocore", "wandb")


@pytest.mark.slow
@pytest.mark.parametrize("module", ["ckpt_tui.core", "ckpt_tui.stores", "ckpt_tui.stores.local",
                                    "ckpt_tui.cli", "ckpt_tui"])
def test_modules_do_not_import_ui_or_cloud_libraries(module):
    code = (f"import sys, {module}; bad = [m for m in {HEAVY!r} if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"{module} imports {done.stdout.strip()}"


def test_core_sources_never_import_a_store_or_ui():
    for path in (ROOT / "ckpt_tui" / "core").glob("*.py"):
        text = path.read_text()
        for name in HEAVY + ("ckpt_tui.stores", "..stores", "ckpt_tui.app"):
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path.name}: {name}"


def test_python_api_mirrors_art(art_base):
    plan = ckpt_tui.plan_checkpoints(art_base, "demo", "agent-002", best_checkpoint_metric="train/reward")
    assert {k.step for k in plan.keep} == {4, 5}
    result = ckpt_tui.delete_checkpoints(str(art_base), "demo", "agent-002", best_checkpoint_metric="train/loss")
    assert {d.step for d in result.deleted} == {0, 1, 2, 3}
    forked = ckpt_tui.fork_checkpoint(art_base, "demo", "agent-001", "agent-new", not_after_step=8)
    assert forked.step == 8
    with pytest.raises(Refused):
        ckpt_tui.delete_checkpoints(art_base, "demo", "agent-001", best_checkpoint_metric="nope")


@pytest.mark.slow
def test_demo_tree_is_realistic_and_sparse(tmp_path):
    base = build_demo(tmp_path / ".art")
    store = LocalStore(base)
    assert len(store.list_projects()) >= 2
    runs = {(p, r): store.load_run(p, r) for p in store.list_projects() for r in store.list_runs(p)}
    assert max(len(r.checkpoints) for r in runs.values()) >= 200
    assert {r.layout for r in runs.values()} == {"art", "art-legacy"}
    assert any("val/reward" not in r.metrics.names() for r in runs.values())
    sizes = [c.bytes for r in runs.values() for c in r.checkpoints]
    assert 80e6 <= min(sizes) and max(sizes) <= 151e6
    weights = next(base.rglob("adapter_model.safetensors"))
    assert weights.stat().st_blocks * 512 < 1e6  # sparse: apparent size, no disk cost
    # The same seed gives the same tree: snapshots rely on it.
    again = LocalStore(build_demo(tmp_path / "again"))
    first = runs[(DEMO_RUNS[0].project, DEMO_RUNS[0].model)]
    assert again.load_run(first.project, first.name).metrics.by_step == first.metrics.by_step
    assert [c.mtime for c in again.load_run(first.project, first.name).checkpoints] == \
        [c.mtime for c in first.checkpoints]


def test_version_is_answered_before_the_domain_is_imported():
    code = ("import sys; sys.argv = ['ckpt-tui', '--version']; from ckpt_tui.__main__ import main; "
            "code = main(); loaded = [m for m in sys.modules if m.startswith('ckpt_tui.')]; "
            "print(','.join(loaded)); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0
    assert done.stdout.splitlines() == [f"ckpt-tui {ckpt_tui.__version__}", "ckpt_tui.__main__"]


def test_listing_a_disk_loads_no_thread_pool_ctypes_sockets_watch_or_fork(art_base):
    """What only deleting (execution), forking, watching, offloading, resuming, a policy file, TensorBoard logs,
    a network, a long history (orjson) or many runs (worker processes) needs stays out of a listing's start-up;
    the domain's classes are written without ``dataclasses``."""
    code = ("import sys; sys.argv = ['ckpt-tui', 'ls', sys.argv[1]]; from ckpt_tui.__main__ import main; "
            "code = main(); print([m for m in ('concurrent.futures', 'ctypes', 'socket', 'ckpt_tui.watch', "
            "'ckpt_tui.core.fork', 'ckpt_tui.core.events', 'ckpt_tui.core.execute', 'tomllib', 'ckpt_tui.offload_command', "
            "'ckpt_tui.core.offload', 'ckpt_tui.core.resume', 'ckpt_tui.stores.tensorboard', 'hashlib', 'orjson', "
            "'pickle', 'multiprocessing', 'dataclasses') "
            "if m in sys.modules]); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, str(art_base)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "[]"


def test_listing_imports_no_typing_humanize_datetime_or_shutil(art_base):
    """A run summary's start-up: annotations name typing's classes only for type checkers, sizes
    are written without humanize, times (and datetime) only where shown, and neither the help
    layout nor the disk backend imports shutil (with bz2 and lzma). Run without ``site``, whose
    hooks may import some of these first; site-packages is added by hand."""
    code = ("import sys; sys.path += sys.argv[2:]; sys.argv = ['ckpt-tui', 'ls', sys.argv[1]]; "
            "from ckpt_tui.__main__ import main; code = main(); print([m for m in ('typing', 'humanize', "
            "'datetime', 'shutil', 'bz2', 'lzma') + HEAVY if m in sys.modules]); sys.exit(code)").replace(
        "HEAVY", repr(HEAVY))
    done = subprocess.run([sys.executable, "-S", "-c", code, str(art_base), *site.getsitepackages()],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
