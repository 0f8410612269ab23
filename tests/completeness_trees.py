"""Files as trainers write them, whole or cut short: ``.safetensors`` with a real header,
``torch.save`` archives (zip files), and the step folders of each layout."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ckpt_tui.core.models import Run

OLD = 1_000_000_000.0  # a time long past: steps written then have settled


def safetensors_bytes(floats: int = 64) -> bytes:
    """A ``.safetensors`` file: 8-byte little-endian header length, JSON header, tensor data."""
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "weight": {"dtype": "F32", "shape": [floats], "data_offsets": [0, 4 * floats]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\0" * (4 * floats)


def torch_archive_bytes() -> bytes:
    """What ``torch.save`` writes: a zip archive, ending with its end-of-central-directory record."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00." + b"\0" * 512)
        archive.writestr("archive/data/0", b"\1" * 4096)
    return buffer.getvalue()


def write(path: Path, data: bytes, cut: int | None = None) -> Path:
    """``data`` at ``path``; with ``cut``, only its first ``cut`` bytes (a write that stopped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if cut is None else data[:cut])
    return path


def rewrite_in_place(path: Path, data: bytes) -> None:
    """``data`` written over ``path``'s start, its size and modification time left as they were:
    only its change time tells (waiting for the next tick of the file system's clock)."""
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(data)
    for _ in range(1_000_000):
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if os.stat(path).st_ctime_ns != before.st_ctime_ns:
            break
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def age(folder: Path, when: float = OLD) -> None:
    """Set every file and folder below ``folder`` to ``when``."""
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (when, when))
    os.utime(folder, (when, when))


def hf_step(run: Path, step: int, finished: bool = True) -> Path:
    """A transformers 5 checkpoint: model, optimizer, scheduler, RNG, then ``trainer_state.json``
    last (``finished=False``: stopped before it)."""
    folder = run / f"checkpoint-{step}"
    write(folder / "model.safetensors", safetensors_bytes())
    write(folder / "config.json", b"{}")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        write(folder / name, torch_archive_bytes())
    if finished:
        state = {"global_step": step, "best_model_checkpoint": None,
                 "log_history": [{"step": s, "loss": 1.0 / (s + 1)} for s in range(1, step + 1)]}
        write(folder / "trainer_state.json", json.dumps(state).encode())
    return folder


def art_step(run: Path, step: int, weights: bytes | None = None) -> Path:
    """An ART step folder under ``run`` (the model folder); ``weights`` None: config only."""
    folder = run / "checkpoints" / f"{step:04d}"
    write(folder / "adapter_config.json", b'{"r": 8}')
    if weights is not None:
        write(folder / "adapter_model.safetensors", weights)
    return folder


def scan_runs(base: Path) -> dict[tuple[str, str], Run]:
    """Every run of the location ``base``, read as a listing of runs reads them (caches and all)."""
    from ckpt_tui.core.models import Run
    from ckpt_tui.core.store import list_runs
    from ckpt_tui.stores.local import LocalStore

    store = LocalStore(base)
    found = dict(store.load_runs(list_runs(store)))
    assert all(isinstance(run, Run) for run in found.values()), found
    return found
