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
