"""Saved policies: ``.ckpt-tui.toml`` read by ls and prune, flags over run over project over location."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import Policy, Refused, Rule
from ckpt_tui.core.store import Store
from ckpt_tui.policy_file import (POLICY_FILE, InvalidPolicyFile, Settings, flag_settings, load, parse,
                                  save_run_policy)
from ckpt_tui.stores.local import LocalStore

CKPTS = "demo/models/{}/checkpoints"
LAYERED = """\
# the team's defaults
keep = "best,latest,last:3"
metric = "train/reward"

[projects.demo]
mode = "max"
full = "best"

[projects.demo.runs.agent-001]  # the one we compare against
metric = "train/loss"
mode = "min"
pins = [2]
full = "latest"
"""


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def steps(base: Path, run: str) -> set[int]:
    return {int(p.name) for p in (base / CKPTS.format(run)).iterdir() if p.name.isdigit()}


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_most_specific_setting_wins_and_flags_win_over_the_file():
    policies = parse(LAYERED, "base/.ckpt-tui.toml")
    assert policies.policy("demo", "agent-001") == Policy(
        (Rule("best"), Rule("latest"), Rule("last", 3), Rule("step", 2)), "train/loss", "min", full=(Rule("latest"),))
    assert policies.policy("demo", "agent-002") == Policy.parse("best,latest,last:3", "train/reward", "max",
                                                                full="best")
    assert policies.policy("other", "run") == Policy.parse("best,latest,last:3", "train/reward", "auto")
    assert parse("", "f").policy("demo", "x") == Policy.parse()  # the built-in defaults

    flags = flag_settings(metric="val/reward", keep="latest")
    chosen = policies.policy("demo", "agent-001", flags)
    # --keep replaces the rules, but a pinned step stays pinned.
    assert (chosen.metric, chosen.mode, chosen.rules) == ("val/reward", "min", (Rule("latest"), Rule("step", 2)))
    assert policies.origin("demo", "agent-001", "mode") == "base/.ckpt-tui.toml: projects.demo.runs.agent-001.mode"
    assert policies.origin("demo", "agent-002", "keep") == "base/.ckpt-tui.toml: keep"
    assert policies.origin("demo", "agent-001", "keep", flags) == "--keep"
    assert policies.origin("demo", "agent-001", "smoothing") is None
    assert policies.policy("demo", "agent-002").full == (Rule("best"),)
    assert policies.source("demo", "agent-002") == "base/.ckpt-tui.toml"
    every_flag = flag_settings("val/reward", "max", "latest", 0.5)
    assert parse('[projects.demo]\nmode = "min"', "f").source("demo", "x", every_flag) is None


@pytest.mark.parametrize(("text", "named"), [
    ('keep = "best,lastest"', "keep: unknown rule 'lastest'"),
    ('kep = "best"', "kep: unknown key"),
    ('[projects.demo.runs.agent-001]\nmode = "highest"', "projects.demo.runs.agent-001.mode: must be"),
    ('[projects.demo.runs.agent-001]\npins = [3, "4"]', "projects.demo.runs.agent-001.pins: must be a list"),
    ('[projects."lit/logs"]\nsmoothing = 1.5', 'projects."lit/logs".smoothing: must be a number in (0, 1]'),
    ('[projects.demo]\nfull = "every:0"', "projects.demo.full: rule 'every:0' needs a number of at least 1"),
    ('[projects.demo]\nruns = "agent-001"', "projects.demo.runs: must be a table"),
    ('[projects.demo.runs]\nagent-001 = 3', "projects.demo.runs.agent-001: must be a table"),
    ('keep = "best"\nkeep = "latest"', "not valid TOML"),
    ('metric = ""', "metric: must be a metric name"),
])
def test_an_invalid_file_is_one_line_naming_the_file_and_the_key(text, named):
    with pytest.raises(InvalidPolicyFile) as error:
        parse(text, "/runs/.ckpt-tui.toml")
    message = str(error.value)
    assert message.startswith("/runs/.ckpt-tui.toml: ") and named in message and "\n" not in message


def test_metric_none_with_rules_that_need_one_names_both_places():
    policies = parse('[projects.demo]\nmetric = "none"\n', "f.toml")
    with pytest.raises(InvalidPolicyFile, match=r"'best,latest' \(default\) need a metric.*f.toml: projects.demo.metric"):
        policies.policy("demo", "agent-001")
    assert policies.policy("demo", "agent-001", flag_settings(keep="latest,last:2")).metric is None
    assert policies.policy("other", "x").metric == "val/reward"


def test_prune_follows_the_file_and_flags_override_it(art_base, capsys):
    (art_base / POLICY_FILE).write_text(LAYERED)
    code, out, _ = run_cli(capsys, "prune", art_base, "--dry-run", "--json")
    plans = {p["run"]: p for p in json.loads(out)["plans"]}
    assert code == 0
    # train/loss (min) is lowest at 10; last 3 are 9-11; 2 is pinned.
    assert {k["step"] for k in plans["agent-001"]["keep"]} == {2, 9, 10, 11}
    assert plans["agent-001"]["rules"] == "best,latest,last:3,step:2"
    assert (plans["agent-002"]["metric"], plans["agent-002"]["mode"]) == ("train/reward", "max")

    code, out, _ = run_cli(capsys, "prune", art_base, "-r", "agent-001", "--keep", "latest", "--metric", "none",
                           "--yes", "--json")
    assert code == 0 and steps(art_base, "agent-001") == {2, 11}


def test_an_invalid_file_stops_prune_before_anything_is_deleted(art_base, capsys):
    (art_base / POLICY_FILE).write_text('[projects.demo.runs.agent-002]\nkeep = "last:two"\n')
    code, out, err = run_cli(capsys, "prune", art_base, "--yes")
    assert code == 2 and out == ""
    assert err.strip() == (f"ckpt-tui: {art_base}/{POLICY_FILE}: projects.demo.runs.agent-002.keep: "
                           "rule 'last' needs a whole number, e.g. last:5")
    assert steps(art_base, "agent-001") == set(range(12)) and steps(art_base, "agent-002") == set(range(6))


def test_ls_shows_best_by_the_file_metric(art_base, capsys):
    (art_base / POLICY_FILE).write_text('[projects.demo.runs.agent-001]\nmetric = "train/loss"\n')
    code, out, _ = run_cli(capsys, "ls", art_base)
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and lines["demo/agent-001"].endswith("10 (train/loss 0.186)")
    assert "val/reward" in lines["demo/agent-002"]
    code, out, _ = run_cli(capsys, "ls", art_base, "--metric", "train/reward", "--mode", "min")
    assert "0 (train/reward 0.1411)" in out
    code, out, _ = run_cli(capsys, "ls", art_base, "-r", "agent-001")
    assert out.splitlines()[1].split()[3] == "train/loss"  # the first metric column


def test_saving_writes_the_run_section_and_keeps_the_rest(art_base):
    store = LocalStore(art_base)
    (art_base / POLICY_FILE).write_text(LAYERED)
    policy = Policy.parse("top:2,every:5,step:7,step:3", "val/reward", "max", 0.5)
    saved = save_run_policy(store, "demo", "agent-001", policy)
    text = (art_base / POLICY_FILE).read_text()
    assert "# the team's defaults" in text and "# the one we compare against" in text
    assert saved == load(store) and saved.policy("demo", "agent-001") == Policy(
        (Rule("top", 2), Rule("every", 5), Rule("step", 3), Rule("step", 7)), "val/reward", "max", 0.5,
        full=(Rule("latest"),))
    assert saved.runs[("demo", "agent-001")].pins == (3, 7)
    assert saved.runs[("demo", "agent-001")].full == "latest"  # the app does not set it: left as it was
    assert saved.projects["demo"] == parse(LAYERED).projects["demo"]  # full, mode untouched

    save_run_policy(store, "lit/logs", "version.0", Policy.parse("latest", "none"))
    again = load(store)
    assert again.policy("lit/logs", "version.0") == Policy.parse("latest", "none")
    assert again.policy("demo", "agent-001") == saved.policy("demo", "agent-001")


def test_saving_creates_the_file_and_never_overwrites_one_it_cannot_read(art_base):
    store = LocalStore(art_base)
    saved = save_run_policy(store, "demo", "agent-002", Policy.parse("best,latest,step:1", "train/loss"))
    assert saved.path == f"{art_base}/{POLICY_FILE}" and saved.text.startswith("# ckpt-tui")
    assert load(store).policy("demo", "agent-002").pins == {1}

    for bad in ('keep = "nope"', 'projects = { demo = { runs = { a = { keep = "latest" } } } }'):
        (art_base / POLICY_FILE).write_text(bad)
        with pytest.raises(InvalidPolicyFile, match=POLICY_FILE):
            save_run_policy(store, "demo", "agent-002", Policy.parse())
        assert (art_base / POLICY_FILE).read_text() == bad


def test_stores_without_files_have_no_policy(art_base):
    class Bare(LocalStore):
        read_location_file = Store.read_location_file
        write_location_file = Store.write_location_file

    store = Bare(art_base)
    assert not load(store).exists and load(store).policy("demo", "x") == Policy.parse()
    with pytest.raises(Refused, match="cannot hold"):
        save_run_policy(store, "demo", "agent-001", Policy.parse())
    with pytest.raises(Refused, match="not a file name"):
        LocalStore(art_base).read_location_file("../outside.toml")


def test_settings_from_a_policy_keep_pins_apart():
    settings = Settings.from_policy(Policy.parse("step:4,latest", "none"))
    assert settings == Settings("none", "auto", "latest", None, None, (4,))
