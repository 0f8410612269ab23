"""Driving the app in tests: an app that records its notifications, and shortcuts."""

from __future__ import annotations

import hashlib
from datetime import timezone
from pathlib import Path

from app_scenarios import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.core.store import Space


class RecordingApp(CkptApp):
    """The app, keeping every notification it shows."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("live", False)  # a test that follows the disk says so
        super().__init__(*args, location_label="art", timezone=timezone.utc, cursor_blink=False, **kwargs)
        self.notes: list[tuple[str, str]] = []

    def free_space(self) -> Space:
        """A disk's free space fixed: other processes writing to the machine's disk would change
        what a dialog shows between two looks at it."""
        space = super().free_space()
        return space if space.free is None else space._replace(free=41 * 10**9, total=100 * 10**9)

    def notify(self, message, *, title="", severity="information", **kwargs) -> None:
        self.notes.append((f"{title}: {message}" if title else message, severity))
        super().notify(message, title=title, severity=severity, **kwargs)

    def said(self, text: str, severity: str | None = None) -> bool:
        return any(text in note and severity in (None, level) for note, level in self.notes)


def main(app: CkptApp) -> MainScreen:
    return next(s for s in app.screen_stack if isinstance(s, MainScreen))


def run_dir(base: Path, run: str) -> Path:
    path = base / "demo" / "models" / run
    return path / "checkpoints" if (path / "checkpoints").is_dir() else path


def steps_on_disk(base: Path, run: str) -> list[int]:
    return sorted(int(p.name) for p in run_dir(base, run).iterdir() if p.name.isdigit())


def digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


async def go_to_step(pilot, step: int) -> None:
    table = main(pilot.app).table
    table.focus()
    await pilot.press("home", *["down"] * table.rows.index(table.run.checkpoint(step)))


async def confirm_delete(pilot) -> None:
    """Tab from the focused Cancel to Delete, and press it."""
    await pilot.press("tab", "enter")
    await settle(pilot)


def toasts(app, title: str | None = None) -> list:
    """The toasts on screen, Textual's and the notice kept mounted (while it shows), of ``title`` if given."""
    from textual.widgets._toast import Toast, ToastRack

    notice = getattr(app.screen, "notice", None)
    shown = [*app.screen.get_child_by_type(ToastRack).query(Toast), *([notice] if notice and notice.shown else [])]
    return [toast for toast in shown if title is None or toast._notification.title == title]


def footer_keys(app) -> dict[str, bool]:
    """The footer's keys as drawn: action -> greyed (Textual's footer gives a disabled key -disabled)."""
    return {key.action: key.has_class("-disabled") for key in app.screen.query("Footer *") if hasattr(key, "action")}
