"""Finding runs in a directory that mixes trainers, and leaving everything else alone."""

import json
import os

from layout_trees import blob, listing, megatron_save, near_misses

from ckpt_tui.cli import main
from ckpt_tui.core import Policy, execute_plan, plan_location
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.tree import MAX_DEPTH

EXPECTED = [
    ("exps", "hf-lora", "hf"),
    ("exps", "slime-run", "megatron"),
    ("exps", "verl-run", "verl"),
    ("jax", "orbax", "orbax"),
    ("lit/lightning_logs", "version_0", "lightning"),
]


def runs_of(store: LocalStore) -> list[tuple[str, str, str]]:
    return [(p, r, store.load_run(p, r, with_metrics=False).layout)
            for p in store.list_projects() for r in store.list_runs(p)]


def test_a_mixed_directory_lists_each_run_with_its_layout(mixed):
    assert runs_of(LocalStore(mixed)) == EXPECTED


def test_near_misses_hidden_folders_and_symlinks_are_not_runs(mixed):
    store = LocalStore(mixed)
    names = {r for _, r, _ in runs_of(store)}
    assert not names & {"scratch", ".trash", "linked", "outside", "hf"}


def test_pruning_everything_touches_only_step_checkpoints(mixed):
    before_scratch = sorted(str(p.relative_to(mixed)) for p in (mixed / "scratch").rglob("*"))
    store = LocalStore(mixed)
    plans = plan_location(store, Policy.parse("latest", "none"))
    assert [(p.project, p.run) for p in plans] == [(p, r) for p, r, _ in EXPECTED]
    for plan in plans:
        assert not execute_plan(store, plan).failed
    assert sorted(str(p.relative_to(mixed)) for p in (mixed / "scratch").rglob("*")) == before_scratch
    assert listing(mixed / "hf-lora") == ["checkpoint-10", "checkpoint-30"]  # trainer's best + latest
    assert listing(mixed / "slime-run") == ["hf", "iter_0000030", "iter_0000040",
                                           "latest_checkpointed_iteration.txt"]
    assert (mixed / ".trash" / "checkpoint-1" / "x.bin").exists()
    assert (mixed.parent / "outside" / "checkpoint-9").is_dir()


def test_a_directory_of_near_misses_holds_no_runs(tmp_path):
    near_misses(tmp_path / "scratch")
    store = LocalStore(tmp_path / "scratch")
    assert store.list_projects() == []


def test_the_walk_is_bounded(tmp_path):
    deep = tmp_path / "base"
    for _ in range(MAX_DEPTH):
        deep = deep / "d"
    megatron_save(deep / "found")  # MAX_DEPTH + 1 levels below the base: out of reach
    megatron_save(deep / "d" / "too-deep")
    assert [r for _, r, _ in runs_of(LocalStore(tmp_path / "base"))] == []
    assert [r for _, r, _ in runs_of(LocalStore(tmp_path / "base" / "d"))] == ["found"]


def test_art_and_other_trainers_share_a_location(art_base):
    megatron_save(art_base / "pretrain" / "gpt")
    store = LocalStore(art_base)
    assert store.list_projects() == ["demo", "pretrain"]
    assert store.list_runs("demo") == ["agent-001", "agent-002", "agent-legacy"]
    assert store.load_run("pretrain", "gpt").layout == "megatron"


def test_cli_ls_shows_each_runs_layout(mixed, capsys):
    assert main(["ls", str(mixed), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["project"], r["run"], r["layout"]) for r in runs] == EXPECTED
    verl = next(r for r in runs if r["run"] == "verl-run")
    assert [c["step"] for c in verl["checkpoints"]] == [5, 10, 15]
    assert main(["ls", str(mixed)]) == 0
    out = capsys.readouterr().out
    assert "lit/lightning_logs/version_0" in out and "lightning" in out


def test_a_location_that_is_a_single_step_folder_is_a_run(tmp_path):
    blob(tmp_path / "out" / "checkpoints" / "epoch=0-step=5.ckpt", 10)
    store = LocalStore(tmp_path / "out")
    # ``out/checkpoints`` is named after ``out``; the project after the folder above.
    assert store.list_projects() == [tmp_path.name] and store.list_runs(tmp_path.name) == ["out"]
    assert os.listdir(tmp_path / "out" / "checkpoints") == ["epoch=0-step=5.ckpt"]
