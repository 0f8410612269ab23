"""The highlighted step's files (D): sizes, what each is, and free space before and after."""

from __future__ import annotations

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.screens import disk
from ckpt_tui.app.screens.disk import StepFiles
from ckpt_tui.core.filekinds import file_kind
from ckpt_tui.core.models import TrainingState
from ckpt_tui.core.retention import Policy
from ckpt_tui.formatting import size


async def test_the_files_of_a_step_largest_first_with_what_each_is(hf_fixture):
    app = RecordingApp(str(hf_fixture), policy=Policy.parse("best,latest", metric="eval_loss"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        ckpt = main(app).table.highlighted
        await pilot.press("v", "D")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, StepFiles)
        on_disk = sorted((p for p in (hf_fixture / "full-model" / ckpt.name).iterdir()),
                         key=lambda p: (-p.stat().st_size, p.name))
        assert [(path, nbytes) for path, nbytes, _ in dialog.rows] == [(p.name, p.stat().st_size) for p in on_disk]
        kinds = {path: kind for path, _, kind in dialog.rows}
        assert kinds["optimizer.pt"] == "optimizer" and kinds["model.safetensors"] == "weights"
        assert kinds["rng_state.pth"] == "RNG" and kinds["scheduler.pt"] == "scheduler"
        total = str(dialog.query_one("#disk-total").render())
        state = sum(n for _, n, kind in dialog.rows if kind in ("optimizer", "scheduler", "RNG", "grad scaler"))
        assert total.endswith(f"training state {size(state)} (what slimming frees)")
        freed = main(app).plans[main(app).current].freed_bytes
        free = str(dialog.query_one("#disk-free").render())
        assert free.startswith("filesystem: free ") and ("after the preview" in free) == (freed > 0)
        await pilot.press("escape")
        assert not isinstance(app.screen, StepFiles)


def test_file_kinds_follow_the_layouts_training_state():
    state = TrainingState(files=("extra.bin",), bytes=10)
    assert file_kind("extra.bin", state) == "training state"  # the layout says so, whatever the name
    assert file_kind("extra.bin") == "weights"
    assert file_kind("global_step4/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt") == "optimizer"
    assert file_kind("iter_0000010/mp_rank_00/model_optim_rng.pt") == "weights + optimizer"


async def test_a_preview_shows_free_space_now_and_after_on_the_top_line(art_base):
    from ckpt_tui.app.widgets import StatusLine
    from ckpt_tui.core.store import Space

    class FixedFree(RecordingApp):
        def free_space(self) -> Space:
            return Space(10**9)

    app = FixedFree(str(art_base))
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        line = lambda: str(screen.query_one(StatusLine).render())  # noqa: E731
        assert "1.0 GB free" in line()
        await pilot.press("v")
        await settle(pilot)
        freed = sum(p.freed_bytes for p in screen.plans.values())
        assert freed and f"free 1.0 GB -> {size(10**9 + freed)}" in line(), line()
        await pilot.press("escape")
        assert "1.0 GB free" in line() and "->" not in line()


async def test_at_120_columns_a_preview_keeps_the_free_space_after_it_beside_the_rule(demo_base, hf_fixture):
    from ckpt_tui.app.widgets import StatusLine
    from ckpt_tui.core.store import Space

    class FixedFree(RecordingApp):
        def free_space(self) -> Space:
            return Space(41 * 10**9)

    for base, label in ((demo_base, "demo"), (hf_fixture, "hf-trainer")):
        app = FixedFree(str(base))
        app.location_label = label  # as the demo and `ckpt-tui hf-trainer` name them
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            screen = main(app)
            line = lambda: str(screen.query_one(StatusLine).render())  # noqa: E731
            for key in ("v", "V"):
                await pilot.press("escape", key)
                await settle(pilot)
                freed = sum(p.freed_bytes for p in screen.plans.values() if not p.refused)
                assert freed and f"free 41.0 GB -> {size(41 * 10**9 + freed)}" in line(), (key, line())
                assert "keep best" in line() and "would delete" in line() and line().endswith(size(freed)), line()


async def test_the_files_dialog_is_built_ahead_and_first_opened_on_the_step_highlighted_then(art_base, monkeypatch):
    built: list[int] = []
    read: list[int] = []
    compose, read_step_files = StepFiles.compose, disk.read_step_files
    monkeypatch.setattr(StepFiles, "compose", lambda self: built.append(self.checkpoint.step) or compose(self))
    monkeypatch.setattr(disk, "read_step_files",
                        lambda app, run, ckpt: read.append(ckpt.step) or read_step_files(app, run, ckpt))
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert len(built) == 1 and read == []  # built while idle; nothing read for it yet
        await pilot.press("up")  # another step highlighted since
        await settle(pilot)
        step = screen.table.highlighted.step
        await pilot.press("D")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, StepFiles) and len(built) == 1  # the first opening builds nothing
        assert read == [step] and dialog.checkpoint.step == step and f"step {step}" in dialog.query_one("#disk").border_title
        assert dialog.rows  # its files, read as it opened
