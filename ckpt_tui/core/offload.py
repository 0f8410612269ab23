"""Offload: move the steps the local rules do not keep to another location, verified, then free the disk.

Each step the local rules (``--keep-local``, else the ``offload`` key's
``keep_local``, else the run's own ``keep``) do not keep is copied to the same
project, run and step at the other location (with the run's history and
tracker files, so that it reads as a location of its own), verified file by
file, published there (staged, then made visible, as a fork is), and only then
deleted here, through the same execution as a prune: the plan is made again
against the run as it is now, and the latest, best, pinned and protected steps
are never deleted. A kill at any moment leaves each step whole here, or whole
and verified in both places: a step is deleted here only once the other
location holds it whole, as the listing that verified it showed.
"""

from __future__ import annotations

import os

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import CkptError, Conflict, Refused
from .execute import DeletionResult, execute_plan
from .models import Checkpoint, Run
from .policy import Resolved, plan_for
from .retention import DeletedStep, Plan, Policy, parse_rules
from .store import ByteCounter, ByteProgress, Store

if TYPE_CHECKING:
    from .events import Event

# Steps published together (one claim each way), then deleted here before the next batch is copied.
BATCH_STEPS = 128
BATCH_BYTES = 16 * 1024**3
DISK, REMOTE, BOTH = "disk", "remote", "both"


def offload_policy(resolved: Resolved, keep_local: str | None = None) -> Policy:
    """The run's policy with the local rules as its rules: ``keep_local``, else the ``offload``
    key's, else the run's own. Pins stay local whatever the rules; nothing is slimmed."""
    offload = resolved.settings.offload
    rules_text = keep_local or (offload.keep_local if offload else None)
    policy = resolved.policy
    rules = parse_rules(rules_text) if rules_text else tuple(r for r in policy.rules if r.kind != "step")
    pins = tuple(r for r in policy.rules if r.kind == "step")
    return policy._replace(rules=tuple(dict.fromkeys(rules + pins)), full=None)


def offload_target(resolved: Resolved, to: str | None = None) -> str | None:
    """Where the run's steps go: ``to``, else its ``offload`` key's; None when neither says."""
    offload = resolved.settings.offload
    return to or (offload.to if offload else None)


@dataclass(slots=True)
class OffloadPlan:
    """One run: what offload would move (``plan.delete``), where, and where each step is now."""

    plan: Plan
    to: str
    remote: Run | None = None  # the run as the target holds it now
    note: str | None = None  # why the target's copy could not be read

    @property
    def project(self) -> str:
        return self.plan.project

    @property
    def run(self) -> str:
        return self.plan.run

    @property
    def frees_bytes(self) -> int:
        return self.plan.freed_bytes

    def where(self) -> list[tuple[Checkpoint, str]]:
        """Every complete step of the run, here or there, with where it is (sorted by step)."""
        local = self.plan.source.checkpoints if self.plan.source is not None else []
        there = {c.key: c for c in self.remote.checkpoints} if self.remote is not None else {}
        found = [(c, BOTH if c.key in there else DISK) for c in local]
        here = {c.key for c in local}
        found += [(c, REMOTE) for key, c in there.items() if key not in here]
        return sorted(found, key=lambda pair: pair[0].key)

    def counts(self) -> dict[str, int]:
        where = [w for _, w in self.where()]
        return {place: where.count(place) for place in (DISK, BOTH, REMOTE)}

    def to_json(self) -> dict:
        return {"to": self.to, "frees_bytes": self.frees_bytes, "note": self.note,
                "steps": [{"step": c.step, "name": c.name, "bytes": c.bytes, "where": where}
                          for c, where in self.where()],
                "planned": [d.to_json() for d in self.plan.delete], **self.counts()}


@dataclass(slots=True)
class OffloadResult:
    """What offloading one run did: copied (or found there already) and verified, then deleted here."""

    offload: OffloadPlan
    copied: list[DeletedStep] = field(default_factory=list)
    present: list[DeletedStep] = field(default_factory=list)  # there already, with the same content
    conflicts: list[tuple[DeletedStep, str]] = field(default_factory=list)
    failed: list[tuple[DeletedStep, str]] = field(default_factory=list)
    deletion: DeletionResult | None = None
    copied_bytes: int = 0
    cancelled: bool = False

    @property
    def freed_bytes(self) -> int:
        return self.deletion.freed_bytes if self.deletion is not None else 0

    @property
    def deleted(self) -> list[DeletedStep]:
        return self.deletion.deleted if self.deletion is not None else []

    @property
    def ok(self) -> bool:
        return not (self.conflicts or self.failed) and (self.deletion is None or self.deletion.ok)

    def to_json(self) -> dict:
        steps = lambda items: [d.to_json() for d in items]  # noqa: E731
        problems = lambda items: [{"step": d.step, "name": d.name, "error": why} for d, why in items]  # noqa: E731
        deletion = self.deletion
        return {"project": self.offload.project, "run": self.offload.run, "to": self.offload.to,
                "copied": steps(self.copied), "already_there": steps(self.present),
                "conflicts": problems(self.conflicts), "failed": problems(self.failed),
                "deleted": steps(deletion.deleted) if deletion else [],
                "spared": steps(deletion.spared) if deletion else [],
                "delete_failed": problems(deletion.failed) if deletion else [],
                "copied_bytes": self.copied_bytes, "freed_bytes": self.freed_bytes, "cancelled": self.cancelled}


def plan_offload(store: Store, target: Store, run: Run, resolved: Resolved, keep_local: str | None,
                 to: str, unattended: bool = False) -> OffloadPlan:
    """What offloading ``run`` to ``target`` moves, under the local rules, and where its steps are now."""
    plan = plan_for(run, resolved._replace(policy=offload_policy(resolved, keep_local)), unattended)
    plan.slim, plan.slim_refused = [], []
    offload = OffloadPlan(plan, to)
    try:
        offload.remote = target.mirrored_run(store, run.project, run.name)
    except CkptError as exc:
        offload.note = f"{to}: {exc}"
    if offload.remote is not None and _same_place(run, offload.remote):
        plan.refused = (f"{run.project}/{run.name}: {to} is where the run already is; "
                        "offloading there would delete the only copy")
    return offload


def _same_place(run: Run, remote: Run) -> bool:
    """Whether ``remote`` is ``run`` itself, reached through another spelling of its location."""
    def places(of: Run) -> set[str]:
        return {c.location if "://" in c.location else os.path.realpath(c.location)
                for c in of.checkpoints if c.location}
    return not places(run).isdisjoint(places(remote))


def batches(items: list[DeletedStep], steps: int = BATCH_STEPS, size: int = BATCH_BYTES) -> list[list[DeletedStep]]:
    """Steps in groups of at most ``steps`` steps and about ``size`` bytes: each group is
    published at once, then deleted here, before the next is copied."""
    groups: list[list[DeletedStep]] = [[]]
    total = 0
    for item in items:
        if groups[-1] and (len(groups[-1]) >= steps or total + item.bytes > size):
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += item.bytes
    return [g for g in groups if g]


def execute_offload(store: Store, target: Store, offload: OffloadPlan, progress: ByteProgress | None = None,
                    should_cancel: Callable[[], bool] | None = None) -> OffloadResult:
    """Copy, verify and publish the planned steps at ``target``, a batch at a time, then delete
    here those the target holds whole, as a prune of the same plan would (see ``execute_plan``)."""
    plan = offload.plan
    if plan.refused:
        raise Refused(plan.refused)
    result = OffloadResult(offload)
    if not plan.delete:
        return result
    run = plan.source
    assert run is not None
    target.offload_run_files(store, run)
    by_key = {c.key: c for c in run.checkpoints}
    counter = ByteCounter(sum(d.bytes for d in plan.delete), progress)
    for batch in batches(plan.delete):
        if should_cancel is not None and should_cancel():
            result.cancelled = True
            break
        outcome = target.offload_steps(store, run, [by_key[d.key] for d in batch], counter)
        copied: set[tuple[int, str]] = set()
        for item in batch:
            found = outcome[item.key]
            if isinstance(found, Conflict):
                result.conflicts.append((item, str(found)))
            elif isinstance(found, CkptError):
                result.failed.append((item, str(found)))
            else:
                copied.add(item.key)
                (result.copied if found.copied else result.present).append(item)
                result.copied_bytes += found.bytes if found.copied else 0
                if not found.copied:
                    counter(found.bytes)
        _delete_copied(store, plan, [d for d in batch if d.key in copied], result, should_cancel)
    return result


def _delete_copied(store: Store, plan: Plan, items: list[DeletedStep], result: OffloadResult,
                   should_cancel: Callable[[], bool] | None) -> None:
    """Delete here the steps the target was just seen to hold whole (the listing that verified
    them), as a prune of the same plan would: latest, best and new steps stay whatever."""
    if not items:
        return
    deletion = execute_plan(store, plan._replace(delete=items, slim=[]), should_cancel=should_cancel)
    if result.deletion is None:
        result.deletion = deletion
    else:
        for name in ("deleted", "spared", "gone", "failed"):
            getattr(result.deletion, name).extend(getattr(deletion, name))
    result.cancelled = result.cancelled or deletion.cancelled


def offload_events(result: OffloadResult) -> list[Event]:
    """One event per step offloaded (copied or found there, then deleted here), or not."""
    from .events import Event, deletion_events

    pair = (result.offload.project, result.offload.run)
    to = f"to {result.offload.to}"
    events = [Event("offloaded", *pair, d.step, d.bytes, (to,)) for d in result.deleted]
    events += [Event("failed", *pair, d.step, d.bytes, (why,)) for d, why in result.conflicts + result.failed]
    if result.deletion is not None:
        events += [e for e in deletion_events([result.deletion]) if e.action != "deleted"]
    return events
