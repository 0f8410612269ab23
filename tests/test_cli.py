"""The command line, end to end through ``main``, on copies of a tree ART wrote."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_tui import __version__
from ckpt_tui.cli import main

MODELS = "demo/models"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def checkpoint_steps(base: Path, model: str) -> set[int]:
    return {int(p.name) for p in (base / MODELS / model / "checkpoints").iterdir() if p.name.isdigit()}


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out
    for args in (["--help"], ["prune", "--help"], ["fork", "--help"], ["ls", "--help"]):
        with pytest.raises(SystemExit):
            main(args)
        assert "usage: ckpt-tui" in capsys.readouterr().out


def test_ls_json(art_base, capsys):
    code, out, _ = run_cli(capsys, "ls", art_base, "--json")
    data = json.loads(out)
    assert code == 0
    runs = {r["run"]: r for r in data["runs"]}
    assert set(runs) == {"agent-001", "agent-002", "agent-legacy"}
    first = runs["agent-001"]["checkpoints"][0]
    assert first["step"] == 0 and first["bytes"] > 0 and "train/reward" in first["metrics"]


def test_ls_human_readable(art_base, capsys):
    code, out, _ = run_cli(capsys, "ls", art_base)
    assert code == 0 and "demo/agent-001" in out and "art-legacy" in out
    code, out, _ = run_cli(capsys, "ls", art_base, "-p", "demo", "-r", "agent-002")
    assert code == 0 and "val/reward" in out and len(out.strip().splitlines()) == 2 + 6


def test_prune_dry_run_json_touches_nothing(art_base, capsys):
    code, out, _ = run_cli(capsys, "prune", art_base, "--project", "demo", "--dry-run", "--json")
    data = json.loads(out)
    assert code == 0 and data["dry_run"] is True
    plans = {p["run"]: p for p in data["plans"]}
    assert {k["step"] for k in plans["agent-001"]["keep"]} == {10, 11}
    assert plans["agent-001"]["keep"][0]["reasons"] == ["best val/reward"]
    assert plans["agent-002"]["freed_bytes"] == sum(d["bytes"] for d in plans["agent-002"]["delete"])
    assert checkpoint_steps(art_base, "agent-001") == set(range(12))


def test_prune_without_a_terminal_needs_yes(art_base, capsys):
    code, _, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001")
    assert code == 2 and "--yes" in err
    assert checkpoint_steps(art_base, "agent-001") == set(range(12))
    code, out, _ = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001", "--yes", "--json")
    data = json.loads(out)
    assert code == 0 and checkpoint_steps(art_base, "agent-001") == {10, 11}
    assert data["freed_bytes"] == data["plans"][0]["freed_bytes"] > 0
    assert {d["step"] for d in data["plans"][0]["deleted"]} == set(range(10))


def test_prune_with_rules_and_min_mode(art_base, capsys):
    code, _, _ = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001", "--metric", "train/loss",
                         "--mode", "min", "--keep", "best,latest,every:4", "--yes")
    assert code == 0 and checkpoint_steps(art_base, "agent-001") == {0, 4, 8, 10, 11}


def test_prune_refuses_a_missing_metric(art_base, capsys):
    code, _, err = run_cli(capsys, "prune", art_base, "-p", "demo", "--metric", "val/nope", "--yes")
    assert code == 2 and "val/nope" in err and "Traceback" not in err
    assert checkpoint_steps(art_base, "agent-001") == set(range(12))


def test_errors_are_one_line_without_traceback(tmp_path, art_base, capsys):
    for args in (["ls", tmp_path / "missing"],
                 ["prune", art_base, "-p", "nope", "--dry-run"],
                 ["prune", art_base, "--keep", "best,weird", "--dry-run"],
                 ["fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "../escape"],
                 ["ls", "ftp://host/x"]):
        code, _, err = run_cli(capsys, *args)
        assert code in (1, 2) and err.startswith("ckpt-tui: ") and len(err.strip().splitlines()) == 1


def test_fork_json(art_base, capsys):
    code, out, _ = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "agent-x",
                           "--step", "6", "--json")
    data = json.loads(out)
    assert code == 0 and data["step"] == 6 and data["to_run"] == "agent-x"
    assert Path(data["location"]).is_dir()
    code, _, err = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-001", "--to", "agent-x",
                           "--step", "6")
    assert code == 2 and "already exists" in err and "a fork creates a new run" in err


def test_fork_to_another_location(art_base, tmp_path, capsys):
    code, _, _ = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-002", "--to", "copy",
                         "--to-location", tmp_path / "elsewhere", "--with-history")
    target = tmp_path / "elsewhere" / MODELS / "copy"
    assert code == 0 and (target / "checkpoints" / "0005").is_dir() and (target / "history.jsonl").exists()


def test_module_entry_point_and_console_script(art_base):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-m", "ckpt_tui", "ls", str(art_base), "--json"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert len(json.loads(out)["runs"]) == 3


def test_ls_json_of_many_runs_read_by_several_processes_is_the_same(art_base):
    """Eight runs or more are read by one process per core: the output must not change."""
    import shutil

    from ckpt_tui.cli import _run_json
    from ckpt_tui.stores.local import LocalStore

    models = art_base / "demo" / "models"
    for i in range(9):
        shutil.copytree(models / "agent-001", models / f"copy-{i}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-m", "ckpt_tui", "ls", str(art_base), "--json"],
                         capture_output=True, text=True, env=env, check=True).stdout
    store = LocalStore(art_base)
    expected = [_run_json(store.load_run("demo", run)) for run in store.list_runs("demo")]
    listed = json.loads(out)
    policy_keys = ("policy", "best_step", "best_steps", "kept", "refused", "incomplete_uploads")
    runs = listed.pop("runs")
    assert [{k: v for k, v in run.items() if k not in policy_keys} for run in runs] == expected
    no_uploads = {"count": 0, "bytes": 0, "oldest_age_seconds": None, "uploads": []}
    assert all(run["incomplete_uploads"] == no_uploads for run in runs)  # a disk keeps none
    assert listed == {"location": str(art_base), "notes": [], "errors": [], "policy_problems": [],
                      "unused_sections": [], "incomplete_uploads_outside_runs": no_uploads, "deletion_note": None}
    assert len(expected) == 12


def test_ls_best_column_follows_the_metric_and_mode(art_base, capsys):
    code, out, _ = run_cli(capsys, "ls", art_base, "--metric", "train/loss")
    line = next(l for l in out.splitlines() if l.startswith("demo/agent-001"))
    assert code == 0 and "(train/loss" in line and line.split()[-3] == "10"  # lowest loss
    code, out, _ = run_cli(capsys, "ls", art_base, "--metric", "train/loss", "--mode", "max")
    line = next(l for l in out.splitlines() if l.startswith("demo/agent-001"))
    assert line.split()[-3] == "0"


def test_ls_into_a_closed_pipe_is_quiet(art_base):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run(f"'{sys.executable}' -m ckpt_tui ls '{art_base}' -p demo -r agent-001 | head -1",
                          shell=True, capture_output=True, text=True, env=env)
    assert done.stdout.startswith("demo/agent-001") and "Broken pipe" not in done.stderr


@pytest.mark.app
def test_demo_opens_the_app_on_a_generated_tree_and_cleans_up(monkeypatch):
    import ckpt_tui.app

    seen = {}

    def fake_run_app(location, **options):
        location = location()  # the app builds the demo in a worker, once on screen
        seen["location"] = Path(location)
        seen["runs"] = json.loads(subprocess.run(
            [sys.executable, "-m", "ckpt_tui", "ls", location, "--json"], capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}).stdout)["runs"]
        return 0

    monkeypatch.setattr(ckpt_tui.app, "run_app", fake_run_app)
    assert main(["--demo"]) == 0
    assert len(seen["runs"]) == 6 and not seen["location"].exists()


def test_app_options_give_the_app_its_policy(monkeypatch, art_base):
    import ckpt_tui.app

    seen = {}
    monkeypatch.setattr(ckpt_tui.app, "run_app", lambda location, **options: seen.update(options) or 0)
    assert main([str(art_base), "--metric", "train/loss", "--mode", "max", "--keep", "best,latest,last:3"]) == 0
    flags = seen["flags"]  # over the location's saved policies, as for prune
    assert (flags.metric, flags.mode, flags.keep) == ("train/loss", "max", "best,latest,last:3")
    assert seen["auto_metric"] is False  # a metric given by name is held to, as prune does
    assert main([str(art_base)]) == 0 and seen["auto_metric"] is True
    assert seen["flags"].values() == {}  # nothing given: the saved policies, then the defaults


def test_a_missing_location_exits_2_before_the_app_starts(monkeypatch, tmp_path, capsys):
    import ckpt_tui.app

    monkeypatch.setattr(ckpt_tui.app, "run_app", lambda *a, **k: pytest.fail("the app started"))
    code, out, err = run_cli(capsys, tmp_path / "nowhere")
    assert code == 2 and out == "" and err.strip() == f"ckpt-tui: no directory at {tmp_path / 'nowhere'}"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code, _, err = run_cli(capsys, a_file)
    assert code == 2 and err.strip() == f"ckpt-tui: not a directory: {a_file}"
    monkeypatch.chdir(tmp_path)  # plain ckpt-tui without ./.art: one line saying what to pass
    code, out, err = run_cli(capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("ckpt-tui: no directory at ./.art;") and "ckpt-tui PATH" in err


@pytest.mark.parametrize("command", [["ls"], ["ls", "--json"], ["prune", "--yes"], ["watch"], ["offload", "--yes"],
                                     ["path", "--latest"], ["fork", "--project", "p", "--run", "r", "--to", "n"]],
                         ids=lambda c: " ".join(c))
def test_every_command_refuses_a_missing_location_as_bad_usage(tmp_path, capsys, command):
    missing = tmp_path / "nowhere"
    code, out, err = run_cli(capsys, command[0], missing, *command[1:])
    assert (code, out) == (2, "")
    assert err.strip() == f"ckpt-tui: no directory at {missing}"


def test_ls_and_the_app_show_the_same_metric_on_a_trainer_directory(hf_fixture, capsys):
    from ckpt_tui.core.retention import DEFAULT_METRIC, metric_for
    from ckpt_tui.stores.local import LocalStore

    code, out, _ = run_cli(capsys, "ls", hf_fixture)
    run = LocalStore(hf_fixture).load_run("hf-trainer", "lora-adapter")
    shown = metric_for(run.metrics.names(), DEFAULT_METRIC)  # what the app picks for this run
    line = next(l for l in out.splitlines() if "lora-adapter" in l)
    assert code == 0 and shown == "eval_loss" and f"({shown} " in line


def test_a_refused_prune_says_why_once(art_base, capsys):
    code, out, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001",
                             "--metric", "val/nope", "--dry-run")
    assert code == 2
    assert (out + err).count("'val/nope' is not logged") == 1


def test_ls_and_the_app_choose_metric_columns_by_one_rule(art_base, capsys):
    from ckpt_tui.core.retention import metric_columns
    from ckpt_tui.stores.local import LocalStore

    run = LocalStore(art_base).load_run("demo", "agent-001")
    code, out, _ = run_cli(capsys, "ls", art_base, "-r", "agent-001", "--metric", "train/loss")
    header = out.splitlines()[1].split()
    assert header[3:-1] == metric_columns(run.metrics.names(), "train/loss")[:4]
    assert header[3] == "train/loss"


@pytest.mark.parametrize("argv", [
    ["ls"], ["ls", "loc", "--json", "-p", "a"], ["ls", "--js", "x"], ["ls", "--", "-odd"],
    ["ls", "--mode", "bad"], ["ls", "-h"], ["prune", "x", "-n", "--keep", "last:2", "--yes"],
    ["prune", "--smoothing", "x"], ["fork", "x"], ["fork", "x", "--to", "y", "--step", "1", "--not-after-step", "2"],
    ["path", "x"], ["path", "x", "--best", "--metric", "m"],
    ["watch", "x", "--interval", "5", "--json"], ["watch", "--interval"]])
def test_a_command_parsed_alone_reads_as_the_whole_parser_reads_it(argv, capsys, monkeypatch):
    """``parse_command`` builds only the command's parser: the same arguments, the same help,
    and the same errors (exit 2) as the parser of every command (arguments left unread aside: the
    command's own usage names them, tests/test_cli_edges.py)."""
    from ckpt_tui.cli import build_command_parser, parse_command

    monkeypatch.setenv("COLUMNS", "100")

    def outcome(parse) -> tuple:
        try:
            result = vars(parse())
        except SystemExit as exc:
            result = exc.code
        return result, capsys.readouterr()

    assert outcome(lambda: parse_command(argv)) == outcome(lambda: build_command_parser(argv[0]).parse_args(argv))
