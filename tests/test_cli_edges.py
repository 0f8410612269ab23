"""Edges of the command line: one exit code for each kind of problem across the commands, a folder
inside an ART base taken for its run, the progress line finished on a terminal."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from ckpt_tui.cli import main

RUN = "demo/models/agent-001"


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def steps(base: Path, run: str = RUN) -> set[int]:
    return {int(p.name) for p in (base / run / "checkpoints").iterdir() if p.name.isdigit()}


COMMANDS = {
    "ls": ["ls", "{loc}"],
    "ls --json": ["ls", "{loc}", "--json"],
    "prune": ["prune", "{loc}", "--dry-run"],
    "prune --full": ["prune", "{loc}", "--dry-run", "--full", "latest"],
    "fork": ["fork", "{loc}", "--to", "agent-new"],
    "path": ["path", "{loc}", "--latest"],
    "offload": ["offload", "{loc}", "--to", "{remote}", "--dry-run"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("names", "expected"), [
    (["-p", "nope", "-r", "agent-001"], 1),  # a well-formed name that is not there: not found
    (["-p", "demo", "-r", "nope"], 1),
    (["-r", "nope"], 1),
    (["-p", "..", "-r", "agent-001"], 2),  # a name that could never be one: bad usage
    (["-p", "demo", "-r", "a/../b"], 2),
], ids=["no-project", "no-run", "no-run-anywhere", "bad-project", "bad-run"])
def test_every_command_gives_one_exit_code_for_a_name_not_found_and_another_for_a_bad_one(
        art_base, tmp_path, capsys, command, names, expected):
    args = [a.format(loc=art_base, remote=tmp_path / "remote") for a in COMMANDS[command]]
    code, out, err = run_cli(capsys, *args, *names)
    assert code == expected, err
    assert out == "" and err.startswith("ckpt-tui: ") and len(err.splitlines()) == 1
    assert steps(art_base) == set(range(12))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["missing", ""])
def test_every_command_refuses_a_missing_or_empty_location_with_2(tmp_path, capsys, command, where):
    location = str(tmp_path / where) if where else ""
    args = [a.format(loc=location, remote=tmp_path / "remote") for a in COMMANDS[command]]
    code, out, err = run_cli(capsys, *args)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err


def test_a_step_that_is_not_there_is_not_found_for_path_and_fork(art_base, capsys):
    for command in (["path", art_base, "-p", "demo", "-r", "agent-001", "--step", 99],
                    ["fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "x", "--step", 99],
                    ["path", art_base, "-p", "demo", "-r", "agent-001", "--not-after-step", -1]):
        code, out, err = run_cli(capsys, *command)
        assert (code, out) == (1, "") and len(err.splitlines()) == 1, err
        assert "step 99" in err or "step -1" in err, err
    assert not (art_base / "demo" / "models" / "x").exists()


def test_a_metric_not_logged_is_refused_by_path_as_by_prune(art_base, capsys):
    code, _, err = run_cli(capsys, "path", art_base, "-p", "demo", "-r", "agent-001", "--best", "--metric", "val/nope")
    assert code == 2 and "'val/nope' is not logged" in err
    code, _, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001", "--metric", "val/nope", "--yes")
    assert code == 2 and "val/nope" in err


def second_project(art_base: Path) -> None:
    """Project ``other`` with agent-002 only."""
    shutil.copytree(art_base / "demo", art_base / "other", symlinks=True)
    for model in ("agent-001", "agent-legacy"):
        shutil.rmtree(art_base / "other" / "models" / model)


def test_a_run_named_without_its_project_is_found_in_the_projects_that_have_it(art_base, capsys):
    second_project(art_base)
    code, out, err = run_cli(capsys, "ls", art_base, "-r", "agent-001", "--json")
    assert code == 0, err
    assert [(r["project"], r["run"]) for r in json.loads(out)["runs"]] == [("demo", "agent-001")]
    code, out, err = run_cli(capsys, "ls", art_base, "-r", "agent-002", "--json")
    assert [(r["project"], r["run"]) for r in json.loads(out)["runs"]] == [("demo", "agent-002"), ("other", "agent-002")]
    code, out, err = run_cli(capsys, "path", art_base, "-r", "agent-001", "--latest")
    assert code == 0 and out.startswith(str(art_base / RUN)), err
    code, out, err = run_cli(capsys, "path", art_base, "-r", "agent-002", "--latest")
    assert (code, out) == (2, "") and "demo/agent-002, other/agent-002" in err and "--project" in err


@pytest.mark.parametrize("inside", ["demo/models/agent-001", "demo/models/agent-001/checkpoints"])
def test_prune_and_ls_inside_an_art_run_folder_take_that_run(art_base, capsys, monkeypatch, inside):
    monkeypatch.chdir(art_base / inside)
    code, out, err = run_cli(capsys, "ls", ".", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert [(r["project"], r["run"]) for r in document["runs"]] == [("demo", "agent-001")]
    assert document["location"] == str(art_base)
    code, out, err = run_cli(capsys, "prune", ".", "--keep", "latest", "--metric", "none", "--yes")
    assert code == 0, err
    assert out.startswith("demo/agent-001: ") and "deleted 11 checkpoint(s)" in out
    assert steps(art_base) == {11}
    assert steps(art_base, "demo/models/agent-002") != {11}  # the other runs of the base are not touched


def test_prune_inside_an_art_project_folder_takes_its_runs_only(art_base, capsys, monkeypatch):
    second_project(art_base)
    monkeypatch.chdir(art_base / "other")
    code, out, err = run_cli(capsys, "prune", ".", "--dry-run", "--json")
    assert code == 0, err
    assert [(p["project"], p["run"]) for p in json.loads(out)["plans"]] == [("other", "agent-002")]
    code, out, err = run_cli(capsys, "prune", ".", "-r", "agent-001", "--dry-run")
    assert code == 1 and "no run 'agent-001' in project 'other'" in err


def test_offload_inside_an_art_run_folder_takes_that_run(art_base, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(art_base / RUN)
    code, out, err = run_cli(capsys, "offload", ".", "--to", tmp_path / "remote", "--dry-run", "--json")
    assert code == 0, err
    assert [(r["project"], r["run"]) for r in json.loads(out)["runs"]] == [("demo", "agent-001")]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_ends_with_a_newline_when_steps_are_spared(art_base, capsys, monkeypatch):
    """Step 3 becomes best between the preview and the deletion: it is spared, so the count of steps
    done stops short of its total. The progress line is still ended before what follows, and the output
    ends with a newline (the shell's prompt on a line of its own)."""
    from ckpt_tui.core import policy

    real = policy.finish_leftovers

    def step_3_becomes_best(store, plans):
        with open(art_base / RUN / "history.jsonl", "a") as history:
            history.write('{"step": 3, "val/reward": 1000.0}\n')
        return real(store, plans)

    monkeypatch.setattr(policy, "finish_leftovers", step_3_becomes_best)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["prune", str(art_base), "-p", "demo", "-r", "agent-001", "--metric", "val/reward", "--yes"])
    err = terminal.getvalue()
    assert code == 0, err
    assert 3 in steps(art_base)
    assert "\r" in err and err.endswith("\n")
    lines = err.split("\n")
    assert any(line.startswith("demo/agent-001: spared step 3") for line in lines), err
    assert not any("done" in line and "spared" in line for line in lines)


def test_no_progress_line_without_a_terminal(art_base, capsys):
    code, out, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001", "--keep", "latest",
                             "--metric", "none", "--yes", "--json")
    assert code == 0 and "\r" not in err and json.loads(out)["plans"][0]["deleted"]


def test_a_status_line_is_ended_once_and_only_when_shown(monkeypatch):
    from ckpt_tui.cli import _StatusLine

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    line = _StatusLine(True)
    line.end()
    assert terminal.getvalue() == ""
    line("copying 1 / 2")
    line("copying 2 / 2")
    line.end()
    line.end()
    assert terminal.getvalue() == "\rcopying 1 / 2\rcopying 2 / 2\n"
    hidden = _StatusLine(False)
    hidden("x")
    hidden.end()
    assert terminal.getvalue() == "\rcopying 1 / 2\rcopying 2 / 2\n"


def test_watch_inside_an_art_run_folder_takes_that_run(art_base, capsys, monkeypatch):
    import ckpt_tui.watch

    def one_poll(start, interval):
        start().cycle()
        return True

    monkeypatch.setattr(ckpt_tui.watch, "run_until_signalled", one_poll)
    monkeypatch.chdir(art_base / RUN)
    code, out, err = run_cli(capsys, "watch", ".", "--keep", "latest", "--metric", "none")
    assert code == 0, err
    assert f"watching demo/agent-001 in {art_base}" in err
    assert steps(art_base) == {11} and steps(art_base, "demo/models/agent-002") != {11}


def test_offload_to_an_empty_location_is_bad_usage(art_base, capsys):
    code, out, err = run_cli(capsys, "offload", art_base, "--to", "", "--dry-run")
    assert (code, out) == (2, "") and err == "ckpt-tui: --to: a location must not be empty\n"


@pytest.mark.parametrize(("typed", "meant"), [("lss", "ls"), ("prun", "prune"), ("Path", "path")])
def test_a_command_mistyped_is_named_beside_the_missing_folder(tmp_path, capsys, monkeypatch, typed, meant):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, typed)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert err.startswith(f"ckpt-tui: no directory at {typed}; to run a command: ckpt-tui {meant} (commands: ls,")
    code, _, err = run_cli(capsys, "checkpoints")  # a word like no command: no hint
    assert code == 2 and err == "ckpt-tui: no directory at checkpoints\n"


def test_best_of_a_run_with_nothing_complete_is_not_found_not_a_metric_refusal(art_base, capsys):
    for step in (tuple((art_base / RUN / "checkpoints").iterdir())):
        for weights in step.glob("*.safetensors"):
            weights.write_bytes(weights.read_bytes()[:20])  # cut short: every save incomplete
    code, out, err = run_cli(capsys, "path", art_base, "-p", "demo", "-r", "agent-001", "--best")
    assert (code, out) == (1, "") and "no complete checkpoint" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [["ls"], ["prune", "--dry-run"], ["path", "--latest"], ["fork", "--to", "x"]])
def test_a_command_without_a_location_and_no_art_base_here_says_how_to_name_one(tmp_path, capsys, monkeypatch,
                                                                             command):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *command)
    assert (code, out) == (2, "")
    assert err == (f"ckpt-tui: no directory at {tmp_path}/.art; pass the folder that holds the checkpoints: "
                   f"ckpt-tui {command[0]} PATH\n")
    code, _, err = run_cli(capsys, command[0], "./.art", *command[1:])  # named: no hint
    assert code == 2 and err == f"ckpt-tui: no directory at {tmp_path}/.art\n"


@pytest.mark.parametrize("command", ["prune", "offload"])
def test_a_run_named_alone_in_several_projects_is_refused_by_the_commands_that_act(art_base, tmp_path, capsys,
                                                                                  command):
    """prune and offload with --run alone, the run being in two projects: refused (exit 2), nothing
    touched, rather than acting on both; ls still lists both."""
    second_project(art_base)
    extra = ["--to", tmp_path / "remote"] if command == "offload" else []
    code, out, err = run_cli(capsys, command, art_base, "-r", "agent-002", "--keep", "latest", "--metric", "none",
                             "--yes", *extra)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert "demo/agent-002, other/agent-002" in err and "--project" in err
    assert steps(art_base, "demo/models/agent-002") == steps(art_base, "other/models/agent-002") == set(range(6))
    assert not (tmp_path / "remote").exists()
    code, out, err = run_cli(capsys, command, art_base, "-r", "agent-002", "-p", "other", "--dry-run", *extra)
    assert code == 0, err


@pytest.mark.parametrize(("inside", "names"), [
    ("demo/models/agent-001/checkpoints", ["-r", "agent-002"]),
    ("demo/models/agent-001", ["-r", "agent-002"]),
    ("demo/models/agent-001", ["-p", "other"]),
    ("demo", ["-p", "other"]),
])
@pytest.mark.parametrize("command", ["prune", "offload", "ls", "path", "fork"])
def test_a_name_given_inside_an_art_folder_never_reaches_outside_it(art_base, tmp_path, capsys, monkeypatch,
                                                                    inside, names, command):
    """Inside agent-001's folder, --run agent-002 (or, in demo's, --project other) would act on a run
    outside the folder given: refused (exit 2), one line naming the base to pass instead."""
    second_project(art_base)
    monkeypatch.chdir(art_base / inside)
    extra = {"prune": ["--keep", "latest", "--metric", "none", "--yes"], "offload": ["--to", tmp_path / "r", "--yes"],
             "ls": [], "path": ["--latest"], "fork": ["--to", "new"]}[command]
    code, out, err = run_cli(capsys, command, ".", *names, *extra)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert "inside" in err and str(art_base) in err
    assert steps(art_base, "demo/models/agent-002") == steps(art_base, "other/models/agent-002") == set(range(6))


def test_prune_inside_an_art_folder_names_the_runs_it_takes_before_acting(art_base, capsys, monkeypatch):
    monkeypatch.chdir(art_base / "demo")
    code, out, err = run_cli(capsys, "prune", ".", "--dry-run", "--keep", "latest", "--metric", "none")
    assert code == 0, err
    assert f"inside the ART base {art_base}: taking the 3 run(s) of its project demo" in err
    monkeypatch.chdir(art_base / RUN / "checkpoints")
    code, out, err = run_cli(capsys, "prune", ".", "--dry-run", "--keep", "latest", "--metric", "none", "--json")
    assert code == 0 and "taking its run demo/agent-001" in err and len(err.splitlines()) == 1, err
    assert [(p["project"], p["run"]) for p in json.loads(out)["plans"]] == [("demo", "agent-001")]


@pytest.mark.parametrize(("argv", "unread"), [
    (["ls", "x", "--bogus"], "--bogus"), (["ls", "--version"], "--version"), (["ls", "a", "b"], "b"),
    (["prune", "x", "--bogus"], "--bogus"), (["path", "x", "--latest", "--bogus"], "--bogus"),
    (["fork", "x", "--to", "y", "--bogus"], "--bogus"), (["watch", "x", "--bogus"], "--bogus"),
    (["offload", "x", "--to", "s3://b", "extra"], "extra")])
def test_an_unknown_option_shows_the_command_usage_not_the_list_of_commands(capsys, argv, unread):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    out, err = capsys.readouterr()
    assert stopped.value.code == 2 and out == ""
    assert err.startswith(f"usage: ckpt-tui {argv[0]} "), err
    assert err.endswith(f"ckpt-tui {argv[0]}: error: unrecognized arguments: {unread}\n")


@pytest.mark.parametrize("command", [["path", "--latest"], ["fork", "--to", "agent-new"]])
@pytest.mark.parametrize("inside", [RUN, RUN + "/checkpoints"])
def test_path_and_fork_inside_an_art_run_folder_naming_it_in_full_take_it_in_the_base(art_base, capsys, monkeypatch,
                                                                                      command, inside):
    """-p demo -r agent-001 inside agent-001's own folder names that run, as -r alone does there."""
    monkeypatch.chdir(art_base / inside)
    code, out, err = run_cli(capsys, command[0], ".", "-p", "demo", "-r", "agent-001", *command[1:])
    assert code == 0, err
    if command[0] == "path":
        assert out.startswith(str(art_base / RUN / "checkpoints"))
    else:
        assert steps(art_base, "demo/models/agent-new") == {11}
    code, out, err = run_cli(capsys, command[0], ".", "-p", "demo", "-r", "agent-002", *command[1:])
    assert (code, out) == (2, "") and "inside" in err, err


def test_fork_to_a_location_that_does_not_exist_says_it_creates_it(art_base, tmp_path, capsys):
    where = tmp_path / "nowhere" / "deep"
    code, out, err = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "new",
                             "--to-location", where, "--json")
    assert code == 0, err
    assert err == f"ckpt-tui: --to-location: no folder at {where}; creating it\n"
    assert (where / "demo" / "models" / "new" / "checkpoints" / "0011").is_dir()
    code, out, err = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "new2",
                             "--to-location", where)
    assert code == 0 and err == "", err  # there now: nothing to say
