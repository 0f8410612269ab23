"""Complete means the file each trainer writes last: a save in progress never displaces the newest
complete step as latest, never gets its protection, is never deleted, slimmed or handed out by ``path``."""

from __future__ import annotations

import io
import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from cli_run import run_cli
from completeness_trees import (age, art_step, hf_step, safetensors_bytes, torch_archive_bytes,
                                write)

from ckpt_tui.stores.layouts.whole_files import safetensors_problem, zip_problem
from ckpt_tui.stores.local import LocalStore

SETTLE = "CKPT_TUI_SETTLE_SECONDS"


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def checkpoint_folders(output_dir: Path) -> list[str]:
    """What is left in a Trainer's output folder, but the activity log a prune appends to."""
    return sorted(p.name for p in output_dir.iterdir() if p.name != ".ckpt-tui.log")


def listed(capsys, root: Path) -> dict:
    code, out, err = run_cli(capsys, "ls", root, "--json")
    assert code == 0, err
    (run,) = json.loads(out)["runs"]
    return run


def pending_names(run: dict) -> dict[str, str]:
    return {p["name"]: p["note"] for p in run["pending"]}


# -- files that carry their own length ------------------------------------------------------------
def test_a_safetensors_file_shorter_than_its_header_promises_is_not_whole():
    data = safetensors_bytes()
    assert safetensors_problem(io.BytesIO(data), len(data)) == ""
    assert "promises" in safetensors_problem(io.BytesIO(data[:-1]), len(data) - 1)
    assert "header" in safetensors_problem(io.BytesIO(data[:20]), 20)
    assert safetensors_problem(io.BytesIO(b""), 0) == "empty"
    # Not a safetensors file at all (a stand-in): no verdict either way.
    assert safetensors_problem(io.BytesIO(b"w" * 40), 40) == ""


@pytest.mark.parametrize(("content", "reason"), [
    (b"\0" * 4096, "header not written yet"),  # preallocated, nothing written yet
    (b"\x10" + b"\0" * 7 + b"\0" * 4088, "header unreadable"),  # its length written, the header not yet
    (b"\x10" + b"\0" * 7 + b'{"weight": {"dt' + b"\0" * 4073, "header unreadable"),  # header cut mid-write
    (b"\x08" + b"\0" * 7 + b'[1, 2]  ' + b"\0" * 4080, "header unreadable"),  # JSON, but no header
], ids=["zeros", "header-zeros", "header-cut", "header-no-object"])
def test_a_safetensors_file_whose_header_cannot_be_read_is_not_whole(content, reason):
    assert reason in safetensors_problem(io.BytesIO(content), len(content))


@pytest.mark.parametrize("size", range(1, 8))
def test_a_safetensors_file_too_short_for_its_header_length_is_not_whole(size):
    """1 to 7 bytes: the 8 bytes that give the header's length are cut, as an unreadable header is."""
    data = safetensors_bytes()[:size]
    assert "header unreadable" in safetensors_problem(io.BytesIO(data), size)
    assert "header unreadable" in safetensors_problem(io.BytesIO(data[:3]), size)  # shorter still when read


def test_an_art_step_whose_adapter_is_a_few_bytes_is_not_complete(art_model, capsys):
    age(art_step(art_model, 3, safetensors_bytes()[:5]))
    root = art_model.parents[2]
    run = listed(capsys, root)
    assert run["latest_step"] == 2 and "5 bytes, its header unreadable" in pending_names(run)["0003"]
    assert run_cli(capsys, "path", root, "--latest")[1] == f"{art_model / 'checkpoints' / '0002'}\n"
    code, _, err = run_cli(capsys, "prune", root, "--keep", "latest", "--metric", "none", "--yes")
    assert code == 0, err
    assert (art_model / "checkpoints" / "0003" / "adapter_model.safetensors").exists()


def test_a_torch_archive_cut_before_its_end_is_not_whole():
    data = torch_archive_bytes()
    assert zip_problem(io.BytesIO(data), len(data)) == ""
    assert "cut" in zip_problem(io.BytesIO(data[:-30]), len(data) - 30)
    assert zip_problem(io.BytesIO(b"not a zip file"), 14) == ""


# -- Hugging Face Trainer: trainer_state.json last, saved in place (transformers 5) --------------------
@pytest.fixture
def hf_in_place(tmp_path: Path) -> Path:
    """checkpoint-1 and -2 whole; checkpoint-3 holds its weights and optimizer, not yet trainer_state.json."""
    run = tmp_path / "out"
    for step in (1, 2):
        hf_step(run, step)
    hf_step(run, 3, finished=False)
    return run


def test_hf_checkpoint_without_trainer_state_is_a_save_in_progress(hf_in_place, capsys):
    run = listed(capsys, hf_in_place)
    assert run["latest_step"] == 2 and [c["step"] for c in run["checkpoints"]] == [1, 2]
    assert "trainer_state.json" in pending_names(run)["checkpoint-3"]
    assert run_cli(capsys, "path", hf_in_place, "--latest") == (0, f"{hf_in_place / 'checkpoint-2'}\n", "")
    code, out, err = run_cli(capsys, "path", hf_in_place, "--step", 3)
    assert (code, out) == (1, "") and "trainer_state.json" in err


def test_prune_keeps_the_newest_complete_step_while_the_next_save_is_written(hf_in_place, capsys):
    code, _, err = run_cli(capsys, "prune", hf_in_place, "--keep", "latest", "--metric", "none", "--yes")
    assert code == 0, err
    assert checkpoint_folders(hf_in_place) == ["checkpoint-2", "checkpoint-3"]
    assert (hf_in_place / "checkpoint-3" / "optimizer.pt").exists()


def test_full_latest_never_slims_the_newest_complete_step(hf_in_place, capsys):
    code, _, err = run_cli(capsys, "prune", hf_in_place, "--keep", "last:3", "--metric", "none",
                           "--full", "latest", "--yes")
    assert code == 0, err
    assert (hf_in_place / "checkpoint-2" / "optimizer.pt").exists()
    assert not (hf_in_place / "checkpoint-1" / "optimizer.pt").exists()


def test_hf_trainer_state_half_written_is_not_whole(hf_in_place, capsys):
    (hf_in_place / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3, "log_hist')
    run = listed(capsys, hf_in_place)
    assert run["latest_step"] == 2 and "not whole" in pending_names(run)["checkpoint-3"]


def test_hf_model_file_cut_short_is_not_whole(hf_in_place, capsys):
    write(hf_in_place / "checkpoint-2" / "model.safetensors", safetensors_bytes(), cut=100)
    run = listed(capsys, hf_in_place)
    assert run["latest_step"] == 1 and "model.safetensors" in pending_names(run)["checkpoint-2"]


def test_hf_tmp_checkpoint_of_older_versions_is_still_in_progress(hf_in_place, capsys):
    (hf_in_place / "checkpoint-3").rename(hf_in_place / "tmp-checkpoint-3")
    run = listed(capsys, hf_in_place)
    assert run["latest_step"] == 2 and "tmp-checkpoint-3" in pending_names(run)


# -- ART: no completion marker ------------------------------------------------------------------------
@pytest.fixture
def art_model(tmp_path: Path) -> Path:
    model = tmp_path / "art" / "demo" / "models" / "agent"
    for step in (1, 2):
        age(art_step(model, step, safetensors_bytes()))
    (model / "history.jsonl").write_text("".join(json.dumps({"step": s, "val/reward": 0.1 * s}) + "\n"
                                                 for s in (1, 2, 3)))
    return model


def test_an_art_step_holding_only_its_config_is_not_complete(art_model, capsys):
    art_step(art_model, 3)
    root = art_model.parents[2]
    run = listed(capsys, root)
    assert run["latest_step"] == 2 and "no weights file" in pending_names(run)["0003"]
    assert run_cli(capsys, "path", root, "--latest")[1] == f"{art_model / 'checkpoints' / '0002'}\n"
    code, out, err = run_cli(capsys, "path", root, "--step", 3)
    assert (code, out) == (1, "") and "0003" not in out


def test_a_listing_judges_weights_from_its_own_walk_of_each_step(art_model, monkeypatch):
    """Sizes and weights come from one walk of each step folder: the header of a cut adapter is
    still read and judged, and a file unchanged since it was judged is not read again."""
    from ckpt_tui.stores.backends.local import LocalBackend

    art_step(art_model, 3, safetensors_bytes()[:-64])
    opened: list[str] = []
    real_open = LocalBackend.open_listed

    def no_second_walk(self, folder, names):
        raise AssertionError(f"step folders walked again: {list(names)}")

    def counting_open(self, path, *listed):
        opened.append(path)
        return real_open(self, path, *listed)

    monkeypatch.setattr(LocalBackend, "walk_many", no_second_walk)
    monkeypatch.setattr(LocalBackend, "open_listed", counting_open)
    store = LocalStore(art_model.parents[2])
    run = store.load_run("demo", "agent", with_metrics=False)
    assert [c.step for c in run.checkpoints] == [1, 2]
    assert "promises" in {c.name: c.note for c in run.pending}["0003"]
    assert sorted(p.rpartition("/")[0].rpartition("/")[2] for p in opened) == ["0001", "0002", "0003"]
    store.load_run("demo", "agent", with_metrics=False)
    assert len(opened) == 3


def test_an_art_adapter_half_written_is_not_complete(art_model, capsys):
    art_step(art_model, 3, safetensors_bytes()[:-64])
    run = listed(capsys, art_model.parents[2])
    assert run["latest_step"] == 2 and "promises" in pending_names(run)["0003"]
    code, _, err = run_cli(capsys, "prune", art_model.parents[2], "--keep", "latest", "--metric", "none", "--yes")
    assert code == 0, err
    assert sorted(p.name for p in (art_model / "checkpoints").iterdir()) == ["0002", "0003"]


def test_an_art_adapter_preallocated_with_zeros_is_never_handed_out_or_deleted(art_model, capsys):
    """A save that preallocates its file (zeros up to the final size) has the size of a whole one."""
    art_step(art_model, 3, b"\0" * len(safetensors_bytes()))
    root = art_model.parents[2]
    run = listed(capsys, root)
    assert run["latest_step"] == 2 and "header not written yet" in pending_names(run)["0003"]
    assert run_cli(capsys, "path", root, "--latest")[1] == f"{art_model / 'checkpoints' / '0002'}\n"
    code, _, err = run_cli(capsys, "prune", root, "--keep", "latest", "--metric", "none", "--yes")
    assert code == 0, err
    assert sorted(p.name for p in (art_model / "checkpoints").iterdir()) == ["0002", "0003"]


def test_an_art_step_settles_before_it_displaces_the_latest(art_model, capsys, monkeypatch):
    monkeypatch.setenv(SETTLE, "60")
    fresh = art_step(art_model, 3, safetensors_bytes())
    age(fresh, time.time() - 5)
    root = art_model.parents[2]
    run = listed(capsys, root)
    assert run["latest_step"] == 2
    (settling,) = run["pending"]
    assert (settling["name"], settling["pending"]) == ("0003", "settling") and "60s" in settling["note"]
    code, out, _ = run_cli(capsys, "ls", root)
    assert code == 0 and "settling" in out
    assert run_cli(capsys, "path", root, "--latest")[1] == f"{art_model / 'checkpoints' / '0002'}\n"
    code, _, err = run_cli(capsys, "prune", root, "--keep", "latest", "--metric", "none", "--yes")
    assert code == 0, err
    assert sorted(p.name for p in (art_model / "checkpoints").iterdir()) == ["0002", "0003"]
    age(fresh, time.time() - 61)  # a minute later, unchanged: settled
    assert listed(capsys, root)["latest_step"] == 3


def test_a_settle_window_that_is_no_number_is_refused(art_model, capsys, monkeypatch):
    monkeypatch.setenv(SETTLE, "soon")
    code, out, err = run_cli(capsys, "ls", art_model.parents[2])
    assert code == 2 and len(err.strip().splitlines()) == 1 and SETTLE in err


# -- torchtune: no marker, shards that carry their length ----------------------------------------
def test_a_torchtune_epoch_whose_last_shard_is_half_written_is_not_handed_out(trainer_tree, capsys):
    root, _ = trainer_tree("real-trainers/torchtune-lora")
    shard = root / "epoch_2" / "model-00001-of-00001.safetensors"
    write(shard, shard.read_bytes(), cut=shard.stat().st_size // 2)
    assert run_cli(capsys, "path", root, "--latest") == (0, f"{root / 'epoch_1'}\n", "")
    code, out, err = run_cli(capsys, "path", root, "--step", 2)
    assert (code, out) == (1, "") and "model-00001-of-00001.safetensors" in err


def test_a_torchtune_epoch_settles(trainer_tree, capsys, monkeypatch):
    root, _ = trainer_tree("real-trainers/torchtune-lora")
    age(root / "epoch_2", time.time() - 5)  # the copy keeps the fixture's times: the others are old
    monkeypatch.setenv(SETTLE, "60")
    run = listed(capsys, root)
    assert run["latest_step"] == 1 and pending_names(run)["epoch_2"].startswith("settling")


# -- trackers written after the save: no tracker yet, nothing is whole --------------------------------
def test_deepspeed_first_save_before_any_latest_is_not_complete(trainer_tree, capsys):
    root, _ = trainer_tree("real-trainers/deepspeed-zero1")
    for tag in ("global_step2", "global_step4", "global_step6", "global_step8"):
        shutil.rmtree(root / tag)
    (root / "latest").unlink()
    code, out, err = run_cli(capsys, "path", root, "--latest")
    assert (code, out) == (1, "") and "global_step10" not in out
    assert "complete steps: none" in err and "10 (incomplete save" in err


def megatron_legacy(root: Path, iteration: int, cut: bool = False) -> Path:
    data = torch_archive_bytes()
    return write(root / f"iter_{iteration:07d}" / "mp_rank_00" / "model_optim_rng.pt", data,
                 cut=len(data) - 40 if cut else None)


def test_megatron_first_save_before_any_tracker_is_not_complete(tmp_path, capsys):
    root = tmp_path / "megatron"
    megatron_legacy(root, 10)
    code, out, err = run_cli(capsys, "path", root, "--latest")
    assert (code, out) == (1, "") and "latest_checkpointed_iteration.txt" in err


def test_megatron_legacy_iteration_below_the_tracker_with_broken_files(tmp_path, capsys):
    root = tmp_path / "megatron"
    for iteration in (20, 40):
        megatron_legacy(root, iteration)
    megatron_legacy(root, 30, cut=True)  # crashed while saving 30, restarted from 20, saved 40
    (root / "latest_checkpointed_iteration.txt").write_text("40")
    assert run_cli(capsys, "path", root, "--latest")[1] == f"{root / 'iter_0000040'}\n"
    code, out, err = run_cli(capsys, "path", root, "--step", 30)
    assert (code, out) == (1, "") and "model_optim_rng.pt" in err
    assert run_cli(capsys, "path", root, "--step", 20)[1] == f"{root / 'iter_0000020'}\n"


def test_verl_without_tracker_has_nothing_whole(tmp_path, capsys):
    root = tmp_path / "verl"
    write(root / "global_step_5" / "actor" / "model_world_size_1_rank_0.pt", torch_archive_bytes())
    code, out, err = run_cli(capsys, "path", root, "--latest")
    assert (code, out) == (1, "") and "latest_checkpointed_iteration.txt" in err


def test_a_store_judges_weights_once_until_they_change(art_model, monkeypatch):
    store = LocalStore(art_model.parents[2])
    opened = []
    original = store.backend.open_listed
    monkeypatch.setattr(store.backend, "open_listed",
                        lambda path, *listed: (path.endswith(".safetensors") and opened.append(path))
                        or original(path, *listed))
    store.load_run("demo", "agent")
    first = len(opened)
    store.load_run("demo", "agent")
    assert first == 2 and len(opened) == first
    write(art_model / "checkpoints" / "0002" / "adapter_model.safetensors", safetensors_bytes(), cut=50)
    assert [c.step for c in store.load_run("demo", "agent").checkpoints] == [1] and len(opened) == first + 1


# -- watch: the same latest as every other command ------------------------------------------------------
def test_watch_neither_deletes_nor_slims_the_newest_complete_step_during_a_save(hf_in_place):
    from ckpt_tui.policy_file import flag_settings
    from ckpt_tui.watch import Watch

    events = []
    watch = Watch(LocalStore(hf_in_place), flags=flag_settings("none", keep="latest", full="latest"),
                  report=events.append)
    watch.cycle()
    assert checkpoint_folders(hf_in_place) == ["checkpoint-2", "checkpoint-3"]
    assert (hf_in_place / "checkpoint-2" / "optimizer.pt").exists()
    hf_step(hf_in_place, 3)  # trainer_state.json written: step 3 is whole, 2 may go
    watch.cycle()
    assert checkpoint_folders(hf_in_place) == ["checkpoint-3"]
    assert [e.action for e in events if e.problem] == []



def test_megatron_torch_dist_iterations_carry_their_own_evidence_without_a_tracker(trainer_tree, capsys):
    root, _ = trainer_tree("real-trainers/megatron-dcp")
    (root / "latest_checkpointed_iteration.txt").unlink()
    shutil.rmtree(root / "iter_0000040")
    (root / "iter_0000030" / "metadata.json").unlink()  # the save of 30 in progress
    assert run_cli(capsys, "path", root, "--latest")[1] == f"{root / 'iter_0000020'}\n"


def test_a_weights_file_swapped_since_the_listing_is_never_read(tmp_path):
    """The whole-file checks open what the walk found regular without looking again: a link put in
    its place is not followed, a FIFO is opened without blocking and not read, and neither gets a
    verdict either way."""
    import os

    from ckpt_tui.core.errors import CkptError, NotRead
    from ckpt_tui.stores.backends.local import LocalBackend
    from ckpt_tui.stores.layouts.whole_files import file_problem

    cut = safetensors_bytes()[:-64]
    (tmp_path / "outside.safetensors").write_bytes(cut)
    (tmp_path / "whole.safetensors").write_bytes(cut)
    os.symlink(tmp_path / "outside.safetensors", tmp_path / "link.safetensors")
    os.mkfifo(tmp_path / "fifo.safetensors")
    backend = LocalBackend(tmp_path)
    assert "promises" in file_problem("whole.safetensors", len(cut), lambda _: backend.open_listed("whole.safetensors"))
    with pytest.raises(CkptError):
        backend.open_listed("link.safetensors")
    with pytest.raises(NotRead, match="FIFO"):
        backend.open_listed("fifo.safetensors")
    for name in ("link.safetensors", "fifo.safetensors", "gone.safetensors"):
        assert file_problem(name, len(cut), lambda _, n=name: backend.open_listed(n)) == ""
