"""Saved policies: reading and writing ``.ckpt-tui.toml`` files.

The format and how a run's files are found and combined are described in
:mod:`ckpt_tui.core.policy`, which every face asks; this module writes one
run's section (what the app saves). Writing uses ``tomlkit``, which changes
only the section it is told to and keeps the comments and order of a
hand-written file.
"""

from __future__ import annotations

from typing import Any

from .core import CkptError, Policy, Store, parse_rules
from .core.policy import (KEYS, NO_SETTINGS, POLICY_FILE, Found, InvalidPolicyFile, Policies,  # noqa: F401
                          PolicyFile, Settings, check_settings, flag_settings, key_path, parse, resolve,
                          run_section)

HEADER = ("# ckpt-tui retention policies for the runs below this folder: the app, ls, prune and watch read them.\n"
          "# Command-line flags override them; the nearest file and the most specific section win.\n")


def file_path(store: Store) -> str:
    return f"{store.location.rstrip('/')}/{POLICY_FILE}"


def load(store: Store) -> PolicyFile:
    """The location's own policy file, checked; an empty one when there is none."""
    text, problem = store.location_policy_file()
    if problem is not None:
        raise InvalidPolicyFile(f"{file_path(store)}: {problem}")
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
    and ``offload`` are left as they are when ``settings`` has none; a section left empty goes); everything
    else, comments included, unchanged."""
    import tomlkit

    document = tomlkit.parse(text or HEADER)
    section = document
    for key, leaf in (("projects", False), (project, False), ("runs", False), (run, True)):
        section = _section(section, key, leaf)
    wanted = settings.values()
    for key in KEYS:
        value = wanted.get(key)
        if value is None:
            if key not in ("full", "offload") and key in section:
                del section[key]
        else:
            section[key] = list(value) if isinstance(value, tuple) else value
    if not section:
        runs = document["projects"][project]["runs"]
        del runs[run]
        if not runs:
            del document["projects"][project]["runs"]
    return tomlkit.dumps(document)


def _inherited(store: Store, project: str, run: str, current: PolicyFile) -> list[Found]:
    """The run's policy files with the location's own less the run's section: what it inherits."""
    try:
        found = Policies(store).found(project, run)
    except CkptError:  # not a run this store lists (yet): the location's file alone
        found = [Found(current.path, current, project, run)] if current.exists else []
    mine = [i for i, f in enumerate(found) if f.inside and f.file is not None and f.file.text == current.text
            and (f.project, f.run) == (project, run)]
    if mine:
        without = current._replace(runs={k: v for k, v in current.runs.items() if k != (project, run)})
        found[mine[-1]] = found[mine[-1]]._replace(file=without)
    return found


def _differences(policy: Policy, inherited: Policy) -> Settings:
    """The settings of ``policy`` that ``inherited`` does not already give."""
    wanted, given = Settings.from_policy(policy), Settings.from_policy(inherited)
    same_keep = set(parse_rules(wanted.keep)) == set(parse_rules(given.keep))
    return Settings(**{key: value for key, value in wanted.values().items()
                       if not (value == getattr(given, key) or (key == "keep" and same_keep))})


def save_run_policy(store: Store, project: str, run: str, policy: Policy,
                    full: str | None = None) -> PolicyFile:
    """Save what of ``policy`` (metric, direction, rules, pins, smoothing, full) the run does not
    inherit as its section of the location's policy file, creating the file if needed; returns
    the file as written.

    An invalid file is refused (and left as it is), and so is anything that would not read
    back, or that a nearer file would override.
    """
    from tomlkit.exceptions import TOMLKitError

    current = load(store)
    if full is not None:
        policy = policy._replace(full=parse_rules(full))
    inherited = _inherited(store, project, run, current)
    base = resolve(project, run, inherited).checked().policy
    settings = _differences(policy, base)
    try:
        text = render_run_settings(current.text, project, run, settings)
    except (TOMLKitError, TypeError, ValueError) as exc:  # shapes tomlkit cannot extend (inline tables)
        raise InvalidPolicyFile(f"{current.path}: cannot add [{key_path('projects', project, 'runs', run)}]: "
                                f"{exc}; write it by hand") from None
    saved = parse(text, current.path)
    after = [f._replace(file=saved) if f.file is not None and f.file.text == current.text and f.inside else f
             for f in inherited] if current.exists else [Found(saved.path, saved, project, run), *inherited]
    result = resolve(project, run, after).policy
    if (set(result.rules), result.metric, result.mode, result.smoothing) != (
            set(policy.rules), policy.metric, policy.mode, policy.smoothing):
        nearer = ", ".join(f.path for f in inherited if f.inside and (f.file is None or f.file.text != current.text))
        raise InvalidPolicyFile(f"{project}/{run}: {nearer or 'a nearer policy file'} overrides what "
                                f"{current.path} would say; edit it there")
    store.write_location_file(POLICY_FILE, text)
    return saved
