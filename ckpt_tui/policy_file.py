"""Saved policies: reading and writing ``.ckpt-tui.toml`` files.

The format and how a run's files are found and combined are described in
:mod:`ckpt_tui.core.policy`, which every face asks; this module writes one
run's section (what the app saves). Writing uses ``tomlkit``, which changes
only the section it is told to and keeps the comments and order of a
hand-written file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .core import Policy, Store
from .core.policy import (KEYS, NO_SETTINGS, POLICY_FILE, InvalidPolicyFile, PolicyFile, Settings,  # noqa: F401
                          check_settings, flag_settings, key_path, parse, run_section)

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
