"""Every face gives a run the same policy and keeps the same steps, wherever the location is
opened and wherever its policy files are: the app, ``ls --json``, ``prune --dry-run --json``,
``path --json`` and ``watch``."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from app_helpers import RecordingApp, main
from app_scenarios import settle
from cli_run import run_cli

from ckpt_tui.core.execute import list_runs
from ckpt_tui.core.policy import POLICY_FILE
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.watch import Watch

pytestmark = pytest.mark.usefixtures("no_terminal")
FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass(frozen=True)
class Tree:
    """A tree, where its run is (``run``), and the folders above it: the run's ``parent`` and ``base``."""

    name: str
    build: str  # a fixture folder, or "demo"
    run: str  # the run's folder, below the copied tree
    parent: str
    base: str
    metric: str
    openings: tuple[str, ...] = ("run", "parent", "base")


TREES = [
    Tree("hf", "hf-trainer", "hf-trainer/full-model", "hf-trainer", "", "eval_loss"),
    Tree("art", "art", "art/demo/models/agent-001", "art/demo", "art", "val/reward", ("base",)),
    Tree("lightning", "lightning/default-names", "default-names/lightning_logs/version_0",
         "default-names/lightning_logs", "default-names", "val_loss"),
    Tree("demo", "demo", ".art/email-agent/models/agent-002", ".art/email-agent", ".art", "val/reward", ("base",)),
]
PLACEMENTS = ("run", "parent", "base", "all")


def build(tree: Tree, tmp_path: Path) -> Path:
    top = tmp_path / "top"
    top.mkdir()
    if tree.build == "demo":
        from ckpt_tui.demo import build_demo

        build_demo(top / ".art")
    else:
        shutil.copytree(FIXTURES / tree.build, top / tree.build.split("/")[-1], symlinks=True)
    return top


def names_from(folder: Path, run_dir: Path) -> tuple[str, str]:
    """The run at ``run_dir`` as opening ``folder`` names it."""
    store = LocalStore(folder)
    for project, run in list_runs(store):
        loaded = store.load_run(project, run, with_metrics=False)
        where = store.checkpoint_location(project, run, loaded.checkpoints[0])
        if where.startswith(f"{run_dir}/"):
            return project, run
    raise AssertionError(f"no run at {run_dir} from {folder}")


def place_files(tree: Tree, top: Path, placement: str, steps: list[int]) -> dict:
    """Policy files at the run's folder, its parent, its base or all three (each setting at one
    level, so that the nearest-first rule is exercised); what the run's policy must be."""
    run_dir, pin = top / tree.run, steps[len(steps) // 2]
    wanted = {"metric": tree.metric, "direction": "min" if "loss" in tree.metric else "max",
              "rules": "best,latest,last:2", "pins": [pin], "full": "last:1"}
    levels = {"run": top / tree.run, "parent": top / tree.parent, "base": top / tree.base}
    settings = {"run": f'metric = "{tree.metric}"\nkeep = "best,latest,last:2"\npins = [{pin}]\nfull = "last:1"\n'}
    if placement == "all":  # the nearer file wins key by key; each level sets what the others do not
        files = {"run": f"pins = [{pin}]\n", "parent": 'keep = "best,latest,last:2"\nfull = "last:1"\n',
                 "base": f'metric = "{tree.metric}"\nkeep = "latest"\npins = [0]\n'}
    else:
        files = {placement: settings["run"]}
    for level, text in files.items():
        # An ART model is named from its base (its project is the folder holding models/) wherever the file is.
        project, run = names_from(levels[level] if level in tree.openings else top / tree.base, run_dir)
        section = f'[projects."{project}".runs."{run}"]\n'
        (levels[level] / POLICY_FILE).write_text(("" if level == "base" and placement == "all" else section) + text)
    return wanted


def policy_of(document: dict) -> dict:
    return {key: document[key] for key in ("metric", "direction", "rules", "pins", "full")}


async def app_view(folder: Path, key: tuple[str, str]) -> tuple[dict, list[int]]:
    app = RecordingApp(str(folder))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        screen.open_run(key)
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        plan = screen.plans[key]
    policy = plan.policy
    return ({"metric": policy.metric, "direction": policy.direction,
             "rules": ",".join(str(r) for r in policy.rules if r.kind != "step"), "pins": sorted(policy.pins),
             "full": policy.full_text}, sorted({k.step for k in plan.keep}))


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("tree", TREES, ids=[t.name for t in TREES])
async def test_every_face_agrees_wherever_opened_and_wherever_the_files_are(tree, placement, tmp_path, capsys):
    top = build(tree, tmp_path)
    run_dir = top / tree.run
    base = top / tree.base
    steps = sorted(c.step for c in LocalStore(base).load_run(*names_from(base, run_dir), with_metrics=False).checkpoints)
    wanted = place_files(tree, top, placement, steps)
    kept_by: dict[str, list[int]] = {}
    for opening in tree.openings:
        folder = top / getattr(tree, opening)
        project, run = names_from(folder, run_dir)
        selection = ["-p", project, "-r", run]
        code, out, err = run_cli(capsys, "ls", folder, "--json", *selection)
        assert code == 0, err
        [listed] = json.loads(out)["runs"]
        assert policy_of(listed["policy"]) == wanted, (opening, "ls")
        assert listed["policy"]["files"], "ls names the files that apply"
        code, out, err = run_cli(capsys, "prune", folder, "--dry-run", "--json", *selection)
        assert code == 0, err
        [plan] = json.loads(out)["plans"]
        assert policy_of(plan["policy"]) == wanted, (opening, "prune")
        kept_by[f"prune at {opening}"] = sorted({k["step"] for k in plan["keep"]})
        kept_by[f"ls at {opening}"] = listed["kept"]
        code, out, err = run_cli(capsys, "path", folder, "--weights", "--json", *selection)
        assert code == 0, err
        found = json.loads(out)
        assert policy_of(found["policy"]) == wanted and found["step"] == plan["best_step"], (opening, "path")
        app_policy, kept_by[f"app at {opening}"] = await app_view(folder, (project, run))
        assert app_policy == wanted, (opening, "app")
    # watch last: it deletes
    folder = top / getattr(tree, tree.openings[-1])
    project, run = names_from(folder, run_dir)
    Watch(LocalStore(folder), project, run).cycle()
    kept_by["watch"] = sorted({c.step for c in LocalStore(folder).load_run(project, run).checkpoints})
    assert len({tuple(kept) for kept in kept_by.values()}) == 1, kept_by
    assert wanted["pins"][0] in kept_by["watch"] and steps[-1] in kept_by["watch"]
