"""A step deleted while a run is being read is gone; the run still loads (in S3)."""

from __future__ import annotations

from vanishing import check_loads, load_while_deleting

CHECKPOINTS = "demo/models/agent-001/checkpoints"


def test_runs_load_while_another_thread_deletes_their_steps(moto_art_bucket):
    location = moto_art_bucket
    steps = list(range(10))

    def delete(step: int) -> None:
        for key in sorted(location.keys(f"{CHECKPOINTS}/{step:04d}/")):
            location.client.delete_object(Bucket=location.bucket, Key=location.prefix + key)

    runs = load_while_deleting(location.store(), steps, delete)
    check_loads(runs, steps, kept=[10, 11])
