"""The domain of ckpt-tui: runs, checkpoints, metrics, retention plans, deletion and fork.

Imports no UI or cloud library; stores implement :class:`Store` and are handed in.
"""

from .errors import AlreadyExists, CkptError, InvalidName, NotFound, Refused, StoreError, Unreadable
# Each name is imported from its module when first used: a command imports only what it needs.
_MODULES = {
    "execute": ("DeletionResult", "PlansResult", "execute_plan", "execute_plans", "list_runs", "plan_location",
                "single_run"),
    "fork": ("ForkResult", "choose_step", "fork_checkpoint"),
    "metrics": ("Metrics", "metrics_from_records", "parse_history_lines"),
    "models": ("Blob", "Checkpoint", "FileEntry", "Pending", "Run", "freed_bytes"),
    "names": ("validate_name",),
    "resume": ("resumable", "resume_checkpoint"),
    "retention": ("DEFAULT_METRIC", "KeptStep", "DeletedStep", "Plan", "Policy", "Rule", "parse_rules", "plan_run",
                  "resolve_mode"),
    "store": ("Store",),
}
_SOURCE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AlreadyExists", "Blob", "Checkpoint", "CkptError", "DEFAULT_METRIC", "DeletedStep", "DeletionResult",
    "FileEntry", "ForkResult", "InvalidName", "KeptStep", "Metrics", "NotFound", "Pending", "Plan", "PlansResult",
    "Policy", "Refused", "Rule", "Run", "Store", "StoreError", "Unreadable", "choose_step", "execute_plan",
    "execute_plans", "fork_checkpoint", "freed_bytes",
    "list_runs", "metrics_from_records", "parse_history_lines", "parse_rules", "plan_location",
    "plan_run", "resolve_mode", "resumable", "resume_checkpoint", "single_run", "validate_name",
]
