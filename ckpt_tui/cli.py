"""Command line: ``ckpt-tui [LOCATION]`` opens the app; ``ls``, ``prune``, ``fork``, ``path``, ``watch`` script it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

from . import __version__
from .core.errors import CkptError, NoLocation, NotFound, Refused
from .core.store import list_runs, single_run
from .core.models import Run
from .core.policy import POLICY_FILE, InvalidPolicyFile, Policies, Resolved, Settings, flag_settings
from .core.retention import DEFAULT_METRIC, Plan, best_checkpoint, metric_columns, metric_for
from .formatting import number, shared_steps, size, stamp, step_label, step_ranges

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from .core.execute import DeletionResult, PlansResult
    from .core.events import Event
    from .core.hidden import Uploads

# Stores, execution, watch, fork and orjson are imported where used: the app and each command start without them;
# argparse (with gettext and locale) wherever a command line is more than ``ls [LOCATION] [--json]``.

COMMANDS = ("ls", "prune", "fork", "path", "watch", "offload")
DEFAULT_LOCATION = "./.art"
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
MAX_INTERVAL = 1e9  # seconds, about 31 years: below what a thread can wait


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: ``COLUMNS``, else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


_help_formatter_class: type | None = None


def _help_formatter() -> type:
    """argparse's help layout at the width argparse reads, without the ``shutil`` import (and the
    compression modules it loads) argparse makes for every parser built: about 4% of ``ls``.
    The class is made with the first parser."""
    global _help_formatter_class
    if _help_formatter_class is None:
        import argparse

        class _HelpFormatter(argparse.HelpFormatter):
            def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                         width: int | None = None) -> None:
                super().__init__(prog, indent_increment, max_help_position,
                                 _terminal_columns() - 2 if width is None else width)

        _help_formatter_class = _HelpFormatter
    return _help_formatter_class


def _location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("location", nargs="?", default=DEFAULT_LOCATION,
                        help="a directory (default ./.art), s3://bucket/prefix, gs://bucket/prefix, "
                        "az://container/prefix or wandb://entity[/project]")
    group = parser.add_argument_group("S3")
    group.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    group.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", "-p", help="only this project")
    parser.add_argument("--run", "-r", help="only this run (ART: model)")


def _policy_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "policy", f"what to keep; each flag overrides the location's {POLICY_FILE} (see README)")
    group.add_argument("--metric", help=f"metric that defines the best step (default {DEFAULT_METRIC}; "
                       "'none' for no best)")
    group.add_argument("--mode", choices=("max", "min", "auto"),
                       help="higher or lower is better; auto minimises *loss (default auto)")
    group.add_argument("--keep", help="rules: best, latest, last:N, every:K, top:K, step:N, budget:SIZE (the newest "
                       "steps that fit in 50G, best, latest and pins counted), interval:DURATION (one step per "
                       "30m, 1h, 1d of wall time) (default best,latest)")
    group.add_argument("--full", metavar="RULES",
                       help="kept steps these rules select keep their training state (optimizer, scheduler, "
                            "RNG); every other kept step is slimmed to its weights (default: slim nothing)")
    group.add_argument("--smoothing", type=float, metavar="ALPHA",
                       help="choose best on an exponential moving average of the metric, 0 < ALPHA <= 1")


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="ckpt-tui", formatter_class=_help_formatter(),
        description="Browse, prune and fork training checkpoints by their metrics.",
        epilog="commands: ckpt-tui {ls,prune,fork,path,watch,offload} --help. Without a command, opens the app.")
    parser.add_argument("--version", action="version", version=f"ckpt-tui {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the app on a generated demo tree")
    _location_options(parser)
    _policy_options(parser)
    return parser


def build_command_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; a command's options only where it may run (``command``; None: any).
    The others are named, with their help, for the usage line and its errors."""
    import argparse

    parser = argparse.ArgumentParser(prog="ckpt-tui", formatter_class=_help_formatter())
    parser.add_argument("--version", action="version", version=f"ckpt-tui {__version__}")
    _add_commands(parser.add_subparsers(dest="command", required=True), command)
    return parser


def parse_command(argv: list[str]) -> argparse.Namespace:
    """``argv`` (a command, then its arguments) parsed by that command's parser alone, as the
    whole parser hands them to it; arguments it leaves unread are named under the command's own
    usage (exit 2). Building the whole parser (and every command's options) was about
    a tenth of ``ls`` of a small tree. ``ls [LOCATION] [--json]`` is read without a parser."""
    plain = _plain_ls(argv)
    if plain is not None:
        return plain
    command = _OneCommand(argv[0])
    _add_commands(command, argv[0])
    args, unread = command.parser.parse_known_args(argv[1:])
    if unread:  # the command's own usage, not the list of commands: what it takes is what was missed
        command.parser.error(f"unrecognized arguments: {' '.join(unread)}")
    args.command = argv[0]
    return args


# What ``ls``'s parser makes of a command line without options (tests compare the two).
LS_DEFAULTS = {"location": DEFAULT_LOCATION, "endpoint_url": None, "profile": None, "project": None, "run": None,
               "metric": None, "mode": None, "json": False, "command": "ls"}


def _plain_ls(argv: list[str]) -> argparse.Namespace | None:
    """``ls``, its location and ``--json`` as its parser reads them, without importing argparse and,
    with it, gettext and locale (a tenth of ``ls`` of a small tree); None for any other command line
    (an option, anything starting with ``-``, two locations)."""
    if argv[0] != "ls":
        return None
    rest = [arg for arg in argv[1:] if arg != "--json"]
    if len(rest) > 1 or any(arg[:1] == "-" for arg in rest):
        return None
    from types import SimpleNamespace

    return SimpleNamespace(**{**LS_DEFAULTS, "location": rest[0] if rest else DEFAULT_LOCATION,
                              "json": len(rest) < len(argv) - 1})  # type: ignore[return-value]


class _OneCommand:
    """Stands for the whole parser's sub-commands: makes ``name``'s parser only, as they would."""

    def __init__(self, name: str) -> None:
        self.name, self.parser = name, None

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser | None:
        if name != self.name:
            return None
        kwargs.pop("help", None)  # shown in the whole parser's list of commands
        import argparse

        self.parser = argparse.ArgumentParser(prog=f"ckpt-tui {name}", **kwargs)
        return self.parser


def _add_commands(sub, command: str | None) -> None:
    """The commands, each with its options where it may run (``command``; None: any)."""
    if ls := _command(sub, command, "ls", help="list runs and checkpoints with sizes and metrics"):
        _location_options(ls)
        _selection(ls)
        ls.add_argument("--metric", help="metric for the BEST column (default: the policy file's, else val/reward, "
                        "eval_loss, ... whichever the run logs)")
        ls.add_argument("--mode", choices=("max", "min", "auto"),
                        help="higher or lower is better (default: the policy file's, else auto: minimise *loss)")
        ls.add_argument("--json", action="store_true", help="print one JSON document")

    if prune := _command(sub, command, "prune", help="delete checkpoints a retention rule does not keep"):
        _location_options(prune)
        _selection(prune)
        _policy_options(prune)
        prune.add_argument("--abort-uploads-older", metavar="DURATION",
                           help="also abort the selected runs' incomplete multipart uploads started longer ago "
                                "than this (1d, 12h, 30m; never a younger one: it may be a save in progress)")
        prune.add_argument("--dry-run", "-n", action="store_true", help="show the plan, delete nothing")
        prune.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        prune.add_argument("--json", action="store_true", help="print one JSON document")

    if watch := _command(
            sub, command, "watch",
            help="keep runs pruned beside a trainer, after each new checkpoint, until Ctrl-C or SIGTERM",
            description="Prune as `prune --yes` does after each new complete checkpoint of the selected runs "
                        "(all runs of the project with --project alone, new runs included), until SIGINT or "
                        "SIGTERM. Saves in progress, steps above a trainer's tracker and steps newer than the "
                        "plan are never deleted. One line per action on stdout; problems are reported once on "
                        "stderr and retried at the next poll."):
        _watch_options(watch)

    if fork := _command(sub, command, "fork", help="copy one checkpoint into a new run name"):
        _location_options(fork)
        fork.add_argument("--project", "-p", help="source project (may be left out if the location holds one run)")
        fork.add_argument("--run", "-r",
                          help="source run (ART: model; may be left out if the location holds one run)")
        fork.add_argument("--to", required=True, metavar="NEW", help="new run (model) name")
        fork.add_argument("--to-project", metavar="P2", help="destination project (default: the source's)")
        fork.add_argument("--to-location", metavar="LOC", help="destination location (default: the source's)")
        which = fork.add_mutually_exclusive_group()
        which.add_argument("--step", type=int, help="fork this step")
        which.add_argument("--not-after-step", type=int, metavar="N", help="fork the latest step <= N")
        fork.add_argument("--with-history", action="store_true", help="also copy history up to that step")
        fork.add_argument("--json", action="store_true", help="print one JSON document")
    _path_parser(sub, command)
    _offload_parser(sub, command)


def _command(sub, command: str | None, name: str, **kwargs: object) -> argparse.ArgumentParser | None:
    """The parser of sub-command ``name``, to be given its options when ``command`` may be it;
    else None (the command is only named, with its help)."""
    parser = sub.add_parser(name, formatter_class=_help_formatter(), **kwargs)
    return parser if parser is not None and command in (None, name) else None


def _watch_options(watch: argparse.ArgumentParser) -> None:
    from .watch import DEFAULT_INTERVAL

    _location_options(watch)
    _selection(watch)
    _policy_options(watch)
    watch.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                       help=f"seconds between polls (default {DEFAULT_INTERVAL:g}; on a disk, file changes "
                            "wake it sooner when watchfiles is installed)")
    watch.add_argument("--min-free", metavar="SIZE|PERCENT",
                       help="prune only while the location's filesystem has less free space than this "
                            "(50G, 500MB, 2TiB or 10%%; disks only)")
    watch.add_argument("--json", action="store_true",
                       help="one JSON object per line: time, project, run, step, action, bytes, reasons")


def _store_options(args: argparse.Namespace) -> dict:
    return {k: v for k in ("endpoint_url", "profile") if (v := getattr(args, k, None))}


def _open(args: argparse.Namespace, location: str | None = None):
    from .stores import open_store

    chosen = args.location if location is None else location
    if not chosen:  # '' would quietly mean the current folder, or for --to-location the source's
        raise Refused("a location must not be empty")
    return open_store(chosen, **_store_options(args))


def _err(message: str) -> None:
    print(f"ckpt-tui: {message}", file=sys.stderr)


def _say_what_was_searched(store) -> None:
    """For a tree of folders that holds no runs: how deep discovery looked, and for which trainers."""
    from .stores.tree import MAX_DEPTH, TreeStore

    if isinstance(store, TreeStore):
        from .stores.layouts import display_names

        print(f"searched {MAX_DEPTH} levels down for checkpoints of {display_names()}")
        from .app.hints import art_base_above  # the app's own hint, without Textual

        if found := art_base_above(store.location):
            print(f"this folder is inside an ART base: run `ckpt-tui ls {found[0]}`")


def _json_bytes(document: object) -> bytes:
    import orjson  # JSON is what scripts pay for, not the app

    # Indented for people, compact for pipes.
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 if sys.stdout.isatty() else 0)


def _print_json(document: dict) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(_json_bytes(document) + b"\n")


def _stream_json(document: dict, key: str, items: Iterable[dict | bytes],
                 after: Callable[[], dict] = dict) -> None:
    """``document`` with ``key`` holding ``items`` (documents, or their compact JSON), then the
    keys ``after()`` gives once the items are written: a listing of 100,000 checkpoints is
    written as it comes, never held in memory at once."""
    if sys.stdout.isatty():
        listed = list(items)
        _print_json({**document, key: listed, **after()})
        return
    out = sys.stdout.buffer
    sys.stdout.flush()
    out.write(_json_bytes(document)[:-1] + (b"," if document else b"") + _json_bytes(key) + b":[")
    for index, item in enumerate(items):
        out.write((b"," if index else b"") + (item if isinstance(item, bytes) else _json_bytes(item)))
    tail = _json_bytes(after())
    out.write(b"]" + (b"," + tail[1:] if len(tail) > 2 else b"}") + b"\n")


# -- ls ----------------------------------------------------------------------
def _run_json(run: Run) -> dict:
    by_step = run.metrics.by_step
    return {
        "project": run.project, "run": run.name, "layout": run.layout,
        "total_bytes": None if run.unreadable else run.total_bytes, "latest_step": run.latest_step,
        "malformed_history_lines": run.metrics.malformed, "metric_notes": run.metrics.notes,
        "notes": run.notes,
        "checkpoints": [{"step": c.step, "bytes": c.bytes, "mtime": c.mtime, "name": c.name,
                         "location": c.location, "complete": True, "evidence": c.detail,
                         "weights_only": c.weights_only, "metrics": by_step.get(c.step, {})}
                        for c in run.checkpoints],
        "pending": [{"step": c.step, "bytes": c.bytes, "name": c.name, "note": c.note, "complete": False,
                     "pending": c.pending.value if c.pending else None, "evidence": c.detail}
                    for c in run.pending],
    }


def _run_json_with_policy(found: dict, flags: Settings, as_bytes: bool, uploads: dict, run: Run) -> dict | bytes:
    """``_run_json`` with the run's resolved policy and best step (module level: it may run in
    another process, with the policy files already read)."""
    from .core.policy import plan_for, resolve

    resolved = resolve(run.project, run.name, found[(run.project, run.name)], flags, run.metrics.names())
    plan = plan_for(run, resolved)
    document = {**_run_json(run), "policy": resolved.to_json(), "best_step": plan.best_step,
                "best_steps": plan.best_steps, "kept": sorted({k.step for k in plan.keep if k.step is not None}),
                "refused": plan.refused, "incomplete_uploads": uploads[(run.project, run.name)]}
    if not as_bytes:
        return document
    import orjson

    return orjson.dumps(document)


def _load_runs(store, pairs: list[tuple[str, str]]) -> tuple[list[Run], list[tuple[str, str, str]]]:
    """The runs ``pairs`` name, and (project, run, why) for each that could not be read: one
    bad run never hides the others."""
    runs, failed = [], []
    for (proj, name), result in store.load_runs(pairs):
        if isinstance(result, Run):
            runs.append(result)
        else:
            failed.append((proj, name, str(result)))
    return runs, failed


def _report_unread(store, failed: list[tuple[str, str, str]]) -> None:
    """What the location holds but could not be read, on stderr: never a reason to hide the rest."""
    for note in store.notes:
        _err(f"note: {note}")
    for project, run, why in failed:
        _err(f"{project}/{run}: not read: {why}")


def _unread_json(store, failed: list[tuple[str, str, str]]) -> dict:
    return {"notes": store.notes,
            "errors": [{"project": p, "run": r, "error": why} for p, r, why in failed]}


def _print_metric_warnings(run: Run, indent: str = "") -> None:
    if run.metrics.malformed:
        print(f"{indent}warning: {run.metrics.malformed} malformed metric record(s) skipped")
    for note in run.metrics.notes + run.notes:
        print(f"{indent}note: {note}")


def _print_policy(resolved: Resolved, indent: str = "  ") -> None:
    """Where a run's policy comes from, when anything but the defaults sets it."""
    if resolved.files:
        print(f"{indent}policy files: {', '.join(resolved.files)}")
    if resolved.pick_note:
        print(f"{indent}{resolved.pick_note}")


def _incomplete_uploads(store, pairs: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], Uploads], Uploads, float]:
    """The location's incomplete uploads by run, those outside the runs, and the time they were
    read; why they could not be listed goes to stderr as a note."""
    import time

    from .core.hidden import uploads_by_run

    by_run, elsewhere, problem = uploads_by_run(store, pairs)
    if problem:
        _err(f"note: incomplete uploads not listed: {problem}")
    return by_run, elsewhere, time.time()


def _print_uploads(uploads: Uploads | None, now: float, indent: str = "  ", where: str = "") -> None:
    """``incomplete uploads: 2, 10.5 MB, the oldest started 3 days ago`` (nothing when there are none)."""
    if uploads is not None and uploads.count:
        from humanize import naturaldelta

        print(f"{indent}incomplete uploads{where}: {uploads.count}, {size(uploads.bytes)}, the oldest started "
              f"{naturaldelta(now - uploads.oldest)} ago (prune --abort-uploads-older DURATION aborts them)")


class _Offloads:
    """Where the steps of runs with an offload target are, for ``ls``: ``offload_command.Locations``,
    imported for the first run that has a target (a location without one never loads offload)."""

    def __init__(self, store, policies: Policies, args: argparse.Namespace) -> None:
        self.store, self.policies, self.args = store, policies, args
        self._locations = None

    def _of(self, project: str, run: str):
        try:
            if self.policies.resolve(project, run).settings.offload is None:
                return None
        except CkptError:
            return None
        if self._locations is None:
            from .offload_command import Locations

            self._locations = Locations(self.store, self.policies, lambda location: _open(self.args, location))
        return self._locations

    def json_of(self, project: str, run: str, document: dict | bytes) -> dict | bytes:
        locations = self._of(project, run)
        return document if locations is None else locations.json_of(project, run, document)

    def print_run(self, run: Run, steps: bool) -> None:
        if (locations := self._of(run.project, run.name)) is not None:
            locations.print_run(run, steps)


def _offload_locations(store, policies: Policies, args: argparse.Namespace) -> _Offloads:
    return _Offloads(store, policies, args)


def _run_size(run: Run) -> str:
    """A run's size, ``?`` where its folder may not be read (its size is unknown, not nothing)."""
    return "?" if run.unreadable else size(run.total_bytes)


def _print_run_summary(runs: list[Run], resolved: Callable[[Run], Resolved], offloads=None,
                       uploads: Callable[[Run], None] = lambda run: None) -> None:
    print(f"{'PROJECT/RUN':<40} {'LAYOUT':<11} {'CKPTS':>6} {'SIZE':>10} {'LATEST':>7}  BEST")
    for run in runs:
        policy = resolved(run).policy
        best = best_checkpoint(run, policy.metric, policy.mode, policy.smoothing) if policy.metric else None
        best_text = f"{best[0]} ({policy.metric} {best[1]:.4g})" if best else "-"
        latest = run.latest_step if run.latest_step is not None else "-"
        print(f"{run.project + '/' + run.name:<40} {run.layout:<11} {len(run.checkpoints):>6} "
              f"{_run_size(run):>10} {latest:>7}  {best_text}")
        _print_policy(resolved(run))
        uploads(run)
        if offloads is not None:
            offloads.print_run(run, steps=False)
        _print_metric_warnings(run, indent="  ")
        for pending in run.pending:
            print(f"  pending: {pending.name} ({pending.note}, {size(pending.bytes)})")


def _step_columns(run: Run, metric: str | None) -> list[str]:
    names = run.metrics.names()
    return metric_columns(names, metric or metric_for(names, DEFAULT_METRIC))[:4]  # as the app chooses them


def _print_run_steps(run: Run, metric: str | None) -> None:
    names = _step_columns(run, metric)
    print(f"{run.project}/{run.name}  ({run.layout}, {len(run.checkpoints)} checkpoints, {_run_size(run)})")
    shared = shared_steps(c.step for c in run.checkpoints)
    print(f"{'STEP':>7} {'SIZE':>10} {'MODIFIED':<16} " + " ".join(f"{n:>14}" for n in names) + "  COMPLETE")
    for c in run.checkpoints:
        values = " ".join(f"{number(run.metrics.value(c.step, n)):>14}" for n in names)
        print(f"{step_label(c.step, c.name, shared):>7} {size(c.bytes):>10} {stamp(c.mtime):<16} {values}"
              f"  yes: {c.detail or '-'}")
    for c in run.pending:
        print(f"{step_label(c.step, c.name, {c.step}):>7} {size(c.bytes):>10} {stamp(c.mtime):<16} "
              + " ".join(f"{'':>14}" for _ in names) + f"  no: {c.note}")
    _print_metric_warnings(run)


def cmd_ls(args: argparse.Namespace) -> int:
    from functools import partial

    from .core.hidden import Uploads

    store, pairs = _selected(args)
    flags = flag_settings(args.metric, args.mode)
    if args.json:
        failed: list[tuple[str, str, str]] = []
        policies = Policies(store, flags)
        found = {}
        for pair in pairs:
            try:
                found[pair] = policies.found(*pair)
            except CkptError:
                found[pair] = []  # the run vanished: reading it says so
        by_run, elsewhere, now = _incomplete_uploads(store, pairs)
        uploads_json = {pair: by_run.get(pair, Uploads()).to_json(now) for pair in pairs}
        render = partial(_run_json_with_policy, found, flags, not sys.stdout.isatty(), uploads_json)
        offloads = _offload_locations(store, policies, args)

        def rendered() -> Iterator[dict | bytes]:
            # Each run becomes JSON where it is read (maybe in another process): only bytes travel.
            for (project, run), result in store.map_runs(pairs, render):
                if isinstance(result, CkptError):
                    failed.append((project, run, str(result)))
                else:
                    yield offloads.json_of(project, run, result)

        _stream_json({"location": store.location}, "runs", rendered(),
                     lambda: {**_unread_json(store, failed), "policy_problems": [policies.problem()] if policies.problem() else [],
                              "incomplete_uploads_outside_runs": elsewhere.to_json(now) if not (args.project or args.run) else None,
                              "deletion_note": store.deletion_note,
                              "unused_sections": policies.unused_sections() if not (args.project or args.run) else []})
        return EXIT_FAILED if failed else EXIT_REFUSED if policies.problem() else EXIT_OK
    runs, failed = _load_runs(store, pairs)
    policies = Policies(store, flags)
    cache: dict[tuple[str, str], Resolved] = {}

    def resolved(run: Run) -> Resolved:
        key = (run.project, run.name)
        if key not in cache:
            cache[key] = policies.resolve(*key, run.metrics.names())
        return cache[key]

    by_run, elsewhere, now = _incomplete_uploads(store, [(run.project, run.name) for run in runs])

    def uploads(run: Run, indent: str = "  ") -> None:
        _print_uploads(by_run.get((run.project, run.name)), now, indent)

    offloads = _offload_locations(store, policies, args)
    if args.run:
        for run in runs:
            _print_run_steps(run, resolved(run).policy.metric)
            _print_policy(resolved(run), "")
            uploads(run, "")
            offloads.print_run(run, steps=True)
    elif not runs and not failed:
        print(f"no runs in {store.location}")
        _say_what_was_searched(store)
    else:
        _print_run_summary(runs, resolved, offloads, uploads)
    if not (args.project or args.run):
        _print_uploads(elsewhere, now, "", " outside any run")
    if note := store.deletion_note:
        print(f"note: {note}")
    _report_unread(store, failed)
    problems = list(dict.fromkeys(resolved(run).problem for run in runs if resolved(run).problem))
    for problem in problems:
        _err(problem)
    if not (args.project or args.run):
        _report_sections(policies)
    return EXIT_FAILED if failed else EXIT_REFUSED if problems else EXIT_OK


def _report_sections(policies: Policies) -> None:
    """Sections of the policy files that name no run there is: a typo keeps nothing."""
    for line in policies.unused_sections():
        _err(f"note: {line}")


# -- prune -------------------------------------------------------------------
def _print_plan(plan: Plan) -> None:
    print(f"{plan.project}/{plan.run}: {plan.policy.describe()}")
    if plan.resolved is not None:
        _print_policy(plan.resolved)
    for note in plan.source.notes if plan.source is not None else ():
        print(f"  note: {note}")
    if plan.refused:
        print("  refused: nothing deleted (the reason is on stderr)")
        return
    shared = shared_steps([k.step for k in plan.keep] + [d.step for d in plan.delete])
    for kept in plan.keep:
        print(f"  keep    {step_label(kept.step, kept.name, shared):>7} {size(kept.bytes):>10}  "
              f"{', '.join(kept.reasons)}")
    for pending in plan.pending:
        print(f"  skip    {step_label(pending.step, pending.name, {pending.step}):>7} {size(pending.bytes):>10}  "
              f"{', '.join(pending.reasons)}")
    for slim in plan.slim:
        print(f"  slim    {step_label(slim.step, slim.name, shared):>7} {size(slim.bytes):>10}  "
              f"{', '.join(slim.files)}")
    for whole in plan.slim_refused:
        print(f"  whole   {step_label(whole.step, whole.name, shared):>7} {'':>10}  cannot slim: {whole.reason}")
    if plan.delete:
        named = [step_label(d.step, d.name, shared) for d in plan.delete if d.step in shared]
        print(f"  delete  {len(plan.delete)} step(s): {step_ranges(plan.delete_steps - shared)}"
              + ("; " if named and plan.delete_steps - shared else "") + ", ".join(named))
    print(f"  frees {size(plan.freed_bytes)}")


def _work(plans: list[Plan] | list[DeletionResult]) -> str:
    """``delete 3 checkpoint(s) and slim 2`` (or in the past tense, for results)."""
    from .core.execute import DeletionResult

    if plans and isinstance(plans[0], DeletionResult):
        deleted, slimmed = sum(len(r.deleted) for r in plans), sum(len(r.slimmed) for r in plans)
        return f"deleted {deleted} checkpoint(s)" + (f", slimmed {slimmed}" if slimmed else "")
    deleted, slimmed = sum(len(p.delete) for p in plans), sum(len(p.slim) for p in plans)
    return f"delete {deleted} checkpoint(s)" + (f" and slim {slimmed}" if slimmed else "")


def _confirm(plans: list[Plan], args: argparse.Namespace, verb: str = "delete",
             uploads: Uploads | None = None) -> int | None:
    """None to go ahead, or an exit code."""
    if args.yes:
        return None
    if not sys.stdin.isatty():
        _err(f"refusing to {verb} without a terminal to confirm on; pass --yes (or --dry-run)")
        return EXIT_REFUSED
    total = sum(p.freed_bytes for p in plans) + (uploads.bytes if uploads else 0)
    work = _work(plans) if verb == "delete" else f"{verb} {sum(len(p.delete) for p in plans)} step(s)"
    also = f" and abort {uploads.count} incomplete upload(s)" if uploads and uploads.count else ""
    answer = input(f"{work.capitalize()}{also}, freeing {size(total)}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print(f"nothing {verb.rstrip('e')}ed", file=sys.stderr)
        return EXIT_REFUSED
    return None


class _StatusLine:
    """One line on stderr, written again in place (``\r``) as work goes on, when ``show``; ``end``
    finishes it with a newline, whatever the work did: what is printed next, or the shell's
    prompt, never lands on it (a step spared or a failure leaves the count short of its total)."""

    def __init__(self, show: bool) -> None:
        self.show, self.open = show, False

    def __call__(self, text: str) -> None:
        if self.show:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)
            self.open = True

    def end(self) -> None:
        if self.open:
            print(file=sys.stderr, flush=True)
            self.open = False


def _execute(store, plans: list[Plan], show_progress: bool) -> PlansResult:
    from .core.execute import execute_plans

    line = _StatusLine(show_progress)

    def progress(plan: Plan, done: int, total: int, item) -> None:
        line(f"{plan.project}/{plan.run}: done {done}/{total} (step {item.step})")

    try:
        outcome = execute_plans(store, plans, progress)
    finally:
        line.end()
    for failure in outcome.failures:
        _err(failure)
    for result in outcome.results:
        name = f"{result.plan.project}/{result.plan.run}"
        for item in result.spared:
            print(f"{name}: spared step {item.step}: the run changed since the preview", file=sys.stderr)
        for item, why in result.failed:
            _err(f"{name}: step {item.step} not deleted: {why}")
        for item, why in result.slim_failed:
            _err(f"{name}: step {item.step} not slimmed: {why}")
    for refusal in outcome.refusals:
        _err(refusal)
    return outcome


def _log_activity(store, events: list) -> None:
    """Add what was done to the location's ``.ckpt-tui.log`` (on a disk), as the app and ``watch`` do."""
    from .app.activity import append_on_disk

    problem = append_on_disk(store, events)
    if problem:
        _err(f"note: {problem}")


def _flags(args: argparse.Namespace) -> Settings:
    return flag_settings(args.metric, args.mode, args.keep, args.smoothing, args.full)


def _planned_aborts(store, pairs: list[tuple[str, str]], older: str | None) -> tuple[Uploads | None, int, dict]:
    """The selected runs' uploads old enough to abort (None without ``--abort-uploads-older``),
    the threshold in seconds, and the JSON that reports them."""
    import time

    from .core.hidden import Uploads, older_than, parse_age, uploads_by_run

    if older is None:
        return None, 0, {}
    seconds = parse_age(older)
    by_run, _elsewhere, problem = uploads_by_run(store, pairs)
    now = time.time()
    if problem:
        _err(f"incomplete uploads not listed, none aborted: {problem}")
    due = Uploads([u for uploads in by_run.values() for u in older_than(uploads.uploads, seconds, now)])
    younger = sum(uploads.count for uploads in by_run.values()) - due.count
    return due, seconds, {"older_than_seconds": seconds, "planned": due.to_json(now), "younger_kept": younger,
                          "problem": problem}


def _print_aborts(due: Uploads, report: dict, older: str, dry_run: bool) -> None:
    from humanize import naturaldelta

    for upload in report["planned"]["uploads"]:
        print(f"  abort   {upload['path']} ({size(upload['bytes'])}, {upload['parts']} part(s), started "
              f"{naturaldelta(upload['age_seconds'])} ago)")
    younger = report["younger_kept"]
    print(f"incomplete uploads: abort {due.count} older than {older}, freeing {size(due.bytes)}"
          + (f"; {younger} younger kept (may be saves in progress)" if younger else "")
          + (" (dry run)" if dry_run else ""))


def cmd_prune(args: argparse.Namespace) -> int:
    from .core.policy import finish_leftovers, plan_runs

    if args.abort_uploads_older is not None:
        from .core.hidden import parse_age

        parse_age(args.abort_uploads_older)  # a bad duration stops before anything is read
    store, pairs = _selected(args, acting=True)
    policies = Policies(store, _flags(args))
    plans, failed = plan_runs(store, pairs, policies, unattended=args.yes)
    for problem in dict.fromkeys(p.resolved.problem for p in plans if p.resolved.problem):
        raise InvalidPolicyFile(problem)  # nothing is planned on a policy that cannot be read
    # A run whose folder may not be read is planned to keep everything: not pruned, so not done.
    failed += [(p.project, p.run, "; ".join(p.source.notes) or "permission denied")
               for p in plans if p.source is not None and p.source.unreadable]
    refused = [p for p in plans if p.refused]
    todo = [p for p in plans if (p.delete or p.slim) and not p.refused]
    if not args.json:
        for plan in plans:
            _print_plan(plan)
        total = sum(p.freed_bytes for p in todo)
        print(f"total: {_work(todo)} in {len(todo)} run(s), freeing {size(total)}"
              + (" (dry run)" if args.dry_run else ""))
        if not pairs and not failed:
            _say_what_was_searched(store)
    aborts, older_seconds, aborts_json = _planned_aborts(store, pairs, args.abort_uploads_older)
    if aborts is not None and not args.json:
        _print_aborts(aborts, aborts_json, args.abort_uploads_older, args.dry_run)
    note = store.deletion_note if todo else None
    if note and not args.json:
        _err(f"note: {note}")
    for plan in refused:
        _err(plan.refused)
    if not args.json:
        _report_unread(store, failed)
        if not (args.project or args.run):
            _report_sections(policies)
    from .core.execute import PlansResult

    outcome = PlansResult()
    if not args.dry_run and (todo or (aborts and aborts.count)):
        code = _confirm(todo, args, uploads=aborts)
        if code is not None:
            return code
    if not args.dry_run:
        for plan, what, removed in finish_leftovers(store, plans):
            _err(f"{plan.project}/{plan.run}: " + (f"removed what interrupted work left: {what}" if removed else what))
    if not args.dry_run and todo:
        outcome = _execute(store, todo, show_progress=sys.stderr.isatty())
        from .core.events import deletion_events

        _log_activity(store, deletion_events(outcome.results))
        if not args.json:
            gone = sum(len(r.gone) for r in outcome.results)
            print(f"{_work(outcome.results) if outcome.results else 'deleted 0 checkpoint(s)'}, "
                  f"freed {size(outcome.freed_bytes)}" + (f"; {gone} already deleted by another process" if gone else ""))
    aborted = None
    if not args.dry_run and aborts:
        import time

        from .core.hidden import abort_old_uploads

        aborted = abort_old_uploads(store, aborts.uploads, older_seconds)
        aborts_json |= aborted.to_json(time.time())
        for upload, why in aborted.failed:
            _err(f"incomplete upload {upload.path} not aborted: {why}")
        if not args.json:
            print(f"aborted {len(aborted.aborted)} incomplete upload(s), freed {size(aborted.freed_bytes)}")
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
            "unused_sections": policies.unused_sections() if not (args.project or args.run) else [],
            "incomplete_uploads": aborts_json or None, "deletion_note": note,
            **_unread_json(store, failed),
        })
    if failed or not outcome.ok or (aborted is not None and aborted.failed) or aborts_json.get("problem"):
        return EXIT_FAILED
    return EXIT_REFUSED if refusals else EXIT_OK


# -- fork --------------------------------------------------------------------
def _art_base_here(args: argparse.Namespace, store):
    """For a folder inside an ART base (a project, its ``models`` folder, a model or its
    ``checkpoints`` folder: none shows runs of its own), the base's store and the project and
    run (None for a project's folder) the folder names in it, --project and --run first; else None."""
    from .app.hints import art_base_above  # the app's own hint, without Textual

    found = art_base_above(store.location)
    if found is None:
        return None
    from pathlib import Path

    base = found[0]
    parts = Path(os.path.abspath(store.location)).relative_to(base).parts  # as art_base_above reads it
    here = f"{args.location} is the ART " + (f"run {parts[0]}/{parts[2]}" if len(parts) > 2 else f"project {parts[0]}")
    if args.project is not None and args.project != parts[0]:
        raise Refused(f"--project {args.project} names no run inside {here}; pass the base {base} instead")
    if args.run is not None and len(parts) > 2 and args.run != parts[2]:
        raise Refused(f"--run {args.run} names no run inside {here}; pass the base {base} instead")
    project, run = args.project or parts[0], args.run or (parts[2] if len(parts) > 2 else None)
    return _open(args, str(base)), project, run


def _runs_named_here(args: argparse.Namespace, store):
    """The (project, run) pairs --project and --run name in ``store``; None where a name is given
    and the location holds no run at all: the folder may be inside an ART base."""
    try:
        return list_runs(store, args.project, args.run)
    except NoLocation:
        raise
    except NotFound:
        if store.list_projects():
            raise
        return None


def _selected(args: argparse.Namespace, acting: bool = False):
    """The store and the (project, run) pairs --project and --run select; a folder inside an ART
    base that holds no runs of its own stands for its run (or project) in the base, as ``path``
    and ``fork`` take it: --project and --run are then set to name it there. ``acting`` (a command
    that deletes or moves): --run alone naming runs of several projects is refused, and a folder
    taken for its run (or project) in the base is named on stderr."""
    store = _open(args)
    pairs = _runs_named_here(args, store)
    store, pairs = (store, pairs) if pairs else _in_base(args, store, pairs, acting)
    if acting:
        from .core.store import refuse_run_of_several_projects

        refuse_run_of_several_projects(pairs, args.project, args.run)
    return store, pairs


def _in_base(args: argparse.Namespace, store, pairs, acting: bool = False):
    """``_selected`` once the location showed no runs (``pairs`` is [] or None: names not found)."""
    here = _art_base_here(args, store)
    if here is not None:
        base, project, run = here
        try:
            found = list_runs(base, project, run)
        except NotFound:
            if args.project is not None or args.run is not None:
                raise  # a name given on the command line is not there either
            found = None  # the folder names no run of the base (a model not trained yet)
        if found is not None:
            if acting:  # what is acted on is named before anything is done
                _err(f"{args.location} is inside the ART base {base.location}: taking "
                     + (f"its run {project}/{run}" if run else
                        f"the {len(found)} run(s) of its project {project}"))
            args.project, args.run = project, run
            return base, found
    if pairs is None:
        return store, list_runs(store, args.project, args.run)  # says which name is not found
    return store, pairs


def _only_run(args: argparse.Namespace):
    """The store and the run named by --project/--run, else the location's only run; a folder
    inside an ART base (a run, its checkpoints, a project) names its run (or project) in the base."""
    store = _open(args)
    if args.project is not None and args.run is not None:
        from .app.hints import art_base_above  # the app's own hint, without Textual

        if art_base_above(store.location) is None or args.project in store.list_projects():
            return store, args.project, args.run
        here = _art_base_here(args, store)  # a folder inside an ART base: the run named, in the base
        return here[0], here[1], here[2]
    pairs = _runs_named_here(args, store) or []
    if len(pairs) == 1:
        return (store, *pairs[0])
    here = None if pairs else _art_base_here(args, store)
    if here is None:
        return (store, *single_run(store, args.project, args.run))  # says what the location holds
    base, project, run = here
    runs = [r for _, r in list_runs(base, project)]
    if run in runs or (run is None and len(runs) == 1):
        return base, project, run or runs[0]
    listed = f"{len(runs)} runs ({', '.join(runs[:5]) + (', ...' if len(runs) > 5 else '') or 'none'})"
    if run is not None:
        raise NotFound(f"no run {run!r} in project {project!r} of the ART base {base.location}, which "
                       f"holds {listed}")
    raise Refused(f"{args.location} is inside the ART base {base.location}, whose project {project} holds "
                  f"{listed}; pass --run NAME")


def cmd_fork(args: argparse.Namespace) -> int:
    from .core.fork import fork_checkpoint

    store, project, run = _only_run(args)
    target = _open(args, args.to_location) if args.to_location is not None else None
    if target is not None and "://" not in args.to_location and not os.path.lexists(args.to_location):
        _err(f"--to-location: no folder at {os.path.abspath(args.to_location)}; creating it")  # a typo shows
    line = _StatusLine(sys.stderr.isatty() and not args.json)
    try:
        result = fork_checkpoint(store, project, run, args.to, args.to_project, args.step, args.not_after_step,
                                 args.with_history, to_store=target,
                                 progress=lambda done, total: line(f"copying {size(done)} / {size(total)}"))
    finally:
        line.end()
    if store.appends_in_place:  # only a disk keeps the log (append_on_disk): a bucket's fork imports none of it
        import time

        from .app.activity import fork_event

        _log_activity(store, [fork_event(result, time.time())])
    if args.json:
        _print_json(result.to_json())
    else:
        extra = f" with {result.history_records} history record(s)" if args.with_history else ""
        print(f"forked {result.project}/{result.run} step {result.step} ({size(result.bytes)}) "
              f"-> {result.to_project}/{result.to_run}{extra}: {result.location}")
    return EXIT_OK


# -- path --------------------------------------------------------------------
def _path_parser(sub, command: str | None) -> None:
    path = _command(
        sub, command, "path", help="print the path (or URL) of one complete checkpoint, for a trainer's resume flag",
        description="Print the absolute path (or URL) of one complete checkpoint: never a save in progress "
                    "or an incomplete one. Exit 1 when there is none (or no such run or step), 2 for bad usage.",
        epilog='example: --resume_from_checkpoint "$(ckpt-tui path out --latest)"')
    if path is None:
        return
    _location_options(path)
    path.add_argument("--project", "-p", help="project (may be left out if the location holds one run)")
    path.add_argument("--run", "-r", help="run (ART: model; may be left out if the location holds one run)")
    which = path.add_mutually_exclusive_group(required=True)
    which.add_argument("--latest", action="store_true", help="the latest complete checkpoint")
    which.add_argument("--best", action="store_true",
                       help="the best step by the run's policy or --metric (the earliest of ties); exit 2 "
                            "when it holds weights only")
    which.add_argument("--weights", action="store_true",
                       help="the best step's weights, for evaluation or export (weights-only steps included)")
    which.add_argument("--step", type=int, metavar="N", help="the checkpoint of step N")
    which.add_argument("--not-after-step", type=int, metavar="N", help="the latest complete checkpoint <= N")
    path.add_argument("--metric", help=f"with --best: the metric (default: the policy file's, else {DEFAULT_METRIC} "
                      "where logged, else a metric the run logs)")
    path.add_argument("--mode", choices=("max", "min", "auto"),
                      help="with --best: higher or lower is better (default: the policy file's, else auto)")
    path.add_argument("--json", action="store_true", help="print one JSON document (path, step, name, layout...)")


def cmd_path(args: argparse.Namespace) -> int:
    from .core.resume import best_checkpoint_of, resume_checkpoint

    best = args.best or args.weights
    if not best and (args.metric or args.mode):
        raise Refused("--metric and --mode go with --best or --weights")
    resolved = None
    store, project, run = _only_run(args)
    loaded = store.load_run(project, run)
    if best:
        names = loaded.metrics.names()
        resolved = Policies(store, flag_settings(args.metric, args.mode)).resolve(project, run, names).checked()
        ckpt = best_checkpoint_of(loaded, resolved.best_policy, weights=args.weights)
    else:
        ckpt = resume_checkpoint(loaded, args.step, args.not_after_step)  # NotFound: exit 1
    path = store.checkpoint_location(project, run, ckpt)
    metric = resolved.best_policy.metric if resolved is not None else None
    if args.json:
        _print_json({"path": path, "step": ckpt.step, "name": ckpt.name, "layout": loaded.layout,
                     "project": project, "run": run, "evidence": ckpt.detail, "metric": metric,
                     "weights_only": ckpt.weights_only,
                     "value": loaded.metrics.value(ckpt.step, metric) if metric else None,
                     "policy": resolved.to_json() if resolved is not None else None})
    else:
        if resolved is not None and resolved.pick_note:
            _err(f"{project}/{run}: {resolved.pick_note}")
        print(path)
    return EXIT_OK


# -- offload -----------------------------------------------------------------
def _offload_parser(sub, command: str | None) -> None:
    offload = _command(
        sub, command, "offload", help="move steps the local rules do not keep to a bucket or directory, verified, then free them",
        description="Copy every complete step that the local rules do not keep to REMOTE, under the same project, "
                    "run and step names (with the run's history and tracker files), verify each file (size and "
                    "checksum), publish it there whole, and only then delete it here. The latest, best, pinned "
                    "and protected steps stay. An object at REMOTE with other content is never overwritten "
                    "(exit 1); a step already there with the same content counts as offloaded.")
    if offload is None:
        return
    _location_options(offload)
    _selection(offload)
    offload.add_argument("--to", metavar="REMOTE", help="where the steps go: a bucket (s3://, gs://, az://) or a directory "
                         "(default: the run's offload key in .ckpt-tui.toml)")
    offload.add_argument("--keep-local", metavar="RULES", help="rules for what stays here, as prune's --keep "
                         "(default: the offload key's keep_local, else the run's keep)")
    offload.add_argument("--metric", help="metric that defines the best step (default: the run's policy)")
    offload.add_argument("--mode", choices=("max", "min", "auto"), help="higher or lower is better")
    offload.add_argument("--dry-run", "-n", action="store_true", help="show what would move, change nothing")
    offload.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    offload.add_argument("--json", action="store_true", help="print one JSON document")


def cmd_offload(args: argparse.Namespace) -> int:
    from .offload_command import cmd_offload as offload

    return offload(args)


# -- watch -------------------------------------------------------------------
def _event_printer(as_json: bool) -> Callable[[Event], None]:
    """Actions on stdout, one line each; problems on stderr (and, as JSON, on stdout too)."""
    import orjson

    def report(event: Event) -> None:
        if event.problem:
            _err(event.line())
        if as_json:
            sys.stdout.buffer.write(orjson.dumps(event.to_json()) + b"\n")
            sys.stdout.flush()
        elif not event.problem:
            print(event.line(), flush=True)

    return report


def cmd_watch(args: argparse.Namespace) -> int:
    from .watch import MinFree, Watch, run_until_signalled

    if not 0 < args.interval <= MAX_INTERVAL:  # inf or 1e300 would overflow the wait's timeout
        raise Refused(f"--interval must be a number of seconds above 0 and at most {MAX_INTERVAL:g}")
    min_free = MinFree.parse(args.min_free) if args.min_free is not None else None

    def start() -> Watch:
        store = _open(args)
        store.connect()
        if not store.list_projects():  # a folder inside an ART base: its run (or project) in the base
            try:
                store = _in_base(args, store, [])[0]
            except NotFound:
                pass  # a name given is not there yet: watch says so at each poll until it is
            store.connect()
        watch = Watch(store, args.project, args.run, _flags(args), _event_printer(args.json), min_free,
                      lambda location: _open(args, location))
        watch.check()
        selected = "/".join(filter(None, (args.project, args.run))) or "every run"
        pressure = f", while less than {min_free} is free" if min_free else ""
        print(f"watching {selected} in {store.location} every {args.interval:g} s{pressure}; "
              "stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
        return watch

    ended = run_until_signalled(start, args.interval)
    print("stopped" if ended else "stopped; a read of the storage had not returned", file=sys.stderr, flush=True)
    return EXIT_OK


# -- app ---------------------------------------------------------------------
def _missing_directory(location: str) -> str | None:
    """Why a local location cannot be opened, checked before the app takes the screen."""
    scheme, sep, rest = location.partition("://")
    path = rest if scheme == "file" else None if sep else location
    if path is None or os.path.isdir(path):
        return None
    return f"not a directory: {path}" if os.path.exists(path) else f"no directory at {path}"


def _command_like(location: str) -> str | None:
    """The command a missing location that is one bare word was likely meant to be (``lss``, ``prun``)."""
    if not location.isidentifier():
        return None
    from difflib import get_close_matches

    close = get_close_matches(location.lower(), COMMANDS, n=1, cutoff=0.6)
    return close[0] if close else None


def open_app(args: argparse.Namespace) -> int:
    # Flags over the saved policies, which the app reads with the location. Without --metric
    # (or a saved one) the app picks, per run, a metric the run logs; with it, it holds to it.
    options = {"flags": _flags(args), "auto_metric": args.metric is None, **_store_options(args)}
    if not args.demo and (problem := _missing_directory(args.location)):
        if args.location == DEFAULT_LOCATION:  # nothing given: say how to give it
            problem += "; pass the folder that holds the checkpoints: ckpt-tui PATH (or ckpt-tui --demo)"
        elif typo := _command_like(args.location):
            problem += f"; to run a command: ckpt-tui {typo} (commands: {', '.join(COMMANDS)})"
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
            args = parse_command(argv)
            try:
                return {"ls": cmd_ls, "prune": cmd_prune, "fork": cmd_fork, "path": cmd_path,
                        "watch": cmd_watch, "offload": cmd_offload}[args.command](args)
            except NoLocation as exc:
                if args.location != DEFAULT_LOCATION or "./.art" in argv:
                    raise
                raise NoLocation(f"{exc}; pass the folder that holds the checkpoints: "
                                 f"ckpt-tui {args.command} PATH") from None
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
