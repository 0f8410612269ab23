"""A dialog opening leaves the screen below it as laid out, unless its size or content changed."""

from __future__ import annotations

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.screens.activity import ActivityScreen


def count_layouts(screen) -> list[object]:
    calls: list[object] = []
    layout = screen._refresh_layout

    def counted(*args, **kwargs):
        calls.append(args)
        return layout(*args, **kwargs)

    screen._refresh_layout = counted
    return calls


async def test_a_dialog_opened_at_the_same_size_does_not_lay_out_the_main_screen_again(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        layouts = count_layouts(screen)
        await pilot.press("L")
        assert isinstance(app.screen, ActivityScreen)
        await pilot.pause()
        assert layouts == []  # the same size, nothing pending: the layout it has stands
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert layouts and screen._compositor.size == (100, 30)  # a new size: laid out again below
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.table.size.width > 0
