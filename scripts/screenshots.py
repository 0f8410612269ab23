"""Regenerate screenshots/*.svg: the same screens as the snapshot tests.

    python scripts/screenshots.py

Builds the demo tree in a temporary directory and drives the app headless,
with times in UTC and the location shown as "demo".
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "app"), str(ROOT / "tests")]

from app_scenarios import SCENARIOS, build_scenario_tree, make_app, play  # noqa: E402
from textual._doc import take_svg_screenshot  # noqa: E402


def main() -> None:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_scenario_tree(Path(tmp) / ".art")
        for name, scenario in SCENARIOS.items():
            svg = take_svg_screenshot(make_app(base, scenario), terminal_size=scenario.size,
                                      run_before=lambda pilot, scenario=scenario: play(pilot, scenario))
            # Stable class names, so that an unchanged screen gives an unchanged file.
            svg = re.sub(r"terminal-\d+-", "terminal-", svg)
            (out / f"{name}.svg").write_text(svg)
            print(f"screenshots/{name}.svg  {scenario.about}")


if __name__ == "__main__":
    main()
