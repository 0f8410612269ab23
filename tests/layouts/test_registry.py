"""Layouts register themselves: a new one is one module, and every list of trainers follows the registry."""

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from ckpt_tui.app.hints import layout_names
from ckpt_tui.cli import main
from ckpt_tui.core import fork_checkpoint
from ckpt_tui.stores import layouts
from ckpt_tui.stores.layouts import layout_named, registered, unregister
from ckpt_tui.stores.local import LocalStore

ROOT = Path(__file__).resolve().parents[2]

# A trainer that does not exist: ``snap-{step}/`` folders holding ``done``, kept in a ``snaps/`` folder
# that does not name the run; and ``shelf``, whose runs are the sub-folders of a project's ``shelf/``,
# their steps in ``snaps/`` or, in an older version, directly in the run folder (``shelf-flat``).
THROWAWAY = '''
import re

from .base import Layout, Summary, register


class SnapLayout(Layout):
    name = "snap"
    display_name = "Snapshotter"
    trainers = ("Snapshotter",)
    summary = Summary("`snap-{step}/`", "`done` written", "", "none")
    step_pattern = re.compile(r"^snap-(?P<step>\\d+)$")
    markers = frozenset({"done"})
    containers = frozenset({"snaps"})
    fork_container = "snaps"

    def checkpoint_name(self, step, like=""):
        return f"snap-{step}"


class ShelfLayout(SnapLayout):
    name = "shelf"
    display_name = "Shelf"
    trainers = ("Shelf",)
    runs_folder = "shelf"

    def variants(self):
        return (SHELF, FLAT_SHELF)

    def settle(self, folders, links):
        return ("snaps", SHELF) if "snaps" in folders else ("", FLAT_SHELF)

    def fork_layout(self, like):
        return SHELF


class FlatShelfLayout(ShelfLayout):
    name = "shelf-flat"


SNAP = register(SnapLayout())
SHELF = register(ShelfLayout())
FLAT_SHELF = FlatShelfLayout()
'''


def readme_script():
    spec = importlib.util.spec_from_file_location("readme_layouts", ROOT / "scripts" / "readme_layouts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """A layout module in a folder the package also reads, found by importing the package's modules."""
    folder = tmp_path / "more_layouts"
    folder.mkdir()
    (folder / "snapshotter.py").write_text(textwrap.dedent(THROWAWAY))
    monkeypatch.setattr(layouts, "__path__", [*layouts.__path__, str(folder)])
    layouts.load_layout_modules()
    module = sys.modules["ckpt_tui.stores.layouts.snapshotter"]
    yield module
    unregister(module.SNAP)
    unregister(module.SHELF)
    del sys.modules["ckpt_tui.stores.layouts.snapshotter"]


def save(folder: Path, *files: str) -> None:
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_bytes(b"x" * 10)


def test_a_layout_module_is_discovered_and_used_for_discovery_and_forks(throwaway, tmp_path):
    base = tmp_path / "base"
    save(base / "lab" / "exp1" / "snaps" / "snap-10", "done", "weights.bin")
    save(base / "lab" / "exp1" / "snaps" / "snap-20", "done", "weights.bin")
    save(base / "lab" / "exp1" / "snaps" / "snap-30", "weights.bin")  # no marker: not a step
    save(base / "lab" / "shelf" / "old" / "snap-5", "done")
    save(base / "lab" / "shelf" / "new" / "snaps" / "snap-7", "done")
    store = LocalStore(base)
    runs = {(p, r): store.load_run(p, r) for p in store.list_projects() for r in store.list_runs(p)}
    assert {key: run.layout for key, run in runs.items()} == {
        ("lab", "exp1"): "snap", ("lab", "new"): "shelf", ("lab", "old"): "shelf-flat"}
    assert [c.step for c in runs[("lab", "exp1")].checkpoints] == [10, 20]
    assert [c.step for c in runs[("lab", "old")].checkpoints] == [5]

    fork_checkpoint(store, "lab", "exp1", "exp2", step=20)
    fork_checkpoint(store, "lab", "old", "old2", step=5)
    assert (base / "lab" / "exp2" / "snaps" / "snap-20" / "weights.bin").is_file()
    assert (base / "lab" / "shelf" / "old2" / "snaps" / "snap-5" / "done").is_file()
    fresh = LocalStore(base)
    assert fresh.load_run("lab", "exp2").layout == "snap"
    assert fresh.load_run("lab", "old2").layout == "shelf"
    assert layout_named("shelf-flat") is throwaway.FLAT_SHELF


def test_a_new_layout_joins_every_list_of_trainers(throwaway):
    assert "Snapshotter" in layout_names() and "Shelf" in layout_names()
    script = readme_script()
    assert "Snapshotter" in script.trainers()
    assert "| `snap` (Snapshotter) | `snap-{step}/` | `done` written |" in script.table()
    assert "| `shelf`, `shelf-flat` |" in script.table()


def test_ls_of_a_location_without_runs_names_the_trainers_looked_for(throwaway, tmp_path, capsys):
    assert main(["ls", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"no runs in {tmp_path}"
    assert out[1].startswith("searched 4 levels down for checkpoints of ART, ")
    assert out[1].endswith(", prime-rl, Shelf, Snapshotter and Orbax")  # by preference, then name


def test_readme_lists_the_registered_layouts():
    readme = (ROOT / "README.md").read_text()
    assert readme_script().with_layouts(readme) == readme, "run python scripts/readme_layouts.py"


def test_every_layout_says_who_writes_it():
    for layout in registered():
        assert layout.display_name and layout.trainers and layout.summary, layout
    assert layout_names().startswith("ART, Hugging Face Trainer/TRL")
    for name in ("DeepSpeed", "NeMo 2", "torchtune", "PyTorch DCP", "Ray Tune", "OpenRLHF", "Orbax"):
        assert name in layout_names()


def test_the_layouts_guide_has_a_row_for_every_layout():
    """docs/layouts.md's table is written by hand, with more than README's: it names every layout."""
    guide = (ROOT / "docs" / "layouts.md").read_text()
    rows = {line.split("|")[1].strip() for line in guide.splitlines() if line.startswith("| `")}
    for layout in registered():
        assert any(f"`{layout.name}`" in row for row in rows), f"docs/layouts.md has no row for {layout.name}"


def test_ls_inside_an_art_base_takes_its_project_or_run(tmp_path, capsys):
    step = tmp_path / "proj" / "models" / "m1" / "checkpoints" / "0001"
    step.mkdir(parents=True)
    assert main(["ls", str(tmp_path / "proj")]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("proj/m1 ")  # the project's runs, from the base
    assert main(["ls", str(tmp_path / "proj" / "models" / "m1")]) == 0
    assert capsys.readouterr().out.startswith("proj/m1  (art, 0 checkpoints")  # the run's steps
    assert main(["ls", str(step)]) == 0
    assert "inside an ART base" not in capsys.readouterr().out  # a step folder: no such hint


def test_prune_inside_an_art_model_folder_takes_that_run(tmp_path, capsys):
    (tmp_path / "proj" / "models" / "m1" / "checkpoints" / "0001").mkdir(parents=True)
    (tmp_path / "proj" / "models" / "m2").mkdir()  # a model with no checkpoints yet
    for model, steps in (("m1", 1), ("m2", 0)):
        assert main(["prune", str(tmp_path / "proj" / "models" / model), "--dry-run"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith(f"proj/{model}: ") and out[-1].startswith("total: delete 0 checkpoint(s) in 0 run(s)")
        assert main(["ls", str(tmp_path / "proj" / "models" / model)]) == 0
        assert capsys.readouterr().out.startswith(f"proj/{model}  (art, 0 checkpoints")
