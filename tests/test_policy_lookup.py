"""A run's policy files, found from its own folder up; what the core resolves from them; and
files that cannot be read, numbers that cannot be meant, sections that name nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run_cli
from unprivileged import run_python

from ckpt_tui.core.policy import POLICY_FILE, found_files, resolve
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.watch import Watch

pytestmark = pytest.mark.usefixtures("no_terminal")
HF_RUN = ("hf-trainer", "full-model")


def hf_steps(hf_fixture: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in (hf_fixture / "full-model").glob("checkpoint-*")}


def dry_run(capsys, folder: Path, *flags: object) -> dict:
    code, out, err = run_cli(capsys, "prune", folder, "--dry-run", "--json", *flags)
    assert code in (0, 2), err
    return json.loads(out)


def plan_of(document: dict, run: str = "full-model") -> dict:
    return next(p for p in document["plans"] if p["run"] == run)


# -- finding the files -------------------------------------------------------------
def test_a_policy_saved_in_the_run_folder_applies_when_its_parent_is_opened(hf_fixture, capsys):
    # What `w` writes when the app is opened on the run's own folder.
    (hf_fixture / "full-model" / POLICY_FILE).write_text('[projects.hf-trainer.runs.full-model]\nkeep = "every:8"\n')
    plan = plan_of(dry_run(capsys, hf_fixture, "--metric", "eval_loss"))
    assert {d["step"] for d in plan["delete"]} == {12, 20}  # 8, 16 and 24 kept by the file, 4 as best
    assert plan["policy"]["origins"]["keep"] == f"{hf_fixture}/full-model/{POLICY_FILE}: " \
                                                 "projects.hf-trainer.runs.full-model.keep"
    code, out, _ = run_cli(capsys, "ls", hf_fixture, "--metric", "eval_loss")
    assert code == 0 and f"policy files: {hf_fixture}/full-model/{POLICY_FILE}" in out


def test_a_file_above_the_location_applies_nearest_first_key_by_key_until_root(hf_fixture, capsys):
    (hf_fixture.parent / POLICY_FILE).write_text('metric = "eval_loss"\nkeep = "latest"\nsmoothing = 0.5\n')
    (hf_fixture / POLICY_FILE).write_text('keep = "best,latest,last:2"\n')
    plan = plan_of(dry_run(capsys, hf_fixture / "full-model"))
    policy = plan["policy"]
    assert (policy["metric"], policy["rules"], policy["smoothing"]) == ("eval_loss", "best,latest,last:2", 0.5)
    assert policy["files"] == [f"{hf_fixture}/{POLICY_FILE}", f"{hf_fixture.parent}/{POLICY_FILE}"]
    (hf_fixture / POLICY_FILE).write_text('root = true\nkeep = "best,latest,last:2"\n')
    policy = plan_of(dry_run(capsys, hf_fixture / "full-model"))["policy"]
    assert policy["files"] == [f"{hf_fixture}/{POLICY_FILE}"] and policy["smoothing"] is None


@pytest.mark.parametrize("kind", ["file", "link-in", "link-out", "folder"])
def test_folders_above_the_location_are_asked_for_the_file_never_listed(hf_fixture, capsys, monkeypatch, kind):
    """A folder above the location (``/tmp``, a home) may hold thousands of entries: the policy
    file is looked up by name there, with the same answers for a link, a folder or a file."""
    from ckpt_tui.stores.backends.local import LocalBackend

    above = hf_fixture.parent
    if kind in ("file", "link-in"):
        (above / ("real.toml" if kind == "link-in" else POLICY_FILE)).write_text('keep = "latest"\n')
        if kind == "link-in":
            (above / POLICY_FILE).symlink_to("real.toml")
    elif kind == "link-out":
        (above.parent / "elsewhere.toml").write_text('keep = "latest"\n')
        (above / POLICY_FILE).symlink_to(above.parent / "elsewhere.toml")
    else:
        (above / POLICY_FILE).mkdir()
    listed: list[str] = []
    list_dir = LocalBackend.list_dir
    monkeypatch.setattr(LocalBackend, "list_dir", lambda self, path: listed.append(self._abs(path)) or list_dir(self, path))
    if kind in ("file", "link-in"):
        policy = plan_of(dry_run(capsys, hf_fixture, "--metric", "eval_loss"))["policy"]
        assert policy["rules"] == "latest" and policy["files"] == [f"{above}/{POLICY_FILE}"]
    else:
        code, _, err = run_cli(capsys, "ls", hf_fixture)
        assert code == 2 and f"{above}/{POLICY_FILE}" in err
    assert listed and not [path for path in listed if Path(hf_fixture).is_relative_to(path.rstrip("/") or "/")
                           and Path(path) != hf_fixture]


def test_sections_name_runs_from_their_own_folder(tmp_path):
    """A Lightning run ``logs/version_0``: from ``logs`` it is ``logs/version_0``, from the folder
    above it is ``logs/version_0`` too; a file in the run's own folder names it the same."""
    run = tmp_path / "exp" / "logs" / "version_0" / "checkpoints"
    run.mkdir(parents=True)
    for step in (5, 10, 15):
        (run / f"epoch={step // 5 - 1}-step={step}.ckpt").write_bytes(b"x")
    (tmp_path / "exp" / POLICY_FILE).write_text('[projects.logs.runs.version_0]\nkeep = "latest,last:2"\n')
    (tmp_path / "exp" / "logs" / "version_0" / POLICY_FILE).write_text(
        '[projects.logs.runs.version_0]\nmetric = "none"\n')
    for opened in (tmp_path / "exp", tmp_path / "exp" / "logs", tmp_path / "exp" / "logs" / "version_0"):
        store = LocalStore(opened)
        [(project, name)] = [(p, r) for p in store.list_projects() for r in store.list_runs(p)]
        resolved = resolve(project, name, found_files(store.policy_places(project, name)))
        assert (resolved.policy.keep_text, resolved.policy.metric) == ("latest,last:2", None), opened


# -- a picked metric, a rule that needs none, exact refusals ---------------------------------
def test_a_picked_metric_is_shown_and_acted_on_only_when_named(hf_fixture, capsys):
    plan = plan_of(dry_run(capsys, hf_fixture))
    assert plan["metric"] == "eval_loss" and plan["policy"]["picked"] == "eval_loss" and not plan["refused"]
    code, out, err = run_cli(capsys, "prune", hf_fixture, "--dry-run")
    assert "picked eval_loss: val/reward not logged" in out
    before = hf_steps(hf_fixture)
    code, _, err = run_cli(capsys, "prune", hf_fixture, "--yes")
    assert code == 2 and "picked eval_loss" in err and "--metric eval_loss" in err and hf_steps(hf_fixture) == before
    events = []
    Watch(LocalStore(hf_fixture), *HF_RUN, report=events.append).cycle()
    assert [e.action for e in events] == ["refused"] and "--metric eval_loss" in events[0].reasons[0]
    assert hf_steps(hf_fixture) == before
    (hf_fixture / POLICY_FILE).write_text('metric = "eval_loss"\n')
    assert run_cli(capsys, "prune", hf_fixture, "--yes")[0] == 0 and hf_steps(hf_fixture) == {4, 24}


def test_a_rule_that_needs_no_metric_never_needs_one(hf_fixture, capsys):
    for flags in ((), ("--metric", "val/reward")):
        plan = plan_of(dry_run(capsys, hf_fixture, "--keep", "latest,last:2", *flags))
        # 4 is what the trainer names its best (trainer_state.json): kept whatever the rule
        assert not plan["refused"] and {d["step"] for d in plan["delete"]} == {8, 12, 16}
    assert plan_of(dry_run(capsys, hf_fixture, "--keep", "latest,last:2"))["policy"]["metric"] is None
    assert run_cli(capsys, "prune", hf_fixture, "--keep", "latest,last:2", "--yes")[0] == 0
    assert hf_steps(hf_fixture) == {4, 20, 24}


def test_a_refusal_says_exactly_why_and_a_run_with_nothing_to_delete_is_not_refused(art_base, capsys):
    history = art_base / "demo" / "models" / "agent-001" / "history.jsonl"
    with history.open("a") as out:
        out.write('{"step": 318, "val/late": 1.0}\n')
    code, _, err = run_cli(capsys, "prune", art_base, "-r", "agent-001", "--metric", "val/late", "--dry-run")
    assert code == 2 and "val/late is logged, but at no remaining checkpoint (logged at step 318)" in err
    code, _, err = run_cli(capsys, "prune", art_base, "-r", "agent-001", "--metric", "val/nope", "--dry-run")
    assert code == 2 and "metric 'val/nope' is not logged" in err
    code, _, err = run_cli(capsys, "prune", art_base, "-r", "agent-001", "--metric", "val/nope",
                           "--keep", "best,latest,last:100", "--dry-run")
    assert code == 0 and "refused" not in err  # nothing would be deleted anyway


def test_full_state_rules_count_among_the_kept_steps(hf_fixture, capsys):
    plan = plan_of(dry_run(capsys, hf_fixture, "--metric", "eval_loss", "--keep", "best,latest,every:8",
                           "--full", "last:2"))
    kept = {k["step"] for k in plan["keep"]}
    assert kept == {4, 8, 16, 24} and {s["step"] for s in plan["slim"]} == {4, 8}  # 16 and 24 stay whole


# -- path --best ------------------------------------------------------------------------
def test_path_best_is_the_best_step_and_says_when_it_holds_weights_only(hf_fixture, capsys):
    code, _, err = run_cli(capsys, "prune", hf_fixture, "--metric", "eval_loss", "--keep", "best,latest,every:8",
                           "--full", "latest", "--yes")
    assert code == 0, err
    best = hf_fixture / "full-model" / "checkpoint-4"
    code, out, err = run_cli(capsys, "path", hf_fixture / "full-model", "--best", "--metric", "eval_loss")
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert "the best step, 4" in err and "weights only" in err and "--weights" in err and "24" in err
    code, out, err = run_cli(capsys, "path", hf_fixture / "full-model", "--weights", "--metric", "eval_loss")
    assert (code, out) == (0, f"{best}\n")
    assert run_cli(capsys, "path", hf_fixture / "full-model", "--latest")[1].strip().endswith("checkpoint-24")


# -- files that cannot be used --------------------------------------------------------------
def _stops_prune_and_watch(folder: Path, needle: str, capsys) -> None:
    for command in (["prune", folder, "--dry-run"], ["prune", folder, "--yes"], ["watch", folder, "--interval", "1"]):
        code, out, err = run_cli(capsys, *command)
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, (command, err)
    code, _, err = run_cli(capsys, "ls", folder)
    assert code == 2 and needle in err


@pytest.mark.parametrize("kind", ["link-out", "folder", "too-big", "not-utf8"])
def test_a_policy_file_that_is_there_but_not_read_stops_prune_and_watch(hf_fixture, tmp_path, capsys, kind):
    target = hf_fixture / POLICY_FILE
    if kind == "link-out":
        (tmp_path / "elsewhere.toml").write_text('keep = "latest,last:5"\n')
        target.symlink_to(tmp_path / "elsewhere.toml")
    elif kind == "folder":
        target.mkdir()
    elif kind == "too-big":
        target.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")
    else:
        target.write_bytes(b'keep = "\xff"\n')
    before = hf_steps(hf_fixture)
    _stops_prune_and_watch(hf_fixture, f"{hf_fixture}/{POLICY_FILE}", capsys)
    assert hf_steps(hf_fixture) == before


def test_a_fifo_for_a_policy_file_is_never_opened(hf_fixture):
    os.mkfifo(hf_fixture / POLICY_FILE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    for command in (["prune", "--dry-run"], ["ls"]):
        done = subprocess.run([sys.executable, "-m", "ckpt_tui", command[0], str(hf_fixture), *command[1:]],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 2 and "not a regular file" in done.stderr


def test_an_unreadable_policy_file_stops_prune(hf_fixture):
    (hf_fixture / POLICY_FILE).write_text('keep = "latest"\n')
    (hf_fixture / POLICY_FILE).chmod(0)
    done = run_python("-m", "ckpt_tui", "prune", str(hf_fixture), "--dry-run")
    assert done.returncode == 2 and "cannot be read" in done.stderr and len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("text", [
    'keep = "last:' + "9" * 5000 + '"\n',
    "pins = [" + "9" * 5000 + "]\n",
    "pins = [" + "9" * 20 + "]\n",
    "pins = " + "[" * 3000 + "]" * 3000 + "\n",
])
def test_numbers_and_nesting_no_one_means_give_one_line(hf_fixture, capsys, text):
    (hf_fixture / POLICY_FILE).write_text(text)
    _stops_prune_and_watch(hf_fixture, POLICY_FILE, capsys)


def test_a_huge_number_on_the_command_line_gives_one_line(hf_fixture, capsys):
    for command in (["prune", hf_fixture, "--keep", "last:" + "9" * 5000], ["ls", hf_fixture, "--metric", "x"]):
        code, _, err = run_cli(capsys, *command)
        assert code in (0, 2) and "Traceback" not in err and len(err.splitlines()) <= 1
    code, _, err = run_cli(capsys, "prune", hf_fixture, "--keep", "last:" + "9" * 5000)
    assert code == 2 and "too large" in err


def test_a_byte_order_mark_is_accepted(hf_fixture, capsys):
    (hf_fixture / POLICY_FILE).write_bytes('\ufeffmetric = "eval_loss"\n'.encode())
    assert plan_of(dry_run(capsys, hf_fixture))["policy"]["metric"] == "eval_loss"


def test_metric_none_beside_a_rule_that_needs_one_is_refused_by_every_face(hf_fixture, capsys):
    (hf_fixture / POLICY_FILE).write_text('metric = "none"\nkeep = "best,latest"\n')
    _stops_prune_and_watch(hf_fixture, "need a metric", capsys)


def test_a_section_naming_no_run_is_said_with_the_names_there_are(hf_fixture, capsys):
    (hf_fixture / POLICY_FILE).write_text('[projects.hf-trainer.runs.ful-model]\nkeep = "latest"\n'
                                          '[projects.nope]\nkeep = "latest"\n')
    code, _, err = run_cli(capsys, "ls", hf_fixture)
    assert code == 0
    assert "[projects.hf-trainer.runs.ful-model] names no run found there" in err and "hf-trainer/full-model" in err
    assert "[projects.nope]" in err
    assert len(dry_run(capsys, hf_fixture, "--metric", "eval_loss")["unused_sections"]) == 2



def test_a_policy_saved_a_moment_after_discovery_is_read_once_the_files_are_forgotten(hf_fixture):
    # The app saves with `w` and reads the files again at once: the discovery's own listing of the
    # run folder, made before the file existed, must not stand for the folder then.
    store = LocalStore(str(hf_fixture))
    store.list_runs(HF_RUN[0])
    assert [p.text for p in store.policy_places(*HF_RUN) if p.text] == []
    saved = b'[projects.hf-trainer.runs.full-model]\nkeep = "every:8"\n'
    (hf_fixture / "full-model" / POLICY_FILE).write_bytes(saved)
    store.forget_policy_places()
    assert [p.text for p in store.policy_places(*HF_RUN) if p.text] == [saved]


def test_the_folders_above_the_location_are_resolved_once_a_listing_and_again_once_forgotten(hf_fixture,
                                                                                              monkeypatch):
    """Every run's places name the same folders above the location: each is resolved (a ``realpath``)
    once for all the runs, as found for the first, and again after ``forget_policy_places``."""
    from ckpt_tui.stores.backends.local import LocalBackend
    from ckpt_tui.stores.policy_places import policy_places

    (hf_fixture.parent / POLICY_FILE).write_text('keep = "latest"\n')
    store = LocalStore(str(hf_fixture))
    runs = store.list_runs(HF_RUN[0])
    assert len(runs) >= 2
    asked: list[str] = []
    parent = LocalBackend.parent
    monkeypatch.setattr(LocalBackend, "parent", lambda self: asked.append(self.real_root) or parent(self))
    found = {run: store.policy_places(HF_RUN[0], run) for run in runs}
    above = len(Path(store.backend.real_root).parents) + 1  # each folder asked, the filesystem root too
    assert len(asked) == above
    for run, places in found.items():  # as looked up without the folders kept: the same places, files read
        root = store._place(HF_RUN[0], run).root
        assert places == policy_places(store.backend, root, None, {}), run
        assert f"{hf_fixture.parent}/{POLICY_FILE}" in [p.path for p in places if p.text]
    asked.clear()
    store.forget_policy_places()
    store.policy_places(*HF_RUN)
    store.policy_places(*HF_RUN)
    assert len(asked) == above
