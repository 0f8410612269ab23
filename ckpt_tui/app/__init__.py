"""The Textual app. ``run_app`` is what ``ckpt-tui [LOCATION]`` calls."""

from __future__ import annotations


def run_app(location: str, **options: object) -> int:
    """Open the app on ``location`` (a directory, s3://..., wandb://...); returns an exit code."""
    from .app import CkptApp

    app = CkptApp(location, store_options=dict(options))
    app.run()
    return app.return_code or 0


def __getattr__(name: str):
    if name == "CkptApp":
        from .app import CkptApp

        return CkptApp
    raise AttributeError(name)


__all__ = ["CkptApp", "run_app"]
