"""Saved policies: ``.ckpt-tui.toml`` at the base of a location.

One file for the whole location, read through the store (so it works on a
disk and in S3), with optional sections per project and per run::

    keep = "best,latest"                      # every run of the location
    [projects.demo]
    metric = "val/reward"                     # every run of project demo
    [projects.demo.runs.agent-001]
    keep = "best,latest,last:3"               # this run only
    pins = [40]

For each setting the most specific section that has it wins, and a
command-line flag beats them all. Pins are added to the rules, whatever they
are (``--keep`` included): a pinned step is never deleted. ``full`` (rules,
like ``keep``) is checked and kept for slimming; nothing else acts on it.

``load(store).policy(project, run, flags)`` is a run's ``Policy``;
:func:`save_run_policy` writes one run's section (what the app saves).
Reading uses the standard ``tomllib``; writing uses ``tomlkit``, which
changes only the section it is told to and keeps the comments and order of a
hand-written file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .core import DEFAULT_METRIC, Policy, Refused, Rule, Store, parse_rules

POLICY_FILE = ".ckpt-tui.toml"
DEFAULT_KEEP = "best,latest"
HEADER = ("# ckpt-tui retention policies for this location: the app, ls, prune and watch read them.\n"
          "# Command-line flags override them; the most specific section wins.\n")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class InvalidPolicyFile(Refused):
    """The policy file (or a flag that goes with it) cannot be used: nothing is deleted or written."""


@dataclass(frozen=True, slots=True)
class Settings:
    """One section of the file, or the flags given on the command line: None where unset.

    ``metric`` is as written (``"none"`` means no metric); ``keep`` and
    ``full`` are rule texts, already checked.
    """

    metric: str | None = None
    mode: str | None = None
    keep: str | None = None
    full: str | None = None
    smoothing: float | None = None
    pins: tuple[int, ...] | None = None

    @classmethod
    def from_policy(cls, policy: Policy) -> Settings:
        """What saving ``policy`` writes: its rules less pins as ``keep``, its pins apart."""
        keep = ",".join(str(r) for r in policy.rules if r.kind != "step") or "latest"
        return cls(policy.metric or "none", policy.mode, keep, policy.full_text, policy.smoothing,
                   tuple(sorted(policy.pins)))

    def values(self) -> dict[str, Any]:
        """The settings that are set, by key."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


NO_SETTINGS = Settings()
KEYS = tuple(f.name for f in fields(Settings))


def key_path(*parts: str) -> str:
    """A dotted TOML key, quoting the parts that need it (``projects."lit/logs".runs.v0``)."""
    return ".".join(p if _BARE_KEY.match(p) else '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
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
            raise problem(f"must be \"max\", \"min\" or \"auto\", not {value!r}")
        return value
    if key in ("keep", "full"):
        return _rules_text(value, problem)
    if key == "smoothing":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise problem("must be a number in (0, 1]; 1 means none")
        return float(value)
    if key == "pins":
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                               for v in value):
            raise problem("must be a list of steps, e.g. [40, 120]")
        return tuple(sorted(set(value)))
    raise AssertionError(key)


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


# -- the file ------------------------------------------------------------------------
def _run_section(project: str, run: str) -> tuple[str, ...]:
    return ("projects", project, "runs", run)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A location's saved policies (empty when it has no file)."""

    path: str  # where the file is, as a user would write it: ./.art/.ckpt-tui.toml, s3://...
    text: str | None = None
    location: Settings = NO_SETTINGS
    projects: Mapping[str, Settings] = field(default_factory=dict)
    runs: Mapping[tuple[str, str], Settings] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.text is not None

    def sections(self, project: str, run: str) -> list[tuple[tuple[str, ...], Settings]]:
        """The sections that apply to a run, most specific first, by their TOML key parts."""
        found = []
        if (project, run) in self.runs:
            found.append((_run_section(project, run), self.runs[(project, run)]))
        if project in self.projects:
            found.append((("projects", project), self.projects[project]))
        return found + [((), self.location)]

    def settings(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> Settings:
        """Every setting for a run, each from the first place that sets it: the flags in
        ``overrides``, then the file's sections, most specific first (None: the default)."""
        merged: dict[str, object] = {}
        for _, section in reversed([((), overrides)] + self.sections(project, run)):
            merged.update(section.values())
        return Settings(**merged)

    def origin(self, project: str, run: str, key: str, overrides: Settings = NO_SETTINGS) -> str | None:
        """Where a run's setting comes from: ``--keep``, ``FILE: projects.demo.keep``, or None
        for the built-in default."""
        if getattr(overrides, key) is not None:
            return f"--{key}"
        for parts, section in self.sections(project, run):
            if getattr(section, key) is not None:
                return f"{self.path}: {key_path(*parts, key)}"
        return None

    def source(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> str | None:
        """The file, when any part of the run's policy comes from it (for the app's top line)."""
        from_file = any((where := self.origin(project, run, key, overrides)) and not where.startswith("--")
                        for key in KEYS)
        return self.path if from_file else None

    def policy(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> Policy:
        """The run's policy: flags over its section over its project's over the top level,
        then the defaults (``val/reward``, ``auto``, ``best,latest``); pins are added to the rules."""
        chosen = self.settings(project, run, overrides)
        metric = chosen.metric if chosen.metric is not None else DEFAULT_METRIC
        rules = parse_rules(chosen.keep or DEFAULT_KEEP)
        if metric.lower() == "none":
            metric = None
            if any(r.kind in ("best", "top") for r in rules):
                raise InvalidPolicyFile(
                    f"{project}/{run}: rules {','.join(map(str, rules))!r} "
                    f"({self.origin(project, run, 'keep', overrides) or 'default'}) need a metric, but the "
                    f"metric is 'none' ({self.origin(project, run, 'metric', overrides)})")
        pins = tuple(Rule("step", n) for n in chosen.pins or ())
        full = parse_rules(chosen.full) if chosen.full else None
        return Policy(tuple(dict.fromkeys(rules + pins)), metric, chosen.mode or "auto", chosen.smoothing, full)

    def full_rules(self, project: str, run: str, overrides: Settings = NO_SETTINGS) -> tuple[Rule, ...] | None:
        """The rules for steps kept whole when slimming, if any are set."""
        full = self.settings(project, run, overrides).full
        return parse_rules(full) if full else None


def parse(text: str, path: str = POLICY_FILE) -> PolicyFile:
    """Read and check a policy file's text; ``InvalidPolicyFile`` names the file and the key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidPolicyFile(f"{path}: not valid TOML: {exc}") from None

    def problem(*parts: str) -> Callable[[str, str], InvalidPolicyFile]:
        return lambda key, message: InvalidPolicyFile(f"{path}: {key_path(*parts, key)}: {message}")

    def table(value: object, *parts: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise InvalidPolicyFile(f"{path}: {key_path(*parts)}: must be a table of settings or sections, "
                                    "e.g. [projects.NAME] or [projects.NAME.runs.RUN]")
        return value

    top = check_settings(document, problem(), KEYS + ("projects",))
    projects: dict[str, Settings] = {}
    runs: dict[tuple[str, str], Settings] = {}
    for project, section in table(document.get("projects", {}), "projects").items():
        section = table(section, "projects", project)
        projects[project] = check_settings(section, problem("projects", project), KEYS + ("runs",))
        for run, run_section in table(section.get("runs", {}), "projects", project, "runs").items():
            parts = _run_section(project, run)
            runs[(project, run)] = check_settings(table(run_section, *parts), problem(*parts))
    return PolicyFile(path, text, top, projects, runs)


def file_path(store: Store) -> str:
    return f"{store.location.rstrip('/')}/{POLICY_FILE}"


def load(store: Store) -> PolicyFile:
    """The location's policy file, checked; an empty one when there is none."""
    text = store.read_location_file(POLICY_FILE)
    return parse(text, file_path(store)) if text is not None else PolicyFile(file_path(store))


# -- saving ---------------------------------------------------------------------------
def _section(container: Any, key: str, leaf: bool) -> Any:
    """``container[key]`` as a table, created if missing (without an empty header above a run's)."""
    import tomlkit

    if key not in container:
        container[key] = tomlkit.table(is_super_table=not leaf)
    return container[key]


def render_run_settings(text: str | None, project: str, run: str, settings: Settings) -> str:
    """``text`` with the section of ``project/run`` holding exactly ``settings`` (``full``
    is left as it is when ``settings`` has none); everything else, comments included, unchanged."""
    import tomlkit

    document = tomlkit.parse(text or HEADER)
    section = document
    for key, leaf in (("projects", False), (project, False), ("runs", False), (run, True)):
        section = _section(section, key, leaf)
    wanted = settings.values()
    for key in KEYS:
        value = wanted.get(key)
        if value is None:
            if key != "full" and key in section:
                del section[key]
        else:
            section[key] = list(value) if isinstance(value, tuple) else value
    return tomlkit.dumps(document)


def save_run_policy(store: Store, project: str, run: str, policy: Policy,
                    full: str | None = None) -> PolicyFile:
    """Save ``policy`` (metric, direction, rules, pins, smoothing) as the run's section of the
    location's policy file, creating the file if needed; returns the file as written.

    An invalid file is refused (and left as it is), and so is anything that would not read back.
    """
    from tomlkit.exceptions import TOMLKitError

    current = load(store)
    settings = Settings.from_policy(policy)
    if full is not None:
        settings = replace(settings, full=full)
    try:
        text = render_run_settings(current.text, project, run, settings)
    except (TOMLKitError, TypeError, ValueError) as exc:  # shapes tomlkit cannot extend (inline tables)
        raise InvalidPolicyFile(f"{current.path}: cannot add [{key_path('projects', project, 'runs', run)}]: "
                                f"{exc}; write it by hand") from None
    saved = parse(text, current.path)
    store.write_location_file(POLICY_FILE, text)
    return saved
