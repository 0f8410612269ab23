"""The step search's Enter and n / N: what they cost on a large run is not a pass over every row."""

from __future__ import annotations

from app_helpers import RecordingApp, main
from app_scenarios import settle


class CountedRows(list):
    """The table's rows, counting the passes made over them."""

    passes = 0

    def __iter__(self):
        CountedRows.passes += 1
        return super().__iter__()


async def test_enter_and_n_find_the_matching_rows_without_a_pass_over_the_rows(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        table.focus()
        await pilot.press("slash", *"0.5")  # what a search looks at is read while the text is typed
        await settle(pilot)
        table.rows = CountedRows(table.rows)
        CountedRows.passes = 0
        await pilot.press("enter", "n", "n", "N")
        await settle(pilot)
        assert table.search == "0.5" and table.matches(table.highlighted)
        assert CountedRows.passes == 0


async def test_enter_moving_to_a_step_of_longer_details_lays_the_screen_out_once(tmp_path):
    """The details of the step found take more lines: one layout gives them their height (a
    second one, for the new virtual sizes it set, would draw another frame)."""
    from test_app_dialog_layout import count_layouts

    from ckpt_tui.demo import DemoRun, build_demo

    base = build_demo(tmp_path / "demo", runs=(DemoRun("demo", "run", 29, 1, val_every=10),))
    app = RecordingApp(str(base))
    shown_location = app.display_location
    # As a run past step 9999 (a longer path): step 20's location wraps onto more lines.
    app.display_location = lambda path: shown_location(path) + ("/longer" * 8 if path.endswith("0020") else "")
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        screen = main(app)
        screen.table.focus()
        await pilot.press("enter")  # from the run list to the steps
        await settle(pilot)
        screen.table.focus()
        await pilot.press("end")  # step 29: no validation metric logged at it
        await settle(pilot)
        body = screen.query_one("#details-body")
        lines_before = body.size.height
        await pilot.press("slash", *"20")  # step 20 has one
        await settle(pilot)
        layouts = count_layouts(screen)
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(3):
            await pilot.pause()
        assert screen.table.highlighted.step == 20 and body.size.height > lines_before
        assert len(layouts) == 1
