"""Benchmark: ``ckpt-tui offload`` from a disk to S3 against ``s5cmd cp`` of the same files then ``rm -rf``.

    python bench/offload.py                    # 100 steps x 3 files, 1 GiB, on moto and SeaweedFS
    python bench/offload.py --quick            # 100 steps x 3 files, 64 MiB in all
    python bench/offload.py --server moto --mib 256

Both sides time whole commands on identical fresh copies of one ART run of
101 steps (the latest stays): ``ckpt-tui offload BASE --to s3://... --keep-local
latest --yes`` (plan, copy, verify each object by its checksum, publish, delete
here through the claims) and ``s5cmd cp`` of the 100 other step folders followed
by ``rm -rf`` of them (copy and delete, nothing verified). Medians of ``--repeat``
(5) rounds, the two sides taking turns to go first, are printed with their ratio
beside the floor, 1.25x, and the ratio of CPU time. Servers run as separate processes
(see bench/s3.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3 import FLOORS as S3_FLOORS  # noqa: E402
from s3 import ACCESS_KEY, ROOT, SECRET_KEY, S3Store, Sides, report, s5cmd, server, tool  # noqa: E402

STEPS = 100  # offloaded; one more, the latest, stays
FILES = {"adapter_model.safetensors": 0.90, "optimizer.pt": 0.09, "adapter_config.json": 0.01}
FLOOR = 1.25
S3_FLOORS["offload"] = FLOOR


def build_run(base: Path, total_mib: int) -> Path:
    """An ART run of ``STEPS + 1`` steps of three files, ``total_mib`` over the offloaded ones."""
    model = base / "bench" / "models" / "run"
    per_step = total_mib * 1024 * 1024 // STEPS
    block = os.urandom(per_step)
    for step in range(STEPS + 1):
        folder = model / "checkpoints" / f"{step:04d}"
        folder.mkdir(parents=True)
        start = 0
        for name, share in FILES.items():
            size = int(per_step * share)
            (folder / name).write_bytes(step.to_bytes(4, "big") + block[start:start + size - 4])
            start += size
    with open(model / "history.jsonl", "w") as history:
        for step in range(STEPS + 1):
            history.write(f'{{"step": {step}, "val/reward": {step / 1000}}}\n')
    return model


def fresh(tree: Path, scratch: Path) -> Path:
    copy = scratch / f"copy-{uuid.uuid4().hex[:8]}"
    shutil.copytree(tree, copy)
    return copy


def new_bucket() -> str:
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    S3Store(bucket).client.create_bucket(Bucket=bucket)
    return bucket


def measure(kind: str, tree: Path, scratch: Path, repeat: int) -> Sides:
    """``repeat`` rounds, each side on fresh copies, one server for all."""
    sides = Sides()
    with server(kind) as endpoint:
        for _ in range(repeat):
            one_round(endpoint, tree, scratch, sides)
    return sides


def one_round(endpoint: str, tree: Path, scratch: Path, sides: Sides) -> None:
    """ckpt-tui's offload, and s5cmd's copy then rm, on fresh copies and new buckets."""
    ours_base, theirs_base = fresh(tree, scratch), fresh(tree, scratch)
    ours_bucket, theirs_bucket = new_bucket(), new_bucket()

    def ours_command() -> None:
        subprocess.run([sys.executable, "-m", "ckpt_tui", "offload", str(ours_base), "--to",
                        f"s3://{ours_bucket}/art", "--keep-local", "latest", "--metric", "none", "--yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    checkpoints = theirs_base / "bench" / "models" / "run" / "checkpoints"
    folders = [str(checkpoints / f"{step:04d}") for step in range(STEPS)]

    def theirs_command() -> None:
        s5cmd(endpoint, "cp", "--exclude", f"*/{STEPS:04d}/*", f"{theirs_base}/*", f"s3://{theirs_bucket}/art/")
        subprocess.run(["rm", "-rf", *folders], check=True)

    sides.add(ours_command, theirs_command)
    steps = ours_base / "bench" / "models" / "run" / "checkpoints"
    left = sorted(p.name for p in steps.iterdir())
    assert left == [f"{STEPS:04d}"], left
    shutil.rmtree(ours_base)
    shutil.rmtree(theirs_base)
    for bucket in (ours_bucket, theirs_bucket):  # moto keeps objects in memory
        s5cmd(endpoint, "rm", f"s3://{bucket}/*")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("moto", "seaweedfs", "both"), default="both")
    parser.add_argument("--mib", type=int, default=1024, help="bytes offloaded in all, in MiB (default 1024)")
    parser.add_argument("--quick", action="store_true", help="64 MiB in all")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per server; medians are printed (default 5)")
    args = parser.parse_args()
    tool("s5cmd")
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                      PYTHONPATH=str(ROOT), CKPT_TUI_SETTLE_SECONDS="0")
    total = 64 if args.quick else args.mib
    scratch = Path(tempfile.mkdtemp(prefix="ckpt-bench-offload-"))
    try:
        tree = scratch / "tree"
        build_run(tree, total)
        for kind in ("moto", "seaweedfs") if args.server == "both" else (args.server,):
            sides = measure(kind, tree, scratch, args.repeat)
            report(kind, [(f"offload {STEPS} steps x {len(FILES)} files, {total} MiB", sides)], "s5cmd+rm")
        print("ckpt-tui also verifies every object (size and MD5) before deleting a step here")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
