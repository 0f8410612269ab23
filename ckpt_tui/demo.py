"""A realistic ART tree for trying ckpt-tui without a training box.

Checkpoint weights are sparse files: their apparent size is real (80-150 MB
each, as a LoRA is) while they cost next to nothing on disk. Everything is
seeded and timestamped from a fixed clock, so the tree is the same each time.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEMO_EPOCH = datetime(2026, 11, 20, 9, 0, 0, tzinfo=timezone.utc)
ADAPTER_CONFIG = {"peft_type": "LORA", "r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
                  "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                  "base_model_name_or_path": "Qwen/Qwen2.5-7B-Instruct", "task_type": "CAUSAL_LM"}


@dataclass(frozen=True)
class DemoRun:
    project: str
    model: str
    steps: int
    adapter_mb: int
    val_every: int | None = 5
    save_every: int = 1
    legacy: bool = False
    slope: float = 1.0


DEMO_RUNS = (
    DemoRun("email-agent", "agent-001", 320, 120, val_every=10),
    DemoRun("email-agent", "agent-002", 90, 120, val_every=5, slope=1.6),
    DemoRun("email-agent", "agent-003-noval", 40, 120, val_every=None),
    DemoRun("tau-bench", "qwen-7b-lora", 150, 84, val_every=5, save_every=5, slope=0.7),
    DemoRun("tau-bench", "qwen-7b-legacy", 24, 84, val_every=2, legacy=True),
    DemoRun("summarizer", "sum-r32", 60, 148, val_every=4, slope=1.2),
)


def _reward(rng: random.Random, step: int, total: int, slope: float) -> float:
    progress = 1 - math.exp(-3 * slope * step / max(total, 1))
    return min(1.0, max(0.0, 0.12 + 0.7 * progress + rng.gauss(0, 0.05)))


def safetensors_header(size: int) -> bytes:
    """The length and header of a ``.safetensors`` file of ``size`` bytes holding one tensor of bytes."""
    def header(data: int) -> bytes:
        return json.dumps({"lora": {"dtype": "U8", "shape": [data], "data_offsets": [0, data]}}).encode()
    length = len(header(size)) + 7 & ~7  # the data's length has no more digits than the file's
    return length.to_bytes(8, "little") + header(size - 8 - length).ljust(length)


def _write_sparse(path: Path, size: int) -> None:
    """A weights file whose header is real and whose tensor data is a hole (zeros, next to nothing on disk)."""
    with open(path, "wb") as handle:
        handle.write(safetensors_header(size))
        handle.truncate(size)


def _timestamp(path: Path, when: datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


def write_run(base: Path, spec: DemoRun, seed: int = 0) -> None:
    rng = random.Random(f"{seed}-{spec.project}-{spec.model}")
    model_dir = base / spec.project / "models" / spec.model
    ckpt_root = model_dir if spec.legacy else model_dir / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(json.dumps({"name": spec.model, "project": spec.project,
                                                      "base_model": ADAPTER_CONFIG["base_model_name_or_path"]}))
    (model_dir / "state.json").write_text("{}")
    history = []
    for step in range(spec.steps):
        when = DEMO_EPOCH + timedelta(minutes=7 * step)
        reward = _reward(rng, step, spec.steps, spec.slope)
        history.append({"train/reward": reward, "train/loss": max(0.01, 1.1 - reward + rng.gauss(0, 0.03)),
                        "training_step": step, "step": step, "recorded_at": when.isoformat()})
        if spec.val_every and step % spec.val_every == 0:
            history.append({"val/reward": _reward(rng, step, spec.steps, spec.slope),
                            "val/exception_rate": max(0.0, 0.2 - 0.15 * step / spec.steps + rng.gauss(0, 0.01)),
                            "training_step": step, "step": step, "recorded_at": when.isoformat()})
        if step % spec.save_every == 0 or step == spec.steps - 1:
            step_dir = ckpt_root / f"{step:04d}"
            step_dir.mkdir(exist_ok=True)
            (step_dir / "adapter_config.json").write_text(json.dumps(ADAPTER_CONFIG, indent=2))
            _write_sparse(step_dir / "adapter_model.safetensors",
                          spec.adapter_mb * 1_000_000 + rng.randrange(4096))
            for file in step_dir.iterdir():
                _timestamp(file, when)
            _timestamp(step_dir, when)
    with open(model_dir / "history.jsonl", "w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in history)
    (model_dir / "trajectories").mkdir(exist_ok=True)
    (model_dir / "logs").mkdir(exist_ok=True)


def build_demo(base: str | os.PathLike | None = None, seed: int = 0,
               runs: tuple[DemoRun, ...] = DEMO_RUNS) -> Path:
    """Write the demo tree under ``base`` (a new temporary directory by default)."""
    root = Path(base) if base else Path(tempfile.mkdtemp(prefix="ckpt-tui-demo-")) / ".art"
    root.mkdir(parents=True, exist_ok=True)
    for spec in runs:
        write_run(root, spec, seed)
    return root
