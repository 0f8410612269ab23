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
from textual.screen import ModalScreen

Dialog = TypeVar("Dialog", bound="ReusableDialog")


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

    def reuse(self, *args, **kwargs) -> None:
        """Show new content in the widgets composed for the first (the same arguments as the class's)."""
        raise NotImplementedError
