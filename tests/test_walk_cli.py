"""What a user typing odd values meets on the command line: one line, the right exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_run import run_cli


def art_run(base: Path, steps: range, values: list[float] | None = None) -> Path:
    """An ART run ``proj/m`` with a weights file per step and, given values, ``val/reward`` for each."""
    run = base / "proj" / "models" / "m"
    for step in steps:
        folder = run / "checkpoints" / f"{step:04d}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"w" * 100)
    if values is not None:
        (run / "history.jsonl").write_text(
            "".join(json.dumps({"step": s, "val/reward": v}) + "\n" for s, v in zip(steps, values)))
    return run


@pytest.mark.parametrize("interval", ["inf", "1e400", "1e300"])
def test_watch_refuses_an_interval_too_long_to_wait(tmp_path, capsys, interval):
    art_run(tmp_path, range(2))
    code, _, err = run_cli(capsys, "watch", tmp_path, "--interval", interval)
    assert code == 2
    assert err.count("\n") == 1 and "--interval must be a number of seconds above 0 and at most" in err


def test_path_names_steps_left_out_of_the_list_of_complete_ones(tmp_path, capsys):
    art_run(tmp_path, range(7), [0.1] * 7)
    code, _, err = run_cli(capsys, "path", tmp_path, "--run", "m", "--step", "99")
    assert code == 1
    # step 0 exists: a list that shows only the newest five must not read as the whole list
    assert "complete steps: …, 2, 3, 4, 5, 6" in err


def test_path_lists_every_complete_step_when_they_are_few(tmp_path, capsys):
    art_run(tmp_path, range(3), [0.1] * 3)
    code, _, err = run_cli(capsys, "path", tmp_path, "--run", "m", "--step", "99")
    assert code == 1 and "complete steps: 0, 1, 2" in err and "…" not in err


@pytest.mark.parametrize("command", [["ls", ""], ["prune", "", "--dry-run"], ["path", "", "--latest"]])
def test_an_empty_location_is_bad_usage(tmp_path, capsys, monkeypatch, command):
    art_run(tmp_path, range(2))
    monkeypatch.chdir(tmp_path / "proj" / "models" / "m")  # '' must not quietly mean this folder
    code, out, err = run_cli(capsys, *command)
    assert code == 2 and err == "ckpt-tui: a location must not be empty\n" and out == ""


def test_fork_to_an_empty_location_is_bad_usage_and_creates_nothing(tmp_path, capsys):
    run = art_run(tmp_path, range(2))
    code, _, err = run_cli(capsys, "fork", tmp_path, "--project", "proj", "--run", "m", "--to", "n",
                           "--to-location", "")
    assert code == 2 and err == "ckpt-tui: a location must not be empty\n"
    assert sorted(p.name for p in run.parent.iterdir()) == ["m"]
