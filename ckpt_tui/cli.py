"""Command line: ``ckpt-tui [LOCATION]`` opens the app; ``ls``, ``prune``, ``fork`` script it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import __version__
from .core import (CkptError, Plan, Policy, Refused, Run, execute_plans, fork_checkpoint, list_runs,
                   plan_location)
from .core.execute import PlansResult
from .core.retention import DEFAULT_METRIC, best_checkpoint, metric_for
from .formatting import number, size, stamp, step_ranges
from .stores import open_store

COMMANDS = ("ls", "prune", "fork")
DEFAULT_LOCATION = "./.art"
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def _location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("location", nargs="?", default=DEFAULT_LOCATION,
                        help="a directory (default ./.art), s3://bucket/prefix or wandb://entity[/project]")
    group = parser.add_argument_group("S3")
    group.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    group.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", "-p", help="only this project")
    parser.add_argument("--run", "-r", help="only this run (ART: model)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ckpt-tui",
        description="Browse, prune and fork training checkpoints by their metrics.",
        epilog="commands: ckpt-tui {ls,prune,fork} --help. Without a command, opens the app.")
    parser.add_argument("--version", action="version", version=f"ckpt-tui {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the app on a generated demo tree")
    _location_options(parser)
    _policy_options(parser, app=True)
    return parser


def _policy_options(parser: argparse.ArgumentParser, app: bool = False) -> None:
    """--metric, --mode, --keep, --smoothing: the same policy for the app and for prune."""
    default_metric = None if app else DEFAULT_METRIC
    parser.add_argument("--metric", default=default_metric,
                        help=("metric that defines the best step (default: val/reward where logged, "
                              "else one each run logs)" if app else
                              f"metric that defines the best step (default {DEFAULT_METRIC}; "
                              "'none' for no best)"))
    parser.add_argument("--mode", choices=("max", "min", "auto"), default="auto",
                        help="higher or lower is better; auto minimises *loss (default auto)")
    parser.add_argument("--keep", default="best,latest",
                        help="rules: best, latest, last:N, every:K, top:K, step:N (default best,latest)")
    parser.add_argument("--smoothing", type=float, metavar="ALPHA",
                        help="choose best on an exponential moving average of the metric, 0 < ALPHA <= 1")


def build_command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ckpt-tui")
    parser.add_argument("--version", action="version", version=f"ckpt-tui {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("ls", help="list runs and checkpoints with sizes and metrics")
    _location_options(ls)
    _selection(ls)
    ls.add_argument("--metric", help="metric for the BEST column (default: val/reward, eval_loss, ... "
                    "whichever the run logs)")
    ls.add_argument("--mode", choices=("max", "min", "auto"), default="auto",
                    help="higher or lower is better (default auto: minimise *loss)")
    ls.add_argument("--json", action="store_true", help="print one JSON document")

    prune = sub.add_parser("prune", help="delete checkpoints a retention rule does not keep")
    _location_options(prune)
    _selection(prune)
    _policy_options(prune)
    prune.add_argument("--dry-run", "-n", action="store_true", help="show the plan, delete nothing")
    prune.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    prune.add_argument("--json", action="store_true", help="print one JSON document")

    fork = sub.add_parser("fork", help="copy one checkpoint into a new run name")
    _location_options(fork)
    fork.add_argument("--project", "-p", help="source project (may be left out if the location holds one run)")
    fork.add_argument("--run", "-r", help="source run (ART: model; may be left out if the location holds one run)")
    fork.add_argument("--to", required=True, metavar="NEW", help="new run (model) name")
    fork.add_argument("--to-project", metavar="P2", help="destination project (default: the source's)")
    fork.add_argument("--to-location", metavar="LOC", help="destination location (default: the source's)")
    which = fork.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="fork this step")
    which.add_argument("--not-after-step", type=int, metavar="N", help="fork the latest step <= N")
    fork.add_argument("--with-history", action="store_true", help="also copy history up to that step")
    fork.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _store_options(args: argparse.Namespace) -> dict:
    return {k: v for k in ("endpoint_url", "profile") if (v := getattr(args, k, None))}


def _open(args: argparse.Namespace, location: str | None = None):
    return open_store(location or args.location, **_store_options(args))


def _err(message: str) -> None:
    print(f"ckpt-tui: {message}", file=sys.stderr)


def _print_json(document: dict) -> None:
    # Indented for people, compact for pipes (10k checkpoints: 2x faster to write).
    print(json.dumps(document, indent=2 if sys.stdout.isatty() else None))


# -- ls ----------------------------------------------------------------------
def _run_json(run: Run) -> dict:
    return {
        "project": run.project, "run": run.name, "layout": run.layout,
        "total_bytes": run.total_bytes, "latest_step": run.latest_step,
        "malformed_history_lines": run.metrics.malformed, "metric_notes": run.metrics.notes,
        "checkpoints": [{"step": c.step, "bytes": c.bytes, "mtime": c.mtime, "name": c.name,
                         "location": c.location, "metrics": run.metrics.at(c.step)}
                        for c in run.checkpoints],
        "pending": [{"step": c.step, "bytes": c.bytes, "name": c.name, "note": c.note} for c in run.pending],
    }


def _print_metric_warnings(run: Run, indent: str = "") -> None:
    if run.metrics.malformed:
        print(f"{indent}warning: {run.metrics.malformed} malformed metric record(s) skipped")
    for note in run.metrics.notes:
        print(f"{indent}note: {note}")


def _display_metric(run: Run, wanted: str | None) -> str | None:
    # The app shows the same: val/reward where logged, else a metric the run logs.
    return wanted if wanted else metric_for(run.metrics.names(), DEFAULT_METRIC)


def _print_run_summary(runs: list[Run], metric: str | None, mode: str) -> None:
    print(f"{'PROJECT/RUN':<40} {'LAYOUT':<11} {'CKPTS':>6} {'SIZE':>10} {'LATEST':>7}  BEST")
    for run in runs:
        shown = _display_metric(run, metric)
        best = best_checkpoint(run, shown, mode) if shown else None
        best_text = f"{best[0]} ({shown} {best[1]:.4g})" if best else "-"
        latest = run.latest_step if run.latest_step is not None else "-"
        print(f"{run.project + '/' + run.name:<40} {run.layout:<11} {len(run.checkpoints):>6} "
              f"{size(run.total_bytes):>10} {latest:>7}  {best_text}")
        _print_metric_warnings(run, indent="  ")
        for pending in run.pending:
            print(f"  pending: {pending.name} ({pending.note}, {size(pending.bytes)})")


def _step_columns(run: Run, metric: str | None) -> list[str]:
    names = run.metrics.names()
    first = _display_metric(run, metric)
    telling = ("loss", "reward", "accuracy", "acc", "score", "f1")
    common = [n for n in names
              if n.startswith(("val/", "train/reward")) or n.rsplit("/", 1)[-1].endswith(telling)]
    return list(dict.fromkeys(([first] if first else []) + common))[:4]


def _print_run_steps(run: Run, metric: str | None) -> None:
    names = _step_columns(run, metric)
    print(f"{run.project}/{run.name}  ({run.layout}, {len(run.checkpoints)} checkpoints, {size(run.total_bytes)})")
    print(f"{'STEP':>7} {'SIZE':>10} {'MODIFIED':<16} " + " ".join(f"{n:>14}" for n in names))
    for c in run.checkpoints:
        values = " ".join(f"{number(run.metrics.value(c.step, n)):>14}" for n in names)
        print(f"{c.step:>7} {size(c.bytes):>10} {stamp(c.mtime):<16} {values}")
    _print_metric_warnings(run)


def cmd_ls(args: argparse.Namespace) -> int:
    store = _open(args)
    runs = [store.load_run(p, r) for p, r in list_runs(store, args.project, args.run)]
    if args.json:
        _print_json({"location": store.location, "runs": [_run_json(r) for r in runs]})
    elif args.run:
        for run in runs:
            _print_run_steps(run, args.metric)
    elif not runs:
        print(f"no runs in {store.location}")
    else:
        _print_run_summary(runs, args.metric, args.mode)
    return EXIT_OK


# -- prune -------------------------------------------------------------------
def _print_plan(plan: Plan) -> None:
    print(f"{plan.project}/{plan.run}: {plan.policy.describe()}")
    if plan.refused:
        print("  refused: nothing deleted (the reason is on stderr)")
        return
    for kept in plan.keep:
        print(f"  keep    {kept.step:>7} {size(kept.bytes):>10}  {', '.join(kept.reasons)}")
    for pending in plan.pending:
        print(f"  skip    {pending.step:>7} {size(pending.bytes):>10}  {', '.join(pending.reasons)}")
    if plan.delete:
        print(f"  delete  {len(plan.delete)} step(s): {step_ranges(plan.delete_steps)}")
    print(f"  frees {size(plan.freed_bytes)}")


def _confirm(plans: list[Plan], args: argparse.Namespace) -> int | None:
    """None to go ahead, or an exit code."""
    count = sum(len(p.delete) for p in plans)
    if args.yes:
        return None
    if not sys.stdin.isatty():
        _err("refusing to delete without a terminal to confirm on; pass --yes (or --dry-run)")
        return EXIT_REFUSED
    total = sum(p.freed_bytes for p in plans)
    answer = input(f"Delete {count} checkpoint(s), freeing {size(total)}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing deleted", file=sys.stderr)
        return EXIT_REFUSED
    return None


def _execute(store, plans: list[Plan], show_progress: bool) -> PlansResult:
    def progress(plan: Plan, done: int, total: int, item) -> None:
        if show_progress:
            print(f"\r{plan.project}/{plan.run}: deleted {done}/{total} (step {item.step})",
                  end="" if done < total else "\n", file=sys.stderr, flush=True)

    outcome = execute_plans(store, plans, progress)
    for result in outcome.results:
        name = f"{result.plan.project}/{result.plan.run}"
        for item in result.spared:
            print(f"{name}: spared step {item.step}: the run changed since the preview", file=sys.stderr)
        for item, why in result.failed:
            _err(f"{name}: step {item.step} not deleted: {why}")
    for refusal in outcome.refusals:
        _err(refusal)
    return outcome


def cmd_prune(args: argparse.Namespace) -> int:
    store = _open(args)
    policy = Policy.parse(args.keep, args.metric, args.mode, args.smoothing)
    plans = plan_location(store, policy, args.project, args.run)
    refused = [p for p in plans if p.refused]
    todo = [p for p in plans if p.delete and not p.refused]
    if not args.json:
        for plan in plans:
            _print_plan(plan)
        total = sum(p.freed_bytes for p in todo)
        print(f"total: delete {sum(len(p.delete) for p in todo)} checkpoint(s) in {len(todo)} run(s), "
              f"freeing {size(total)}" + (" (dry run)" if args.dry_run else ""))
    for plan in refused:
        _err(plan.refused)
    outcome = PlansResult()
    if not args.dry_run and todo:
        code = _confirm(todo, args)
        if code is not None:
            return code
        outcome = _execute(store, todo, show_progress=sys.stderr.isatty())
        if not args.json:
            print(f"deleted {outcome.deleted} checkpoint(s), freed {size(outcome.freed_bytes)}")
    refusals = [p.refused for p in refused] + outcome.refusals
    if args.json:
        done = {(r.plan.project, r.plan.run): r for r in outcome.results}
        _print_json({
            "location": store.location, "dry_run": args.dry_run,
            "plans": [done[(p.project, p.run)].to_json() if (p.project, p.run) in done else p.to_json()
                      for p in plans],
            "freed_bytes": outcome.freed_bytes,
            "planned_freed_bytes": sum(p.freed_bytes for p in todo),
            "refused": refusals,
        })
    if not outcome.ok:
        return EXIT_FAILED
    return EXIT_REFUSED if refusals else EXIT_OK


# -- fork --------------------------------------------------------------------
def _only_run(store, args: argparse.Namespace) -> tuple[str, str]:
    """The source run when --project/--run are left out: the location must hold exactly one."""
    pairs = list_runs(store, args.project, args.run)
    if len(pairs) != 1:
        found = ", ".join(f"{p}/{r}" for p, r in pairs[:5]) + (", ..." if len(pairs) > 5 else "")
        raise Refused(f"{store.location} holds {len(pairs)} runs ({found or 'none'}); "
                      "pass --project and --run")
    return pairs[0]


def cmd_fork(args: argparse.Namespace) -> int:
    store = _open(args)
    target = _open(args, args.to_location) if args.to_location else None
    show = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        if show:
            print(f"\rcopying {size(done)} / {size(total)}", end="", file=sys.stderr, flush=True)

    project, run = _only_run(store, args) if not (args.project and args.run) else (args.project, args.run)
    result = fork_checkpoint(store, project, run, args.to, args.to_project, args.step,
                             args.not_after_step, args.with_history, to_store=target, progress=progress)
    if show:
        print(file=sys.stderr)
    if args.json:
        _print_json(result.to_json())
    else:
        extra = f" with {result.history_records} history record(s)" if args.with_history else ""
        print(f"forked {result.project}/{result.run} step {result.step} ({size(result.bytes)}) "
              f"-> {result.to_project}/{result.to_run}{extra}: {result.location}")
    return EXIT_OK


# -- app ---------------------------------------------------------------------
def _missing_directory(location: str) -> str | None:
    """Why a local location cannot be opened, checked before the app takes the screen."""
    scheme, sep, rest = location.partition("://")
    path = rest if scheme == "file" else None if sep else location
    if path is None or os.path.isdir(path):
        return None
    return f"{path}: {'not a directory' if os.path.exists(path) else 'no such directory'}"


def open_app(args: argparse.Namespace) -> int:
    policy = Policy.parse(args.keep, args.metric or DEFAULT_METRIC, args.mode, args.smoothing)
    # Without --metric the app picks, per run, a metric the run logs; with it, it holds to it.
    options = {"policy": policy, "auto_metric": args.metric is None, **_store_options(args)}
    if not args.demo and (problem := _missing_directory(args.location)):
        _err(problem)
        return EXIT_REFUSED
    from .app import run_app  # imported here: scripted commands never pay for Textual

    if not args.demo:
        return run_app(args.location, **options)
    import shutil

    from .demo import build_demo

    built = []

    def build() -> str:  # called by the app in a worker: the app is on screen meanwhile
        built.append(build_demo())
        return str(built[-1])

    try:
        return run_app(build, location_label="demo", **options)
    finally:
        for base in built:
            shutil.rmtree(base.parent, ignore_errors=True)  # the demo lives for one session


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            args = build_command_parser().parse_args(argv)
            return {"ls": cmd_ls, "prune": cmd_prune, "fork": cmd_fork}[args.command](args)
        return open_app(build_parser().parse_args(argv))
    except Refused as exc:
        _err(str(exc))
        return EXIT_REFUSED
    except CkptError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `ckpt-tui ls | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:
        _err(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted; every checkpoint is either whole or gone")
        return 130
