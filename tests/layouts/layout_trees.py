"""Trees laid out as each trainer writes them (byte blobs under the real names)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ckpt_tui.demo import safetensors_header


def blob(path: Path, size: int, fill: bytes = b"\0") -> Path:
    """``size`` bytes of ``fill``; a ``.safetensors`` file large enough starts with a real header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = safetensors_header(size) if path.suffix == ".safetensors" else b""
    header = header if len(header) <= size else b""
    path.write_bytes(header + fill * (size - len(header)))
    return path


def megatron_save(root: Path, steps=(10, 20, 30, 40), tracker: str | None = "30") -> Path:
    """Megatron-LM / slime ``--save`` directory (torch_dist format)."""
    for i, step in enumerate(steps):
        it = root / f"iter_{step:07d}"
        blob(it / "__0_0.distcp", 1000 + i)
        blob(it / ".metadata", 40)  # DCP's own, renamed from .metadata.tmp when the shards are written
        blob(it / "common.pt", 100)
        (it / "metadata.json").write_text('{"sharded_backend": "torch_dist"}')  # Megatron's, written last
    if tracker is not None:
        (root / "latest_checkpointed_iteration.txt").write_text(tracker)
    return root


def verl_dir(root: Path, steps=(5, 10, 15), tracker: str | None = "15") -> Path:
    for step in steps:
        gs = root / f"global_step_{step}"
        blob(gs / "actor" / "model_world_size_1_rank_0.pt", 500 + step)
        blob(gs / "actor" / "optim_world_size_1_rank_0.pt", 300)
        (gs / "actor" / "huggingface").mkdir(parents=True)
        (gs / "actor" / "huggingface" / "config.json").write_text("{}")
        blob(gs / "critic" / "model_world_size_1_rank_0.pt", 400)
        blob(gs / "data.pt", 50)
    if tracker is not None:
        (root / "latest_checkpointed_iteration.txt").write_text(tracker)
    return root


LIGHTNING_FILES = {
    100: "epoch=0-step=100-val_loss=0.50.ckpt",
    200: "epoch=1-step=200-val_loss=0.30.ckpt",
    300: "epoch=2-step=300-val_loss=0.40.ckpt",
}


def lightning_dir(version: Path, last_link: int | None = 300, best_k: tuple[int, ...] = ()) -> Path:
    """``lightning_logs/version_N/checkpoints`` with ``last.ckpt`` linking to a step."""
    ckpts = version / "checkpoints"
    for i, (_step, name) in enumerate(LIGHTNING_FILES.items()):
        blob(ckpts / name, 2000 + i)
    if last_link is not None:
        (ckpts / "last.ckpt").symlink_to(LIGHTNING_FILES[last_link])
    if best_k:
        lines = [f"/train/box/{version.name}/checkpoints/{LIGHTNING_FILES[s]}: 0.3" for s in best_k]
        (ckpts / "best_k_models.yaml").write_text("\n".join(lines) + "\n")
    (version / "hparams.yaml").write_text("lr: 0.001\n")
    return ckpts


def orbax_dir(root: Path, steps=(100, 200, 300), prefix: str = "", in_progress: int | None = 400) -> Path:
    for step in steps:
        name = f"{prefix}_{step}" if prefix else str(step)
        blob(root / name / "default" / "d" / "chunk0", 700)
        (root / name / "default" / "_METADATA").write_text("{}")
        (root / name / "_CHECKPOINT_METADATA").write_text('{"commit_timestamp_nsecs": 1}')
        (root / name / "metrics").mkdir()
        (root / name / "metrics" / "metrics").write_text(json.dumps({"loss": 1.0 / step, "accuracy": step / 1000}))
    if in_progress is not None:
        name = f"{prefix}_{in_progress}" if prefix else str(in_progress)
        blob(root / f"{name}.orbax-checkpoint-tmp-1712345678" / "default" / "d" / "chunk0", 300)
    return root


def near_misses(root: Path) -> Path:
    """Names that look like checkpoints but are not."""
    (root / "checkpoint-final").mkdir(parents=True)
    blob(root / "checkpoint-final" / "model.safetensors", 10)
    (root / "iter_12").mkdir()
    (root / "checkpoint-007").mkdir()
    blob(root / "checkpoint-5", 10)  # a file named like an HF step directory
    blob(root / "iter_0000005", 10)
    blob(root / "global_step_3", 10)
    blob(root / "epoch=3.ckpt", 10)  # no step in the name
    for n in ("0", "1", "2"):  # numbered folders (a sweep), not Orbax steps
        blob(root / n / "config.yaml", 5)
    return root


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def listing(root: Path) -> list[str]:
    return sorted(os.listdir(root))
