"""The domain of ckpt-tui: runs, checkpoints, metrics, retention plans, deletion and fork.

Imports no UI or cloud library; stores implement :class:`Store` and are handed in.
"""

from .errors import AlreadyExists, CkptError, InvalidName, NotFound, Refused, StoreError, Unreadable
from .execute import DeletionResult, PlansResult, execute_plan, execute_plans, list_runs, plan_location, single_run
from .fork import ForkResult, choose_step, fork_checkpoint
from .metrics import Metrics, metrics_from_records, parse_history_lines
from .models import Blob, Checkpoint, FileEntry, Pending, Run, freed_bytes
from .names import validate_name
from .resume import resumable, resume_checkpoint
from .retention import DEFAULT_METRIC, KeptStep, DeletedStep, Plan, Policy, Rule, parse_rules, plan_run, resolve_mode
from .store import Store

__all__ = [
    "AlreadyExists", "Blob", "Checkpoint", "CkptError", "DEFAULT_METRIC", "DeletedStep", "DeletionResult",
    "FileEntry", "ForkResult", "InvalidName", "KeptStep", "Metrics", "NotFound", "Pending", "Plan", "PlansResult",
    "Policy", "Refused", "Rule", "Run", "Store", "StoreError", "Unreadable", "choose_step", "execute_plan",
    "execute_plans", "fork_checkpoint", "freed_bytes",
    "list_runs", "metrics_from_records", "parse_history_lines", "parse_rules", "plan_location",
    "plan_run", "resolve_mode", "resumable", "resume_checkpoint", "single_run", "validate_name",
]
