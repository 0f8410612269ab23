"""Dialogs built once per app and shown again with new content.

Closing a dialog that Textual then removes makes it lay out and repaint the whole
screen below (tens of milliseconds on a large run, after the dialog is already
gone); opening a new one composes and styles its widgets again. A reusable dialog
is installed in the app: closing it removes nothing, and opening it again only
changes what it says.
"""

from __future__ import annotations

from typing import TypeVar

from textual.app import App
from textual.screen import ModalScreen, Screen

Dialog = TypeVar("Dialog", bound="ReusableDialog")
HOLD_LIMIT = 0.2  # seconds a dialog shown again may hold the app's frames back


class ReusableDialog(ModalScreen):
    """``open`` gives the app's one instance, with ``reuse`` called on it when it was shown before."""

    @classmethod
    def open(cls: type[Dialog], app: App, *args, **kwargs) -> Dialog:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if app.is_screen_installed(name):
            dialog = app.get_screen(name)
            if dialog.is_mounted:
                dialog.reuse(*args, **kwargs)
                return dialog
            app.uninstall_screen(name)  # installed, never shown: built afresh
        dialog = cls(*args, **kwargs)
        app.install_screen(dialog, name)
        return dialog

    _held = False  # frames wait for this dialog's resume to be handled
    _hold_timer = None

    def show(self, callback=None) -> None:
        """Push the dialog. Shown again, it is drawn once its resume is handled: Textual repaints a
        screen as it resumes, which would otherwise be a second frame after the one showing what
        changed in it while it was closed."""
        if self.is_mounted and not self._held:
            self._held = True
            self.app._begin_batch()
            self._hold_timer = self.set_timer(HOLD_LIMIT, self._release)  # never longer than that
        self._resumed = False
        self.app.push_screen(self, callback)

    _resumed = False  # the resume of this showing is handled

    def on_screen_resume(self) -> None:
        # This handler runs before Screen's own (which restyles and repaints the dialog): the
        # frames are released once that is done too, so that the repaint joins the held frame.
        self.call_next(self._resume_handled)

    def _resume_handled(self) -> None:
        self._resumed = True
        if self.ready_to_draw():
            self._release()

    def ready_to_draw(self) -> bool:
        """False while what the dialog shows again is on its way: it then calls ``content_arrived``."""
        return True

    def content_arrived(self) -> None:
        """Draws the dialog held for its content, once resumed."""
        if self._resumed:
            self._release()

    def _release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._hold_timer.stop()  # a showing after this one is held for its own time
        # The screen below asks for a repaint as it is covered; this dialog's resume repaints the
        # whole screen (the one below drawn tinted behind the dialog): a second repaint would draw
        # everything again in a frame of its own.
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) > 1 and stack[-1] is self else None
        if below is not None:
            below._repaint_required = False
        self.app._end_batch()
        self.check_idle()

    def _on_timer_update(self) -> None:
        if not self.app._batch_count:  # else nothing is drawn yet
            lay_out_for_repaint(self)
        super()._on_timer_update()

    def reuse(self, *args, **kwargs) -> None:
        """Show new content in the widgets composed for the first (the same arguments as the class's)."""
        raise NotImplementedError


def lay_out_for_repaint(screen: Screen) -> None:
    """Textual draws a new layout, then repaints the whole screen: two frames. With the whole
    screen to repaint anyway (as a dialog is shown, or the screen below as it closes), the
    layout is done with the frames held, and drawn by the repaint: one frame."""
    if (screen._layout_required or screen._scroll_required) and screen._repaint_required and screen.is_current:
        screen.app._begin_batch()
        try:
            screen._refresh_layout(scroll=screen._scroll_required and not screen._layout_required)
        finally:
            screen.app._end_batch()
        screen._layout_required = screen._scroll_required = False
