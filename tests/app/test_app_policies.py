"""The app and the location's saved policies (.ckpt-tui.toml), and slimming from the app."""

from __future__ import annotations

import json

from app_helpers import RecordingApp, confirm_delete, go_to_step, main, run_dir, steps_on_disk
from app_scenarios import settle
from cli_run import run_cli

from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.screens.rules import RuleChooser
from ckpt_tui.app.widgets import StatusLine
from ckpt_tui.core.retention import Policy
from ckpt_tui.policy_file import POLICY_FILE, flag_settings, load
from ckpt_tui.stores.local import LocalStore

RUN = ("demo", "agent-001")


def status(app) -> str:
    return str(main(app).query_one(StatusLine).render())


def planned_deletions(capsys, base, *flags: str) -> set[int]:
    """What ``prune --dry-run`` would delete in demo/agent-001 (it reads the saved policies too)."""
    code, out, _ = run_cli(capsys, "prune", base, "-p", "demo", "-r", "agent-001", "--dry-run", "--json", *flags)
    assert code == 0
    return {d["step"] for d in json.loads(out)["plans"][0]["delete"]}


async def choose_rules(pilot, keep: str | None = None, full: str | None = None) -> None:
    await pilot.press("u")
    assert isinstance(pilot.app.screen, RuleChooser)
    for field, value in (("#rule-text", keep), ("#full-text", full)):
        if value is not None:
            pilot.app.screen.query_one(field).value = value
    await pilot.press("enter")
    await settle(pilot)


# -- saved policies ---------------------------------------------------------------
async def test_a_saved_policy_is_read_at_open_and_the_top_line_says_so(art_base, capsys):
    (art_base / POLICY_FILE).write_text('[projects.demo.runs.agent-001]\nkeep = "best,latest,last:3"\npins = [2]\n')
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert "last 3" in status(app) and f"saved in {POLICY_FILE}" in status(app)
        assert screen.table._cells(screen.table.rows[2])[0][1] == "P"  # the saved pin
        await pilot.press("v")
        await settle(pilot)
        app_deletes = screen.plans[RUN].delete_steps
        screen.open_run(("demo", "agent-002"))
        await settle(pilot)
        assert "saved in" not in status(app) and "last 3" not in status(app)  # no section for this run
    assert 2 not in app_deletes and app_deletes == planned_deletions(capsys, art_base)


async def test_flags_win_over_the_saved_policy(art_base):
    (art_base / POLICY_FILE).write_text('[projects.demo]\nkeep = "best,latest,last:3"\n')
    app = RecordingApp(str(art_base), flags=flag_settings(keep="best,latest,last:5"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "last 5" in status(app) and "last 3" not in status(app) and "saved in" not in status(app)


async def test_the_rule_and_pins_are_saved_for_the_run_and_prune_then_agrees(art_base, capsys):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await choose_rules(pilot, keep="best,latest,every:4")
        assert "unsaved: w saves" in status(app)
        await go_to_step(pilot, 3)
        await pilot.press("p")  # a pin: saved
        await go_to_step(pilot, 5)
        await pilot.press("space")  # a mark: a one-off choice, never saved
        await pilot.press("w")
        await settle(pilot)
        saved = load(LocalStore(art_base)).policy(*RUN)
        assert saved.keep_text == "best,latest,every:4,step:3" and saved.marked == frozenset()
        assert f"saved in {POLICY_FILE}" in status(app) and app.said(f"in {art_base}/{POLICY_FILE}")
        await pilot.press("space")  # unmark: what the app previews is what prune does
        await pilot.press("v")
        await settle(pilot)
        app_deletes = main(app).plans[RUN].delete_steps
    assert app_deletes == planned_deletions(capsys, art_base)


async def test_an_invalid_policy_file_is_named_and_nothing_is_previewed_deleted_or_saved(art_base):
    text = '[projects.demo]\nkeep = "best,weird"\n'
    (art_base / POLICY_FILE).write_text(text)
    before = steps_on_disk(art_base, "agent-001")
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.said(f"{POLICY_FILE}: projects.demo.keep: unknown rule 'weird'", "error")
        assert "invalid: nothing is deleted" in status(app)
        await pilot.press("v", "x", "w")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDelete) and not main(app).plans
    assert steps_on_disk(art_base, "agent-001") == before and (art_base / POLICY_FILE).read_text() == text


# -- slimming ------------------------------------------------------------------------
async def test_slimming_is_chosen_previewed_confirmed_apart_and_done(hf_fixture, capsys):
    app = RecordingApp(str(hf_fixture), policy=Policy.parse("best,latest,last:3", "eval_loss", "min"))
    key = ("hf-trainer", "full-model")
    expected = json.loads(run_cli(capsys, "prune", hf_fixture, "-p", key[0], "-r", key[1], "--metric", "eval_loss",
                                  "--keep", "best,latest,last:3", "--full", "last:1", "--dry-run", "--json")[1])
    slims = {s["step"] for s in expected["plans"][0]["slim"]}
    deletes = {d["step"] for d in expected["plans"][0]["delete"]}
    assert slims and deletes
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.current == key
        await choose_rules(pilot, full="last:1")
        assert "full state for latest + last 1" in status(app)
        await pilot.press("v")
        await settle(pilot)
        plan = screen.plans[key]
        assert {s.step for s in plan.slim} == slims and plan.delete_steps == deletes
        assert f"would delete {len(deletes)} steps, slim {len(slims)}" in status(app)
        table = screen.table
        verdicts = {c.step: table._verdict(c) for c in table.rows}
        assert all(verdicts[s].startswith("SLIM -") for s in slims)
        assert not any(v.startswith("SLIM") for s, v in verdicts.items() if s not in slims)
        await pilot.press("x")
        await settle(pilot)
        question = str(app.screen.query_one("#confirm-question").render())
        assert f"Delete {len(deletes)} checkpoint(s) and slim {len(slims)}" in question
        await confirm_delete(pilot)
        await settle(pilot)
        assert app.said(f"deleted {len(deletes)} checkpoint(s), slimmed {len(slims)}")
        slimmed = [c for c in screen.run.checkpoints if c.weights_only]
        assert {c.step for c in slimmed} == slims
        assert all(table._cells(c)[0][2] == "W" for c in slimmed)
    folders = {int(p.name.split("-")[1]): p for p in hf_fixture.joinpath(key[1]).glob("checkpoint-*")}
    assert set(folders) == set(range(4, 25, 4)) - deletes
    assert all(not (folders[s] / "optimizer.pt").exists() for s in slims)
    assert (folders[max(folders)] / "optimizer.pt").exists()  # the latest keeps its training state


async def test_slimming_a_layout_that_cannot_says_why(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await choose_rules(pilot, keep="best,latest,last:3", full="last:1")
        await pilot.press("v")
        await settle(pilot)
        plan = main(app).plans[RUN]
        assert not plan.slim and plan.slim_refused and app.said("keep their training state", "warning")
        assert run_dir(art_base, "agent-001").joinpath("0010").is_dir()


# -- one resolution for the app too ------------------------------------------------------
async def test_the_rule_chooser_shows_the_metric_the_run_uses_and_a_refused_run_is_marked(hf_fixture, tmp_path):
    from ckpt_tui.app.widgets.run_tree import REFUSED_MARK

    app = RecordingApp(str(hf_fixture))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("u")
        assert isinstance(app.screen, RuleChooser)
        assert "eval_loss (auto→min)" in str(app.screen.query_one("#rule-now").render())
        await pilot.press("escape")
        screen = main(app)
        assert not screen.summaries[("hf-trainer", "full-model")].refused
        screen.change_policy(metric="val/nope")  # named: held to, and logged nowhere
        await settle(pilot)
        assert screen.summaries[("hf-trainer", "full-model")].refused
        labels = [str(node.label) for node in screen.query_one("#runs").root.children[0].children]
        assert all(REFUSED_MARK in label for label in labels)


async def test_w_writes_only_what_the_run_does_not_inherit_and_the_line_follows(art_base):
    (art_base / POLICY_FILE).write_text('[projects.demo]\nkeep = "best,latest,last:3"\n')
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 3)
        await pilot.press("p", "w")
        await settle(pilot)
        saved = load(LocalStore(art_base))
        assert saved.runs[RUN].values() == {"pins": (3,)}  # the project's keep still applies to it
        assert f"saved in {POLICY_FILE}" in status(app) and app.said(f"in {art_base}/{POLICY_FILE}")
        await pilot.press("m", "home", "down", "down", "down", "enter")  # train/loss
        await settle(pilot)
        assert "unsaved: w saves" in status(app)
        await pilot.press("m", "home", "enter")  # back to auto: as saved again
        await settle(pilot)
        assert f"saved in {POLICY_FILE}" in status(app) and "unsaved" not in status(app)


async def test_an_invalid_policy_file_offers_no_save(art_base):
    (art_base / POLICY_FILE).write_text('keep = "best,weird"\n')
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 3)
        await pilot.press("p")
        line = status(app)
        assert "invalid: nothing is deleted" in line and "w saves" not in line


async def test_a_smoothed_best_is_said_to_be_smoothed(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest", "val/reward", "auto", 0.3))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        _, best, _ = screen.current_best()
        await go_to_step(pilot, best)
        assert any("moving average (smoothing 0.3)" in tag for tag in screen._tags(screen.table.highlighted))
        assert "smoothing 0.3" in status(app)


async def test_policy_files_of_a_run_not_read_with_the_listing_are_read_in_a_worker(art_base):
    import threading

    (art_base / POLICY_FILE).write_text('[projects.demo]\nkeep = "best,latest,last:2"\n')
    readers: list[threading.Thread] = []

    class Recording(LocalStore):
        def policy_places(self, project, run):
            readers.append(threading.current_thread())
            return super().policy_places(project, run)

    app = RecordingApp(Recording(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        key = screen.current
        assert "last:2" in screen.policy_for(screen.run).keep_text
        screen.policies._found.pop(key)  # as for a run the listing's worker did not read
        screen.show_policies(screen.policies, None)
        assert screen.check_action("preview_run", ()) is None  # nothing planned by a rule not read yet
        await settle(pilot)
        assert "last:2" in screen.policy_for(screen.run).keep_text
        assert screen.check_action("preview_run", ()) is True
        assert readers and threading.main_thread() not in readers


async def test_the_top_line_drops_the_picked_and_unsaved_notes_before_the_rule(hf_fixture):
    app = RecordingApp(str(hf_fixture))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        await pilot.press("d", "v")
        await settle(pilot)
        rule = screen.policy_for(screen.run, screen.current).describe(explain_auto=True)
        line = status(app)
        assert screen.saved_state(screen.current).startswith("unsaved") and screen.plans
        assert rule in line and "would delete" in line, line
        assert "picked eval_loss" not in line  # a note gave way, the rule stayed


def test_a_part_too_long_for_the_room_left_gives_it_to_shorter_less_important_ones():
    from ckpt_tui.app.widgets.status_line import StatusPart, fit_parts

    parts = [StatusPart("here", priority=3), StatusPart("1 GB free", priority=0),
             StatusPart("a rule far too long to fit", priority=2), StatusPart("note", priority=1.5),
             StatusPart("preview", priority=5)]
    assert fit_parts(parts, 35).plain == "here  1 GB free  note  preview"
    assert fit_parts(parts, 45).plain == "here  a rule far too long to fit  preview"
