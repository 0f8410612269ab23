"""Shared fixtures: writable copies of real trainer trees, and generated trees."""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

# GCS emulators for the tests under tests/clouds, whose fixtures tests/s3's suites use too.
pytest_plugins = ["clouds.gcs_servers"]

FIXTURES = Path(__file__).parent / "fixtures"
# Trees written by the tests are seconds old: steps of layouts without a completion marker count
# as complete at once, unless a test sets its own settle window (tests/test_completeness.py).
os.environ.setdefault("CKPT_TUI_SETTLE_SECONDS", "0")
# Scans keep what they found of weights files under the user's cache folder: the suite's own, removed after.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="ckpt-tui-tests-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a fixture tree, links as links (Lightning's ``last.ckpt``), and make it writable
    (the originals may be read-only)."""
    shutil.copytree(source, target, symlinks=True)
    for root, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    os.chmod(target, os.stat(target).st_mode | stat.S_IWUSR)
    return target


@pytest.fixture
def art_base(tmp_path: Path) -> Path:
    """A fresh copy of the ART base written by ART 0.5.18 (project ``demo``)."""
    return copy_tree(FIXTURES / "art", tmp_path / "art")


@pytest.fixture
def hf_fixture(tmp_path: Path) -> Path:
    """A fresh copy of the Hugging Face Trainer output directories."""
    return copy_tree(FIXTURES / "hf-trainer", tmp_path / "hf-trainer")


@pytest.fixture
def demo_base(tmp_path: Path) -> Path:
    """The built-in demo tree (sparse checkpoint files, fixed clock)."""
    from ckpt_tui.demo import build_demo

    return build_demo(tmp_path / ".art")


@pytest.fixture
def trainer_tree(tmp_path: Path):
    """A fresh copy of a tree a trainer wrote (``"real-trainers/nemo2"``, ``"lightning/two-fits"``...)
    and the ``truth.json`` beside it: what the library itself says about the tree."""
    def copy(name: str) -> tuple[Path, dict]:
        root = copy_tree(FIXTURES / name, tmp_path / "trees" / name.replace("/", "-"))
        return root, json.loads((FIXTURES / name / "truth.json").read_text())

    return copy


@pytest.fixture
def no_terminal(monkeypatch):
    """The CLI sees no terminal on stdin: it never waits for a confirmation."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> dict:
    """An empty $TMPDIR for a child process, to see whether it leaves anything there."""
    (tmp_path / "tmpdir").mkdir()
    return {"TMPDIR": str(tmp_path / "tmpdir")}


# Test groups (markers registered in pyproject.toml), by directory and file name, so that a
# part runs alone: `python -m pytest -m "not s3 and not gcs and not azure and not app and not wandb and not slow"`.
GROUP_DIRECTORIES = {"s3": "s3", "app": "app", "wandb": "wandb"}
SLOW_FILES = {"test_watch.py", "test_watch_signals.py", "test_fork_crashes.py", "test_concurrent_prunes.py"}


def groups_of(path: Path) -> set[str]:
    """The markers of a test file or folder: its directory's group, ``app`` for
    ``test_*_app.py``, ``azure`` for ``test_azure_*.py``, and ``slow`` for the files listed
    in SLOW_FILES."""
    parts = path.relative_to(Path(__file__).parent).parts
    groups = {GROUP_DIRECTORIES[parts[0]]} if parts and parts[0] in GROUP_DIRECTORIES else set()
    if path.stem.endswith("_app"):
        groups.add("app")
    if path.name in SLOW_FILES:
        groups.add("slow")
    if path.name.startswith("test_gcs"):
        groups.add("gcs")
    if path.name.startswith("test_azure"):
        groups.add("azure")
    return groups


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m``, a folder or file whose groups the expression rules out is not even
    imported (the S3, app and W&B tests import their servers' libraries): a test's own marks
    may add to its file's groups, so it is left out only if no such addition could select it."""
    expression = config.getoption("markexpr")
    if not expression or not (groups := groups_of(collection_path)):
        return None
    from _pytest.mark.expression import Expression

    compiled = Expression.compile(expression)
    if not any(compiled.evaluate(lambda name, other=other: name in groups or other) for other in (False, True)):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for group in groups_of(Path(item.path)):
            item.add_marker(group)


@pytest.fixture
def settled_now(monkeypatch):
    """Files written by the test count as settled (else every one is changed "just now", and never
    kept by the whole-weights and history caches)."""
    from ckpt_tui.stores import verdict_cache

    monkeypatch.setattr(verdict_cache, "RACY_NS", -10**12)


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch) -> Path:
    """The user's cache folder, one of the test's own (empty at first); steps just written count as complete."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "0")
    return tmp_path / "cache"
