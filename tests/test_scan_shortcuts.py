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
