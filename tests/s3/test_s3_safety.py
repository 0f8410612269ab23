"""Stores claimed by markers (S3, memory): a prune killed before it removed its deletion marker,
forks into existing runs, concurrent prunes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from memory_location import MemoryLocation

from ckpt_tui.cli import main
from ckpt_tui.stores.claims import DELETING_MARKER, MarkerClaims

pytestmark = pytest.mark.usefixtures("no_terminal")

RUN = "demo/models/agent-001"


class Killed(BaseException):
    """Stands for SIGKILL: no handler of ours runs."""


def cli(capsys, location, *args) -> tuple[int, dict | str, str]:
    code = main([str(a) for a in (args[0], location.url, *args[1:], *endpoint(location))])
    out, err = capsys.readouterr()
    return code, json.loads(out) if "--json" in args else out, err


def steps(location, run: str = RUN) -> set[str]:
    return {k.split("/")[4] for k in location.keys(f"{run}/checkpoints/") if not k.split("/")[4].startswith(".")}


def markers(location, run: str = RUN) -> set[str]:
    return {k for k in location.keys(f"{run}/checkpoints/") if k.split("/")[-1].startswith(DELETING_MARKER)}


def endpoint(location) -> list[str]:
    return ["--endpoint-url", location.endpoint] if location.endpoint else []


def age_objects(location, seconds: float) -> None:
    """Make every object already there look written ``seconds`` ago (moto runs in this process)."""
    if isinstance(location, MemoryLocation):
        return location.age(seconds)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[location.bucket]
    for key in bucket.keys.values():
        if key.name.startswith(location.prefix):
            key.last_modified -= timedelta(seconds=seconds)


def kill_prune_before_its_marker_goes(monkeypatch, capsys, location) -> None:
    """Prune agent-001 (steps 0-9 go) and die after the deletions, before the marker is removed."""
    def die(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(MarkerClaims, "_sweep", die)
        with pytest.raises(Killed):
            main(["prune", location.url, *endpoint(location), "-p", "demo", "-r", "agent-001", "--yes"])
    capsys.readouterr()
    assert steps(location) == {"0010", "0011"} and len(markers(location)) == 1


def upload_step(location, step: int, like: int = 0) -> None:
    source = location.local / RUN / "checkpoints" / f"{like:04d}"
    for path in source.iterdir():
        location.put(f"{RUN}/checkpoints/{step:04d}/{path.name}", path.read_bytes())


def test_a_prune_with_nothing_to_delete_finishes_a_stale_marker(claims_art, monkeypatch, capsys):
    kill_prune_before_its_marker_goes(monkeypatch, capsys, claims_art)
    code, listed, _ = cli(capsys, claims_art, "ls", "--json")
    run = next(r for r in listed["runs"] if r["run"] == "agent-001")
    assert code == 0 and any("interrupted delete" in note for note in run["notes"])
    code, out, err = cli(capsys, claims_art, "prune", "-p", "demo", "-r", "agent-001", "--yes")
    assert code == 0 and "delete 0 checkpoint(s)" in out and "interrupted" in err
    assert markers(claims_art) == set() and steps(claims_art) == {"0010", "0011"}
    code, listed, _ = cli(capsys, claims_art, "ls", "--json")
    assert next(r for r in listed["runs"] if r["run"] == "agent-001")["notes"] == []


def test_a_stale_marker_never_deletes_a_step_uploaded_again_since(aged_claims_art, monkeypatch, capsys):
    location = aged_claims_art
    age_objects(location, 3600)  # the checkpoints were written an hour ago
    kill_prune_before_its_marker_goes(monkeypatch, capsys, location)
    upload_step(location, 3, like=3)  # the very same bytes: the same ETags as recorded
    history = (location.local / RUN / "history.jsonl").read_text()
    for step in (12, 13):
        upload_step(location, step)
        history += json.dumps({"step": step, "val/reward": 0.1}) + "\n"
    location.put(f"{RUN}/history.jsonl", history.encode())
    code, out, err = cli(capsys, location, "fork", "-p", "demo", "-r", "agent-001", "--step", "3", "--to",
                         "agent-009", "--json")
    assert code == 0, err
    assert out["step"] == 3 and steps(location, "demo/models/agent-009") == {"0003"}
    assert markers(location) == set() and steps(location) == {"0003", "0010", "0011", "0012", "0013"}
    code, out, err = cli(capsys, location, "prune", "-p", "demo", "-r", "agent-001", "--keep",
                         "best,latest,step:3", "--yes", "--json")
    assert code == 0, err
    assert [d["step"] for d in out["plans"][0]["deleted"]] == [11, 12]
    assert steps(location) == {"0003", "0010", "0013"}
    assert len(location.keys(f"{RUN}/checkpoints/0003/")) == 2


def test_a_marker_left_with_a_step_uploaded_again_spares_it_when_finished(aged_claims_art, monkeypatch, capsys):
    location = aged_claims_art
    age_objects(location, 3600)
    kill_prune_before_its_marker_goes(monkeypatch, capsys, location)
    upload_step(location, 5, like=5)
    code, _, err = cli(capsys, location, "prune", "-p", "demo", "-r", "agent-001", "--keep", "best,latest,step:5",
                       "--yes")
    assert code == 0, err
    assert markers(location) == set() and steps(location) == {"0005", "0010", "0011"}


def test_fork_into_an_existing_run_is_refused(claims_art, capsys):
    before = claims_art.keys("demo/models/agent-002/")
    code, _, err = cli(capsys, claims_art, "fork", "-p", "demo", "-r", "agent-001", "--to", "agent-002")
    assert code == 2 and "already exists" in err and "a fork creates a new run" in err
    assert claims_art.keys("demo/models/agent-002/") == before
    code, out, _ = cli(capsys, claims_art, "prune", "-p", "demo", "-r", "agent-002", "--dry-run", "--json")
    assert out["plans"][0]["latest_step"] == 5


def test_a_prune_whose_steps_another_prune_deleted_first_succeeds(claims_art):
    from ckpt_tui.core import Policy, execute_plan, plan_run

    mine, other = claims_art.store(), claims_art.store()
    plan = plan_run(mine.load_run("demo", "agent-001"), Policy())
    first = execute_plan(other, plan_run(other.load_run("demo", "agent-001"), Policy()))
    second = execute_plan(mine, plan)
    assert first.ok and len(first.deleted) == 10
    assert second.ok and second.spared == [] and not second.cancelled
    assert {d.step for d in second.gone + second.deleted} == set(range(10))
    assert steps(claims_art) == {"0010", "0011"} and markers(claims_art) == set()
