"""Offload from one directory to another: plan, copy + verify + delete, conflicts, resuming, crashes."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from offload_helpers import RUN, assert_whole_somewhere, cli_killed_at_call, killed, listed, step_contents

from ckpt_tui.cli import main

pytestmark = pytest.mark.usefixtures("no_terminal")

LOCAL = "ckpt_tui.stores.backends.local:LocalBackend"
KILL_POINTS = [f"{LOCAL}.{name}" for name in ("copy_from", "rename", "write", "delete_tree", "make_dirs", "open",
                                                 "open_listed")]


def offload(base: Path, remote: Path, *extra: str, capsys=None) -> tuple[int, dict]:
    code = main(["offload", str(base), "--to", str(remote), "--yes", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_the_plan_moves_what_the_local_rules_do_not_keep_and_changes_nothing(art_base, tmp_path, capsys):
    before = step_contents(art_base / RUN / "checkpoints")
    code = main(["offload", str(art_base), "--to", str(tmp_path / "remote"), "-p", "demo", "-r", "agent-001",
                 "--keep-local", "best,latest,last:3", "--dry-run", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    [run] = document["runs"]
    assert run["best_step"] == 10 and run["latest_step"] == 11
    assert [d["step"] for d in run["offload"]["planned"]] == list(range(9))
    assert run["offload"]["disk"] == 12 and run["offload"]["remote"] == 0
    assert document["planned_freed_bytes"] == sum(d["bytes"] for d in run["offload"]["planned"]) > 0
    assert step_contents(art_base / RUN / "checkpoints") == before and not (tmp_path / "remote").exists()


def test_offload_copies_verifies_then_deletes_and_the_copy_is_a_location_of_its_own(art_base, tmp_path, capsys):
    remote = tmp_path / "remote"
    before = step_contents(art_base / RUN / "checkpoints")
    history = (art_base / RUN / "history.jsonl").read_bytes()
    code, document = offload(art_base, remote, "-p", "demo", "-r", "agent-001", capsys=capsys)
    assert code == 0, document
    result = document["runs"][0]["result"]
    assert [d["step"] for d in result["copied"]] == list(range(10)) == [d["step"] for d in result["deleted"]]
    assert result["copied_bytes"] == result["freed_bytes"] > 0 and result["conflicts"] == []
    assert step_contents(art_base / RUN / "checkpoints") == {k: before[k] for k in ("0010", "0011")}
    there = step_contents(remote / RUN / "checkpoints")
    assert there == {k: v for k, v in before.items() if k not in ("0010", "0011")}
    assert (remote / RUN / "history.jsonl").read_bytes() == history
    assert [p.name for p in (remote / RUN / "checkpoints").iterdir() if p.name.startswith(".")] == []
    # The copy reads as a location: metrics from its history, path and fork on it.
    runs = listed([str(remote)], capsys)
    assert sorted(runs[("demo", "agent-001")]) == sorted(there)
    assert main(["path", str(remote), "-p", "demo", "-r", "agent-001", "--step", "4"]) == 0
    assert capsys.readouterr().out.strip() == str(remote / RUN / "checkpoints" / "0004")
    assert main(["path", str(remote), "-p", "demo", "-r", "agent-001", "--best"]) == 0
    assert capsys.readouterr().out.strip().endswith("0008")  # the best of what is there
    # ... and fork brings a step back.
    assert main(["fork", str(remote), "-p", "demo", "-r", "agent-001", "--step", "4", "--to", "back",
                 "--to-location", str(art_base)]) == 0
    assert step_contents(art_base / "demo/models/back/checkpoints") == {"0004": before["0004"]}


def test_ls_says_where_each_step_is_and_what_offload_frees(art_base, tmp_path, capsys):
    remote = tmp_path / "remote"
    (art_base / ".ckpt-tui.toml").write_text(f'offload = {{ to = "{remote}", keep_local = "latest" }}\n')
    assert main(["offload", str(art_base), "-p", "demo", "-r", "agent-002", "--keep-local", "best,latest",
                 "--yes"]) == 0
    capsys.readouterr()
    assert main(["ls", str(art_base), "--json"]) == 0
    runs = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    view = runs["agent-002"]["offload"]
    assert view["to"] == str(remote)
    assert {s["step"]: s["where"] for s in view["steps"]} == {0: "remote", 1: "remote", 2: "remote", 3: "disk",
                                                                4: "remote", 5: "disk"}
    # The file's rules keep only the latest here: the best (3) would go too; latest and best stay whatever.
    assert [s["step"] for s in view["planned"]] == [] and view["frees_bytes"] == 0
    assert runs["agent-001"]["offload"]["disk"] == 12
    assert runs["agent-001"]["offload"]["frees_bytes"] == sum(c["bytes"] for c in runs["agent-001"]["checkpoints"]
                                                              if c["step"] not in (10, 11))
    assert main(["ls", str(art_base)]) == 0
    assert f"offload to {remote}: 2 on disk only, 0 in both, 4 there only" in capsys.readouterr().out


def test_an_object_there_with_other_content_is_never_overwritten(art_base, tmp_path, capsys):
    remote = tmp_path / "remote"
    clash = remote / RUN / "checkpoints" / "0003" / "adapter_config.json"
    clash.parent.mkdir(parents=True)
    clash.write_text("{}")
    code = main(["offload", str(art_base), "--to", str(remote), "-p", "demo", "-r", "agent-001", "--yes"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"step 3 not offloaded: {clash} holds 2 bytes, not" in captured.err
    assert clash.read_text() == "{}"
    assert (art_base / RUN / "checkpoints" / "0003").is_dir()  # kept here
    assert not (art_base / RUN / "checkpoints" / "0002").exists()  # the others went
    assert "copied 9 step(s)" in captured.out


def test_a_step_there_with_the_same_content_counts_as_offloaded(art_base, tmp_path, capsys):
    remote = tmp_path / "remote"
    shutil.copytree(art_base / RUN / "checkpoints" / "0005", remote / RUN / "checkpoints" / "0005")
    code, document = offload(art_base, remote, "-p", "demo", "-r", "agent-001", capsys=capsys)
    result = document["runs"][0]["result"]
    assert code == 0 and [d["step"] for d in result["already_there"]] == [5]
    assert 5 in [d["step"] for d in result["deleted"]] and 5 not in [d["step"] for d in result["copied"]]


def test_a_copy_that_does_not_match_is_not_published_and_nothing_is_deleted(art_base, tmp_path, capsys,
                                                                             monkeypatch):
    from ckpt_tui.stores.backends.local import LocalBackend

    real = LocalBackend.copy_from

    def corrupting(self, other, source, target, done=None):
        real(self, other, source, target, done)
        if source.endswith("0004/adapter_model.safetensors"):
            with open(self._abs(target), "r+b") as handle:
                handle.write(b"X")

    monkeypatch.setattr(LocalBackend, "copy_from", corrupting)
    remote = tmp_path / "remote"
    code = main(["offload", str(art_base), "--to", str(remote), "-p", "demo", "-r", "agent-001", "--yes"])
    assert code == 1 and "step 4 not offloaded: the copy does not match: " in \
        capsys.readouterr().err
    assert (art_base / RUN / "checkpoints" / "0004").is_dir()
    assert not (remote / RUN / "checkpoints" / "0004").exists()
    assert [p.name for p in (remote / RUN / "checkpoints").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("point", ["copy_from", "rename", "delete_tree"])
def test_an_offload_killed_part_way_is_resumed(art_base, tmp_path, capsys, point):
    remote = tmp_path / "remote"
    original = step_contents(art_base / RUN / "checkpoints")
    args = ["offload", art_base, "--to", remote, "-p", "demo", "-r", "agent-001", "--yes"]
    # Killed at the 4th call: a copy, a publication or a deletion under way.
    assert killed(cli_killed_at_call(4, [f"{LOCAL}.{point}"], *args))
    remote_complete = set(listed([str(remote)], capsys).get(("demo", "agent-001"), {}))
    assert_whole_somewhere(original, step_contents(art_base / RUN / "checkpoints"),
                           step_contents(remote / RUN / "checkpoints"), remote_complete)
    assert main([str(a) for a in args]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert step_contents(art_base / RUN / "checkpoints") == {k: original[k] for k in ("0010", "0011")}
    assert step_contents(remote / RUN / "checkpoints") == {k: v for k, v in original.items()
                                                           if k not in ("0010", "0011")}
    assert not [p for p in (art_base / RUN / "checkpoints").iterdir() if p.name.startswith(".")]
    assert not [p for p in (remote / RUN / "checkpoints").iterdir() if p.name.startswith(".")]


def test_offloads_killed_at_random_points_never_lose_a_step(art_base, tmp_path, capsys):
    remote = tmp_path / "remote"
    original = step_contents(art_base / RUN / "checkpoints")
    args = ["offload", art_base, "--to", remote, "-p", "demo", "-r", "agent-001", "--yes"]
    chance = random.Random(20)
    kills = 0
    for _ in range(12):
        done = cli_killed_at_call(chance.randint(1, 120), KILL_POINTS, *args)
        kills += killed(done)
        remote_complete = set(listed([str(remote)], capsys).get(("demo", "agent-001"), {})) \
            if remote.exists() else set()
        assert_whole_somewhere(original, step_contents(art_base / RUN / "checkpoints"),
                               step_contents(remote / RUN / "checkpoints"), remote_complete)
        if not killed(done):
            break
    assert kills >= 1
    assert main([str(a) for a in args]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert step_contents(art_base / RUN / "checkpoints") == {k: original[k] for k in ("0010", "0011")}
    assert step_contents(remote / RUN / "checkpoints") == {k: v for k, v in original.items()
                                                           if k not in ("0010", "0011")}


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--json"], ["-p", "demo", "-r", "agent-001"]])
def test_offload_without_a_target_is_bad_usage_in_one_line(art_base, capsys, extra):
    assert main(["offload", str(art_base), "--yes", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert captured.err.startswith("ckpt-tui: no offload target: pass --to REMOTE") and ".ckpt-tui.toml" in captured.err
    assert (art_base / RUN / "checkpoints" / "0000").is_dir()


def test_runs_without_a_target_beside_runs_with_one_are_named_and_skipped(art_base, tmp_path, capsys):
    remote = tmp_path / "remote"
    (art_base / ".ckpt-tui.toml").write_text(f'[projects.demo.runs.agent-001]\noffload = {{ to = "{remote}" }}\n')
    assert main(["offload", str(art_base), "--yes"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "demo/agent-002: no offload target (pass --to, or set offload in .ckpt-tui.toml)" in captured.err
    assert (remote / RUN / "checkpoints" / "0000").is_dir() and not (art_base / RUN / "checkpoints" / "0000").exists()


def test_a_bad_offload_key_is_one_line_and_exit_2(art_base, capsys):
    (art_base / ".ckpt-tui.toml").write_text('offload = { to = "relative/dir" }\n')
    assert main(["offload", str(art_base), "--yes"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ckpt-tui: {art_base}/.ckpt-tui.toml: offload: \"to\" must be an absolute path or a URL, "
        "not 'relative/dir'")


def test_watch_offloads_runs_whose_policy_has_an_offload_key(art_base, tmp_path):
    from ckpt_tui.stores.local import LocalStore
    from ckpt_tui.watch import Watch

    remote = tmp_path / "remote"
    original = step_contents(art_base / RUN / "checkpoints")
    (art_base / ".ckpt-tui.toml").write_text(
        f'[projects.demo.runs.agent-001]\noffload = {{ to = "{remote}", keep_local = "latest,last:2" }}\n')
    events = []
    watch = Watch(LocalStore(art_base), "demo", report=events.append)
    watch.cycle()
    assert sorted(step_contents(art_base / RUN / "checkpoints")) == ["0010", "0011"]
    assert step_contents(remote / RUN / "checkpoints") == {k: v for k, v in original.items()
                                                           if k not in ("0010", "0011")}
    offloaded = [e for e in events if e.action == "offloaded"]
    assert [e.step for e in offloaded] == list(range(10)) and offloaded[0].reasons == (f"to {remote}",)
    assert not [e for e in events if e.problem]
    # agent-002 has no offload key: it is pruned as before, nothing of it goes anywhere.
    assert sorted(p.name for p in (art_base / "demo/models/agent-002/checkpoints").iterdir()) == ["0003", "0005"]
    assert not (remote / "demo/models/agent-002/checkpoints").exists()
    # New steps, a new best among them: the best so far (10, kept whatever the rules) and 11 go too.
    for step in (12, 13):
        shutil.copytree(art_base / RUN / "checkpoints" / "0011", art_base / RUN / "checkpoints" / f"{step:04d}")
        with open(art_base / RUN / "history.jsonl", "a") as history:
            history.write(json.dumps({"step": step, "val/reward": 0.9 + step / 100}) + "\n")
    events.clear()
    watch.cycle()
    assert [e.step for e in events if e.action == "offloaded"] == [10, 11]
    assert sorted(step_contents(art_base / RUN / "checkpoints")) == ["0012", "0013"]
    assert step_contents(remote / RUN / "checkpoints")["0010"] == original["0010"]
    assert (remote / RUN / "history.jsonl").read_bytes() == (art_base / RUN / "history.jsonl").read_bytes()


def test_progress_shows_bytes_and_rate(capsys, monkeypatch):
    from ckpt_tui import offload_command

    clock = iter([0.0, 2.0, 4.0])
    monkeypatch.setattr(offload_command.time, "monotonic", lambda: next(clock))
    progress = offload_command.Progress("demo/run", show=True)
    progress(50_000_000, 100_000_000)
    progress(100_000_000, 100_000_000)
    assert capsys.readouterr().err == ("\roffloading demo/run: 50.0 MB / 100.0 MB, 25.0 MB/s   "
                                       "\roffloading demo/run: 100.0 MB / 100.0 MB, 25.0 MB/s   \n")
