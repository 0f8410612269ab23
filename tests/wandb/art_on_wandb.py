"""What ART's ServerlessBackend leaves in W&B, as data for the fake W&B server."""

from __future__ import annotations

import math

from fake_wandb_server import FakeWandb

ENTITY = "ent"
TIMEOUT = 2.0  # seconds; what the fault tests wait at most per request
# val/reward per step of agent-001: best at step 7 (0.9).
REWARDS = [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.9, 0.6, 0.65, 0.7, 0.75]


def lora_files(step: int, model: str) -> dict[str, bytes]:
    """Small, distinct adapter files for one step (sizes differ by step)."""
    weights = bytes((step * 7 + i) % 256 for i in range(1000 + 10 * step))
    config = f'{{"r": 8, "model": "{model}", "step": {step}}}'.encode()
    return {"adapter_model.safetensors": weights, "adapter_config.json": config}


def populate(model: FakeWandb) -> None:
    """What ART's ServerlessBackend leaves in W&B, plus a few things it must cope with.

    * demo/agent-001: steps 0-11, one ``step{N}`` alias each, ``latest`` on 11;
      step 2 also carries a custom alias ``prod``; its run logs ``training_step``
      and reports two validation rows for step 5 (averaged).
    * demo/agent-002: steps 0-5 and a version with no step alias yet; its run
      logs only ``train/reward`` (so pruning by ``val/reward`` is refused).
    * demo/dataset: an artifact of another type, not a model.
    * other/agent-x: steps 0-2, a run that logs no ``training_step`` (``_step`` is used).
    """
    for step in range(len(REWARDS)):
        aliases = [f"step{step}"] + (["prod"] if step == 2 else [])
        model.log_version(ENTITY, "demo", "agent-001", lora_files(step, "agent-001"), aliases,
                          created_at=f"2026-03-01T12:{step:02d}:00Z")
    history = []
    for step, reward in enumerate(REWARDS):
        history.append({"training_step": step, "train/reward": reward / 2, "train/loss": 1 - reward / 2})
        history.append({"training_step": step, "val/reward": reward if step != 5 else 0.4})
        if step == 5:
            history.append({"training_step": step, "val/reward": 0.6})  # mean 0.5
    history.append({"training_step": 3, "val/reward": math.nan})  # dropped, counted
    model.add_run(ENTITY, "demo", "agent-001", history)

    for step in range(6):
        model.log_version(ENTITY, "demo", "agent-002", lora_files(step, "agent-002"), [f"step{step}"])
    model.log_version(ENTITY, "demo", "agent-002", {"adapter_model.safetensors": b"partial"}, [])
    model.add_run(ENTITY, "demo", "agent-002",
                  [{"training_step": s, "train/reward": s / 10} for s in range(6)])

    model.log_version(ENTITY, "demo", "dataset", {"data.jsonl": b"{}\n"}, ["v0"], type="dataset")

    for step in range(3):
        model.log_version(ENTITY, "other", "agent-x", lora_files(step, "agent-x"), [f"step{step}"])
    model.add_run(ENTITY, "other", "agent-x", [{"val/reward": r} for r in (0.5, 0.2, 0.1)])
