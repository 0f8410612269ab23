from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from app_scenarios import build_scenario_tree  # noqa: E402


@pytest.fixture(scope="session")
def scenario_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo tree, built once: snapshot scenarios never change it."""
    return build_scenario_tree(tmp_path_factory.mktemp("demo") / ".art")
