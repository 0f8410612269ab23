"""``ckpt-tui path`` and ``checkpoint_path``: one complete checkpoint to resume from, never a half-written one."""

from __future__ import annotations

import io
import json
import sys

import pytest

from ckpt_tui import checkpoint_path
from ckpt_tui.cli import main
from ckpt_tui.core import NotFound, Refused


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_latest_best_step_and_not_after(trainer_tree, capsys):
    root, truth = trainer_tree("lightning/default-names")
    ckpts = root / truth["ckpt_dir"]
    cb = truth["fits"][0]["callbacks"][0]
    assert run_cli(capsys, "path", root, "--latest") == (0, f"{ckpts / 'epoch=3-step=20.ckpt'}\n", "")
    assert run_cli(capsys, "path", root, "--step", 10)[1] == f"{ckpts / 'epoch=1-step=10.ckpt'}\n"
    assert run_cli(capsys, "path", root, "--not-after-step", 14)[1] == f"{ckpts / 'epoch=1-step=10.ckpt'}\n"
    # The best of a tie is the earliest, as Lightning's own best_model_path.
    code, out, _ = run_cli(capsys, "path", root, "--best", "--metric", cb["monitor"], "--json")
    found = json.loads(out)
    assert code == 0 and found["path"] == str(ckpts / cb["best_model_path"])
    assert (found["name"], found["layout"], found["metric"]) == (cb["best_model_path"], "lightning", "val_acc")
    assert found["value"] == pytest.approx(cb["best_model_score"]) and found["evidence"]
    assert checkpoint_path(root, best=True, metric="val_acc") == found["path"]
    assert checkpoint_path(root) == str(ckpts / "epoch=3-step=20.ckpt")


@pytest.mark.parametrize("name, latest", [
    ("real-trainers/dcp-steps", "step_40"),  # step_50 has .metadata.tmp, no .metadata
    ("real-trainers/deepspeed-zero1", "global_step8"),  # global_step10 is newer than `latest`, a shard short
    ("real-trainers/torchtune-async", "dist_epoch_1"),
    ("real-trainers/nemo2", "model_name=0--val_loss=2.21-step=39-consumed_samples=320.0"),
    ("orbax/in-progress", "10"),
])
def test_a_half_written_newest_save_is_never_picked(trainer_tree, capsys, name, latest):
    root, truth = trainer_tree(name)
    code, out, _ = run_cli(capsys, "path", root, "--latest", "--json")
    assert code == 0 and json.loads(out)["name"].removesuffix("-last") == latest
    pending = next(iter(truth["incomplete"].values()))["step"]
    code, out, err = run_cli(capsys, "path", root, "--step", pending)
    assert (code, out) == (1, "") and len(err.splitlines()) == 1 and f"step {pending}" in err
    with pytest.raises(NotFound, match="not complete"):
        checkpoint_path(root, step=pending)


def test_nothing_to_return_is_one_line_and_exit_1_bad_usage_exit_2(trainer_tree, tmp_path, capsys):
    """Nothing found (no such step, run or project; nothing complete) is exit 1, as ``ls`` and
    ``prune`` say of a name that is not there; bad usage and refusals (no metric to choose by) are 2."""
    root, _ = trainer_tree("real-trainers/dcp-steps")
    for args, expected in ((["--not-after-step", 5], 1), (["--step", 12345], 1), (["--best"], 2),
                           (["--best", "--metric", "loss"], 2), (["--latest", "--metric", "x"], 2),
                           (["--latest", "--project", "nope"], 1), (["--latest", "--run", "nope"], 1),
                           (["--latest", "--run", "../x"], 2)):
        code, out, err = run_cli(capsys, "path", root, *args)
        assert (code, out) == (expected, "") and len(err.splitlines()) == 1, args
    assert run_cli(capsys, "path", tmp_path / "nowhere", "--latest")[0] == 2
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "path", tmp_path / "empty", "--latest")  # holds no run at all
    assert code == 1 and "holds no runs" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["path", str(root)])  # one of --latest, --best, --step, --not-after-step is required
    assert exit_info.value.code == 2
    with pytest.raises(Refused, match="logs no metric"):
        checkpoint_path(root, best=True)


def test_path_is_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["path", "--help"])
    out = capsys.readouterr().out
    assert all(option in out for option in ("--latest", "--best", "--step", "--not-after-step", "--metric",
                                            "--mode", "--json", "--project", "--run"))


@pytest.mark.parametrize("inside", ["demo/models/agent-001", "demo/models/agent-001/checkpoints",
                                    "demo/models/agent-legacy"])
def test_path_and_fork_from_inside_an_art_run_folder_take_that_run(art_base, capsys, monkeypatch, inside):
    run = inside.split("/")[2]
    code, expected, err = run_cli(capsys, "path", art_base, "--project", "demo", "--run", run, "--latest")
    assert code == 0 and expected.startswith(str(art_base / "demo" / "models" / run)), err
    monkeypatch.chdir(art_base / inside)
    assert run_cli(capsys, "path", ".", "--latest") == (0, expected, "")
    code, _, err = run_cli(capsys, "fork", ".", "--to", f"{run}-fork")
    assert code == 0, err
    assert (art_base / "demo" / "models" / f"{run}-fork").is_dir()  # beside its source, in the base


def test_path_named_with_dot_dot_from_inside_an_art_run_takes_that_run(art_base, capsys, monkeypatch):
    """``..`` from a run's checkpoints folder names the run folder, as ``.`` in it does."""
    code, expected, err = run_cli(capsys, "path", art_base, "-p", "demo", "-r", "agent-001", "--step", "4")
    assert code == 0, err
    monkeypatch.chdir(art_base / "demo" / "models" / "agent-001" / "checkpoints")
    assert run_cli(capsys, "path", "..", "--step", "4") == (0, expected, "")
    monkeypatch.chdir(art_base / "demo" / "models" / "agent-001" / "checkpoints" / "0003")
    assert run_cli(capsys, "path", "../..", "--step", "4") == (0, expected, "")


def test_path_from_an_art_project_folder_says_which_run_to_pass(art_base, capsys, monkeypatch):
    monkeypatch.chdir(art_base / "demo" / "models")
    code, out, err = run_cli(capsys, "path", ".", "--latest")
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1
    assert f"inside the ART base {art_base}" in err and "agent-001, agent-002, agent-legacy" in err
    assert "pass --run NAME" in err
    code, out, _ = run_cli(capsys, "path", ".", "--run", "agent-002", "--latest")
    assert code == 0 and out.startswith(str(art_base / "demo" / "models" / "agent-002" / "checkpoints"))


def test_path_from_an_art_project_folder_names_the_runs_when_the_one_passed_is_not_there(art_base, capsys,
                                                                                        monkeypatch):
    monkeypatch.chdir(art_base / "demo")
    code, out, err = run_cli(capsys, "path", ".", "--run", "agent-009", "--latest")
    assert (code, out) == (1, "") and "no run 'agent-009' in project 'demo'" in err
    assert "holds 3 runs (agent-001, agent-002, agent-legacy)" in err and len(err.splitlines()) == 1
