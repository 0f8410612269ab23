"""Offload from a directory to S3 (moto and SeaweedFS): copied, verified by checksum, published whole,
then deleted here; conflicts refused; SIGKILL at random points never loses a step."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from offload_helpers import RUN, assert_whole_somewhere, cli_killed_at_call, killed, listed, step_contents

from ckpt_tui.cli import main
from ckpt_tui.core.checksums import MD5_OF_PARTS
from ckpt_tui.core.offload import execute_offload, plan_offload
from ckpt_tui.core.policy import Policies
from ckpt_tui.stores.claims import WRITING_MARKER
from ckpt_tui.stores.local import LocalStore

pytestmark = pytest.mark.usefixtures("no_terminal")

S3 = "ckpt_tui.stores.backends.s3:S3Backend"
LOCAL = "ckpt_tui.stores.backends.local:LocalBackend"
KILL_POINTS = [f"{S3}.{name}" for name in ("put_file", "create_new", "delete_files", "write", "walk")] + \
              [f"{LOCAL}.{name}" for name in ("rename", "delete_tree")]


def remote_steps(location, run: str = RUN) -> dict[str, dict[str, str]]:
    """Step folders under the run's checkpoints in the bucket: files -> sha256, as ``step_contents``."""
    steps: dict[str, dict[str, str]] = {}
    prefix = f"{run}/checkpoints/"
    for key in location.keys(prefix):
        rest = key[len(prefix):]
        name, _, path = rest.partition("/")
        if name.startswith(".") or not path:
            continue
        body = location.client.get_object(Bucket=location.bucket, Key=location.prefix + key)["Body"].read()
        steps.setdefault(name, {})[path] = hashlib.sha256(body).hexdigest()
    return steps


def args_to(location, base: Path, *extra: str) -> list[str]:
    return ["offload", str(base), "--to", location.url, "--endpoint-url", location.endpoint,
            "-p", "demo", "-r", "agent-001", "--yes", *extra]


def test_offload_to_s3_copies_verifies_then_deletes(art_base, s3_location, capsys):
    original = step_contents(art_base / RUN / "checkpoints")
    assert main([*args_to(s3_location, art_base), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["runs"][0]["result"]
    assert [d["step"] for d in result["deleted"]] == list(range(10))
    assert step_contents(art_base / RUN / "checkpoints") == {k: original[k] for k in ("0010", "0011")}
    assert remote_steps(s3_location) == {k: v for k, v in original.items() if k not in ("0010", "0011")}
    keys = s3_location.keys(RUN)
    assert f"{RUN}/history.jsonl" in keys and not any(WRITING_MARKER in k for k in keys)
    # The bucket reads as a location: ls, path and fork on the copy; fork brings a step back.
    location = [s3_location.url, "--endpoint-url", s3_location.endpoint]
    assert sorted(listed(location, capsys)[("demo", "agent-001")]) == [f"{n:04d}" for n in range(10)]
    assert main(["path", *location, "-p", "demo", "-r", "agent-001", "--step", "3"]) == 0
    assert capsys.readouterr().out.strip() == f"{s3_location.url}/{RUN}/checkpoints/0003/"
    assert main(["fork", *location, "-p", "demo", "-r", "agent-001", "--step", "3", "--to", "back",
                 "--to-location", str(art_base)]) == 0
    assert step_contents(art_base / "demo/models/back/checkpoints") == {"0003": original["0003"]}
    # Run again: nothing left to move, nothing changes.
    capsys.readouterr()
    assert main([*args_to(s3_location, art_base), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["offload"]["remote"] == 10


def test_an_object_in_the_bucket_with_other_content_is_never_overwritten(art_base, s3_location, capsys):
    s3_location.put(f"{RUN}/checkpoints/0002/adapter_model.safetensors", b"not the same")
    assert main(args_to(s3_location, art_base)) == 1
    err = capsys.readouterr().err
    assert (f"step 2 not offloaded: {s3_location.url}/{RUN}/checkpoints/0002/adapter_model.safetensors holds 12 "
            "bytes, not") in err
    body = s3_location.client.get_object(Bucket=s3_location.bucket,
                                         Key=f"{s3_location.prefix}{RUN}/checkpoints/0002/adapter_model.safetensors")
    assert body["Body"].read() == b"not the same"
    assert (art_base / RUN / "checkpoints" / "0002").is_dir() and not (art_base / RUN / "checkpoints" / "0001").exists()


def test_same_size_other_bytes_is_a_conflict_found_by_the_checksum(art_base, s3_location, capsys):
    local = art_base / RUN / "checkpoints" / "0004" / "adapter_config.json"
    s3_location.put(f"{RUN}/checkpoints/0004/adapter_config.json", b"x" * local.stat().st_size)
    assert main(args_to(s3_location, art_base)) == 1
    assert "adapter_config.json holds other content" in capsys.readouterr().err
    assert local.is_file()


def test_multipart_uploads_are_verified_by_their_parts_checksums(tmp_path, moto_server, capsys):
    """An ETag of parts is no MD5: it is computed from the local file's parts, without reading the copy."""
    from s3_servers import Location

    base = tmp_path / "hf"
    payload = random.Random(5).randbytes(11 * 1024 * 1024)
    for step in (1, 2, 3):
        folder = base / "run" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes((2).to_bytes(8, "little") + b"{}" + payload[step:])
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    location = Location.fresh(moto_server)
    source, target = LocalStore(base), location.store()
    target.backend.multipart_threshold = target.backend.part_size = 5 * 1024 * 1024
    reads: list[str] = []
    target.client.meta.events.register("before-parameter-build.s3.GetObject",
                                       lambda params, **_: reads.append(params["Key"]))
    run = source.load_run("hf", "run")
    resolved = Policies(source).resolve("hf", "run", run.metrics.names())
    offload = plan_offload(source, target, run, resolved, "latest", location.url)
    result = execute_offload(source, target, offload)
    assert [d.step for d in result.deleted] == [1, 2] and result.ok
    tags = {info.path: info.tag for info in target.backend.walk("run")}
    assert all(target.backend.digest(info).kind == MD5_OF_PARTS for info in target.backend.walk("run")
               if info.path.endswith(".safetensors"))
    assert tags and not [k for k in reads if k.endswith(".safetensors")]


@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
def test_offloads_to_s3_killed_at_random_points_never_lose_a_step(art_base, request, capsys, server):
    from s3_servers import Location

    location = Location.fresh(request.getfixturevalue(f"{server}_server"))
    original = step_contents(art_base / RUN / "checkpoints")
    args = args_to(location, art_base)
    chance = random.Random(7)
    kills = 0
    for _ in range(4):
        done = cli_killed_at_call(chance.randint(1, 60), KILL_POINTS, *args)
        kills += killed(done)
        complete = set(listed([location.url, "--endpoint-url", location.endpoint], capsys).get(
            ("demo", "agent-001"), {})) if location.keys() else set()
        assert_whole_somewhere(original, step_contents(art_base / RUN / "checkpoints"), remote_steps(location),
                               complete)
        if not killed(done):
            break
    assert kills >= 1
    assert main(args) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert step_contents(art_base / RUN / "checkpoints") == {k: original[k] for k in ("0010", "0011")}
    assert remote_steps(location) == {k: v for k, v in original.items() if k not in ("0010", "0011")}
    assert not any(WRITING_MARKER in k for k in location.keys())
