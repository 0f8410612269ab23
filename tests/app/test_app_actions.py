"""Every action of the app, driven from the keyboard, checked on the app and on disk."""

from __future__ import annotations

import json
import shutil
import stat
from types import SimpleNamespace

from app_helpers import RecordingApp, confirm_delete, digest, footer_keys, go_to_step, main, run_dir, steps_on_disk
from app_scenarios import FailingDeletes, settle
from unprivileged import bypass_dropped, run_python
from textual.widgets import Button, Input

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.screens.error import ErrorScreen
from ckpt_tui.app.screens.fork import ForkScreen
from ckpt_tui.app.screens.help import HelpScreen
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.app.screens.metric_picker import MetricPicker
from ckpt_tui.app.screens.rules import RuleChooser
from ckpt_tui.app.widgets import RunTree, StatusLine
from ckpt_tui.core.policy import Policies
from ckpt_tui.core.retention import Policy
from ckpt_tui.stores.local import LocalStore


# -- browsing ------------------------------------------------------------------
async def test_first_paint_lists_runs_and_opens_the_first(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.query_one(RunTree).run_keys == [("demo", "agent-001"), ("demo", "agent-002"),
                                                        ("demo", "agent-legacy")]
        table = screen.table
        assert [c.step for c in table.rows] == list(range(12))
        assert table.best_step == 10 and table.highlighted.step == 11  # opens on the latest step
        assert "val/reward" in table.metric_names and "train/reward" in table.metric_names
        status = str(screen.query_one(StatusLine).render())
        assert "keep best val/reward (auto→max) + latest" in status
        assert "22 checkpoints" in status
        assert set(screen.summaries) == {("demo", r) for r in ("agent-001", "agent-002", "agent-legacy")}
        assert screen.summaries[("demo", "agent-002")].best == 3


async def test_moving_in_the_tree_opens_runs_and_vi_keys_move(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert main(app).current == ("demo", "agent-002")
        assert [c.step for c in main(app).table.rows] == list(range(6))
        await pilot.press("j")
        await settle(pilot)
        assert main(app).run.layout == "art-legacy"
        await pilot.press("k", "enter")
        await settle(pilot)
        table = main(app).table
        assert app.focused is table and main(app).current == ("demo", "agent-002")
        await pilot.press("k", "k", "G")
        assert table.highlighted.step == 5
        await pilot.press("g", "j")
        assert table.highlighted.step == 1


async def test_filter_runs_by_name(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"legacy")
        tree = main(app).query_one(RunTree)
        assert tree.run_keys == [("demo", "agent-legacy")]
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is tree and main(app).current == ("demo", "agent-legacy")
        await pilot.press("slash", *"zzz")
        assert tree.run_keys == []
        main(app).query_one("#filter", Input).value = ""
        await pilot.pause()
        assert len(tree.run_keys) == 3


async def test_sort_by_any_column_and_reverse(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        table.focus()
        await pilot.press("s")
        assert table.sort_key == "size"
        sizes = [c.bytes for c in table.rows]
        assert sizes == sorted(sizes)
        await pilot.press("S")
        assert [c.bytes for c in table.rows] == sorted(sizes, reverse=True)
        while table.sort_key != "metric:val/reward":
            await pilot.press("s")
        values = [table.run.metrics.value(c.step, "val/reward") for c in table.rows]
        present = [v for v in values if v is not None]
        assert present == sorted(present) and values[len(present):] == [None] * (len(values) - len(present))
        await pilot.press("S")
        assert table.rows[0].step == 10  # the best val/reward, first when reversed
        assert table.highlighted.step == 11  # the cursor stayed on its step


async def test_metric_picker_and_direction(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        assert isinstance(app.screen, MetricPicker)
        await pilot.press("home", "down", "down", "down", "enter")  # auto, none, time/wall_clock_sec, train/loss
        await settle(pilot)
        assert main(app).policy.metric == "train/loss" and main(app).policy.direction == "min"
        assert main(app).session.metric == "train/loss"  # chosen by hand: held to in every run
        table = main(app).table
        assert table.best_step == 10 and "train/loss" in table.metric_names
        await pilot.press("d")
        assert (main(app).policy.mode, main(app).policy.direction) == ("max", "max")
        assert table.best_step == 0  # maximising a loss picks the first step, as ART does
        await pilot.press("d", "d")
        assert main(app).policy.mode == "auto"
        await pilot.press("m", "escape")
        assert main(app).policy.metric == "train/loss"
        await pilot.press("m", "d", "d")  # d in the picker cycles the direction there
        assert "auto→min" not in str(app.screen.query_one("#metric-hint").render())
        assert "min" in str(app.screen.query_one("#metric-hint").render())
        await pilot.press("enter")
        await settle(pilot)
        assert main(app).policy.mode == "min"
        assert "train/loss (min)" in str(main(app).query_one(StatusLine).render())
        await pilot.press("d")
        assert "train/loss (auto→min)" in str(main(app).query_one(StatusLine).render())


# -- the rule ------------------------------------------------------------------
async def test_rule_chooser_explains_bad_rules_and_applies_good_ones(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("u")
        chooser = app.screen
        assert isinstance(chooser, RuleChooser)
        field = chooser.query_one(Input)
        assert app.focused is field
        await pilot.press("end", *",last:x", "enter")
        assert app.screen is chooser and "needs a whole number" in str(chooser.query_one("#rule-error").render())
        await pilot.press("down", "down", "enter")  # Down reaches the presets; "last 3" fills the field
        assert field.value == "best,latest,last:3" and app.focused is field
        await pilot.press(*",every:4")  # typing goes on at the end
        assert field.value == "best,latest,last:3,every:4"
        field.value = "best,latest,last:3"
        await pilot.press("enter")
        await settle(pilot)
        assert main(app).policy.keep_text == "best,latest,last:3"
        await pilot.press("v")
        plan = main(app).plans[("demo", "agent-001")]
        assert plan.delete_steps == set(range(9))
        assert plan.reasons()[9] == ("last 3",)


async def test_pin_keeps_a_step_through_deletion(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 3)
        await pilot.press("p")
        assert main(app).pins == {("demo", "agent-001"): {3}}
        await pilot.press("v")
        assert main(app).plans[("demo", "agent-001")].reasons()[3] == ("pinned",)
        await pilot.press("x")
        await confirm_delete(pilot)
        assert steps_on_disk(art_base, "agent-001") == [3, 10, 11]
        await pilot.press("p")
        assert main(app).pins[("demo", "agent-001")] == frozenset()


async def test_pins_belong_to_their_run_and_survive_a_new_rule(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 3)
        await pilot.press("p")
        tree = main(app).query_one(RunTree)
        tree.focus()
        await pilot.press("j")
        await settle(pilot)
        assert main(app).current == ("demo", "agent-002")
        assert "pinned" not in str(main(app).query_one(StatusLine).render())
        await pilot.press("V")
        await settle(pilot)
        plans = main(app).plans
        assert plans[("demo", "agent-001")].reasons()[3] == ("pinned",)
        assert plans[("demo", "agent-002")].policy.pins == frozenset()
        assert plans[("demo", "agent-002")].reasons()[3] == ("best val/reward",)
        await pilot.press("escape", "u")
        assert "agent-001 3" in str(app.screen.query_one("#rule-pins").render())
        await pilot.press("ctrl+u", *"latest,last:2", "enter")
        await settle(pilot)
        assert main(app).pins[("demo", "agent-001")] == {3}
        tree.focus()
        await pilot.press("k")
        await settle(pilot)
        await pilot.press("v")
        assert main(app).plans[("demo", "agent-001")].reasons()[3] == ("pinned",)


# -- preview and delete --------------------------------------------------------
async def test_preview_marks_rows_and_cancel_deletes_nothing(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        table = main(app).table
        assert table._deleted == set(range(10))
        assert "DEL" in table._cells(table.rows[0]) [-len(table.columns) + 3]
        assert "would delete 10 steps" in str(main(app).query_one(StatusLine).render())
        await pilot.press("x")
        confirm = app.screen
        assert isinstance(confirm, ConfirmDelete) and confirm.steps == 10
        assert app.focused is confirm.query_one("#cancel", Button)
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDelete)
        assert steps_on_disk(art_base, "agent-001") == list(range(12))
        await pilot.press("escape")
        assert main(app).preview_scope is None and table._deleted == set()


async def test_delete_removes_only_what_the_preview_marked(art_base):
    kept = {s: digest(run_dir(art_base, "agent-001") / f"{s:04d}") for s in (10, 11)}
    other = digest(run_dir(art_base, "agent-002"))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("x")  # no preview yet: delete makes one, then asks
        assert isinstance(app.screen, ConfirmDelete)
        await confirm_delete(pilot)
        assert steps_on_disk(art_base, "agent-001") == [10, 11]
        assert {s: digest(run_dir(art_base, "agent-001") / f"{s:04d}") for s in (10, 11)} == kept
        assert digest(run_dir(art_base, "agent-002")) == other
        assert app.said("deleted 10 checkpoint(s)", "information")
        assert [c.step for c in main(app).table.rows] == [10, 11]
        assert main(app).preview_scope is None


async def test_project_preview_plans_each_run_on_its_own(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("V")
        await settle(pilot)
        plans = main(app).plans
        assert set(plans) == {("demo", r) for r in ("agent-001", "agent-002", "agent-legacy")}
        assert "would delete 17 steps" in str(main(app).query_one(StatusLine).render())
        await pilot.press("x")
        assert len(app.screen.plans) == 3
        await confirm_delete(pilot)
        assert steps_on_disk(art_base, "agent-001") == [10, 11]
        assert steps_on_disk(art_base, "agent-002") == [3, 5]
        assert steps_on_disk(art_base, "agent-legacy") == [3]
        assert app.said("deleted 17 checkpoint(s)")


class StopsAfterFirst(LocalStore):
    """Presses Stop, as a user would, while the first checkpoint is being deleted."""

    app: CkptApp

    def delete_checkpoints(self, run, checkpoints, done=None, should_cancel=None):
        def press_stop(ckpt) -> None:
            done(ckpt)
            if ckpt is checkpoints[0]:
                # What the Stop button does, run before this thread goes on (a press is a message, handled later).
                self.app.call_from_thread(self.app.screen.action_cancel)

        return super().delete_checkpoints(run, checkpoints, press_stop, should_cancel)


async def test_stop_between_checkpoints(art_base):
    store = StopsAfterFirst(art_base)
    app = RecordingApp(store)
    store.app = app
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        await confirm_delete(pilot)
        await settle(pilot)
        left = steps_on_disk(art_base, "agent-001")
        assert len(left) == 11 and {10, 11} <= set(left)
        assert app.said("stopped: deleted 1 checkpoint(s)")


# -- errors --------------------------------------------------------------------
async def test_missing_metric_is_refused_and_nothing_deleted(art_base):
    app = RecordingApp(str(art_base), policy=Policy(metric="val/accuracy"), auto_metric=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        assert app.said("'val/accuracy' is not logged", "warning")
        await pilot.press("x")
        assert not isinstance(app.screen, ConfirmDelete)
        assert steps_on_disk(art_base, "agent-001") == list(range(12))


async def test_permission_denied_is_reported_and_loses_nothing(art_base):
    app = RecordingApp(FailingDeletes(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        await confirm_delete(pilot)
        assert app.said("10 step(s) not deleted (0-9)", "error")
        assert app.said("Permission denied")
        assert steps_on_disk(art_base, "agent-001") == list(range(12))


async def test_read_only_directory_is_reported(art_base, request):
    if not bypass_dropped():  # root ignores directory permissions: run this test again without that
        done = run_python("-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::{request.node.name}")
        assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
        return
    ckpt_dir = run_dir(art_base, "agent-001")
    ckpt_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        app = RecordingApp(str(art_base))
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await pilot.press("v", "x")
            await confirm_delete(pilot)
            assert app.said("not deleted", "error")
    finally:
        ckpt_dir.chmod(0o755)
    assert steps_on_disk(art_base, "agent-001") == list(range(12))


async def test_vanished_run_on_refresh_and_on_delete(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        shutil.rmtree(art_base / "demo" / "models" / "agent-001")
        await pilot.press("x")
        await confirm_delete(pilot)
        assert app.said("'agent-001'", "error")
        assert steps_on_disk(art_base, "agent-002") == list(range(6))
        shutil.rmtree(art_base / "demo" / "models" / "agent-002")
        await pilot.press("r")
        await settle(pilot)
        assert main(app).query_one(RunTree).run_keys == [("demo", "agent-legacy")]
        assert main(app).current == ("demo", "agent-legacy")


async def test_a_run_gone_since_the_listing_still_resolves_its_policy(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        screen.policies = Policies(LocalStore(art_base))  # as a refresh reads them: nothing cached
        shutil.rmtree(art_base / "demo" / "models" / "agent-002")
        resolved = screen.resolved(("demo", "agent-002"))
        assert resolved.policy.metric == "val/reward" and resolved.files_used == ()


class BrokenStore(LocalStore):
    def read_metrics(self, project, run):
        raise RuntimeError("disk on fire")


async def test_unexpected_error_opens_a_modal_not_a_traceback(art_base):
    app = RecordingApp(BrokenStore(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "disk on fire" in app.screen.message
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen) and app.is_running


async def test_missing_location_is_a_notification(tmp_path):
    app = RecordingApp(str(tmp_path / "nowhere"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.said("nowhere", "error")
        assert main(app).table.rows == []


# -- fork ------------------------------------------------------------------------
async def test_fork_copies_the_step_and_selects_the_new_run(art_base):
    source = digest(run_dir(art_base, "agent-001") / "0005")
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 5)
        await pilot.press("f")
        assert isinstance(app.screen, ForkScreen)
        await pilot.press(*"agent-fork", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, ForkScreen)
        assert digest(art_base / "demo" / "models" / "agent-fork" / "checkpoints" / "0005") == source
        assert steps_on_disk(art_base, "agent-001") == list(range(12))
        assert main(app).current == ("demo", "agent-fork")
        assert ("demo", "agent-fork") in main(app).query_one(RunTree).run_keys
        assert [c.step for c in main(app).table.rows] == [5]


async def test_fork_with_history_copies_the_records_up_to_the_step(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 4)
        await pilot.press("f", *"agent-hist", "tab", "tab", "space")  # name, project, the checkbox
        assert app.screen.with_history
        await pilot.press("shift+tab", "shift+tab", "enter")
        await settle(pilot)
        history = (art_base / "demo" / "models" / "agent-hist" / "history.jsonl").read_text().splitlines()
        steps = {json.loads(line)["step"] for line in history}
        assert steps and max(steps) <= 4
        assert app.said(f"with {len(history)} history record(s)", "information")
        assert main(app).current == ("demo", "agent-hist")
        assert main(app).table.run.metrics.value(4, "train/reward") is not None


async def test_fork_names_are_checked_as_typed(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f", *"../x")
        fork = app.screen
        problem = fork.query_one("#fork-problem")
        assert "must not contain" in str(problem.render()) and fork.query_one("#fork-go").disabled
        await pilot.press("enter")
        assert app.screen is fork
        fork.query_one("#fork-name", Input).value = "agent-002"
        await pilot.pause()
        assert "already exists" in str(problem.render()) and fork.query_one("#fork-go").disabled
        fork.query_one("#fork-name", Input).value = "agent-new"
        fork.query_one("#fork-project", Input).value = "other"
        await pilot.pause()
        assert not fork.query_one("#fork-go").disabled
        await pilot.press("escape")
        assert not (art_base / "demo" / "models" / "agent-new").exists()


# -- the rest --------------------------------------------------------------------
async def test_copy_path_refresh_help_and_palette(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        assert app.clipboard == str(run_dir(art_base, "agent-001") / "0011")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"preview every run")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert main(app).preview_scope == "project"
        (run_dir(art_base, "agent-001") / "0012").mkdir()
        (run_dir(art_base, "agent-001") / "0012" / "adapter_model.safetensors").write_bytes(b"w" * 100)  # a stand-in: no header to judge
        await pilot.press("r")
        await settle(pilot)
        assert main(app).table.run.latest_step == 12 and main(app).preview_scope is None


async def test_small_terminal_can_preview_and_delete(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        delete = app.screen.query_one("#delete", Button)
        assert delete.region.bottom <= 24 and delete.region.right <= 80
        await confirm_delete(pilot)
        assert steps_on_disk(art_base, "agent-001") == [10, 11]


class SlowMetrics(LocalStore):
    """Metrics that arrive only when the test says so."""

    def __init__(self, base, gate) -> None:
        super().__init__(base)
        self.gate = gate

    def read_metrics(self, project, run):
        assert self.gate.wait(10)
        return super().read_metrics(project, run)


async def test_steps_appear_before_metrics(art_base):
    import threading

    gate = threading.Event()
    app = RecordingApp(SlowMetrics(art_base, gate))
    async with app.run_test(size=(120, 36)) as pilot:
        while not main(app).table.rows:
            await pilot.pause()
        assert main(app).metrics_ready is False and main(app).table.best_step is None
        await pilot.pause()
        assert main(app).check_action("preview_run", ()) is None  # greyed until the metrics are read
        assert footer_keys(app)["preview_run"] is True and footer_keys(app)["fork"] is False
        await pilot.press("v")
        assert not main(app).plans and not app.notes
        gate.set()
        await settle(pilot)
        assert main(app).metrics_ready and main(app).table.best_step == 10
        assert footer_keys(app)["preview_run"] is False  # lit once they are


async def test_pending_steps_are_shown_but_never_forked_or_deleted(art_base):
    leftover = run_dir(art_base, "agent-001") / ".deleting-3-abcd1234"
    shutil.copytree(run_dir(art_base, "agent-001") / "0003", leftover)
    shutil.rmtree(run_dir(art_base, "agent-001") / "0003")
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        pending = [c for c in table.rows if not c.complete]
        assert [(c.step, c.note) for c in pending] == [(3, "interrupted delete")]
        table.focus()
        await pilot.press("home", *["down"] * table.rows.index(pending[0]))
        assert main(app).check_action("fork", ()) is None  # greyed on a save in progress
        await pilot.press("f")
        await settle(pilot)
        assert not isinstance(app.screen, ForkScreen)
        await pilot.press("up")
        assert main(app).check_action("fork", ()) is True
        await pilot.press("v")
        await settle(pilot)
        assert 3 not in main(app).plans[("demo", "agent-001")].delete_steps


async def test_store_notes_reach_the_user(art_base):
    class NotedStore(LocalStore):
        deletion_note = "this store frees space later"

        def read_metrics(self, project, run):
            metrics = super().read_metrics(project, run)
            metrics.notes.append("install the reader to see more metrics")
            return metrics

    app = RecordingApp(NotedStore(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.said("install the reader", "warning")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDelete)
        hints = [str(label.render()) for label in app.screen.query(".hint")]
        assert any("this store frees space later" in hint for hint in hints)
        await pilot.press("escape")


def test_a_preview_of_one_step_says_step_not_steps():
    def preview(deleted: int):
        plan = SimpleNamespace(delete=[object()] * deleted, slim=[], refused=None)
        screen = SimpleNamespace(preview_scope="run", plans={("p", "r"): plan}, preview_freed=lambda: 0)
        return MainScreen.preview_text(screen)

    assert preview(1).startswith("would delete 1 step, ")
    assert preview(2).startswith("would delete 2 steps, ")


async def test_every_step_tied_for_best_is_starred_and_said_best(art_base):
    history = art_base / "demo" / "models" / "agent-001" / "history.jsonl"
    records = [json.loads(line) for line in history.read_text().splitlines()]
    best = max(r["val/reward"] for r in records if "val/reward" in r)
    for record in records:
        if record.get("step") == 4 and "val/reward" in record:
            record["val/reward"] = best  # step 4 now ties the best step
    history.write_text("".join(json.dumps(r) + "\n" for r in records))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        table = screen.table
        tied = sorted(table.best_steps)
        assert len(tied) == 2 and 4 in tied, tied
        for step in tied:
            row = next(c for c in table.rows if c.step == step)
            assert table._cells(row)[0].startswith("★"), (step, table._cells(row)[0])
            await go_to_step(pilot, step)
            assert any(tag.startswith("best ") for tag in screen._tags(table.highlighted)), step
        await pilot.press("v")
        assert set(screen.plans[("demo", "agent-001")].best_steps) == set(tied) == set(table.best_steps)
