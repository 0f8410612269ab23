"""Offloading a location onto itself: every step is 'already there', so it would delete the only copy."""

from __future__ import annotations

import os

import pytest

from cli_run import run_cli
from test_walk_cli import art_run


@pytest.mark.parametrize("spelling", ["same", "trailing slash", "symbolic link"])
def test_offload_to_the_runs_own_location_is_refused_and_deletes_nothing(tmp_path, capsys, spelling):
    base = tmp_path / "base"
    run = art_run(base, range(4), [0.1, 0.2, 0.3, 0.4])
    target = {"same": str(base), "trailing slash": f"{base}/"}.get(spelling)
    if target is None:
        os.symlink(base, tmp_path / "alias")
        target = str(tmp_path / "alias")
    code, _, err = run_cli(capsys, "offload", base, "--to", target, "--keep-local", "latest", "--yes")
    assert code == 2
    assert "is where the run already is; offloading there would delete the only copy" in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["0000", "0001", "0002", "0003"]


def test_offload_elsewhere_still_moves_the_steps(tmp_path, capsys):
    base = tmp_path / "base"
    run = art_run(base, range(4), [0.1, 0.2, 0.3, 0.4])
    code, _, _ = run_cli(capsys, "offload", base, "--to", tmp_path / "archive", "--keep-local", "latest", "--yes")
    assert code == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["0003"]
    archived = tmp_path / "archive" / "proj" / "models" / "m" / "checkpoints"
    assert sorted(p.name for p in archived.iterdir()) == ["0000", "0001", "0002"]
