"""A run's entries are sorted by name alone (``Layout.names_suffice``) only for layouts that would
ask no step folder's contents: the shortcut gives the scan it stands for."""

import pytest

from ckpt_tui.stores.layouts import registered
from ckpt_tui.stores.layouts.art import ART, ART_LEGACY
from ckpt_tui.stores.layouts.base import scan_entries

NAMES = ["0012", "12", "checkpoint-12", "step_12", "epoch=1-step=12.ckpt", "global_step12", "iter_0000012",
         "checkpoint_12", "12.ckpt", "last.ckpt", "tmp-checkpoint-12", "checkpoint-12.tmp", "README.md", ".deleting-12-x"]


@pytest.mark.parametrize("layout", [*registered(), ART_LEGACY], ids=lambda layout: layout.name)
def test_names_suffice_only_where_no_folder_is_looked_into(layout):
    if layout.names_suffice():
        assert not any(layout.needs_look(name) or layout.lists(name) for name in NAMES)
    looked = []

    def children(name):
        looked.append(name)
        return {"model.safetensors", "trainer_state.json", "training_info.json", "trainer", "policy"}

    entries = [(name, is_dir) for name in NAMES for is_dir in (True, False)]
    scan = scan_entries(layout, entries, children)
    assert not (layout.names_suffice() and looked)
    expected = {name: step for name, is_dir in entries
                if (step := layout.step(name)) is not None and not name.startswith(".") and layout.accepts(is_dir)
                and (not layout.needs_look(name) or (is_dir and layout.confirms(children(name))))}
    assert scan.steps == expected


def test_art_needs_no_look_inside_a_step_folder():
    assert ART.names_suffice() and ART_LEGACY.names_suffice()
    assert ART.step("0012") == 12 and ART.step("12a") is None and ART.step("١٢") is None


def test_a_runs_steps_judged_in_one_pass_keep_every_reason(tmp_path, monkeypatch):
    """The usual step is whole at once; an empty step folder (ART: no weights yet), a step written within the settle
    window and a save in progress stay pending beside it, each for its own reason."""
    import os
    import time

    from ckpt_tui.core.models import Pending
    from ckpt_tui.stores.local import LocalStore
    from completeness_trees import safetensors_bytes

    monkeypatch.setenv("CKPT_TUI_SETTLE_SECONDS", "60")
    ckpts = tmp_path / "proj" / "models" / "run" / "checkpoints"
    for name in ("0001", "0002", "0003", "0004"):
        (ckpts / name).mkdir(parents=True)
    for name in ("0001", "0003"):
        (ckpts / name / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    (ckpts / "0004" / "adapter_model.safetensors").write_bytes(safetensors_bytes()[:-8])  # cut short
    old = time.time() - 3600
    for path in [ckpts / "0001", ckpts / "0001" / "adapter_model.safetensors", ckpts / "0004",
                 ckpts / "0004" / "adapter_model.safetensors"]:
        os.utime(path, (old, old))
    run = LocalStore(tmp_path).load_run("proj", "run")
    assert [c.name for c in run.checkpoints] == ["0001"]
    pending = {c.name: (c.pending, c.detail) for c in run.pending}
    assert pending["0002"] == (Pending.INCOMPLETE, "no weights file yet")
    assert pending["0003"][0] is Pending.SETTLING and "60s" in pending["0003"][1]
    assert pending["0004"][0] is Pending.INCOMPLETE and "adapter_model.safetensors" in pending["0004"][1]
