"""Hostile input: damaged history files and names that try to leave the location."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli

from ckpt_tui.core import InvalidName, list_runs
from ckpt_tui.core.metrics import parse_history_lines, read_history_records
from ckpt_tui.core.names import validate_project
from ckpt_tui.stores.local import LocalStore

pytestmark = pytest.mark.usefixtures("no_terminal")

MODELS = "demo/models"


HOSTILE_LINES = {
    "huge integer value": '{"step": 4, "val/reward": 1' + "0" * 400 + "}",
    "huge integer step": '{"step": 1' + "0" * 400 + ', "val/reward": 0.5}',
    "integer past json's digit limit": '{"step": 4, "val/reward": ' + "9" * 5000 + "}",
    "deep nesting": '{"step": 4, "x": ' + "[" * 6000 + "]" * 6000 + "}",
    "deep nesting, no object": "[" * 100_000,
    "10 MB line": '{"step": 4, "pad": "' + "x" * 10_000_000 + '"}',
    "binary garbage": "\x00\xff\ufffd\x1b[2J\x07",
    "Infinity": '{"step": 4, "val/reward": Infinity}',
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_LINES))
def test_a_hostile_history_line_is_counted_and_skipped(kind):
    metrics = parse_history_lines(['{"step": 3, "val/reward": 0.7}', HOSTILE_LINES[kind],
                                   '{"step": 5, "val/reward": 0.2}'])
    assert metrics.value(3, "val/reward") == 0.7 and metrics.value(5, "val/reward") == 0.2
    assert metrics.value(4, "val/reward") is None
    assert metrics.malformed + metrics.ignored >= 1 or kind == "10 MB line"
    assert all(0 <= step < 2**63 for step in metrics.by_step)


def test_a_byte_order_mark_does_not_cost_the_first_line():
    records, malformed = read_history_records(['\ufeff{"step": 1, "val/reward": 0.5}', '{"step": 2}'])
    assert malformed == 0 and [r["step"] for r in records] == [1, 2]


def test_lines_are_separated_by_newline_only():
    text = '{"step": 1,\r "val/reward": 0.25}\r\n{"step": 2, "val/reward": 0.5}\n'
    metrics = parse_history_lines(text.split("\n"))
    assert metrics.malformed == 0
    assert metrics.value(1, "val/reward") == 0.25 and metrics.value(2, "val/reward") == 0.5


def write_hostile_history(base: Path) -> Path:
    """agent-001's history with every hostile line in it, and a BOM in front."""
    history = base / MODELS / "agent-001" / "history.jsonl"
    text = history.read_text()
    lines = ["\ufeff" + text.rstrip("\n"), *HOSTILE_LINES.values(), '{"step": 7,\r "val/reward": 0.99}']
    history.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\n\xc3\x28\xa0\xa1\n")
    return history


def test_ls_and_prune_survive_a_hostile_history(art_base, capsys):
    write_hostile_history(art_base)
    code, out, err = run_cli(capsys, "ls", art_base, "--json")
    assert code == 0 and "Traceback" not in err
    run = next(r for r in json.loads(out)["runs"] if r["run"] == "agent-001")
    assert run["malformed_history_lines"] >= 4
    # The line with a bare \r inside still counts: step 7 becomes the best.
    assert next(c for c in run["checkpoints"] if c["step"] == 7)["metrics"]["val/reward"] == 0.99
    code, out, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001", "--yes", "--json")
    assert code == 0 and "Traceback" not in err
    plan = json.loads(out)["plans"][0]
    assert plan["best_step"] == 7 and {k["step"] for k in plan["keep"]} == {7, 11}
    assert sorted(p.name for p in (art_base / MODELS / "agent-001" / "checkpoints").iterdir()) == ["0007", "0011"]


@pytest.mark.parametrize("name", ["p/../p", "..", ".", "a//b", "/abs", "a/", "x/./y", "bad\nname"])
def test_bad_project_selectors_are_invalid(name):
    with pytest.raises(InvalidName):
        validate_project(name)


@pytest.mark.parametrize("name", ["demo", "team/demo", "a b/c-d_e.f"])
def test_good_project_selectors_pass(name):
    assert validate_project(name) == name


@pytest.mark.parametrize("args", [
    ["ls", "{base}", "--project", ".."],
    ["ls", "{base}", "--project", "demo", "--run", "../x"],
    ["ls", "{base}", "--project", "p/../p"],
    ["ls", "{base}", "--project", "demo/../demo"],
    ["prune", "{base}", "--project", "..", "--dry-run"],
    ["prune", "{base}", "--project", "demo", "--run", "../agent-001", "--yes"],
    ["fork", "{base}", "--project", "../demo", "--run", "agent-001", "--to", "x"],
    ["fork", "{base}", "--project", "demo", "--run", "agent-001/..", "--to", "x"],
])
def test_bad_names_are_bad_usage(art_base, capsys, args):
    before = sorted(str(p.relative_to(art_base)) for p in art_base.rglob("*"))
    code, out, err = run_cli(capsys, *[a.format(base=art_base) for a in args])
    assert code == 2, err
    assert err.startswith("ckpt-tui: ") and len(err.strip().splitlines()) == 1 and "'..'" in err
    assert sorted(str(p.relative_to(art_base)) for p in art_base.rglob("*")) == before


def test_a_missing_but_well_formed_name_is_still_not_found(art_base, capsys):
    code, _, err = run_cli(capsys, "ls", art_base, "--project", "nope")
    assert code == 1 and "no project 'nope'" in err
    with pytest.raises(InvalidName):
        list_runs(LocalStore(art_base), "demo", "..")
