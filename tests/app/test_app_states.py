"""What the app shows in each state: a trainer's directory, an empty or missing location,
loading, after a delete, and what stays readable at 80x24 and 120x36."""

from __future__ import annotations

import threading

from rich.console import Console

from app_helpers import RecordingApp, main, run_dir
from app_scenarios import settle
from textual.widgets import Footer

from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.widgets import DetailsPanel, MetricPlot, StatusLine
from ckpt_tui.core.retention import Policy
from ckpt_tui.core.store import Space
from ckpt_tui.stores.local import LocalStore


def status(app) -> str:
    return str(main(app).query_one(StatusLine).render())


# -- a trainer's directory -----------------------------------------------------
async def test_a_trainer_directory_opens_with_a_metric_each_run_logs(hf_fixture):
    app = RecordingApp(str(hf_fixture))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.current == ("hf-trainer", "full-model")
        assert screen.table.metric_names[0] == "eval_loss" and screen.table.best_step == 4
        line = status(app)
        assert "best eval_loss (auto→min)" in line and "picked eval_loss: val/reward not logged" in line
        assert "eval_loss" in str(screen.query_one("#plot-title").render())
        assert screen.summaries[("hf-trainer", "lora-adapter")].best == 10
        assert main(app).policy.metric == "val/reward"  # the rule itself is unchanged


async def test_a_metric_given_by_name_is_held_to(hf_fixture):
    app = RecordingApp(str(hf_fixture), policy=Policy(metric="val/reward"), auto_metric=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert main(app).table.best_step is None
        assert "val/reward not logged here (m)" in status(app)


# -- empty and missing locations ---------------------------------------------------
async def test_an_empty_directory_says_what_was_searched(tmp_path):
    app = RecordingApp(str(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        empty = screen.query_one("#empty")
        assert empty.display and not screen.table.display
        text = str(empty.render())
        assert "no runs found" in text and "art" in text and "ckpt-tui PATH" in text
        app.notes.clear()
        for key, action in (("v", "preview_run"), ("x", "delete"), ("m", "pick_metric")):
            assert screen.check_action(action, ()) is None, action  # greyed: nothing to act on
            await pilot.press(key)
            assert app.screen is screen and not app.notes and not screen.plans
        assert "opening" not in status(app)


async def test_a_missing_directory_shows_why_instead_of_a_blank_screen(tmp_path):
    app = RecordingApp(str(tmp_path / "nowhere"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.query_one("#empty").display
        assert "nowhere" in str(screen.query_one("#empty").render())
        assert "could not open" in status(app) and "opening" not in status(app)


# -- loading -------------------------------------------------------------------------
class GatedStore(LocalStore):
    """Reads wait for the test's go: what is on screen meanwhile can be checked."""

    def __init__(self, base, gate: threading.Event, gate_metrics_only: bool = False) -> None:
        super().__init__(base)
        self.gate = gate
        self.gate_metrics_only = gate_metrics_only

    def load_run(self, project, run, with_metrics=True, **options):
        if with_metrics or not self.gate_metrics_only:
            assert self.gate.wait(10)
        return super().load_run(project, run, with_metrics, **options)

    def read_metrics(self, project, run):
        assert self.gate.wait(10)
        return super().read_metrics(project, run)

    def run_size(self, project, run):
        if not self.gate_metrics_only:
            assert self.gate.wait(10)
        return super().run_size(project, run)


async def test_panes_that_wait_show_a_loading_indicator_and_counts_say_so(art_base):
    gate = threading.Event()
    app = RecordingApp(GatedStore(art_base, gate))
    async with app.run_test(size=(120, 36)) as pilot:
        while main(app).listing is None:
            await pilot.pause()
        screen = main(app)
        for _ in range(100):  # the indicator shows once the wait has lasted LOADING_DELAY
            if screen.table.loading:
                break
            await pilot.pause(0.05)
        assert screen.table.loading
        assert "reading runs 0/3" in status(app) and "checkpoints" not in status(app)
        gate.set()
        await settle(pilot)
        assert not screen.table.loading and "22 checkpoints" in status(app)


async def test_a_project_preview_shows_progress_while_it_reads(art_base):
    gate = threading.Event()
    gate.set()
    app = RecordingApp(GatedStore(art_base, gate))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        gate.clear()
        await pilot.press("V")
        await pilot.pause()
        assert main(app).table.loading and "previewing demo" in status(app)
        gate.set()
        await settle(pilot)
        assert not main(app).table.loading and "would delete 17 steps" in status(app)


# -- after a delete -----------------------------------------------------------------
class SlowRefresh(LocalStore):
    """Listing waits once deletions are done, as a slow location does."""

    def __init__(self, base) -> None:
        super().__init__(base)
        self.deleted = False
        self.gate = threading.Event()

    def delete_checkpoint(self, project, run, checkpoint):
        super().delete_checkpoint(project, run, checkpoint)
        self.deleted = True

    def list_projects(self):
        if self.deleted:
            assert self.gate.wait(10)
        return super().list_projects()


async def test_deleted_rows_and_totals_go_as_soon_as_the_dialog_closes(art_base):
    store = SlowRefresh(art_base)
    app = RecordingApp(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        await pilot.press("tab", "enter")
        while isinstance(app.screen, ConfirmDelete):
            await pilot.pause()
        await pilot.pause()
        screen = main(app)
        assert [c.step for c in screen.table.rows] == [10, 11]  # before the location is read again
        assert screen.table._deleted == set() and "would delete" not in status(app)
        assert "12 checkpoints" in status(app)
        store.gate.set()
        await settle(pilot)
        assert [c.step for c in screen.table.rows] == [10, 11]


# -- what stays on screen -------------------------------------------------------------
async def test_help_and_quit_always_show_in_the_footer(art_base):
    for size in ((80, 24), (120, 36)):
        app = RecordingApp(str(art_base))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            keys = {item.key: item for item in main(app).query_one(Footer).query("FooterKey")}
            for key in ("question_mark", "q", "x", "f"):
                region = keys[key].region
                assert region.width and region.right <= size[0], (size, key)


async def test_the_top_line_never_wraps_and_keeps_the_preview_figures(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest,last:3,every:5,top:2"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = main(app).query_one(StatusLine)
        assert line.region.height == 1
        await pilot.press("V")
        await settle(pilot)
        assert line.region.height == 1 and main(app).table.region.y == 1
        assert "would delete 8 steps, free" in status(app) and status(app).rstrip().endswith("kB")


async def test_no_toast_covers_the_confirmation(art_base):
    app = RecordingApp(str(art_base), policy=Policy(metric="val/nope"), auto_metric=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        main(app).change_policy(metric="val/reward")
        app.notify("a long warning that would sit over the buttons", timeout=15)
        await pilot.press("v", "x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDelete) and not list(app._notifications)
        await pilot.press("escape")


async def test_metric_columns_never_show_cut_numbers(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = main(app).table
        table.focus()
        run = table.run
        values = [v for name in run.metrics.names() for _, v in run.metrics.series(name)]
        checked = 0
        for _ in range(12):
            for y in range(1, 6):
                text = "".join(segment.text for segment in table.render_line(y))
                words = text.split()
                for word, after in zip(words, words[1:] + [""]):
                    # Every number shown is whole: it reads back as one of the run's values (sizes aside).
                    if (word[0].isdigit() and "." in word and "-" not in word and not word.endswith("…")
                            and not after.endswith("B")):
                        digits = len(word.split(".")[1].split("e")[0])
                        close = 0.5 * 10 ** -digits * (10 ** int(word.split("e")[1]) if "e" in word else 1)
                        assert any(abs(v - float(word)) <= close * 1.0001 for v in values), word
                        checked += 1
            await pilot.press("right")
        assert checked > 20  # the check saw numbers
        header = "".join(segment.text for segment in table.render_line(0))
        assert "…" in header or "train/reward" in header


async def test_the_details_pane_takes_focus_and_scrolls_to_every_metric(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        details = main(app).query_one(DetailsPanel)
        main(app).table.focus()
        await pilot.press("tab")
        assert app.focused is details
        await pilot.press("end")
        await pilot.pause()
        assert details.scroll_y == details.max_scroll_y > 0


async def test_long_metric_names_are_cut_not_their_values(art_base):
    history = run_dir(art_base, "agent-001").parent / "history.jsonl"
    with open(history, "a") as handle:
        handle.write('{"step": 11, "val/a_very_long_metric_name_that_goes_on": 0.123456}\n')
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        details = main(app).query_one(DetailsPanel)
        console = Console(width=details.content_size.width, record=True)
        console.print(details.query_one("#details-body").content)
        row = next(line for line in console.export_text().splitlines() if "val/a_very" in line)
        assert "0.1235" in row and "…" in row


async def test_the_chart_marks_the_best_and_the_highlighted_step(art_base):
    app = RecordingApp(str(art_base), policy=Policy(smoothing=0.5))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        plot = main(app).query_one(MetricPlot)
        assert plot.plot is not None and plot.chart.highlighted == 11
        drawn = plot.plot.render().plain
        assert "★" in drawn and "10" in drawn
        assert plot.chart.smoothing == 0.5
        main(app).table.focus()
        await pilot.press("up")
        assert plot.chart.highlighted == 10 and plot.chart.best_step == main(app).table.best_step


async def test_the_chart_keeps_its_range_when_the_step_is_past_the_logged_ones(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        plot = main(app).query_one(MetricPlot)
        chart = plot.chart
        last = chart.series[-1][0]

        def axis_and_title(highlighted: int) -> tuple[str, str]:
            plot.show(chart.metric, chart.series, chart.direction, chart.best_step, chart.best_value, highlighted)
            lines = [line for line in plot.plot.render().plain.splitlines() if line.strip()]
            return lines[-1], str(plot.query_one("#plot-title").render())

        inside = axis_and_title(last)
        assert str(last) in inside[0] and f"–{last}" in inside[1]
        assert axis_and_title(last + 1000) == inside


async def test_the_footer_leaves_out_keys_that_do_not_fit_whole(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.pause()
        keys = list(app.screen.query("FooterKey"))
        shown = [k for k in keys if k.display]
        assert shown and len(shown) < len(keys)  # at 80 columns some keys give way
        assert all(k.region.right <= 80 for k in shown)
        await pilot.resize_terminal(160, 36)
        await settle(pilot)
        await pilot.pause()
        assert all(k.display for k in app.screen.query("FooterKey"))


class FreeSpaceApp(RecordingApp):
    """The free space the store reports fixed, and where it was read from."""

    def __init__(self, *args, free: Space, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.free, self.free_read_in = free, []

    def free_space(self) -> Space:
        self.free_read_in.append(threading.current_thread() is threading.main_thread())
        return self.free


async def test_the_top_line_shows_the_filesystems_free_space_read_in_a_worker(art_base):
    app = FreeSpaceApp(str(art_base), free=Space(123_400_000_000, 10**12))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "123.4 GB free" in status(app)
        assert app.free_read_in and not any(app.free_read_in)  # never on the event loop
    app = FreeSpaceApp(str(art_base), free=Space(None, note="bucket: no size limit"))  # what S3 says instead
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "bucket: no size limit" in status(app) and " free" not in status(app)
    app = FreeSpaceApp(str(art_base), free=Space(None))  # a store that says nothing: nothing shown
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert " free" not in status(app) and "limit" not in status(app)


async def test_the_command_palette_finds_actions_by_name_and_lists_quit_once(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        from ckpt_tui.app.commands import CkptCommands

        provider = CkptCommands(main(app))
        commands = list(provider._commands())
        names = [name for name, _, _ in commands]
        assert any(name.startswith("Fork") for name in names)
        assert not any("Quit" in name for name in names)  # the system commands have it
        helps = dict((name, keys) for name, keys, _ in commands)
        assert helps[next(n for n in names if n.startswith("Filter"))] == "key /"
        assert helps[next(n for n in names if n.startswith("Delete"))] == "key x Del"
        await pilot.press("ctrl+p", *"fork")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        from ckpt_tui.app.screens.fork import ForkScreen

        assert isinstance(app.screen, ForkScreen)


async def test_help_is_built_from_bindings_and_has_the_legend(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        console = Console(width=100, record=True)
        console.print(app.screen.query_one("Static").content)
        text = console.export_text()
        for fragment in ("Fork", "order the projects and their runs", "mark or unmark", "fold or unfold", "Legend", "DEL",
                         "★", "first run"):
            assert fragment in text, fragment


async def test_the_chart_title_and_best_line_keep_the_range_and_the_step_at_120_columns(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        plot = main(app).query_one(MetricPlot)
        plot.show("val/reward", [(0, 0.1), (19990, 0.9)], "auto→max", 19280, 0.9265, 12000)
        await pilot.pause()
        width = plot.size.width
        title, best = (str(plot.query_one(f"#plot-{part}").render()) for part in ("title", "best"))
        assert "0–19990" in title and len(title) <= width
        assert "19280" in best and "12000" in best and len(best) <= width
        await pilot.resize_terminal(200, 36)
        await settle(pilot)
        assert "over steps 0–19990" in str(plot.query_one("#plot-title").render())  # room: every word


def test_a_project_whose_runs_are_still_being_read_shows_no_size_yet():
    from ckpt_tui.app.widgets.run_tree import RunSummary, project_label

    assert "0 Bytes" not in project_label("bench", [None], 1, 40).plain
    assert project_label("bench", [None], 1, 40).plain.endswith("1 run · …")
    assert "2.0 kB…" in project_label("bench", [RunSummary(1, 2000, 1, None), None], 2, 40).plain
