"""ckpt-tui: browse, prune and fork training checkpoints by their metrics.

The Python API mirrors what OpenPipe ART users know::

    from ckpt_tui import delete_checkpoints, fork_checkpoint
    delete_checkpoints(".art", "my-project", "agent-001", best_checkpoint_metric="val/reward")
"""

__version__ = "0.1.0"

__all__ = ["__version__", "checkpoint_path", "delete_checkpoints", "fork_checkpoint", "open_store",
           "plan_checkpoints"]


def __getattr__(name: str):
    """The API, imported on first use: ``ckpt-tui`` opens the app without it."""
    if name in __all__ and name != "__version__":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ckpt_tui' has no attribute {name!r}")
