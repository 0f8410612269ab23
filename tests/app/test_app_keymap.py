"""Binding ids and the user's keymap; actions that cannot run now are shown disabled."""

from __future__ import annotations

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.keymap import binding_id, load_keymap
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.app.widgets import CheckpointTable, RunTree


def test_every_binding_has_an_id_made_from_its_action():
    bindings = [*MainScreen.BINDINGS, *CheckpointTable.BINDINGS, *RunTree.BINDINGS]
    ids = [b.id for b in bindings]
    assert all(ids) and "preview_run" in ids and "jump.1" in ids and "mark_range.-1" in ids
    assert binding_id("screen.search_steps") == "search_steps"


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


async def test_step_actions_are_disabled_without_a_step(tmp_path):
    (tmp_path / "empty").mkdir()
    app = RecordingApp(str(tmp_path / "empty"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        for action in ("fork", "copy_path", "show_disk", "pin", "jump_to_step"):
            assert screen.check_action(action, ()) is None, action
        footer = {b.action: enabled for _, b, enabled, _ in screen.active_bindings.values()}
        assert footer["fork"] is False  # greyed in the footer
        await pilot.press("f", "c", "D")
        assert app.screen is screen and not app.notes


async def test_step_actions_are_enabled_once_a_step_is_shown(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.check_action("fork", ()) is True
        footer = {b.action: enabled for _, b, enabled, _ in screen.active_bindings.values()}
        assert footer["fork"] is True
