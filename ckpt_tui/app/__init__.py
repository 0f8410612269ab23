"""The Textual app. ``run_app`` is what ``ckpt-tui [LOCATION]`` calls."""

from __future__ import annotations


def run_app(location, *, policy=None, flags=None, auto_metric: bool = True, location_label: str | None = None,
            **store_options: object) -> int:
    """Open the app on ``location`` (a directory, s3://..., wandb://..., or a function that
    returns one); returns an exit code. ``store_options`` go to the store.

    A directory's runs are sized in a forked process while Textual is imported (``head_start``)."""
    from .head_start import HeadStart

    head_start = HeadStart.start(location)
    try:
        from .app import CkptApp
        from .keymap import load_keymap

        from ..policy_file import NO_SETTINGS

        keymap, problem = load_keymap()
        app = CkptApp(location, policy=policy, flags=flags or NO_SETTINGS, auto_metric=auto_metric,
                      location_label=location_label, store_options=dict(store_options), keymap=keymap,
                      head_start=head_start)
        app.keymap_problem = problem
        app.run()
        return app.return_code or 0
    finally:
        if head_start is not None:
            head_start.close()  # reaped, whenever and however the app ends


def __getattr__(name: str):
    if name == "CkptApp":
        from .app import CkptApp

        return CkptApp
    raise AttributeError(name)


__all__ = ["CkptApp", "run_app"]
