"""``ckpt-tui offload``: the command line face of ``core.offload``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from .cli import (EXIT_FAILED, EXIT_OK, EXIT_REFUSED, _confirm, _err, _open, _print_json, _report_unread, _selected,
                  _StatusLine)
from .core import CkptError, Refused, Run, Store
from .core.offload import OffloadPlan, OffloadResult, execute_offload, offload_target, plan_offload
from .core.policy import InvalidPolicyFile, Policies, finish_leftovers, flag_settings, plan_for
from .formatting import shared_steps, size, step_label, step_ranges


class Targets:
    """The target stores, each opened once."""

    def __init__(self, open_location: Callable[[str], Store]) -> None:
        self.open_location, self.opened = open_location, {}

    def __call__(self, location: str) -> Store:
        if location not in self.opened:
            self.opened[location] = self.open_location(location)
        return self.opened[location]


def plan_runs(store: Store, runs: list[Run], policies: Policies, targets: Targets, to: str | None,
              keep_local: str | None, unattended: bool) -> tuple[list[OffloadPlan], list[str]]:
    """The offload of each run that has a target; (plans, one line per run without one)."""
    plans, skipped = [], []
    for run in runs:
        resolved = policies.resolve(run.project, run.name, run.metrics.names()).checked()
        where = offload_target(resolved, to)
        if where is None:
            skipped.append(f"{run.project}/{run.name}: no offload target (pass --to, or set offload in "
                           ".ckpt-tui.toml)")
            continue
        plans.append(plan_offload(store, targets(where), run, resolved, keep_local, where, unattended))
    return plans, skipped


def _print_plan(offload: OffloadPlan) -> None:
    plan = offload.plan
    counts = offload.counts()
    print(f"{plan.project}/{plan.run} -> {offload.to}: {counts['disk']} step(s) on disk only, {counts['both']} "
          f"in both, {counts['remote']} there only")
    if offload.note:
        print(f"  note: {offload.note}")
    shared = shared_steps(d.step for d in plan.delete)
    if plan.delete:
        print(f"  offload {len(plan.delete)} step(s): {step_ranges(plan.delete_steps - shared)}"
              + "".join(f", {step_label(d.step, d.name, shared)}" for d in plan.delete if d.step in shared)
              + f"; frees {size(offload.frees_bytes)} here")
    kept = [k for k in plan.keep if k.step is not None]
    if kept:
        shown = ", ".join(f"{k.step} ({', '.join(k.reasons)})" for k in kept[:8])
        print(f"  keep here: {shown}"
              + (", ..." if len(kept) > 8 else ""))


class Progress:
    """``offloading demo/run: 512 MiB / 1.0 GiB, 85 MiB/s`` on stderr, at most ten times a second;
    ``end`` finishes the line, whether the copy ended or failed."""

    def __init__(self, name: str, show: bool) -> None:
        self.name, self.line = name, _StatusLine(show)
        self.started = self.shown = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.line.show or (now - self.shown < 0.1 and done < total):
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-6)
        self.line(f"offloading {self.name}: {size(done)} / {size(total)}, {size(rate)}/s   ")
        if done >= total:
            self.line.end()

    def end(self) -> None:
        self.line.end()


def _report(result: OffloadResult) -> None:
    name = f"{result.offload.project}/{result.offload.run}"
    for item, why in result.conflicts:
        _err(f"{name}: step {item.step} not offloaded: {why}")
    for item, why in result.failed:
        _err(f"{name}: step {item.step} not offloaded: {why}")
    if result.deletion is not None:
        for item in result.deletion.spared:
            _err(f"{name}: spared step {item.step}: the run changed since the plan (it stays in both places)")
        for item, why in result.deletion.failed:
            _err(f"{name}: step {item.step} copied but not deleted here: {why}")
    print(f"{name}: copied {len(result.copied)} step(s) ({size(result.copied_bytes)}), "
          f"{len(result.present)} there already, deleted {len(result.deleted)} here, "
          f"freed {size(result.freed_bytes)}")


def cmd_offload(args: argparse.Namespace) -> int:
    if args.to is not None and not args.to:  # '' would read as no target at all
        raise Refused("--to: a location must not be empty")
    store, pairs = _selected(args, acting=True)
    targets = Targets(lambda location: _open(args, location))
    try:  # the local rules stand for the run's own: a metric of "none" then needs no "best"
        flags = flag_settings(args.metric, args.mode, args.keep_local)
    except InvalidPolicyFile as exc:
        raise InvalidPolicyFile(str(exc).replace("--keep:", "--keep-local:", 1)) from None
    policies = Policies(store, flags)
    runs, failed = [], []
    for (project, name), loaded in store.load_runs(pairs):
        if isinstance(loaded, CkptError):
            failed.append((project, name, str(loaded)))
        else:
            runs.append(loaded)
    plans, skipped = plan_runs(store, runs, policies, targets, args.to, args.keep_local, args.yes)
    if not plans and args.to is None and not failed:  # nowhere to offload to: bad usage, not "nothing to do"
        raise Refused("no offload target: pass --to REMOTE (a bucket or a directory), or set the runs' offload "
                      'key in .ckpt-tui.toml (offload = { to = "s3://bucket/prefix" })')
    for problem in dict.fromkeys(p.plan.resolved.problem for p in plans if p.plan.resolved.problem):
        raise InvalidPolicyFile(problem)
    todo = [p for p in plans if p.plan.delete and not p.plan.refused]
    if not args.json:
        for offload in plans:
            _print_plan(offload)
        print(f"total: offload {sum(len(p.plan.delete) for p in todo)} step(s) of {len(todo)} run(s), freeing "
              f"{size(sum(p.frees_bytes for p in todo))}" + (" (dry run)" if args.dry_run else ""))
        _report_unread(store, failed)
    for line in skipped + [p.plan.refused for p in plans if p.plan.refused]:
        _err(line)
    results: list[OffloadResult] = []
    if todo and not args.dry_run and (code := _confirm([p.plan for p in todo], args, "offload")) is not None:
        return code
    if not args.dry_run:  # as prune does: what an interrupted deletion left here is finished
        for plan, what, removed in finish_leftovers(store, [p.plan for p in plans]):
            _err(f"{plan.project}/{plan.run}: " + (f"removed what interrupted work left: {what}" if removed else what))
    for offload in todo if not args.dry_run else []:
        progress = Progress(f"{offload.project}/{offload.run}", sys.stderr.isatty() and not args.json)
        try:
            results.append(execute_offload(store, targets(offload.to), offload, progress))
        except Refused as exc:
            progress.end()
            _err(str(exc))
            continue
        finally:
            progress.end()
        if not args.json:
            _report(results[-1])
    if args.json:
        done = {(r.offload.project, r.offload.run): r for r in results}
        _print_json({"location": store.location, "dry_run": args.dry_run,
                     "runs": [{**p.plan.to_json(), "offload": p.to_json(),
                               **({"result": done[(p.project, p.run)].to_json()} if (p.project, p.run) in done else {})}
                              for p in plans],
                     "skipped": skipped, "freed_bytes": sum(r.freed_bytes for r in results),
                     "copied_bytes": sum(r.copied_bytes for r in results),
                     "planned_freed_bytes": sum(p.frees_bytes for p in todo),
                     "notes": store.notes, "errors": [{"project": p, "run": r, "error": why} for p, r, why in failed]})
    if failed or any(not r.ok for r in results):
        return EXIT_FAILED
    return EXIT_REFUSED if any(p.plan.refused for p in plans) else EXIT_OK


# -- ls: where the steps of runs with an offload target are --------------------------------
class Locations:
    """For ``ls``: each run with an offload target, planned against it (targets opened once)."""

    def __init__(self, store: Store, policies: Policies, open_location: Callable[[str], Store]) -> None:
        self.store, self.policies, self.targets = store, policies, Targets(open_location)

    def target(self, project: str, run: str) -> str | None:
        try:
            return offload_target(self.policies.resolve(project, run))
        except CkptError:
            return None

    def plan(self, run: Run) -> OffloadPlan | None:
        resolved = self.policies.resolve(run.project, run.name, run.metrics.names())
        where = offload_target(resolved)
        if where is None:
            return None
        try:
            return plan_offload(self.store, self.targets(where), run, resolved, None, where)
        except CkptError as exc:
            return OffloadPlan(plan_for(run, resolved), where, note=f"{where}: {exc}")

    def json_of(self, project: str, run: str, document: dict | bytes) -> dict | bytes:
        """A run's ``ls --json`` document with its ``offload`` view, when it has a target."""
        if self.target(project, run) is None:
            return document
        import orjson

        parsed = orjson.loads(document) if isinstance(document, bytes) else document
        try:
            offload = self.plan(self.store.load_run(project, run))
        except CkptError as exc:
            parsed["offload"] = {"to": self.target(project, run), "note": str(exc)}
        else:
            parsed["offload"] = offload.to_json() if offload is not None else None
        return orjson.dumps(parsed) if isinstance(document, bytes) else parsed

    def print_run(self, run: Run, steps: bool) -> None:
        """One line on where the run's steps are; with ``steps``, the steps only the target holds."""
        offload = self.plan(run)
        if offload is None:
            return
        counts = offload.counts()
        print(f"  offload to {offload.to}: {counts['disk']} on disk only, {counts['both']} in both, "
              f"{counts['remote']} there only; offload frees {size(offload.frees_bytes)} here")
        if offload.note:
            print(f"  note: {offload.note}")
        there = [c.step for c, where in offload.where() if where == "remote"]
        if steps and there:
            print(f"  there only: {step_ranges(set(there))}")
