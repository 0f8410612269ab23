"""Completeness in a bucket: a step without weights, a Trainer checkpoint without
``trainer_state.json``, as on disk. An object is listed only once its upload is whole, so
weights files are not read for their headers there (no request per file)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from completeness_trees import safetensors_bytes, torch_archive_bytes  # noqa: E402
from s3_servers import Location  # noqa: E402

RUN = "demo/models/agent/checkpoints"


def test_an_art_step_without_weights_is_pending_in_a_bucket(moto_server):
    location = Location.fresh(moto_server)
    for step in (1, 2):
        location.put(f"{RUN}/000{step}/adapter_model.safetensors", safetensors_bytes())
    location.put(f"{RUN}/0003/adapter_config.json", b"{}")
    store = location.store()
    sent = []
    store.client.meta.events.register("before-parameter-build.s3.GetObject",
                                      lambda params, **_: sent.append(params["Key"]))
    run = store.load_run("demo", "agent", with_metrics=False)
    assert run.latest_step == 2 and "no weights file" in run.pending[0].note and sent == []


def test_hf_checkpoint_without_trainer_state_is_pending_in_a_bucket(moto_server):
    location = Location.fresh(moto_server)
    for step in (1, 2):
        location.put(f"out/checkpoint-{step}/model.safetensors", safetensors_bytes())
        location.put(f"out/checkpoint-{step}/optimizer.pt", torch_archive_bytes())
    location.put("out/checkpoint-1/trainer_state.json", b'{"global_step": 1, "log_history": []}')
    store = location.store()
    (project, run), = [(p, r) for p in store.list_projects() for r in store.list_runs(p)]
    loaded = store.load_run(project, run)
    assert loaded.latest_step == 1 and [c.name for c in loaded.pending] == ["checkpoint-2"]
