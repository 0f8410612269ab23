"""The keymap file is found where docs/app.md says, and the keys it names are the ones that work."""

from __future__ import annotations

from pathlib import Path

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.keymap import KEYMAP_ENV, keymap_path, load_keymap


def test_the_keymap_file_is_looked_for_by_env_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv(KEYMAP_ENV, raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert keymap_path() == tmp_path / "home" / ".config" / "ckpt-tui" / "keymap.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert keymap_path() == tmp_path / "xdg" / "ckpt-tui" / "keymap.toml"
    monkeypatch.setenv(KEYMAP_ENV, str(tmp_path / "mine.toml"))
    assert keymap_path() == tmp_path / "mine.toml"


async def test_a_keymap_in_the_config_folder_rebinds_keys_as_the_app_starts(art_base, tmp_path, monkeypatch):
    monkeypatch.delenv(KEYMAP_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = Path(tmp_path / "xdg" / "ckpt-tui" / "keymap.toml")
    path.parent.mkdir(parents=True)
    path.write_text('[keymap]\npreview_run = "P"\nmark_all = "ctrl+a"\n')
    keymap, problem = load_keymap()  # as run_app reads it
    assert problem is None
    app = RecordingApp(str(art_base), keymap=keymap)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        screen.table.focus()
        await pilot.press("v", "a")
        assert screen.preview_scope is None and not screen.marks.get(screen.current)
        await pilot.press("ctrl+a")
        assert screen.marks.get(screen.current)  # every step that may go
        await pilot.press("P")
        assert screen.preview_scope == "run"


def test_a_keymap_that_is_not_a_table_of_strings_is_named_and_what_is_valid_kept(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('[keymap]\npreview_run = "P"\ndelete = 3\n')
    keymap, problem = load_keymap(path)
    assert keymap == {"preview_run": "P"} and str(path) in problem and "key strings" in problem
