"""Compare runs (C): the chosen runs (or a project's) in one chart, smoothing, zoom, pan, a cursor
readout; the best across them, the core's answer, pinned or forked from there."""

from __future__ import annotations

import os
import shutil

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.screens.compare import CompareRuns, Curve, in_span, run_labels, value_at
from ckpt_tui.app.screens.fork import ForkScreen
from ckpt_tui.app.widgets import RunTree
from ckpt_tui.core.models import Run
from ckpt_tui.core.retention import best_across
from ckpt_tui.stores import open_store


def checkpoints(base, run: str):
    return base / "email-agent" / "models" / run / "checkpoints"


def legend(dialog: CompareRuns) -> str:
    """The legend and the best across the runs, under the chart."""
    return " ".join(str(dialog.query_one(f"#compare-{part}").render()) for part in ("legend", "best"))


def core_best(base, keys: list[tuple[str, str]]) -> tuple[Run, int, float]:
    store = open_store(str(base))
    found = best_across([store.load_run(*key, with_metrics=True) for key in keys], "val/reward")
    assert len(found) == 1
    return found[0]


async def open_compare(pilot, *keys: str) -> CompareRuns:
    await pilot.press(*keys)
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, CompareRuns)
    return dialog


async def test_compare_draws_every_run_of_the_project_that_logs_the_metric(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dialog = await open_compare(pilot, "C")
        assert [c.run for c in dialog.curves] == ["agent-001", "agent-002"]  # agent-003-noval logs none
        assert "not logged by agent-003-noval" in str(dialog.query_one("#compare-title").render())
        assert "across email-agent" in str(dialog.query_one("#compare").border_title)
        assert "agent-001" in legend(dialog) and "agent-002" in legend(dialog) and "no smoothing" in legend(dialog)
        run, step, value = core_best(demo_base, [("email-agent", "agent-001"), ("email-agent", "agent-002")])
        assert f"{run.name} step {step}" in legend(dialog) and [b.step for b in dialog.bests] == [step]
        await pilot.press("right_square_bracket")
        assert dialog.smoothing == 0.5 and "smoothing α=0.5" in legend(dialog)
        full = dialog.span
        await pilot.press("plus")
        assert dialog.span[1] - dialog.span[0] < full[1] - full[0]
        zoomed = dialog.span
        await pilot.press("left")
        assert dialog.span[0] < zoomed[0] and dialog.span[1] - dialog.span[0] == zoomed[1] - zoomed[0]
        before = dialog.cursor
        await pilot.press("comma")
        readout = str(dialog.query_one("#compare-readout").render())
        assert readout.startswith(f"step {dialog.cursor}: agent-001 ")
        assert dialog.cursor < before and dialog.plot.marker == (dialog.cursor, "orange")  # its line moved too
        await pilot.press("escape")
        assert app.screen is main(app)


async def test_runs_selected_in_the_run_list_are_compared_across_projects(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        tree = main(app).query_one(RunTree)
        assert tree.cursor_node.data == ("email-agent", "agent-001")
        await pilot.press("space", "down", "down", "down", "down")  # agent-001, then down to sum-r32
        await settle(pilot)
        assert tree.cursor_node.data == ("summarizer", "sum-r32")
        await pilot.press("space")
        assert tree.selected == {("email-agent", "agent-001"), ("summarizer", "sum-r32")}
        assert "● agent-001" in str(tree.get_node_at_line(1).label)
        dialog = await open_compare(pilot, "C")
        assert dialog.keys == [("email-agent", "agent-001"), ("summarizer", "sum-r32")]
        assert [c.run for c in dialog.curves] == ["email-agent/agent-001", "summarizer/sum-r32"]
        assert "across 2 selected runs" in str(dialog.query_one("#compare").border_title)
        run, step, _ = core_best(demo_base, dialog.keys)
        assert (run.name, step) == ("sum-r32", 52) and "summarizer/sum-r32 step 52" in legend(dialog)
        await pilot.press("escape", "escape")  # the dialog, then the selection
        assert not tree.selected and "●" not in str(tree.get_node_at_line(1).label)


async def test_c_on_a_project_row_compares_that_project(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        tree = main(app).query_one(RunTree)
        await pilot.press(*["down"] * 5)  # the tau-bench project's row
        await settle(pilot)
        assert tree.cursor_node.data == "tau-bench"
        dialog = await open_compare(pilot, "C")
        assert [c.run for c in dialog.curves] == ["qwen-7b-legacy", "qwen-7b-lora"]


async def test_the_best_across_runs_is_a_step_that_exists(demo_base):
    shutil.rmtree(checkpoints(demo_base, "agent-001") / "0290")
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dialog = await open_compare(pilot, "C")
        logged = dict(dialog.curves[0].series)
        assert max(logged.values()) == logged[290]  # still in the history, but deleted from the disk
        assert [(b.label, b.step) for b in dialog.bests] != [("agent-001", 290)]
        run, step, _ = core_best(demo_base, [("email-agent", "agent-001"), ("email-agent", "agent-002")])
        assert [(b.label, b.step) for b in dialog.bests] == [(run.name, step)]


async def test_the_best_is_pinned_and_forked_from_the_compare_chart(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dialog = await open_compare(pilot, "C")
        best = dialog.bests[0]
        screen = main(app)
        assert best.step not in screen.pins_of(best.key)
        await pilot.press("p")
        assert best.step in screen.pins_of(best.key) and "(pinned)" in legend(dialog)
        assert screen.policy_for(screen.runs[best.key]).pins >= {best.step}  # the planner keeps it
        await pilot.press("p")
        assert best.step not in screen.pins_of(best.key) and "(pinned)" not in legend(dialog)
        await pilot.press("f")
        fork = app.screen
        assert isinstance(fork, ForkScreen)
        assert (fork.project, fork.run, fork.checkpoint.step) == (*best.key, best.step)
        await pilot.press(*"best-fork", "enter")
        await settle(pilot)
        assert app.screen is dialog
        assert (checkpoints(demo_base, "best-fork") / f"{best.step:04d}").is_dir()


async def test_pin_and_fork_are_disabled_until_there_is_a_best(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")  # agent-003-noval logs no val/reward
        await settle(pilot)
        screen = main(app)
        assert screen.current == ("email-agent", "agent-003-noval")
        tree = screen.query_one(RunTree)
        await pilot.press("space")
        assert tree.selected == {("email-agent", "agent-003-noval")}
        dialog = CompareRuns([("email-agent", "agent-003-noval")], screen.policy_for(screen.runs[("email-agent", "agent-001")]),
                             screen, screen.runs)
        await app.push_screen(dialog)
        await settle(pilot)
        assert not dialog.bests and dialog.span is None
        for action in ("pin_best", "fork_best", "zoom", "pan", "cursor"):
            assert dialog.check_action(action, ()) is None, action
        await pilot.press("p", "f", "plus", "left")
        assert app.screen is dialog and not screen.pins


def test_values_under_the_cursor_are_the_last_logged():
    series = [(0, 0.1), (10, 0.5), (20, 0.4)]
    assert in_span(series, 10, 20, 10) == series[1:]  # few points: all of them
    assert value_at(series, 15) == 0.5 and value_at(series, 20) == 0.4 and value_at([(5, 1.0)], 2) is None
    assert value_at(series, 21) is None  # past the run's last step: no value, not its last one
    assert Curve("a", series).key is None
    assert run_labels([("p", "a"), ("p", "b")]) == {("p", "a"): "a", ("p", "b"): "b"}
    assert run_labels([("p", "a"), ("q", "a")]) == {("p", "a"): "p/a", ("q", "a"): "q/a"}


def test_the_readout_past_a_runs_last_step_shows_no_value_for_it():
    from types import SimpleNamespace

    shown = SimpleNamespace(curves=[Curve("long", [(0, 0.1), (30, 0.7)]), Curve("short", [(0, 0.2), (10, 0.3)])],
                            cursor=20)
    assert CompareRuns.readout(shown) == "step 20: long 0.1 · short -"
    shown.cursor = 10
    assert CompareRuns.readout(shown) == "step 10: long 0.1 · short 0.3"


def test_every_run_colour_is_distinct_drawn_as_its_legend_says_and_none_is_the_raw_curves_gray():
    from plotext._utility import get_color_code
    from textual.color import Color

    from ckpt_tui.app.screens.compare import COLOURS

    drawn = [colour if isinstance(colour, tuple) else get_color_code(colour) for colour, _ in COLOURS]
    assert len(set(drawn)) == len(COLOURS) and get_color_code("gray") not in drawn
    legend = [Color.parse(name) for _, name in COLOURS]
    assert len(set(legend)) == len(COLOURS) and Color.parse("gray") not in legend
    for (colour, _), parsed in zip(COLOURS, legend):
        if isinstance(colour, tuple):
            assert colour == parsed.rgb


def test_a_curve_is_cut_to_a_low_and_a_high_point_a_column_and_its_peaks_survive():
    series = [(s, 0.0) for s in range(1000)]
    series[333] = (333, 5.0)
    series[777] = (777, -5.0)
    shown = in_span(series, 100, 900, 40)
    assert len(shown) <= 80 and shown == sorted(shown)
    assert (333, 5.0) in shown and (777, -5.0) in shown
    assert all(100 <= s <= 900 for s, _ in shown) and shown[0][0] == 100


def test_the_chart_text_is_what_plotext_escapes_say():
    """The plot drawn from plotext's matrix renders the same segments as plotext's own escapes."""
    from rich.console import Console
    from rich.segment import Segment
    from rich.text import Text
    from textual_plotext.plot import Plot

    from ckpt_tui.app.widgets.plotext_chart import matrix_text

    plot = Plot()
    plot.plot(list(range(60)), [(i % 7) / 7 for i in range(60)], marker="braille", color="cyan")
    plot.plot(list(range(60)), [(i % 5) / 5 for i in range(60)], marker="dot", color="gray")
    plot.scatter([30], [0.5], marker="★", color="green")
    plot.vline(20, color="orange")
    plot.plotsize(70, 16)
    plot.theme("pro")
    console = Console(width=70, color_system="truecolor", file=open(os.devnull, "w"))
    escaped = list(Segment.simplify(console.render(Text.from_ansi(plot.build()))))
    assert list(Segment.simplify(console.render(matrix_text(plot.monitor.matrix)))) == escaped


async def test_compare_opened_again_on_runs_the_main_screen_holds_reads_nothing_again(art_base, monkeypatch):
    from ckpt_tui.app.screens import compare

    reads: list[list] = []
    read_compare = compare.read_compare
    monkeypatch.setattr(compare, "read_compare", lambda store, keys, *rest: reads.append(keys) or
                        read_compare(store, keys, *rest))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dialog = await open_compare(pilot, "C")
        shown = dialog.curves
        assert len(reads) == 1 and shown and set(dialog.known) == set(dialog.keys)  # every run held
        await pilot.press("escape", "C")
        await settle(pilot)
        assert app.screen is dialog and len(reads) == 1 and dialog.curves == shown  # what it read last time
        policy = dialog.policy
        await pilot.press("escape", "d", "C")  # another direction: read again
        await settle(pilot)
        assert len(reads) == 2 and dialog.policy != policy and app.screen is dialog
        await pilot.press("escape", "r", "C")  # the run read again: a new run, read again
        await settle(pilot)
        assert len(reads) == 3 and app.screen is dialog


async def test_compare_opened_again_after_a_live_refresh_added_a_step_shows_it_and_its_best(art_base):
    run_dir = art_base / "demo" / "models" / "agent-001"
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        dialog = await open_compare(pilot, "C")
        assert 12 not in [b.step for b in dialog.bests]
        await pilot.press("escape")
        shutil.copytree(run_dir / "checkpoints" / "0011", run_dir / "checkpoints" / "0012")  # the trainer saved
        with open(run_dir / "history.jsonl", "a") as history:
            history.write('{"val/reward": 5.0, "step": 12}\n')
        screen.live_changed()  # what the live refresh does once the trainer wrote
        await settle(pilot)
        assert app.screen is screen and 12 in [c.step for c in screen.run.checkpoints]
        await pilot.press("C")
        await settle(pilot)
        assert app.screen is dialog
        assert [(b.step, b.value) for b in dialog.bests if b.key == ("demo", "agent-001")] == [(12, 5.0)]
        assert dialog.curves[0].series[-1] == (12, 5.0)
