"""Open the app headless on a location and print what it shows as JSON (for tests that must
run the app in another process, e.g. without root's permission bypass)."""

from __future__ import annotations

import asyncio
import json
import sys

from pilot_helpers import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.app.widgets.run_tree import RunTree
from ckpt_tui.app.widgets.status_line import StatusLine


class ProbeApp(CkptApp):
    def __init__(self, location: str) -> None:
        super().__init__(location, cursor_blink=False)
        self.notes: list[str] = []

    def notify(self, message, *, title="", severity="information", **kwargs) -> None:
        self.notes.append(f"{severity}: {title}: {message}")
        super().notify(message, title=title, severity=severity, **kwargs)


async def probe(location: str, keys: list[str]) -> dict:
    app = ProbeApp(location)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
        tree = main.query_one(RunTree)
        return {"listing": main.listing, "current": list(main.current or ()),
                "steps": [c.step for c in main.run.checkpoints] if main.run else None,
                "loaded": {"/".join(k): len(r.checkpoints) for k, r in main.runs.items()},
                "notes": app.notes,
                "tree": [str(node.label) for top in tree.root.children for node in (top, *top.children)],
                "status": str(main.query_one(StatusLine).render()),
                "plot": str(main.query_one("#plot-title").render())}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1], sys.argv[2:]))))
