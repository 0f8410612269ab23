"""The domain of ckpt-tui: runs, checkpoints, metrics, retention plans, deletion and fork.

Imports no UI or cloud library; stores implement :class:`Store` and are handed in.
"""

from .errors import AlreadyExists, CkptError, InvalidName, NotFound, Refused, StoreError
from .execute import DeletionResult, PlansResult, execute_plan, execute_plans, list_runs, plan_location
from .fork import ForkResult, choose_step, fork_checkpoint
from .metrics import Metrics, metrics_from_records, parse_history_lines
from .models import Checkpoint, FileEntry, Run
from .names import validate_name
from .retention import DEFAULT_METRIC, KeptStep, DeletedStep, Plan, Policy, Rule, parse_rules, plan_run, resolve_mode
from .store import Store

__all__ = [
    "AlreadyExists", "Checkpoint", "CkptError", "DEFAULT_METRIC", "DeletedStep", "DeletionResult",
    "FileEntry", "ForkResult", "InvalidName", "KeptStep", "Metrics", "NotFound", "Plan", "PlansResult", "Policy",
    "Refused", "Rule", "Run", "Store", "StoreError", "choose_step", "execute_plan", "execute_plans", "fork_checkpoint",
    "list_runs", "metrics_from_records", "parse_history_lines", "parse_rules", "plan_location",
    "plan_run", "resolve_mode", "validate_name",
]
