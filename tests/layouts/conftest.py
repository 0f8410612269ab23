"""Fixtures: a directory mixing every trainer's layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from layout_trees import blob, lightning_dir, megatron_save, near_misses, orbax_dir, verl_dir


@pytest.fixture
def mixed(tmp_path: Path, hf_fixture: Path) -> Path:
    """One directory holding a run of every layout, near misses, a hidden run and a symlink."""
    base = tmp_path / "exps"
    base.mkdir()
    os.rename(hf_fixture / "lora-adapter", base / "hf-lora")
    megatron_save(base / "slime-run")
    (base / "slime-run" / "hf" / "iter_0000030").mkdir(parents=True)  # slime's HF export
    (base / "slime-run" / "hf" / "iter_0000030" / "config.json").write_text("{}")
    verl_dir(base / "verl-run")
    lightning_dir(base / "lit" / "lightning_logs" / "version_0")
    orbax_dir(base / "jax" / "orbax")
    near_misses(base / "scratch")
    blob(base / ".trash" / "checkpoint-1" / "x.bin", 10)
    outside = tmp_path / "outside"
    (outside / "checkpoint-9").mkdir(parents=True)
    (base / "linked").symlink_to(outside, target_is_directory=True)
    return base
