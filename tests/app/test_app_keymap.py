"""Binding ids and the user's keymap; actions that cannot run now are shown disabled."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from app_helpers import RecordingApp, footer_keys, main
from app_scenarios import settle

from textual.binding import Binding
from textual.dom import DOMNode

from ckpt_tui.app.keymap import binding_id, load_keymap


def app_bindings() -> list[tuple[str, Binding]]:
    """Every binding the app's own screens, dialogs and widgets declare, with who declares it."""
    import ckpt_tui.app

    found = []
    for info in pkgutil.walk_packages(ckpt_tui.app.__path__, "ckpt_tui.app."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, DOMNode) and cls.__module__ == info.name:
                found += [(cls.__name__, b) for b in cls.__dict__.get("BINDINGS", [])]
    return found


def test_every_binding_of_every_screen_and_widget_has_an_id_of_its_own():
    found = app_bindings()
    owners = {name for name, _ in found}
    assert {"CkptApp", "MainScreen", "CheckpointTable", "RunTree", "HelpScreen", "ConfirmDelete", "Prompt",
            "ActivityScreen", "StepFiles", "CompareRuns", "ForkScreen", "RuleChooser"} <= owners
    ids = [b.id for _, b in found]
    assert all(ids), [(name, b.key) for name, b in found if not b.id]
    assert [i for i in ids if ids.count(i) > 1] == []
    assert {"preview_run", "next_match", "previous_match", "first_step", "last_step", "mark_up", "step_up",
            "chart_cursor_left", "close_help", "cancel_delete", "quit_anywhere"} <= set(ids)
    assert binding_id("screen.search_steps") == "search_steps"
    with pytest.raises(ValueError):
        binding_id("jump(-1)")  # an action with an argument names its binding itself


async def test_remapping_previous_match_leaves_the_last_step_key_alone(art_base):
    app = RecordingApp(str(art_base), keymap={"previous_match": "P"})
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        table = screen.table
        table.focus()
        await pilot.press("home", "space", "end")  # mark the first step, then to the last
        assert len(table.rows) > 2 and table.highlighted is table.rows[-1]
        await pilot.press("P")  # N's action under its new key: up towards the marked row
        assert table.cursor_row < len(table.rows) - 1


def test_the_keymap_file_maps_ids_to_keys(tmp_path):
    path = tmp_path / "keymap.toml"
    assert load_keymap(path) == ({}, None)
    path.write_text('[keymap]\npreview_run = "P"\n')
    assert load_keymap(path) == ({"preview_run": "P"}, None)
    path.write_text("[keymap\n")
    keymap, problem = load_keymap(path)
    assert keymap == {} and str(path) in problem


async def test_a_keymap_rebinds_a_key(art_base):
    app = RecordingApp(str(art_base), keymap={"preview_run": "P"})
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        assert main(app).preview_scope is None  # v no longer previews
        await pilot.press("P")
        assert main(app).preview_scope == "run"


async def test_actions_that_cannot_run_are_greyed_in_the_footer_and_their_keys_do_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    app = RecordingApp(str(tmp_path / "empty"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        for action in ("fork", "copy_path", "show_disk", "pin", "jump_to_step", "preview_run", "delete",
                       "pick_metric", "save_policy", "mark_all", "mark_where", "compare_runs", "jump"):
            assert screen.check_action(action, ()) is None, action
        footer = footer_keys(app)
        assert footer["help"] is False and footer["app.quit"] is False  # these always run
        assert all(footer[action] for action in ("preview_run", "delete", "pick_metric", "fork", "save_policy"))
        await pilot.press("v", "x", "m", "f", "w", "c", "D", "C", "M", "a", "i", "space", "p", "colon", "n")
        await settle(pilot)
        assert app.screen is screen and not app.notes and not screen.plans and not screen.marks
        assert list((tmp_path / "empty").iterdir()) == []  # nothing saved, nothing written


async def test_dialogs_grey_what_cannot_run(art_base):
    from ckpt_tui.app.screens.confirm import ConfirmDelete

    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDelete) and dialog.check_action("cancel", ()) is True
        dialog.running = True  # as while deleting: Esc asks to stop, once
        await pilot.press("escape")
        assert dialog.stop_requested and dialog.check_action("cancel", ()) is None
        assert {b.action: on for _, b, on, _ in dialog.active_bindings.values()}["cancel"] is False
        await pilot.press("escape")
        assert app.screen is dialog


async def test_help_shows_the_keys_the_keymap_left(art_base):
    from ckpt_tui.app.screens.help import HelpScreen

    app = RecordingApp(str(art_base), keymap={"preview_run": "P", "last_step": "ctrl+e,E"})
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {b.id: b.key for _, bindings in app.screen.sections for b in bindings}
        assert keys["preview_run"] == "P" and keys["last_step"] == "ctrl+e,E"
        assert keys["delete"] == "x,delete" and keys["first_step"] == "home,g"  # the rest as they were


async def test_a_keymap_moves_a_dialogs_key(art_base):
    from ckpt_tui.app.screens.help import HelpScreen

    app = RecordingApp(str(art_base), keymap={"close_help": "z"})
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark", "escape")
        assert isinstance(app.screen, HelpScreen)  # Esc no longer closes it
        await pilot.press("z")
        assert app.screen is main(app)
