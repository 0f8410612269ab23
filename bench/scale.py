"""Deletions at scale: what today's client-side prune costs in requests and time as the number of
objects grows, against ``s5cmd rm`` of the same objects, and what tagging them for a lifecycle
rule (the server-side hand-off) would cost instead. Figures for docs/scale.md.

    python bench/scale.py                              # moto, 10^4 and 10^5 objects
    python bench/scale.py --server seaweedfs --objects 10000 100000 1000000
    python bench/scale.py --objects 10000 --tag-sample 2000    # a quick smoke run

For each size: an ART base of runs of 1,000 steps x 3 small objects (plus a history file per
run) is uploaded twice with ``s5cmd cp``; then

* ``ckpt-tui prune --keep latest --metric none --yes`` on one copy, as a whole command, with
  its S3 requests counted by operation (botocore's ``before-send``: every HTTP attempt);
* ``PutObjectTagging`` of ``--tag-sample`` of the same objects on the other copy (16 threads),
  for the rate of the per-object requests a tag-filtered lifecycle rule needs, and one
  ``PutBucketLifecycleConfiguration``;
* ``s5cmd rm`` of the same objects there, the floor.

Servers run as separate processes; absolute times mostly measure the server on this machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from s3 import ACCESS_KEY, ROOT, SECRET_KEY, build_tree, fresh_copy, s5cmd, server, timed  # noqa: E402

from ckpt_tui.stores.s3 import S3Store  # noqa: E402

STEPS_PER_RUN = 1000
OBJECTS_PER_RUN = STEPS_PER_RUN * 3 + 1
DELETE_BATCH = 1000  # keys per DeleteObjects; also objects per ListObjectsV2 page
TAG = {"Key": "ckpt-tui", "Value": "expire"}
# Runs ckpt-tui's command line with every S3 request counted, by operation, into $COUNT_FILE.
COUNTED = """
import atexit, collections, json, os, sys, threading
import botocore.session
counts, lock = collections.Counter(), threading.Lock()
create = botocore.session.Session.create_client
def count(event_name, **_):
    with lock:  # requests are sent from many threads
        counts[event_name.rsplit(".", 1)[1]] += 1
def counted(self, *args, **kwargs):
    client = create(self, *args, **kwargs)
    client.meta.events.register("before-send", count)
    return client
botocore.session.Session.create_client = counted
atexit.register(lambda: open(os.environ["COUNT_FILE"], "w").write(json.dumps(counts)))
from ckpt_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def counted_prune(url: str, count_file: Path) -> tuple[float, dict[str, int]]:
    env = {**os.environ, "COUNT_FILE": str(count_file)}
    seconds = timed(lambda: subprocess.run(
        [sys.executable, "-c", COUNTED, "prune", url, "--keep", "latest", "--metric", "none", "--yes"],
        check=True, capture_output=True, env=env))
    return seconds, json.loads(count_file.read_text())


def planned_keys(client, bucket: str, runs: int) -> list[str]:
    """Every object of every step but each run's latest: what the prune deletes."""
    latest = f"/checkpoints/{STEPS_PER_RUN - 1:04d}/"
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="art/"):
        keys += [o["Key"] for o in page.get("Contents", ()) if "/checkpoints/" in o["Key"] and latest not in o["Key"]]
    assert len(keys) == runs * (STEPS_PER_RUN - 1) * 3, len(keys)
    return keys


def tag_rate(client, bucket: str, keys: list[str]) -> float:
    """Objects tagged per second, 16 requests at a time; then the one lifecycle rule."""
    with ThreadPoolExecutor(16) as pool:
        seconds = timed(lambda: list(pool.map(
            lambda key: client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [TAG]}), keys)))
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "ckpt-tui-expire", "Status": "Enabled", "Filter": {"Tag": TAG}, "Expiration": {"Days": 1}}]})
    return len(keys) / seconds


def measure(endpoint: str, objects: int, tag_sample: int, scratch: Path) -> dict:
    runs = max(1, round(objects / OBJECTS_PER_RUN))
    tree = scratch / f"tree-{runs}"
    build_tree(tree, runs, STEPS_PER_RUN)
    start = time.perf_counter()
    _, ours = fresh_copy(endpoint, tree)
    other_bucket, theirs = fresh_copy(endpoint, tree)
    upload = time.perf_counter() - start
    client = S3Store("probe").client
    planned = planned_keys(client, other_bucket, runs)

    prune_seconds, requests = counted_prune(ours, scratch / f"counts-{runs}.json")
    left = sum(page.get("KeyCount", 0) for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=ours.split("/")[2], Prefix="art/"))
    assert left == runs * 4, f"the prune left {left} objects"  # each run's latest step and history
    rate = tag_rate(client, other_bucket, planned[:tag_sample])
    latest = f"{STEPS_PER_RUN - 1:04d}"
    rm_seconds = timed(lambda: s5cmd(endpoint, "rm", "--exclude", f"*/checkpoints/{latest}/*",
                                     f"{theirs}/bench/models/*/checkpoints/*"))
    return {"objects": runs * OBJECTS_PER_RUN, "runs": runs, "deleted": len(planned), "upload_seconds": upload,
            "prune_seconds": prune_seconds, "requests": requests, "rm_seconds": rm_seconds,
            "tags_per_second": rate, "tag_sample": min(tag_sample, len(planned))}


def report(server_kind: str, rows: list[dict]) -> None:
    print(f"\nserver: {server_kind}")
    print(f"{'objects':>9} {'deleted':>9} {'prune':>8} {'s5cmd rm':>9} {'ratio':>6} {'requests':>9} "
          f"{'floor':>6} {'req/1k deleted':>14} {'tag/s':>7} {'prune obj/s':>11}  by operation")
    for row in rows:
        total = sum(row["requests"].values())
        floor = math.ceil(row["deleted"] / DELETE_BATCH) + math.ceil(row["objects"] / DELETE_BATCH)
        print(f"{row['objects']:>9,} {row['deleted']:>9,} {row['prune_seconds']:>7.1f}s {row['rm_seconds']:>8.1f}s "
              f"{row['prune_seconds'] / row['rm_seconds']:>5.2f}x {total:>9,} {floor:>6,} "
              f"{1000 * total / row['deleted']:>14.2f} {row['tags_per_second']:>7.0f} "
              f"{row['deleted'] / row['prune_seconds']:>11.0f}  "
              + ", ".join(f"{op} {n}" for op, n in sorted(row["requests"].items(), key=lambda kv: -kv[1])))
    last = rows[-1]
    per_object = last["prune_seconds"] / last["deleted"]
    tag_seconds = 1e7 / last["tags_per_second"]
    print(f"extrapolated to 10^7 objects from {last['objects']:,}: prune {per_object * 1e7 / 60:.0f} min, "
          f"about {1e7 * sum(last['requests'].values()) / last['deleted']:,.0f} requests; "
          f"tagging {tag_seconds / 60:.0f} min and 10^7 requests, then the rule's delay (a day or more)")
    print("ratio = ckpt-tui prune / s5cmd rm of the same objects; floor = one DeleteObjects per 1,000 deleted "
          "+ one listing page per 1,000 objects")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("moto", "seaweedfs"), default="moto")
    parser.add_argument("--objects", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--tag-sample", type=int, default=10_000, help="objects tagged for the tagging rate")
    parser.add_argument("--json", action="store_true", help="also print the measurements as JSON")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(ROOT),
                      CKPT_TUI_SETTLE_SECONDS="0")  # just uploaded: every step is whole, none settling
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ckpt-scale-") as tmp, server(args.server) as endpoint:
        for objects in args.objects:
            rows.append(measure(endpoint, objects, args.tag_sample, Path(tmp)))
            print(f"{objects:,} objects measured: {rows[-1]}", flush=True)
    report(args.server, rows)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
