"""The activity log: the pane (L) and .ckpt-tui.log, the objects watch --json prints."""

from __future__ import annotations

import json

from app_helpers import RecordingApp, confirm_delete, go_to_step, main
from app_scenarios import settle
from textual.widgets import Static

from ckpt_tui.app.screens.activity import ActivityScreen
from ckpt_tui.core.events import Event


async def test_deletions_and_forks_are_logged_in_the_pane_and_in_the_log_file(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        assert isinstance(app.screen, ActivityScreen)
        assert "nothing deleted" in str(app.screen.query_one("Label").render())
        await pilot.press("escape", "v", "x")
        await confirm_delete(pilot)
        await go_to_step(pilot, 10)
        await pilot.press("f", "enter")
        await settle(pilot)
        await pilot.press("L")
        text = str(app.screen.query_one("#activity-list Static").render())
        assert text.count("deleted") == 10 and "forked  demo/agent-001-fork  step 10" in text
        await pilot.press("escape")
    lines = [json.loads(line) for line in (art_base / ".ckpt-tui.log").read_text().splitlines()]
    assert [e["action"] for e in lines] == ["deleted"] * 10 + ["forked"]
    assert sorted(e["step"] for e in lines[:10]) == list(range(10))
    assert set(lines[0]) == set(Event("deleted").to_json()) | {"user"}  # what watch --json prints, and who
    assert lines[0]["bytes"] > 0 and lines[0]["reasons"][0].startswith("rule: keep")
    assert lines[-1]["run"] == "agent-001-fork"


def test_the_log_is_appended_to_in_place_and_writers_at_once_lose_nothing(art_base):
    from concurrent.futures import ThreadPoolExecutor

    from ckpt_tui.app.activity import LOG_FILE, append_to_log
    from ckpt_tui.stores.local import LocalStore

    log = art_base / LOG_FILE
    log.write_text('{"action": "deleted"}\n')
    inode = log.stat().st_ino
    stores = [LocalStore(str(art_base)), LocalStore(str(art_base))]  # two apps on one location

    def write(index: int) -> str | None:
        return append_to_log(stores[index % 2], [Event("deleted", "demo", "agent-001", index, 1, time=index)])

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(write, range(400))) == [None] * 400
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert log.stat().st_ino == inode  # added to, never replaced
    assert len(lines) == 401 and sorted(e["step"] for e in lines[1:]) == list(range(400))


async def test_the_pane_lists_the_log_files_earlier_entries_newest_first_and_this_sessions_once(art_base):
    from ckpt_tui.app.activity import EARLIER_SHOWN, LOG_FILE

    earlier = [{**Event("deleted", "demo", "agent-002", step, 1000, ("rule: keep latest",), time=1.7e9 + step).to_json(),
                "user": "alice"} for step in range(EARLIER_SHOWN + 50)]
    (art_base / LOG_FILE).write_text("".join(json.dumps(e) + "\n" for e in earlier) + "not json\n")
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        await confirm_delete(pilot)
        await pilot.press("L")
        await settle(pilot)
        text = str(app.screen.query_one("#activity-lines", Static).render())
    session, _, before = text.partition(f"earlier, in {LOG_FILE} (newest first)")
    assert session.count("demo/agent-001") == 10 and "agent-001" not in before  # this session's, once
    shown = [int(line.split("step ")[1].split()[0]) for line in before.splitlines() if "agent-002" in line]
    assert shown == list(range(EARLIER_SHOWN + 49, 49, -1))  # the newest, newest first
    assert all(line.endswith("by alice") for line in before.splitlines() if "agent-002" in line)


async def test_the_pane_shows_brackets_in_the_logs_entries_as_written(art_base):
    from ckpt_tui.app.activity import LOG_FILE

    entry = {**Event("deleted", "demo", "agent-002", 3, 1000, ("kept [/u] by [bold]rule",), time=1.7e9).to_json(),
             "user": "[/b]eve"}
    (art_base / LOG_FILE).write_text(json.dumps(entry) + "\n")
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        text = str(app.screen.query_one("#activity-lines", Static).render())
    assert "kept [/u] by [bold]rule  by [/b]eve" in text


def entries(first: int, count: int, user: str = "alice") -> str:
    """Log lines of another session: deletions of agent-002's steps."""
    return "".join(json.dumps({**Event("deleted", "demo", "agent-002", step, 1000, ("rule: keep latest",),
                                       time=1.7e9 + step).to_json(), "user": user}) + "\n"
                   for step in range(first, first + count))


def lines_in_frames(app) -> list[str]:
    """What the activity pane lists in each frame drawn from now on."""
    from test_app_dialog_layout import count_frames

    return count_frames(app, lambda screen: str(screen.query_one("#activity-lines", Static).render())
                        if isinstance(screen, ActivityScreen) else type(screen).__name__)


def settled_now(monkeypatch):
    """The log written by the test (or the app) counts as settled: else, changed "just now", it has
    no version to be looked at (``TreeStore.location_file_version``) and is read at every L."""
    from ckpt_tui.stores import verdict_cache

    monkeypatch.setattr(verdict_cache, "RACY_NS", -10**12)


async def test_the_log_is_read_ahead_and_l_shows_its_entries_in_its_first_frame(art_base, monkeypatch):
    from ckpt_tui.app import activity
    from ckpt_tui.app.activity import LOG_FILE

    settled_now(monkeypatch)

    (art_base / LOG_FILE).write_text(entries(0, 5))
    built, reads = [], []
    compose, earlier_entries = ActivityScreen.compose, activity.earlier_entries
    monkeypatch.setattr(ActivityScreen, "compose", lambda self: built.append(1) or compose(self))
    monkeypatch.setattr(activity, "earlier_entries", lambda *a, **k: reads.append(1) or earlier_entries(*a, **k))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert built == [1] and reads == [1]  # built and read while the app waited for keys
        frames = lines_in_frames(app)
        await pilot.press("L")
        await settle(pilot)
        assert len(frames) == 1 and "agent-002  step 4" in frames[0] and "agent-002  step 0" in frames[0]
        assert built == [1] and reads == [1]  # the file as it was read: looked at, not read again
        await pilot.press("escape")
        await settle(pilot)


async def test_a_log_changed_since_it_was_read_is_never_shown_as_it_was(art_base, monkeypatch):
    from ckpt_tui.app import activity
    from ckpt_tui.app.activity import LOG_FILE

    settled_now(monkeypatch)

    log = art_base / LOG_FILE
    log.write_text(entries(0, 3))
    reads = []
    earlier_entries = activity.earlier_entries
    monkeypatch.setattr(activity, "earlier_entries", lambda *a, **k: reads.append(1) or earlier_entries(*a, **k))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert len(reads) == 1
        with log.open("a") as more:  # another app at the location, after the read ahead
            more.write(entries(3, 1, user="bob"))
        frames = lines_in_frames(app)
        await pilot.press("L")
        await settle(pilot)
        assert len(reads) == 2 and frames and all("step 3" in f and "by bob" in f for f in frames), frames
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("v", "x")  # a deletion here: its events, and the log written again
        await confirm_delete(pilot)
        await settle(pilot)
        reads.clear()
        frames = lines_in_frames(app)
        await pilot.press("L")
        await settle(pilot)
        # Read again once written (not as L opened), listed apart from the earlier entries, drawn at once.
        assert reads == [] and len(frames) == 1
        session, _, before = frames[0].partition(f"earlier, in {LOG_FILE}")
        assert session.count("deleted  demo/agent-001") == 10 and "agent-001" not in before and "by bob" in before


async def test_a_log_read_again_slowly_is_said_to_be_read_not_shown_as_it_was(art_base, monkeypatch):
    import threading

    from ckpt_tui.app import activity
    from ckpt_tui.app.activity import LOG_FILE

    log = art_base / LOG_FILE
    log.write_text(entries(0, 3))
    go_on = threading.Event()
    earlier_entries = activity.earlier_entries
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        with log.open("a") as more:  # another app at the location, after the read ahead
            more.write(entries(3, 1, user="bob"))
        monkeypatch.setattr(activity, "earlier_entries", lambda *a, **k: go_on.wait(10) and earlier_entries(*a, **k))
        frames = lines_in_frames(app)
        await pilot.press("L")
        await pilot.pause(0.5)  # longer than the dialog waits for the read
        assert frames and all(f"reading {LOG_FILE}" in f and "agent-002" not in f for f in frames), frames
        go_on.set()
        await settle(pilot)
        assert "by bob" in frames[-1] and "reading" not in frames[-1]
