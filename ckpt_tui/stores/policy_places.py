"""Where a run's policy files may be: its own folder and every folder above it, up to the
filesystem root or the bucket, each file read only when it is a regular file of sane size."""

from __future__ import annotations

from ..core.errors import CkptError, Refused
from ..core.policy import MAX_POLICY_BYTES, POLICY_FILE, PolicyPlace
from .backends.base import Backend, Entry, Kind, join

Read = tuple[bytes | None, str | None]  # the file's bytes (None: there is none), or why it was not read


def read_policy_file(backend: Backend, folder: str, listed: list[Entry] | None = None) -> Read:
    """``folder``'s policy file, telling "there is none" from "there is one, not read because …";
    a FIFO, a device or a link leading away is never opened. ``listed``: the folder's entries,
    when a listing of it was just made (else the backend is asked for the one entry)."""
    def entry_named(name: str) -> Entry | None:
        if listed is not None:
            return next((e for e in listed if e.name == name), None)
        try:
            return backend.entry(folder, name)
        except CkptError:
            return None  # a folder that cannot be read holds no file we can know of

    entry = entry_named(POLICY_FILE)
    if entry is None:
        return None, None
    name = POLICY_FILE
    if entry.kind is Kind.LINK:
        target = backend.link_target(join(folder, POLICY_FILE))
        entry = entry_named(target) if target else None
        if entry is None or entry.kind is not Kind.FILE:
            return None, "a symbolic link that leads out of its folder (or to no regular file); not read"
        name = target
    if entry.kind is Kind.DIR:
        return None, "a folder, not a policy file"
    if entry.kind is not Kind.FILE:
        return None, "not a regular file (a FIFO, socket or device); not read"
    try:
        data = backend.read_bytes(join(folder, name), MAX_POLICY_BYTES)
    except CkptError as exc:
        return None, f"cannot be read: {exc}"
    if data is None:
        return None, f"larger than {MAX_POLICY_BYTES // 1024} KiB (or it changed while read); not read"
    return data, None


def run_names(rel: list[str], here: str, above: str) -> tuple[str, str]:
    """(project, run) of the run at ``rel`` below a folder named ``here`` (in ``above``), as
    opening that folder names it."""
    if not rel:
        return above, here
    if len(rel) == 1:
        return here, rel[0]
    return "/".join(rel[:-1]), rel[-1]


Above = list[tuple[Backend, list[str], str, str]]  # a folder above, the names down to the root, its name, the one above


def folders_above(backend: Backend) -> Above:
    """``backend``'s root and every folder above it up to the filesystem root or the bucket, nearest
    first, each with the names leading from it down to ``backend``'s root, its name and the name above it."""
    found: Above = []
    names: list[str] = []
    at = backend
    while True:
        found.append((at, names, at.root_name, at.outer_name))
        try:
            up = at.parent()
        except Refused:  # the bucket itself
            break
        if up.url("") == at.url(""):  # the filesystem root
            break
        names, at = [at.root_name, *names], up
    return found


def policy_places(backend: Backend, run_root: str, art: tuple[str, str] | None,
                  cache: dict[str, Read], listed: dict[str, list[Entry]] | None = None,
                  above: dict[str, Above] | None = None) -> list[PolicyPlace]:
    """The places of the run at ``run_root`` (below ``backend``'s root), nearest first. An ART
    model (``art``: its project and name) is named the same from everywhere: its project is
    the folder holding ``models/``. ``listed``: entries of folders just listed, by the URL
    their policy file would have; those folders are not listed again. ``above``: the folders
    above the root (``folders_above``) as found for an earlier run, by the root's URL, kept as long as
    ``cache`` (each is resolved, a ``realpath`` on a disk, once a listing rather than once a run)."""
    listed = listed or {}
    parts = run_root.split("/") if run_root else []
    # (backend, folder, names below it, its name, the name above), nearest first.
    spots: list[tuple[Backend, str, list[str], str, str]] = [
        (backend, "/".join(parts[:depth]), parts[depth:], parts[depth - 1],
         parts[depth - 2] if depth >= 2 else backend.root_name) for depth in range(len(parts), 0, -1)]
    if above is None:
        folders = folders_above(backend)
    elif (folders := above.get(key := backend.url(""))) is None:
        folders = above.setdefault(key, folders_above(backend))
    spots.extend((at, "", [*names, *parts], here, outer) for at, names, here, outer in folders)
    # Each folder is listed once, all side by side: a round trip, not one per level, in a bucket.
    urls = [at.url(join(folder, POLICY_FILE)) for at, folder, *_ in spots]
    unread = [(url, spot) for url, spot in zip(urls, spots) if url not in cache]
    for (url, _), read in zip(unread, backend.map(
            lambda item: read_policy_file(item[1][0], item[1][1], listed.get(item[0])), unread)):
        cache[url] = read
    return [PolicyPlace(url, *cache[url], *(art or run_names(rel, here, above)), at is backend)
            for url, (at, folder, rel, here, above) in zip(urls, spots)]
