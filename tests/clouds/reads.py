"""What a command that only reads costs a cloud store: the official client is never imported,
and a small location is listed once."""

from __future__ import annotations

import os
import subprocess
import sys

from ckpt_tui.cli import main


def ls_imports(url: str, environment: dict[str, str] | None = None) -> set[str]:
    """The top-level packages of ``google.cloud`` and ``azure`` that ``ls --json`` of ``url`` imports,
    and urllib3 if it does."""
    code = (f"import sys; from ckpt_tui.cli import main; code = main(['ls', {url!r}, '--json']); "
            "print(' '.join(m for m in sys.modules if m == 'urllib3' or m.startswith(('google.cloud.', 'azure.')) "
            "and m.count('.') == 2)); "
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **(environment or {})})
    return set(done.stdout.splitlines()[-1].split())


def listings_made_by_ls(backend_class: type, url: str, monkeypatch, capsys, *args: str) -> list[tuple[str, str]]:
    """Every listing ``ls --json`` of ``url`` makes, as (kind, folder URL), as often as it makes
    it: ``dir`` (one level), ``flat`` (the first page of a flat listing), ``walk`` (everything below)."""
    listed: list[tuple[str, str]] = []

    def counting(kind: str, name: str) -> None:
        real = getattr(backend_class, name)

        def listing(backend, path: str, *more):
            listed.append((kind, backend.url(path, folder=True)))
            return real(backend, path, *more)

        monkeypatch.setattr(backend_class, name, listing)

    counting("dir", "list_dir")
    counting("flat", "flat_page")
    counting("walk", "walk")
    assert main(["ls", url, "--json", *args]) == 0
    capsys.readouterr()
    return listed


def check_one_listing_of_a_small_location(backend_class: type, url: str, monkeypatch, capsys) -> None:
    """``ls --json`` of a small location lists it once, flat: discovery, the runs' loads and the
    policy files of the folders inside are all answered from that listing; only the folders
    above the location are listed (for their policy files), each once."""
    listed = listings_made_by_ls(backend_class, url, monkeypatch, capsys)
    inside = [(kind, where) for kind, where in listed if where.startswith(url + "/")]
    assert inside == [("flat", url + "/")]
    above = [(kind, where) for kind, where in listed if not where.startswith(url + "/")]
    assert above and all(kind == "dir" for kind, _ in above) and len(set(above)) == len(above)


def check_a_first_page_that_shows_part_of_the_location(backend_class: type, url: str, first_run: set[str],
                                                       monkeypatch, capsys) -> None:
    """A location larger than the first page of its flat listing (``first_run``: the object names
    of its first run, relative to the location): what ls shows is what a whole listing shows; the
    run the page shows whole is not listed again, the next one is."""
    import ckpt_tui.stores.tree as tree

    whole = _runs(url, capsys)
    monkeypatch.setattr(tree, "FLAT_PAGE", len(first_run) + 1)  # the first run and one object of the next
    listed = listings_made_by_ls(backend_class, url, monkeypatch, capsys)
    assert ("flat", url + "/") in listed and len(set(listed)) == len(listed)
    assert not [where for _, where in listed if where.startswith(f"{url}/demo/models/agent-001/")]
    assert ("walk", f"{url}/demo/models/agent-002/checkpoints/") in listed
    assert _runs(url, capsys) == whole


def _runs(url: str, capsys) -> list[dict]:
    import json

    assert main(["ls", url, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["runs"]
