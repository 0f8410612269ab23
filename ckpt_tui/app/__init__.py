"""The Textual app. ``run_app`` is what ``ckpt-tui [LOCATION]`` calls."""

from __future__ import annotations


def run_app(location, *, policy=None, flags=None, auto_metric: bool = True, location_label: str | None = None,
            **store_options: object) -> int:
    """Open the app on ``location`` (a directory, s3://..., wandb://..., or a function that
    returns one); returns an exit code. ``store_options`` go to the store."""
    import threading

    from .prefetch import Prefetch, is_local

    # Forked before Textual is imported and while no other thread runs: the runs are read
    # on another core while the app starts.
    prefetch = Prefetch(location) if is_local(location) and threading.active_count() == 1 else None
    from .app import CkptApp
    from .keymap import load_keymap

    from ..policy_file import NO_SETTINGS

    keymap, problem = load_keymap()
    app = CkptApp(location, policy=policy, flags=flags or NO_SETTINGS, auto_metric=auto_metric,
                  location_label=location_label, store_options=dict(store_options), keymap=keymap,
                  prefetch=prefetch)
    app.keymap_problem = problem
    try:
        app.run()
    finally:
        if prefetch is not None:
            prefetch.close()
    return app.return_code or 0


def __getattr__(name: str):
    if name == "CkptApp":
        from .app import CkptApp

        return CkptApp
    raise AttributeError(name)


__all__ = ["CkptApp", "run_app"]
