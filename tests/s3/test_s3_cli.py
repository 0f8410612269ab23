"""``ckpt-tui ls|prune|fork s3://...`` end to end, with --endpoint-url."""

from __future__ import annotations

import json
from pathlib import Path

from ckpt_tui.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ls_prune_and_fork(art_bucket, capsys, tmp_path: Path):
    at = ["--endpoint-url", art_bucket.endpoint]
    code, out, _ = run_cli(capsys, "ls", art_bucket.url, *at, "--json")
    listing = json.loads(out)
    assert code == 0 and listing["location"] == art_bucket.url
    assert [(r["run"], r["layout"], r["latest_step"]) for r in listing["runs"]] == [
        ("agent-001", "art", 11), ("agent-002", "art", 5), ("agent-legacy", "art-legacy", 3)]
    assert listing["runs"][0]["checkpoints"][4]["metrics"]["val/reward"] > 0

    code, out, _ = run_cli(capsys, "ls", art_bucket.url, *at, "-p", "demo", "-r", "agent-002")
    assert code == 0 and "demo/agent-002" in out and len(out.splitlines()) == 2 + 6

    code, out, _ = run_cli(capsys, "prune", art_bucket.url, *at, "-r", "agent-001", "--dry-run")
    assert code == 0 and "delete  10 step(s): 0-9" in out
    assert len(art_bucket.keys("demo/models/agent-001/checkpoints/")) == 24

    code, out, _ = run_cli(capsys, "prune", art_bucket.url, *at, "-r", "agent-001", "--yes", "--json")
    report = json.loads(out)
    assert code == 0 and [d["step"] for d in report["plans"][0]["deleted"]] == list(range(10))
    assert {k.split("/")[4] for k in art_bucket.keys("demo/models/agent-001/checkpoints/")} == {"0010", "0011"}
    assert len(art_bucket.keys("demo/models/agent-002/checkpoints/")) == 12

    code, out, _ = run_cli(capsys, "fork", art_bucket.url, *at, "-p", "demo", "-r", "agent-001",
                           "--to", "agent-001-from-10", "--step", "10", "--with-history", "--json")
    fork = json.loads(out)
    assert code == 0 and fork["step"] == 10
    assert fork["location"] == f"{art_bucket.url}/demo/models/agent-001-from-10/checkpoints/0010/"

    local = tmp_path / ".art"
    code, out, _ = run_cli(capsys, "fork", art_bucket.url, *at, "-p", "demo", "-r", "agent-002",
                           "--to", "agent-002", "--to-location", str(local))
    assert code == 0 and (local / "demo/models/agent-002/checkpoints/0005/adapter_config.json").is_file()

    code, _, err = run_cli(capsys, "fork", art_bucket.url, *at, "-p", "demo", "-r", "agent-001",
                           "--to", "agent-001-from-10", "--step", "10")
    assert code == 2 and "a fork creates a new run" in err


def test_path_prints_the_url(art_bucket, capsys):
    at = ["--endpoint-url", art_bucket.endpoint]
    code, out, _ = run_cli(capsys, "path", art_bucket.url, *at, "-p", "demo", "-r", "agent-001", "--best")
    assert code == 0 and out == f"{art_bucket.url}/demo/models/agent-001/checkpoints/0010/\n"
    code, out, _ = run_cli(capsys, "path", art_bucket.url, *at, "-p", "demo", "-r", "agent-002", "--latest", "--json")
    assert code == 0 and json.loads(out)["path"] == f"{art_bucket.url}/demo/models/agent-002/checkpoints/0005/"
