"""Many steps at once: jump to a step, search the table, mark ranges, all, the inverse, by condition."""

from __future__ import annotations

import threading
import time

from app_helpers import RecordingApp, go_to_step, main, toasts
from app_scenarios import settle

from ckpt_tui.app.screens.prompt import Prompt
from ckpt_tui.app.screens.rules import RuleChooser
from ckpt_tui.core.conditions import never_marked
from ckpt_tui.core.retention import Policy


async def test_colon_and_J_go_to_the_nearest_step(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        await pilot.press("colon")
        assert isinstance(app.screen, Prompt)
        await pilot.press(*"4", "enter")
        assert table.highlighted.step == 4 and app.focused is table
        await pilot.press("J", *"99", "enter")  # no step 99: the nearest is the latest, 11
        assert table.highlighted.step == 11 and app.said("nearest is 11")
        await pilot.press("J", *"x7", "enter")  # only digits can be typed
        assert table.highlighted.step == 7


async def test_slash_in_the_steps_searches_steps_and_metric_values_and_n_wraps(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        run = main(app).run
        table.focus()
        await pilot.press("slash", *"0.5", "enter")
        shown = {c.key[len("metric:"):] for c in table.columns if c.key.startswith("metric:")}
        expected = sorted({step for name in shown for step, value in run.metrics.series(name)
                           if "0.5" in __import__("ckpt_tui.formatting", fromlist=["x"]).fit_number(
                               value, next(c.width for c in table.columns if c.key == f"metric:{name}"))})
        assert expected and 6 in expected  # val/reward 0.593 at step 6
        seen = [table.highlighted.step]
        for _ in range(len(expected)):
            await pilot.press("n")
            seen.append(table.highlighted.step)
        assert sorted(set(seen)) == expected and seen[-1] == seen[0]  # once round, back where it began
        await pilot.press("N")
        assert table.highlighted.step == seen[-2]
        await pilot.press("escape")
        assert table.search == "" and app.said("search cleared")


async def test_a_step_number_search_and_n_in_a_preview_wraps_round(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest,every:4"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        table.focus()
        await pilot.press("slash", *"11", "enter")
        assert table.highlighted.step == 11 and app.said("match '11'")
        await pilot.press("escape", "v")
        table.focus()
        await pilot.press("end", "n")  # from kept 11 past the end: kept 0, then deleted 1
        assert table.highlighted.step == 1
        await pilot.press("N")
        assert table.highlighted.step == 0


async def test_shift_arrows_mark_a_range_and_skip_what_must_stay(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 11)
        await pilot.press(*["shift+up"] * 5)
        key = main(app).current
        assert main(app).marks[key] == frozenset({7, 8, 9})  # 11 latest, 10 best: never marked
        assert app.said("step 11 stays") and app.said("step 10 stays")
        await settle(pilot)
        assert [str(t.render()).splitlines()[-1] for t in toasts(app)] == ["step 10 stays: best val/reward"]
        await pilot.press("v")
        assert {7, 8, 9} <= main(app).plans[key].delete_steps


async def test_mark_all_and_invert_skip_exactly_what_the_planner_keeps(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest,last:3"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        key = screen.current
        await go_to_step(pilot, 2)
        await pilot.press("p")  # a pin stays too
        await pilot.press("a")
        never = never_marked(screen.run, screen.policy_for(screen.run))
        assert set(never) == {2, 10, 11}  # asked of the planner, which keeps them whatever is marked
        assert screen.marks[key] == frozenset(range(12)) - {2, 10, 11}
        assert app.said("3 skipped") and app.said("pinned (2)")
        await pilot.press("i")
        assert screen.marks[key] == frozenset()
        await pilot.press("i")
        assert screen.marks[key] == frozenset(range(12)) - {2, 10, 11}
        await pilot.press("v")
        assert screen.plans[key].delete_steps == set(range(12)) - {2, 10, 11}


async def test_mark_by_condition_previews_and_says_what_it_skips(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        await pilot.press("M", *"val/reward < 0.5")
        hint = str(app.screen.query_one("#prompt-hint").render())
        assert hint == "marks 3 of 12 steps"  # 0, 2, 4 logged below 0.5
        await pilot.press("enter")
        assert screen.marks[screen.current] == frozenset({0, 2, 4})
        await pilot.press("M", *"step >= 9 and size > 1k")
        assert str(app.screen.query_one("#prompt-hint").render()) == (
            "marks 1 of 12 steps; 2 skipped: best val/reward (10); latest (11)")
        await pilot.press("enter")
        assert screen.marks[screen.current] == frozenset({0, 2, 4, 9})
        await pilot.press("M", *"loss < 1")
        assert app.screen.query_one("#prompt-hint").has_class("error")
        await pilot.press("enter")
        assert isinstance(app.screen, Prompt)  # refused: it names the metrics logged here
        await pilot.press("ctrl+u", *"newer than 1d", "enter")
        assert len(screen.marks[screen.current]) == 10  # copied just now: every step but best and latest
        await pilot.press("v")
        assert screen.plans[screen.current].delete_steps == set(range(10))


async def test_W_opens_the_full_state_rule_and_the_palette_finds_slimming(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("W")
        await pilot.pause()
        assert isinstance(app.screen, RuleChooser) and app.focused.id == "full-text"
        await pilot.press("escape")
        from ckpt_tui.app.commands import CkptCommands

        provider = CkptCommands(main(app))
        for word in ("slim", "weights", "optimizer"):
            hits = [str(hit.text) async for hit in provider.search(word)]
            assert any("full state" in hit for hit in hits), (word, hits)


async def test_the_steps_that_stay_are_worked_out_ahead_so_the_first_i_makes_no_plan(art_base, monkeypatch):
    from ckpt_tui.app.screens import step_tools

    on_the_loop: list[tuple] = []
    original = step_tools.never_marked

    def counted(run, policy):
        if threading.current_thread() is threading.main_thread():
            on_the_loop.append((run.name, policy.pins))
        return original(run, policy)

    monkeypatch.setattr(step_tools, "never_marked", counted)
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest,last:3"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        key = screen.current
        await pilot.press("i")  # the first of the session
        assert on_the_loop == []
        assert screen.marks[key] == frozenset(range(12)) - {10, 11}  # what the planner keeps, as before
        await go_to_step(pilot, 2)
        await pilot.press("p")  # a pin changes the answer: worked out again, on the key
        await pilot.press("i", "i")
        assert len(on_the_loop) == 1
        assert screen.marks[key] == frozenset(range(12)) - {2, 10, 11}


async def test_steps_that_stay_worked_out_for_a_run_no_longer_shown_are_not_kept(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        run = screen.run
        key = screen._never_key(run)
        assert screen.memo.holds(run, key)  # worked out once the run was read
        other = run._replace(checkpoints=run.checkpoints[:3])  # the run read again meanwhile
        screen._never_worked_out(other, key, {})
        assert not screen.memo.holds(other, key)
        assert screen._never(run) == never_marked(run, key[1])


async def test_typing_a_condition_reads_its_metric_once_for_the_run(art_base, monkeypatch):
    from ckpt_tui.core.metrics import Metrics

    series_read: list[str] = []
    series = Metrics.series
    monkeypatch.setattr(Metrics, "series", lambda self, name: series_read.append(name) or series(self, name))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        series_read.clear()
        await pilot.press("M", *"val/reward < 0.5")  # a condition that holds from "val/reward < 0" on
        await pilot.pause()
        assert str(app.screen.query_one("#prompt-hint").render()) == "marks 3 of 12 steps"
        assert series_read == ["val/reward"]  # read once for the run, not at each key that gave a condition
        await pilot.press(*" and step > 1")
        await pilot.pause()
        assert str(app.screen.query_one("#prompt-hint").render()) == "marks 2 of 12 steps"
        assert series_read == ["val/reward"]
        await pilot.press("enter")
        assert screen.marks[screen.current] == frozenset({2, 4})


def test_a_condition_counts_a_step_that_stays_whichever_of_its_checkpoints_it_picks():
    """Two checkpoints may share a step: the hint says a step picked through either stays, and
    counts steps (what a mark is), not checkpoints."""
    from ckpt_tui.app.memo import Memo
    from ckpt_tui.app.screens.step_tools import StepTools
    from ckpt_tui.core.models import Checkpoint, Run

    class Tools(StepTools):
        memo = Memo()

        def metric_names(self, run):
            return run.metrics.names()

        def _never(self, run):
            return {2: "latest"}

    run = Run("p", "r", [Checkpoint(1, 10, 0.0, "a"), Checkpoint(2, 5 * 10**9, 0.0, "x"),
                         Checkpoint(2, 1, 0.0, "y")])
    tools = Tools()
    assert tools.condition_check(run, "size > 1k") == "marks 0 of 2 steps; 1 skipped: latest (2)"
    assert tools.condition_check(run, "size < 1k") == "marks 1 of 2 steps; 1 skipped: latest (2)"
    assert tools.condition_check(run, "step >= 1") == "marks 1 of 2 steps; 1 skipped: latest (2)"
