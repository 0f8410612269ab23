"""Bytes freed are bytes that come back: files hard-linked between steps are counted once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pilot_helpers import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.app.widgets import StatusLine
from ckpt_tui.cli import main
from ckpt_tui.formatting import size

pytestmark = pytest.mark.usefixtures("no_terminal")

CHECKPOINTS = "demo/models/agent-001/checkpoints"


def link_files(source: Path, target: Path) -> None:
    """Make every file of ``target`` a hard link to the same-named file of ``source``."""
    for path in target.iterdir():
        path.unlink()
        os.link(source / path.name, path)


def apparent_bytes(root: Path) -> int:
    """What ``du -sb`` counts for files: each inode once; the activity log, which a prune
    appends its own record to, left out."""
    seen: dict[tuple[int, int], int] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != ".ckpt-tui.log":
            st = path.stat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


@pytest.fixture
def linked(art_base: Path) -> Path:
    """agent-001: step 3 shares every file with the kept step 11, steps 1 and 2 with each other,
    step 4 with agent-002's step 0 (outside the run)."""
    ckpts = art_base / CHECKPOINTS
    link_files(ckpts / "0011", ckpts / "0003")
    link_files(ckpts / "0001", ckpts / "0002")
    link_files(art_base / "demo/models/agent-002/checkpoints/0000", ckpts / "0004")
    return art_base


def step_bytes(base: Path, step: int) -> int:
    return apparent_bytes(base / CHECKPOINTS / f"{step:04d}")


def test_the_preview_counts_shared_files_once(linked, capsys):
    assert main(["prune", str(linked), "-p", "demo", "-r", "agent-001", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    freed = {d["step"]: d["bytes"] for d in plan["delete"]}
    assert freed[3] == 0 and freed[4] == 0  # still linked from a kept step / from another run
    assert freed[1] + freed[2] == step_bytes(linked, 1) and 0 in (freed[1], freed[2])
    assert freed[0] == step_bytes(linked, 0)
    assert plan["freed_bytes"] == sum(freed.values())
    assert main(["prune", str(linked), "-p", "demo", "-r", "agent-001", "--dry-run"]) == 0
    assert f"frees {size(plan['freed_bytes'])}" in capsys.readouterr().out
    assert main(["ls", str(linked), "--json"]) == 0
    run = next(r for r in json.loads(capsys.readouterr().out)["runs"] if r["run"] == "agent-001")
    assert run["total_bytes"] == apparent_bytes(linked / CHECKPOINTS)


def test_what_a_prune_says_it_freed_is_what_came_back(linked, capsys):
    before = apparent_bytes(linked)
    assert main(["prune", str(linked), "-p", "demo", "-r", "agent-001", "--yes", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["freed_bytes"] == before - apparent_bytes(linked) > 0
    assert result["freed_bytes"] == result["planned_freed_bytes"]


@pytest.mark.app
async def test_the_app_preview_counts_shared_files_once(linked):
    expected = sum(step_bytes(linked, s) for s in (0, 1, 5, 6, 7, 8, 9))
    app = CkptApp(str(linked), cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        screen = next(s for s in app.screen_stack if isinstance(s, MainScreen))
        status = str(screen.query_one(StatusLine).render())
    assert f"would delete 10 steps, free {size(expected)}" in status
