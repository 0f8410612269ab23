"""A run's policy, resolved once for every face: metric, direction, rules, pins, full-state
rules and smoothing, each with where it came from.

Policy files (``.ckpt-tui.toml``) are found the way ``.editorconfig`` files are:
every one from the run's own folder up to the filesystem root (or the bucket),
nearest first. Each file names runs relative to its own folder, with
optional sections per project and per run::

    keep = "best,latest"                      # every run below this file
    [projects.demo]
    metric = "val/reward"                     # every run of project demo
    [projects.demo.runs.agent-001]
    keep = "best,latest,last:3"               # this run only
    pins = [40]
    offload = { to = "s3://bucket/ckpts", keep_local = "best,latest" }

Each setting is taken from the first place that sets it: a command-line flag,
then the nearest file's run section, its project section, its top level, then
the next file up, and so on; what nothing sets is the default. ``root = true``
at the top of a file stops the search there. Pins are added to the rules,
whatever they are.

When the metric comes from no flag and no file and the run does not log it,
a metric the run logs is picked (``picked eval_loss: val/reward not logged``):
a person who sees the plan may accept it; an unattended prune does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from .errors import CkptError, Refused, Unreadable
from .models import Run
from .records import FrozenRecord, NamedTuple
from .retention import DEFAULT_METRIC, MAX_NUMBER, Plan, Policy, Rule, kept_outline, metric_for, parse_rules, plan_run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .store import Store

POLICY_FILE = ".ckpt-tui.toml"
DEFAULT_KEEP = "best,latest"
# A policy file is a few lines; anything this large is not one.
MAX_POLICY_BYTES = 1024 * 1024
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class InvalidPolicyFile(Refused):
    """A policy file (or a flag that goes with it) cannot be used: nothing is deleted or written."""


class Offload(FrozenRecord):
    """Where ``offload`` (and ``watch``) moves the steps the local rules do not keep: a location
    (an absolute path or URL) and those rules (None: the run's own ``keep``)."""

    __slots__ = ("to", "keep_local")

    def __init__(self, to: str, keep_local: str | None = None) -> None:
        self._set(to, keep_local)

    def to_json(self) -> dict:
        return {"to": self.to, "keep_local": self.keep_local}


class Settings(FrozenRecord):
    """One section of a file, or the flags given on the command line: None where unset.

    ``metric`` is as written (``"none"`` means no metric); ``keep`` and
    ``full`` are rule texts, already checked.
    """

    __slots__ = ("metric", "mode", "keep", "full", "smoothing", "pins", "offload")

    def __init__(self, metric: str | None = None, mode: str | None = None, keep: str | None = None,
                 full: str | None = None, smoothing: float | None = None, pins: tuple[int, ...] | None = None,
                 offload: Offload | None = None) -> None:
        self._set(metric, mode, keep, full, smoothing, pins, offload)

    @classmethod
    def from_policy(cls, policy: Policy) -> Settings:
        """What saving ``policy`` writes: its rules less pins as ``keep``, its pins apart."""
        keep = ",".join(str(r) for r in policy.rules if r.kind != "step") or "latest"
        return cls(policy.metric or "none", policy.mode, keep, policy.full_text, policy.smoothing,
                   tuple(sorted(policy.pins)))

    def values(self) -> dict[str, Any]:
        """The settings that are set, by key."""
        return {name: value for name, value in zip(self._fields, self._values(self._fields)) if value is not None}


NO_SETTINGS = Settings()
KEYS = Settings._fields


def key_path(*parts: str) -> str:
    """A dotted TOML key, quoting the parts that need it (``projects."lit/logs".runs.v0``)."""
    return ".".join(p if p and set(p) <= _BARE else '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for p in parts)


# -- checking values -------------------------------------------------------------
def _rules_text(value: object, problem: Callable[[str], InvalidPolicyFile]) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise problem("must be rules as text, e.g. \"best,latest,last:3\"")
    try:
        return ",".join(str(r) for r in parse_rules(value))
    except Refused as exc:
        raise problem(str(exc)) from None


def _check_value(key: str, value: object, problem: Callable[[str], InvalidPolicyFile]) -> object:
    if key == "metric":
        if not isinstance(value, str) or not value.strip():
            raise problem("must be a metric name, or \"none\" for no best")
        return value.strip()
    if key == "mode":
        if value not in ("max", "min", "auto"):
            raise problem(f"must be \"max\", \"min\" or \"auto\", not {str(value)[:40]!r}")
        return value
    if key in ("keep", "full"):
        return _rules_text(value, problem)
    if key == "smoothing":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise problem("must be a number in (0, 1]; 1 means none")
        return float(value)
    if key == "pins":
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_NUMBER
                                               for v in value):
            raise problem(f"must be a list of steps from 0 to {MAX_NUMBER}, e.g. [40, 120]")
        return tuple(sorted(set(value)))
    if key == "offload":
        return _offload(value, problem)
    raise AssertionError(key)


def _offload(value: object, problem: Callable[[str], InvalidPolicyFile]) -> Offload:
    if not isinstance(value, dict) or set(value) - {"to", "keep_local"}:
        raise problem('must be a table: { to = "s3://bucket/prefix", keep_local = "best,latest" }')
    to, keep = value.get("to"), value.get("keep_local")
    if not isinstance(to, str) or not to.strip():
        raise problem('needs "to", the location steps are moved to (an absolute path or a URL)')
    if "://" not in to and not to.startswith("/"):
        raise problem(f'"to" must be an absolute path or a URL, not {to[:60]!r}')
    return Offload(to.strip(), None if keep is None else _rules_text(keep, problem))


def check_settings(raw: Mapping[str, object], problem: Callable[[str, str], InvalidPolicyFile],
                   allowed: tuple[str, ...] = KEYS) -> Settings:
    """``Settings`` from raw values; ``problem(key, message)`` makes the error that names the key."""
    values = {}
    for key, value in raw.items():
        if key not in allowed:
            raise problem(key, f"unknown key; keys here are: {', '.join(allowed)}")
        if key in KEYS:
            values[key] = _check_value(key, value, lambda message, key=key: problem(key, message))
    return Settings(**values)


def flag_settings(metric: str | None = None, mode: str | None = None, keep: str | None = None,
                  smoothing: float | None = None, full: str | None = None) -> Settings:
    """Command-line flags as settings; a bad one is named as the flag."""
    raw = {k: v for k, v in (("metric", metric), ("mode", mode), ("keep", keep), ("smoothing", smoothing),
                             ("full", full)) if v is not None}
    return check_settings(raw, lambda key, message: InvalidPolicyFile(f"--{key}: {message}"))


# -- one file ------------------------------------------------------------------------
def run_section(project: str, run: str) -> tuple[str, ...]:
    return ("projects", project, "runs", run)


class PolicyFile(FrozenRecord):
    """One policy file, checked (empty when there is none). ``path`` is where it is, as a user
    would write it (``/data/out/.ckpt-tui.toml``, ``s3://...``); ``root``: it says ``root = true``,
    and files further up are not read."""

    __slots__ = ("path", "text", "location", "projects", "runs", "root")

    def __init__(self, path: str, text: str | None = None, location: Settings = NO_SETTINGS,
                 projects: Mapping[str, Settings] | None = None, runs: Mapping[tuple[str, str], Settings] | None = None,
                 root: bool = False) -> None:
        self._set(path, text, location, {} if projects is None else projects, {} if runs is None else runs,
                  root)

    @property
    def exists(self) -> bool:
        return self.text is not None

    def sections(self, project: str, run: str) -> list[tuple[tuple[str, ...], Settings]]:
        """The sections that apply to a run, most specific first, by their TOML key parts."""
        found = []
        if (project, run) in self.runs:
            found.append((run_section(project, run), self.runs[(project, run)]))
        if project in self.projects:
            found.append((("projects", project), self.projects[project]))
        return found + [((), self.location)]

    def _resolve(self, project: str, run: str, overrides: Settings) -> Resolved:
        return resolve(project, run, [Found(self.path, self, project, run)], overrides)

    def settings(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> Settings:
        """Every setting for a run, each from the first place that sets it (None: the default)."""
        return self._resolve(project, run, overrides).settings

    def origin(self, project: str, run: str, key: str, overrides: Settings = NO_SETTINGS) -> str | None:
        """Where a run's setting comes from: ``--keep``, ``FILE: projects.demo.keep``, or None
        for the built-in default."""
        return self._resolve(project, run, overrides).set_by.get(key)

    def source(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> str | None:
        """The file, when any part of the run's policy comes from it."""
        return self.path if self._resolve(project, run, overrides).files_used else None

    def policy(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> Policy:
        """The run's policy; ``InvalidPolicyFile`` when it cannot apply."""
        return self._resolve(project, run, overrides).checked().policy


def _decode(data: bytes | str, path: str) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidPolicyFile(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return data.removeprefix("\ufeff")  # a byte-order mark, as some editors write


def parse(text: str | bytes, path: str = POLICY_FILE) -> PolicyFile:
    """Read and check a policy file's text; ``InvalidPolicyFile`` names the file and the key."""
    import tomllib  # here: only a location that has a policy file pays for the parser

    text = _decode(text, path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidPolicyFile(f"{path}: not valid TOML: {exc}") from None
    except ValueError as exc:  # a number too long to convert
        raise InvalidPolicyFile(f"{path}: not valid TOML: {str(exc)[:120]}") from None
    except RecursionError:
        raise InvalidPolicyFile(f"{path}: not valid TOML: nested too deeply") from None

    def problem(*parts: str) -> Callable[[str, str], InvalidPolicyFile]:
        return lambda key, message: InvalidPolicyFile(f"{path}: {key_path(*parts, key)}: {message}")

    def table(value: object, *parts: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise InvalidPolicyFile(f"{path}: {key_path(*parts)}: must be a table of settings or sections, "
                                    "e.g. [projects.NAME] or [projects.NAME.runs.RUN]")
        return value

    root = document.pop("root", False)
    if not isinstance(root, bool):
        raise InvalidPolicyFile(f"{path}: root: must be true or false")
    top = check_settings(document, problem(), KEYS + ("projects",))
    projects: dict[str, Settings] = {}
    runs: dict[tuple[str, str], Settings] = {}
    for project, section in table(document.get("projects", {}), "projects").items():
        section = table(section, "projects", project)
        projects[project] = check_settings(section, problem("projects", project), KEYS + ("runs",))
        for run, run_section_ in table(section.get("runs", {}), "projects", project, "runs").items():
            parts = run_section(project, run)
            runs[(project, run)] = check_settings(table(run_section_, *parts), problem(*parts))
    return PolicyFile(path, text, top, projects, runs, root)


# -- finding the files of a run -------------------------------------------------------
class PolicyPlace(NamedTuple):
    """Where a run's policy file may be: a folder from the run's own up, the file's text
    (None: there is none) or why it exists but was not read, and the run as named from there."""

    path: str
    text: str | bytes | None
    problem: str | None
    project: str
    run: str
    inside: bool = True  # at the opened location or below it (not a folder above)


class Found(NamedTuple):
    """A policy file that applies to a run, checked, and the run as that file names it."""

    path: str
    file: PolicyFile | None  # None: the file cannot be used
    project: str
    run: str
    problem: str | None = None
    inside: bool = True


_parsed: dict[tuple[str, str | bytes], PolicyFile | InvalidPolicyFile] = {}


def found_files(places: Sequence[PolicyPlace]) -> list[Found]:
    """The files among ``places`` (nearest first), each parsed once per text; the search stops
    after a file with ``root = true``."""
    found = []
    for place in places:
        if place.problem is not None:
            found.append(Found(place.path, None, place.project, place.run, f"{place.path}: {place.problem}",
                               place.inside))
            continue
        if place.text is None:
            continue
        key = (place.path, place.text)
        if key not in _parsed:
            if len(_parsed) > 4096:
                _parsed.clear()
            try:
                _parsed[key] = parse(place.text, place.path)
            except InvalidPolicyFile as exc:
                _parsed[key] = exc
        parsed = _parsed[key]
        if isinstance(parsed, InvalidPolicyFile):
            found.append(Found(place.path, None, place.project, place.run, str(parsed), place.inside))
            continue
        found.append(Found(place.path, parsed, place.project, place.run, None, place.inside))
        if parsed.root:
            break
    return found


# -- resolving ------------------------------------------------------------------------
class Resolved(FrozenRecord):
    """A run's policy and where each part comes from; ``problem`` says why it cannot be used
    (an invalid or unreadable file, ``metric = "none"`` beside a rule that needs one).

    ``set_by`` maps a key to ``--keep`` or ``FILE: projects.demo.keep`` (absent: the default);
    ``files`` are the policy files that apply, nearest first; ``picked`` is the metric picked
    because the one in force is not logged; ``metrics`` those the run logs, when known."""

    __slots__ = ("project", "run", "policy", "settings", "set_by", "files", "problem", "picked", "metrics")

    def __init__(self, project: str, run: str, policy: Policy, settings: Settings, set_by: Mapping[str, str],
                 files: tuple[str, ...] = (), problem: str | None = None, picked: str | None = None,
                 metrics: tuple[str, ...] = ()) -> None:
        self._set(project, run, policy, settings, set_by, files, problem, picked, metrics)

    @property
    def files_used(self) -> tuple[str, ...]:
        """The files any setting of the run comes from."""
        used = {where.partition(": ")[0] for where in self.set_by.values() if not where.startswith("--")}
        return tuple(f for f in self.files if f in used)

    def origin(self, key: str) -> str:
        """Where one setting comes from, in words."""
        if key == "metric" and self.picked:
            return f"picked: {self.settings.metric or DEFAULT_METRIC} not logged"
        return self.set_by.get(key, "default")

    @property
    def metric_named(self) -> bool:
        """Whether a flag or a file names the metric (a picked one is not named)."""
        return "metric" in self.set_by and not self.picked

    def checked(self) -> Resolved:
        if self.problem:
            raise InvalidPolicyFile(self.problem)
        return self

    def unattended_refusal(self) -> str | None:
        """Why an unattended prune (``--yes``, ``watch``) must not act: a picked metric."""
        if self.picked and self.policy.needs_metric:
            wanted = self.settings.metric or DEFAULT_METRIC
            return (f"{self.project}/{self.run}: {wanted} is not logged; picked {self.picked}, which no flag or "
                    f"policy file names: pass --metric {self.picked} to prune by it")
        return None

    @property
    def best_policy(self) -> Policy:
        """The policy ``path --best`` ranks by: a metric the run logs even when no rule needs one."""
        if self.policy.metric is None and self.settings.metric is None and self.metrics:
            return self.policy.with_metric(metric_for(list(self.metrics), DEFAULT_METRIC))
        return self.policy

    @property
    def pick_note(self) -> str | None:
        if not self.picked:
            return None
        return f"picked {self.picked}: {self.settings.metric or DEFAULT_METRIC} not logged"

    def to_json(self) -> dict:
        policy = self.policy
        offload = self.settings.offload
        return {"metric": policy.metric, "mode": policy.mode, "direction": policy.direction,
                "rules": ",".join(str(r) for r in policy.rules if r.kind != "step"),
                "pins": sorted(policy.pins), "full": policy.full_text, "smoothing": policy.smoothing,
                "origins": {key: self.origin(key) for key in KEYS}, "files": list(self.files),
                "picked": self.picked, "problem": self.problem,
                "offload": offload.to_json() if offload else None}


Layer = tuple[Callable[[str], str], Settings]  # (where a key of it is set, in words; its settings)


def _merge(layers: list[Layer]) -> tuple[Settings, dict[str, str]]:
    """Each key from the first layer that sets it, and where."""
    chosen: dict[str, object] = {}
    set_by: dict[str, str] = {}
    for where, section in layers:
        for key, value in section.values().items():
            if key not in chosen:
                chosen[key], set_by[key] = value, where(key)
    return Settings(**chosen), set_by


def _policy(project: str, run: str, chosen: Settings, set_by: Mapping[str, str]) -> Policy:
    metric = chosen.metric if chosen.metric is not None else DEFAULT_METRIC
    rules = parse_rules(chosen.keep or DEFAULT_KEEP)
    full = parse_rules(chosen.full) if chosen.full else None
    if metric.lower() == "none":
        metric = None
        if any(r.needs_metric for r in rules + (full or ())):
            raise InvalidPolicyFile(
                f"{project}/{run}: rules {','.join(map(str, rules + (full or ())))!r} "
                f"({set_by.get('keep', 'default')}) need a metric, but the metric is 'none' "
                f"({set_by.get('metric')})")
    pins = tuple(Rule("step", n) for n in chosen.pins or ())
    return Policy(tuple(dict.fromkeys(rules + pins)), metric, chosen.mode or "auto", chosen.smoothing, full)


def resolve(project: str, run: str, found: Sequence[Found], flags: Settings = NO_SETTINGS,
            metrics: Sequence[str] | None = None) -> Resolved:
    """The run's policy from ``flags`` over the ``found`` files (nearest first), each file's
    run section over its project's over its top level, over the defaults.

    With ``metrics`` (the names the run logs), a metric nothing names and the run does not
    log is replaced by one it logs, when a rule needs one; when none does, there is no best.
    """
    files = tuple(f.path for f in found)
    problem = next((f.problem for f in found if f.problem), None)
    layers: list[Layer] = [(lambda key: f"--{key}", flags)]
    if problem is None:
        for one in found:
            assert one.file is not None
            layers += [(lambda key, path=one.path, parts=parts: f"{path}: {key_path(*parts, key)}", section)
                       for parts, section in one.file.sections(one.project, one.run)]
    chosen, set_by = _merge(layers)
    try:
        policy = _policy(project, run, chosen, set_by)
    except InvalidPolicyFile as exc:
        problem = problem or str(exc)
        chosen, set_by = _merge(layers[:1])
        try:
            policy = _policy(project, run, chosen, set_by)
        except InvalidPolicyFile:
            chosen, set_by = Settings(), {}
            policy = _policy(project, run, chosen, set_by)
    picked = None
    if metrics is not None and "metric" not in set_by and policy.metric not in metrics:
        if policy.needs_metric:
            picked = metric_for(list(metrics), policy.metric)
            picked = picked if picked != policy.metric else None
            if picked is not None:
                policy = policy.with_metric(picked)
        else:  # nothing chooses by it: no best, no refusal
            policy = policy.with_metric(None)
    return Resolved(project, run, policy, chosen, set_by, files, problem, picked, tuple(metrics or ()))


class Policies:
    """The policies of one location's runs: ``store.policy_places`` read once per run, with
    ``flags`` over them. ``refresh()`` reads the files again (a watch does at every poll)."""

    def __init__(self, store: Any, flags: Settings = NO_SETTINGS) -> None:
        self.store, self.flags = store, flags
        self._found: dict[tuple[str, str], list[Found]] = {}
        store.forget_policy_places()  # read as they are now

    def found(self, project: str, run: str) -> list[Found]:
        key = (project, run)
        if key not in self._found:
            self._found[key] = found_files(self.store.policy_places(project, run))
        return self._found[key]

    def resolve(self, project: str, run: str, metrics: Sequence[str] | None = None,
                flags: Settings | None = None) -> Resolved:
        return resolve(project, run, self.found(project, run), self.flags if flags is None else flags, metrics)

    def has_read(self, project: str, run: str) -> bool:
        """Whether the run's files are read already: ``resolve`` then reads nothing."""
        return (project, run) in self._found

    def problem(self) -> str | None:
        """Why a file of a run read so far cannot be used, if one cannot."""
        return next((one.problem for found in self._found.values() for one in found if one.problem), None)

    def check(self) -> None:
        """Raise ``InvalidPolicyFile`` when a file of a run read so far cannot be used."""
        if problem := self.problem():
            raise InvalidPolicyFile(problem)

    def unused_sections(self) -> list[str]:
        """Sections of the files at or below the location that name no run found below them,
        with the names that are there (call after resolving every run of the location)."""
        named: dict[str, set[tuple[str, str]]] = {}
        files: dict[str, PolicyFile] = {}
        for found in self._found.values():
            for one in found:
                if one.file is not None and one.inside:
                    files[one.path] = one.file
                    named.setdefault(one.path, set()).add((one.project, one.run))
        lines = []
        for path, file in files.items():
            runs = named[path]
            there = ", ".join(f"{p}/{r}" for p, r in sorted(runs)[:6]) + (", ..." if len(runs) > 6 else "")
            projects = {p for p, _ in runs}
            unknown = [key_path("projects", p) for p in file.projects if p not in projects]
            unknown += [key_path(*run_section(p, r)) for p, r in file.runs if p in projects and (p, r) not in runs]
            lines += [f"{path}: [{section}] names no run found there (runs: {there})" for section in unknown]
        return lines

    def refresh(self) -> bool:
        """Read every known run's files again; whether any changed."""
        before = {k: [(f.path, f.file.text if f.file else f.problem) for f in v] for k, v in self._found.items()}
        self.store.forget_policy_places()
        self._found.clear()
        return any([(f.path, f.file.text if f.file else f.problem) for f in self.found(*k)] != v
                   for k, v in before.items())


# -- one prune pass -------------------------------------------------------------------
def plan_for(run: Run, resolved: Resolved, unattended: bool = False) -> Plan:
    """The run's plan under its resolved policy; refused when the policy cannot be used, and,
    ``unattended`` (``prune --yes``, ``watch``), when it would act on a picked metric."""
    plan = plan_run(run, resolved.policy)
    plan.resolved = resolved
    if resolved.problem:
        plan.refuse(resolved.problem)
    elif unattended and not plan.refused and (plan.delete or plan.slim) and resolved.unattended_refusal():
        plan.refuse(resolved.unattended_refusal())
    return plan


def outline_for(run: Run, resolved: Resolved) -> tuple[list[int], list[int], str | None]:
    """``plan_for(run, resolved)``'s best steps, kept steps (sorted) and refusal, without the rest of the plan."""
    best, kept, refused = kept_outline(run, resolved.policy)
    if resolved.problem:
        return best, sorted({c.step for c in run.checkpoints if c.step is not None}), resolved.problem
    return best, kept, refused


def plan_runs(store: Store, pairs: Sequence[tuple[str, str]], policies: Policies,
              unattended: bool = False) -> tuple[list[Plan], list[tuple[str, str, str]]]:
    """Each selected run read (with its training state where its policy slims) and planned;
    (project, run, why) for each that could not be read: one bad run never hides the others."""
    failed: list[tuple[str, str, str]] = []
    slimming = set()
    store.read_ahead(pairs)
    for pair in pairs:
        try:
            if policies.resolve(*pair).policy.full is not None:
                slimming.add(pair)
        except CkptError:
            pass  # reported when the run is read
    loaded = dict(store.load_runs([p for p in pairs if p not in slimming]))
    for pair in slimming:
        try:
            loaded[pair] = store.load_run(*pair, with_state=True)
        except CkptError as exc:
            loaded[pair] = exc
    plans = []
    for pair in pairs:
        run = loaded[pair]
        try:
            if isinstance(run, CkptError):
                raise run
            plans.append(plan_for(run, policies.resolve(*pair, run.metrics.names()), unattended))
        except CkptError as exc:
            failed.append((*pair, str(exc)))
    return plans, failed


def finish_leftovers(store: Store, plans: Sequence[Plan]) -> list[tuple[Plan, str, bool]]:
    """Runs with nothing to delete or slim still get what an interrupted deletion left finished
    (executing a plan does it for the others); (plan, what was removed or why not, removed)."""
    done = []
    for plan in plans:
        if plan.delete or plan.slim or plan.refused:
            continue
        try:
            done += [(plan, removed, True) for removed in store.finish_interrupted(plan.project, plan.run)]
        except Unreadable:
            continue  # already noted where the run is listed
        except CkptError as exc:
            done.append((plan, f"cannot finish an interrupted delete: {exc}", False))
    return done
