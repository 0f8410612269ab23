"""Layout modules are imported when a folder holds a name their layouts may claim: what each module
may claim (``layouts.CLAIMS``) is never narrower than its layouts, detection is what it is with every
layout imported, and a listing imports only the modules it needs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layout_trees import lightning_dir, megatron_save, near_misses, orbax_dir, verl_dir

from ckpt_tui.stores import layouts
from ckpt_tui.stores.layouts import CLAIMS, RUNS_FOLDERS, detect, modules_for, needs_look, registered

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# Pieces of the names trainers write, and of near misses, put together in every order below.
PIECES = ["checkpoint", "checkpoints", "-", "_", ".", "=", "/", "--", "step", "global", "global_step", "iter",
          "epoch", "dist", "tmp", "old", "best", "hf", "ckpt", ".ckpt", "last", "val", "loss", "v1", "model",
          ".orbax-checkpoint-tmp", "0", "1", "12", "0000030", "000001", "2026", "٣", "\n", "a", "Z", "final",
          "consumed_samples", "-last", "-unfinished", "random_states", ".pkl", "nan", "1e-3", "+", "models",
          "checkpoint-", "checkpoint_", "tmp-checkpoint-", "step_", "step-", "tmp_step_", "old_step_", "iter_",
          "global_step_", "best_global_step", "_hf", "epoch_", "dist_epoch_", "step=", "epoch=", "val/"]
NAMES = st.one_of(st.lists(st.sampled_from(PIECES), max_size=7).map("".join),
                  st.tuples(st.lists(st.sampled_from(PIECES), max_size=3).map("".join), st.sampled_from(["_", "-", ""]),
                            st.integers(0, 10**9).map(str), st.sampled_from(["", "\n", ".ckpt", "_hf", ".orbax-checkpoint-tmp"])
                            ).map("".join),
                  st.text(alphabet="abcdegiklmnoprstvx_-.=/0123456789٣\n", max_size=16))


def module_of(layout) -> str:
    return type(layout).__module__.rsplit(".", 1)[1]


def claimed_by_layouts(name: str) -> set[str]:
    """The modules one of whose layouts takes ``name`` for anything discovery or detection asks."""
    found = set()
    for layout in registered():
        if layout.runs_folder:
            continue  # found by the name of a folder (RUNS_FOLDERS), never detected
        for candidate in layout.candidates([(name, True), (name, False)]):
            if (candidate.step(name) is not None or candidate.in_progress_step(name) is not None
                    or candidate.may_be_step(name)):
                found.add(module_of(candidate))
        if type(layout).candidates is not layouts.Layout.candidates and layout.candidates([(name, True)]):
            found.add(module_of(layout))  # a candidate made for this name alone (Orbax's prefixes)
    return found


def fixture_names() -> set[str]:
    """Every name in the fixtures, and every short string of the tests (names and near misses)."""
    names = {name for _, dirs, files in os.walk(FIXTURES) for name in dirs + files}
    for path in (ROOT / "tests").rglob("*.py"):
        names.update(node.value for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 80)
    return names


def test_every_layout_module_of_the_package_is_named():
    named = set(CLAIMS) | set(RUNS_FOLDERS)
    modules = {module_of(layout) for layout in registered()}
    assert modules == named, "name each new layout module in CLAIMS (or RUNS_FOLDERS), or it is imported always"


def test_what_a_module_may_claim_covers_each_name_of_the_tests():
    for name in sorted(fixture_names()):
        assert claimed_by_layouts(name) <= modules_for([name]), name


@settings(derandomize=True, max_examples=1500, deadline=None)
@given(NAMES)
def test_what_a_module_may_claim_covers_every_name(name):
    assert claimed_by_layouts(name) <= modules_for([name]), repr(name)


def folders(root: Path):
    for folder, dirs, files in os.walk(root):
        entries = [(n, True) for n in dirs if not os.path.islink(os.path.join(folder, n))]
        entries += [(n, False) for n in files if not os.path.islink(os.path.join(folder, n))]
        yield folder, entries


def summary(scan):
    return None if scan is None else (scan.layout, scan.steps, scan.pending)


@pytest.fixture
def trees(tmp_path) -> list[Path]:
    built = tmp_path / "built"
    megatron_save(built / "slime-run")
    verl_dir(built / "verl-run")
    lightning_dir(built / "lit" / "version_0")
    orbax_dir(built / "jax" / "orbax")
    orbax_dir(built / "jax" / "prefixed", prefix="ckpt")
    near_misses(built / "scratch")
    return [FIXTURES, built]


def test_detection_with_the_modules_a_folder_names_is_detection_with_every_layout(trees, monkeypatch):
    every = registered()
    for root in trees:
        for folder, entries in folders(root):
            names = [name for name, _ in entries]

            def children(name, at=folder):
                path = os.path.join(at, name)
                return set(os.listdir(path)) if os.path.isdir(path) and not os.path.islink(path) else set()

            expected = summary(detect(entries, children)), [needs_look(name) for name in names]
            wanted = modules_for(names)
            with monkeypatch.context() as patch:  # only the layouts of the modules this folder would import
                patch.setattr(layouts, "_registered", lambda: tuple(
                    layout for layout in every if module_of(layout) in wanted or module_of(layout) not in CLAIMS))
                patch.setattr(layouts, "_waiting", set())
                assert (summary(detect(entries, children)), [needs_look(name) for name in names]) == expected, folder


LISTED = """
import json, sys
from ckpt_tui.stores import layouts
from ckpt_tui.stores.local import LocalStore
if sys.argv[1] == "every":
    layouts.load_layout_modules()
found = {}
for root in sys.argv[2:]:
    store = LocalStore(root)
    runs = []
    for project in store.list_projects():
        for name in store.list_runs(project):
            run = store.load_run(project, name)
            runs.append([project, name, run.layout, [c.name for c in run.checkpoints],
                         sorted([p.name, p.pending.name] for p in run.pending)])
    found[root] = runs
print(json.dumps({"found": found, "modules": sorted(m.rsplit(".", 1)[1] for m in sys.modules
                                                    if m.startswith("ckpt_tui.stores.layouts."))}))
"""


def listed(mode: str, *roots: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", LISTED, mode, *map(str, roots)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return json.loads(done.stdout)


@pytest.mark.slow
def test_each_fixture_listed_by_a_fresh_process_is_listed_as_with_every_layout(trees):
    roots = [path for root in trees for path in sorted(root.iterdir()) if path.is_dir()]
    every = listed("every", *roots)["found"]
    for root in roots:
        assert listed("lazy", root)["found"] == {str(root): every[str(root)]}, root


def test_a_listing_imports_the_layout_modules_its_names_need(art_base, hf_fixture):
    assert listed("lazy", art_base)["modules"] == ["art", "base", "whole_files"]
    assert set(listed("lazy", hf_fixture)["modules"]) - {"art"} == {"base", "hf", "whole_files"}
