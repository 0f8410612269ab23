"""Write README's list of trainers and its table of layouts from the layouts' registry.

    python scripts/readme_layouts.py          # rewrite README.md
    python scripts/readme_layouts.py --check  # exit 1 if README.md differs from the registry

Each layout module says what goes in its row (``display_name``, ``trainers``,
``summary``); README holds the result between marker comments.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ckpt_tui.stores.layouts import Layout, registered, spoken_list  # noqa: E402

README = ROOT / "README.md"
HEADER = ("| layout | a step checkpoint | complete when (else pending: never deleted, forked or resumed) "
          "| never deleted, whatever the rule | metrics |\n|---|---|---|---|---|")


def first_cell(layout: Layout) -> str:
    """```hf` (Hugging Face Trainer, TRL)``: its names, and the trainers unless the name says it."""
    names = ", ".join(f"`{variant.name}`" for variant in layout.variants())
    if [t.lower() for t in layout.trainers] in ([], [layout.name]):
        return names
    return f"{names} ({', '.join(layout.trainers)})"


def table() -> str:
    rows = []
    for layout in registered():
        if layout.summary is None:
            raise SystemExit(f"layout {layout.name!r} has no summary for README's table")
        cells = (first_cell(layout), layout.summary.checkpoint, layout.summary.complete, layout.summary.kept,
                 layout.summary.metrics)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([HEADER, *rows])


def trainers() -> str:
    return spoken_list([trainer for layout in registered() for trainer in layout.trainers])


def with_layouts(readme: str) -> str:
    """``readme`` with the text between each pair of marker comments generated again."""
    for marker, text in (("trainers", trainers()), ("layouts", table())):
        start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no {start} ... {end} markers")
        separator = "\n" if marker == "layouts" else ""
        readme = pattern.sub(lambda _: f"{start}{separator}{text}{separator}{end}", readme)
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = with_layouts(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's layouts differ from the registry: run python scripts/readme_layouts.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
