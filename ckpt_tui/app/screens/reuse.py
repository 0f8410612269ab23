"""Dialogs built once per app and shown again with new content.

Closing a dialog that Textual then removes makes it lay out and repaint the whole
screen below (tens of milliseconds on a large run, after the dialog is already
gone); opening a new one composes and styles its widgets again. A reusable dialog
is installed in the app: closing it removes nothing, and opening it again only
changes what it says.
"""

from __future__ import annotations

from typing import TypeVar

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual._compositor import Compositor, LayoutUpdate
from textual.app import App
from textual.color import Color
from textual.css.styles import RulesMap
from textual.geometry import Size
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widget import Widget

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

    @classmethod
    def prepare(cls: type[Dialog], app: App, *args, **kwargs) -> Dialog | None:
        """Build the dialog ahead, while the app waits for keys: composed, styled and mounted
        (not shown), so that the first ``open`` finds it mounted and only ``reuse`` runs.
        Nothing is read for it until it is opened (``prepared`` says so to its ``on_mount``),
        unless its caller reads ahead for it. Returns the dialog built, None when there was one."""
        name = f"{cls.__module__}.{cls.__qualname__}"
        if app.is_screen_installed(name):
            return None
        dialog = cls(*args, **kwargs)
        dialog.prepared = True
        app.install_screen(dialog, name)
        app._get_screen(dialog)  # registered: composed and mounted in the next turns of the loop
        return dialog

    @classmethod
    def installed(cls: type[Dialog], app: App) -> Dialog | None:
        """The app's one instance, if it was built (shown or prepared)."""
        name = f"{cls.__module__}.{cls.__qualname__}"
        return app.get_screen(name) if app.is_screen_installed(name) else None

    prepared = False  # built ahead by ``prepare``: not shown yet

    def lay_out_ahead(self) -> None:
        """A prepared dialog's first layout, at the app's size, done before it is first shown."""
        if self.is_mounted and not self.is_current and self.app.size:
            self._refresh_layout(self.app.size)

    _held = False  # frames wait for this dialog's resume to be handled
    _hold_timer = None

    def show(self, callback=None) -> None:
        """Push the dialog. Shown again, it is drawn once its resume is handled: Textual repaints a
        screen as it resumes, which would otherwise be a second frame after the one showing what
        changed in it while it was closed."""
        if self.is_mounted and not self._held:
            self._held = True
            self.app._begin_batch()
            self._hold_timer = self.set_timer(HOLD_LIMIT, self._hold_over)  # never longer than that
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

    def content_late(self) -> None:
        """The hold is over before what the dialog waits for arrived: it is drawn as it is now
        (a dialog may say there that it still reads)."""

    def _hold_over(self) -> None:
        if self._held and not self.ready_to_draw():
            self.content_late()
        self._release()

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
        tell_screen_now(self)
        self.app._end_batch()
        self.check_idle()

    def _on_timer_update(self) -> None:
        if not self.app._batch_count:  # else nothing is drawn yet
            lay_out_for_repaint(self)
        super()._on_timer_update()

    _laying_out = False

    def _refresh_layout(self, size: Size | None = None, scroll: bool = False) -> None:
        """A layout, and the layouts it makes the widgets it resized ask for, drawn in one frame.

        Textual sets a resized widget's new virtual size as a reactive that lays out again, and
        draws that layout in a frame of its own, 20-30 ms after the first (a hint that takes a
        line more as a key is typed, a summary widened): here it is made at once, as Textual would
        make it (at most twice), and the frame drawn after it draws what both did."""
        if self._laying_out:
            return super()._refresh_layout(size, scroll)
        before = {widget for widget in widgets_of(self) if widget._layout_required}  # left to Textual
        self._laying_out = True
        self.app._begin_batch()  # the frame is drawn once, after the last layout
        try:
            super()._refresh_layout(size, scroll)
            for _ in range(2):
                asked = [widget for widget in widgets_of(self) if widget._layout_required and widget not in before]
                if not asked:
                    break
                for widget in asked:  # what the widget would do as it idles, then tell the screen
                    widget._layout_required = False
                    for ancestor in widget.ancestors:
                        if not isinstance(ancestor, Widget):
                            break
                        ancestor._clear_arrangement_cache()
                        ancestor._layout_updates += 1
                        if not ancestor.styles.auto_dimensions:
                            break
                super()._refresh_layout(size)
            visible = self._compositor.visible_widgets
            drawn = {widget for widget in widgets_of(self) if widget._repaint_required and widget in visible}
            for widget in drawn:
                widget._repaint_required = False  # drawn in this frame, not told as the widget idles
            if drawn:
                self._dirty_widgets.update(drawn)
                self._compositor.update_widgets(drawn)
        finally:
            self._laying_out = False
            self.app._end_batch()

    def reuse(self, *args, **kwargs) -> None:
        """Show new content in the widgets composed for the first (the same arguments as the class's)."""
        raise NotImplementedError

    def render(self):
        below = super().render()
        return TintedBelow(below.screen, below.color) if isinstance(below, BackgroundScreen) else below


class TintedBelow(Visual):
    """The screen below a dialog, tinted: what Textual's ``BackgroundScreen`` draws, segment for
    segment. Textual renders the screen below to segments, tints each segment's colours anew and
    splits the segments into lines again (5.5 ms of each frame of a dialog over a large run); this
    takes the lines of the screen below as they are and tints each style once (3.2 ms)."""

    def __init__(self, screen: Screen, color: Color) -> None:
        self.screen, self.color = screen, color

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.screen._compositor.size.height

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        tinted = tinted_styles(self.color, style.rich_style)
        strips = self.screen._compositor.render_strips()[:height]
        return [Strip([Segment(text, tinted(segment_style), None) for text, segment_style, _ in strip],
                      strip.cell_length).crop(0, width) for strip in strips]


_TINTS: dict[tuple[Color, RichStyle], dict[RichStyle | None, RichStyle]] = {}


def tinted_styles(color: Color, base: RichStyle):
    """The style a segment of the screen below has under a dialog: its colours tinted with ``color``,
    without links or meta, on the dialog's own ``base`` style (as ``BackgroundScreen`` and the
    screen's ``post_render`` make it)."""
    known = _TINTS.get((color, base))
    if known is None or len(known) > 4096:
        known = _TINTS[color, base] = {}

    def tinted(style: RichStyle | None) -> RichStyle:
        result = known.get(style)
        if result is None:
            (segment,) = BackgroundScreen.process_segments([Segment("", style)], color)
            result = known[style] = base + segment.style if base else segment.style
        return result

    return tinted


def widgets_of(screen: Screen):
    """Every widget of ``screen``, with the scrollbars Textual keeps outside the DOM."""
    for widget in screen.walk_children(Widget):
        yield widget
        yield from widget._get_virtual_dom()


def tell_screen_now(screen: Screen) -> None:
    """What the widgets of ``screen`` have to draw or lay out again is told to the screen now (as
    each widget would when it next idles), so that the frame about to be drawn draws it."""
    for widget in widgets_of(screen):
        widget._check_refresh()


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



class KeptFrameCompositor(Compositor):
    """The main screen's compositor, keeping the last whole frame it drew while nothing of it
    changed. A dialog draws the screen below it in full as it opens (tinted behind it), and
    Textual draws that screen in full again as it closes: a few milliseconds each on a large
    run, for lines already drawn. The frame kept is drawn again only while no layout, scroll
    or resize happened, no part of the screen was drawn since (a partial update), and no widget
    on screen has lines to render again (each widget's styles cache says so, as it does to
    Textual): a widget changed, restyled or focused is drawn anew, with the rest of the frame."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: tuple[Size, list[Strip]] | None = None

    def reflow(self, parent, size):
        self._kept = None
        return super().reflow(parent, size)

    def reflow_visible(self, parent, size):
        self._kept = None
        return super().reflow_visible(parent, size)

    def render_partial_update(self):
        self._kept = None
        return super().render_partial_update()

    def _unchanged(self) -> bool:
        """Whether the frame kept is the one the widgets on screen would draw now: none of them has
        a line on screen to render again (the screen's own background, drawn again as it resumes,
        changes only with its style, which restyles the widgets too)."""
        if self._kept is None or self._kept[0] != self.size:
            return False
        for widget, (region, clip) in self.visible_widgets.items():
            if widget is self.root or widget.BLANK:
                continue
            shown = region.intersection(clip)
            lines = range(shown.y - region.y, shown.bottom - region.y)
            cache = widget._styles_cache
            if any(y in lines for y in cache._dirty_lines) or not all(y in cache._cache for y in lines):
                return False
        return True

    def render_strips(self, size: Size | None = None) -> list[Strip]:
        if size is not None and size != self.size:
            return super().render_strips(size)
        if not self._unchanged():
            self._kept = (self.size, super().render_strips())
        return list(self._kept[1])

    def render_full_update(self, simplify: bool = False) -> LayoutUpdate:
        if simplify:  # exports (screenshots) as Textual makes them
            return super().render_full_update(simplify)
        self._dirty_regions.clear()
        return LayoutUpdate([[strip] for strip in self.render_strips()], self.size.region)
