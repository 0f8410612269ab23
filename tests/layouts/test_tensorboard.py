"""Metrics from TensorBoard event files, for runs that keep them nowhere else (Megatron, verl)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from layout_trees import lightning_dir, listing, megatron_save, verl_dir

from ckpt_tui.cli import main
from ckpt_tui.core import Policy, execute_plan, plan_run
from ckpt_tui.stores.backends.local import LocalBackend
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.tensorboard import find_event_files, read_event_file

pytest.importorskip("tensorboard")
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c  # noqa: E402
from tensorboard.plugins.scalar.summary_v2 import scalar_pb  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

STAMP = 1_700_000_000


def write_events(folder: Path, rows: list[tuple[int, dict[str, float]]], style: str = "tf1",
                 stamp: int = STAMP) -> Path:
    """An event file written by TensorBoard's own writer, renamed to a fixed time stamp.

    ``tf1``: ``simple_value`` (PyTorch's SummaryWriter, Megatron, verl);
    ``tf2``: rank-0 tensors whose plugin metadata comes with a tag's first value only.
    """
    writer = EventFileWriter(str(folder))
    seen: set[str] = set()
    for step, values in rows:
        summary = summary_pb2.Summary()
        for tag, number in values.items():
            if style == "tf1":
                summary.value.add(tag=tag, simple_value=number)
            else:
                value = scalar_pb(tag, number).value[0]
                if tag in seen:
                    value.ClearField("metadata")
                seen.add(tag)
                summary.value.append(value)
        writer.add_event(event_pb2.Event(wall_time=stamp + step, step=step, summary=summary))
    writer.close()
    (written,) = [p for p in folder.glob("events.out.tfevents.*") if ".trainer-host." not in p.name]
    return written.rename(folder / f"events.out.tfevents.{stamp}.trainer-host.1234.0")


def megatron_logs(save: Path) -> Path:
    """Megatron logs every iteration's loss, and again against consumed samples."""
    rows = [(it, {"lm-loss": 3.0 - it / 20, "learning-rate": 1e-4, "lm-loss vs samples": 9.0})
            for it in range(5, 45, 5)]
    rows.append((20, {"lm-loss": 1.0}))  # logged twice at one iteration: averaged
    rows.append((512, {"lm-loss vs samples": 2.0}))  # a sample count, never an iteration
    return write_events(_fresh(save / "tensorboard"), rows)


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def megatron(tmp_path: Path) -> Path:
    save = megatron_save(tmp_path / "runs" / "gpt")  # tracker: 30; 40 unfinished
    megatron_logs(save)
    return save


def test_megatron_metrics_come_from_its_event_files(tmp_path, megatron):
    # An event file inside a checkpoint is part of the checkpoint, not the run's log.
    write_events(megatron / "iter_0000010", [(10, {"lm-loss": 99.0})])
    run = LocalStore(tmp_path / "runs").load_run("runs", "gpt")
    assert run.layout == "megatron"
    assert run.metrics.names() == ["learning-rate", "lm-loss"]
    assert [s for s, _ in run.metrics.series("lm-loss")] == list(range(5, 45, 5))
    assert run.metrics.value(10, "lm-loss") == pytest.approx(2.5)
    assert run.metrics.value(20, "lm-loss") == pytest.approx((2.0 + 1.0) / 2)
    assert run.metrics.value(40, "learning-rate") == pytest.approx(1e-4)
    assert 512 not in run.metrics.by_step and run.metrics.malformed == 0


def test_prune_by_a_tensorboard_metric(tmp_path, megatron, capsys):
    store = LocalStore(tmp_path / "runs")
    # lm-loss falls with every iteration: the best by `max` is the first step.
    code = main(["prune", str(tmp_path / "runs"), "--metric", "lm-loss", "--mode", "max", "--yes"])
    assert code == 0, capsys.readouterr()
    assert listing(megatron) == ["iter_0000010", "iter_0000030", "iter_0000040",
                                 "latest_checkpointed_iteration.txt", "tensorboard"]
    execute_plan(store, plan_run(store.load_run("runs", "gpt"), Policy.parse("best,latest", "lm-loss", "min")))
    # Best by `min` is the tracked iteration 30; 40 is unfinished, 10 is gone.
    assert listing(megatron) == ["iter_0000030", "iter_0000040", "latest_checkpointed_iteration.txt",
                                 "tensorboard"]
    assert len(list((megatron / "tensorboard").iterdir())) == 1  # logs are never deleted


def test_verl_tf2_scalars_below_the_run(tmp_path):
    root = verl_dir(tmp_path / "ckpts" / "gsm8k")
    logs = _fresh(root / "tensorboard_log" / "verl_examples" / "gsm8k")
    rows = [(step, {"val/reward": step / 20, "critic/score/mean": -step}) for step in (5, 10, 15)]
    write_events(logs, rows, style="tf2")
    # A histogram and a text summary beside the scalars are not metrics.
    writer = EventFileWriter(str(logs), filename_suffix=".extra")
    text = summary_pb2.Summary()
    text.value.add(tag="notes", tensor=tensor_util.make_tensor_proto(["hello"]),
                   metadata=summary_pb2.SummaryMetadata(
                       plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")))
    text.value.add(tag="weights", tensor=tensor_util.make_tensor_proto([[0.0, 1.0, 3.0]]))
    writer.add_event(event_pb2.Event(wall_time=STAMP, step=5, summary=text))
    writer.close()
    run = LocalStore(tmp_path / "ckpts").load_run("ckpts", "gsm8k")
    assert run.layout == "verl"
    assert run.metrics.names() == ["critic/score/mean", "val/reward"]
    assert run.metrics.series("val/reward") == [(5, 0.25), (10, 0.5), (15, 0.75)]
    assert run.metrics.value(15, "critic/score/mean") == -15


def test_a_resumed_run_s_newer_file_wins_and_nan_is_dropped(tmp_path):
    save = megatron_save(tmp_path / "runs" / "gpt")
    logs = _fresh(save / "tb")
    write_events(logs, [(10, {"lm-loss": 5.0}), (20, {"lm-loss": 4.0}), (30, {"lm-loss": 3.9})])
    write_events(logs, [(20, {"lm-loss": 3.5}), (30, {"lm-loss": float("nan")})], stamp=STAMP + 3600)
    metrics = LocalStore(tmp_path / "runs").load_run("runs", "gpt").metrics
    assert metrics.series("lm-loss") == [(10, 5.0), (20, 3.5)] and metrics.ignored == 1


def test_a_file_that_changed_is_read_again(tmp_path, megatron):
    store = LocalStore(tmp_path / "runs")
    assert store.load_run("runs", "gpt").metrics.value(10, "lm-loss") == 2.5
    path = next((megatron / "tensorboard").iterdir())
    newer = write_events(_fresh(tmp_path / "newer"), [(10, {"lm-loss": 0.125}), (11, {"lm-loss": 0.5})])
    path.write_bytes(newer.read_bytes())  # as a trainer appending would: new size and time
    assert store.load_run("runs", "gpt").metrics.series("lm-loss") == [(10, 0.125), (11, 0.5)]


def test_same_tag_in_two_folders_is_kept_apart(tmp_path):
    save = megatron_save(tmp_path / "runs" / "gpt")
    write_events(_fresh(save / "logs" / "train"), [(10, {"epoch_loss": 0.9})])
    write_events(_fresh(save / "logs" / "validation"), [(10, {"epoch_loss": 0.7, "val/acc": 0.5})])
    metrics = LocalStore(tmp_path / "runs").load_run("runs", "gpt").metrics
    assert metrics.at(10) == {"logs/train/epoch_loss": 0.9, "logs/validation/epoch_loss": 0.7, "val/acc": 0.5}


def test_lightning_without_metrics_in_names_reads_its_logger(tmp_path):
    version = tmp_path / "lightning_logs" / "version_0"
    ckpts = version / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "epoch=0-step=100.ckpt").write_bytes(b"\0" * 10)
    (ckpts / "epoch=1-step=200.ckpt").write_bytes(b"\0" * 10)
    # Lightning's logger writes the values of the checkpoint saved at step S at S - 1.
    write_events(version, [(99, {"val_loss": 0.4}), (199, {"val_loss": 0.2})])
    metrics = LocalStore(tmp_path / "lightning_logs").load_run("lightning_logs", "version_0").metrics
    assert metrics.at(200) == {"val_loss": 0.2, "epoch": 1.0} and metrics.at(100) == {"val_loss": 0.4, "epoch": 0.0}


def test_lightning_names_win_and_its_logger_fills_in(tmp_path):
    lightning_dir(tmp_path / "lightning_logs" / "version_0")
    # Logged at 99 for the checkpoint of step 100: a value the file's name contradicts loses.
    write_events(tmp_path / "lightning_logs" / "version_0", [(99, {"val_loss": 9.0, "other": 1.0})])
    metrics = LocalStore(tmp_path / "lightning_logs").load_run("lightning_logs", "version_0").metrics
    assert metrics.value(100, "val_loss") == 0.5 and metrics.value(100, "other") == 1.0


def test_hf_and_art_keep_their_own_metrics(hf_fixture, art_base):
    hf_run = hf_fixture / "lora-adapter"
    write_events(_fresh(hf_run / "runs" / "Jan01_host"), [(5, {"eval_loss": 99.0, "tb_only": 1.0})])
    write_events(_fresh(art_base / "demo" / "models" / "agent-001" / "logs"), [(1, {"tb_only": 1.0})])
    hf = LocalStore(hf_fixture).load_run("hf-trainer", "lora-adapter").metrics
    assert "tb_only" not in hf.names() and hf.value(5, "eval_loss") != 99.0
    assert "tb_only" not in LocalStore(art_base).load_run("demo", "agent-001").metrics.names()


def test_without_the_extra_a_one_line_hint_and_no_metrics(tmp_path, megatron, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails
    store = LocalStore(tmp_path / "runs")
    run = store.load_run("runs", "gpt")
    assert run.metrics.by_step == {} and [c.step for c in run.checkpoints] == [10, 20, 30]
    (hint,) = run.metrics.notes
    assert "runs/gpt has TensorBoard event files" in hint and "ckpt-tui[tensorboard]" in hint
    assert "\n" not in hint
    # Rules that need no metric still prune.
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    assert "iter_0000010" not in listing(megatron) and "tensorboard" in listing(megatron)


def _framed(payload: bytes) -> bytes:
    """One TFRecord: length, its checksum, the payload, its checksum."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", masked_crc32c(length)) + payload
            + struct.pack("<I", masked_crc32c(payload)))


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "not-an-event"])
def test_damaged_event_files_are_read_up_to_the_damage(tmp_path, megatron, damage):
    path = next((megatron / "tensorboard").iterdir())
    data = path.read_bytes()
    if damage == "truncated":  # a trainer killed mid-write
        path.write_bytes(data[:-7])
    elif damage == "flipped":  # a bit flipped in the last record's payload
        path.write_bytes(data[:-6] + bytes([data[-6] ^ 0xFF]) + data[-5:])
    elif damage == "not-an-event":  # a sound record holding something else
        path.write_bytes(data + _framed(b"\xff\xff\xff"))
    else:
        path.write_bytes(b"not an event file at all, just text\n" * 4)
    before = path.read_bytes()
    scalars = read_event_file(LocalBackend(path.parent), path.name)
    assert scalars.problem and "record" in scalars.problem
    store = LocalStore(tmp_path / "runs")
    run = store.load_run("runs", "gpt")
    (message,) = run.metrics.notes
    expected = {"truncated": "is truncated", "flipped": "is damaged", "garbage": "record 1 is damaged",
                "not-an-event": "is not a TensorBoard event"}[damage]
    assert message.startswith(f"{path}: record ") and expected in message
    assert run.metrics.malformed == 1 and [c.step for c in run.checkpoints] == [10, 20, 30]
    if damage == "garbage":
        assert run.metrics.by_step == {}
    else:  # every event before the damaged last one is kept
        assert [s for s, _ in run.metrics.series("lm-loss")] == list(range(5, 45, 5))
    assert path.read_bytes() == before


def test_search_is_bounded_and_never_follows_links(tmp_path):
    root = tmp_path / "run"
    write_events(_fresh(root / "a" / "b" / "c"), [(1, {"x": 1.0})])
    write_events(_fresh(root / "a" / "b" / "c" / "d"), [(1, {"x": 1.0})])  # too deep
    write_events(_fresh(tmp_path / "elsewhere"), [(1, {"x": 1.0})])
    (root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    write_events(_fresh(root / ".deleting-5-abc"), [(1, {"x": 1.0})])
    write_events(_fresh(root / "iter_0000005"), [(1, {"x": 1.0})])
    found = find_event_files(LocalBackend(root), "", skip={"iter_0000005"})
    assert [p.rpartition("/")[0] for p in found] == ["a/b/c"]
