"""The Textual app. ``run_app`` is what ``ckpt-tui [LOCATION]`` calls."""

from __future__ import annotations


def run_app(location, *, policy=None, flags=None, auto_metric: bool = True, location_label: str | None = None,
            **store_options: object) -> int:
    """Open the app on ``location`` (a directory, s3://..., wandb://..., or a function that
    returns one); returns an exit code. ``store_options`` go to the store."""
    from .app import CkptApp
    from .keymap import load_keymap

    from ..policy_file import NO_SETTINGS

    keymap, problem = load_keymap()
    app = CkptApp(location, policy=policy, flags=flags or NO_SETTINGS, auto_metric=auto_metric,
                  location_label=location_label, store_options=dict(store_options), keymap=keymap)
    app.keymap_problem = problem
    app.run()
    return app.return_code or 0


def __getattr__(name: str):
    if name == "CkptApp":
        from .app import CkptApp

        return CkptApp
    raise AttributeError(name)


__all__ = ["CkptApp", "run_app"]
