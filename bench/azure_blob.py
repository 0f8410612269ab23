"""Benchmark: ckpt-tui's Azure store against rclone doing the same work on the same Azurite.

    python bench/azure_blob.py                  # 1,000 checkpoints x 3 blobs
    python bench/azure_blob.py --steps 200      # a quick smoke run

Whole commands, one run each, on identical trees under two prefixes of one container:

* ``ckpt-tui ls --json`` (projects, the run, its history) against ``rclone lsjson -R``;
* ``ckpt-tui prune --keep latest --metric none --yes`` (list, plan, marker, Blob Batch
  deletions, re-read) against ``rclone delete`` of the same blobs.

Azurite (npm, see docs/azure.md) runs as its own process on a free port of 127.0.0.1;
rclone (Debian's ``rclone``) reaches it through a container SAS URL. Absolute times
mostly measure Azurite: compare the ratios, printed beside their floors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "clouds"))

from azurite import ACCOUNT, ACCOUNT_KEY, Azurite, connection_string, container_client, free_port  # noqa: E402

CONTAINER = "bench"
FILES = {"adapter_model.safetensors": 96, "adapter_config.json": 48, "trainer_state.json": 32}
FLOORS = {"ls": 1.2, "prune": 1.5}
RUN = "proj/models/run"


def upload(client, prefix: str, steps: int) -> None:
    blobs = {f"{prefix}/{RUN}/checkpoints/{step:04d}/{name}": b"x" * size
             for step in range(steps) for name, size in FILES.items()}
    blobs[f"{prefix}/{RUN}/history.jsonl"] = "".join(
        json.dumps({"step": step, "val/reward": step / steps}) + "\n" for step in range(steps)).encode()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: client.upload_blob(*item, overwrite=True), blobs.items()))


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    rclone = shutil.which("rclone") or sys.exit("rclone not found (apt-get install rclone)")
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    with tempfile.TemporaryDirectory() as scratch:
        server = Azurite(Path(scratch) / "data", free_port()).start()
        try:
            client = container_client(server.endpoint, CONTAINER)
            client.create_container()
            for prefix in ("ours", "theirs"):
                upload(client, prefix, args.steps)
            sas = generate_container_sas(ACCOUNT, CONTAINER, account_key=ACCOUNT_KEY,
                                         permission=ContainerSasPermissions(read=True, list=True, delete=True),
                                         expiry=datetime.now(timezone.utc) + timedelta(hours=1))
            config = Path(scratch) / "rclone.conf"
            config.write_text(f"[az]\ntype = azureblob\nsas_url = {server.endpoint}/{CONTAINER}?{sas}\n")
            env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": connection_string(server.endpoint),
                   "PYTHONPATH": str(ROOT), "CKPT_TUI_SETTLE_SECONDS": "0"}  # steps just written count as whole
            ours = [sys.executable, "-m", "ckpt_tui"]
            checkpoints = f"az:{CONTAINER}/theirs/{RUN}/checkpoints"
            times = {
                "ls": (timed([*ours, "ls", f"az://{CONTAINER}/ours", "--json"], env),
                       timed([rclone, "--config", str(config), "lsjson", "-R", f"az:{CONTAINER}/theirs"], env)),
                "prune": (timed([*ours, "prune", f"az://{CONTAINER}/ours", "--keep", "latest", "--metric", "none",
                                 "--yes"], env),
                          timed([rclone, "--config", str(config), "delete", checkpoints,
                                 "--exclude", f"{args.steps - 1:04d}/**"], env)),
            }
            left = {p: len(list(client.list_blob_names(name_starts_with=f"{p}/{RUN}/checkpoints/")))
                    for p in ("ours", "theirs")}
            assert left == {"ours": len(FILES), "theirs": len(FILES)}, left
        finally:
            server.stop()
    print(f"{args.steps} checkpoints x {len(FILES)} blobs on Azurite")
    for what, (mine, floor) in times.items():
        print(f"{what:6} ckpt-tui {mine:6.2f} s  rclone {floor:6.2f} s  ratio {mine / floor:4.2f}x"
              f"  (target {FLOORS[what]}x)")


if __name__ == "__main__":
    main()
