"""What a command that only reads costs a cloud store: the official client is never imported,
and each folder is listed once."""

from __future__ import annotations

import os
import subprocess
import sys

from ckpt_tui.cli import main


def ls_imports(url: str, environment: dict[str, str] | None = None) -> set[str]:
    """The top-level packages of ``google.cloud`` and ``azure`` that ``ls --json`` of ``url`` imports."""
    code = (f"import sys; from ckpt_tui.cli import main; code = main(['ls', {url!r}, '--json']); "
            "print(' '.join(m for m in sys.modules if m.startswith(('google.cloud.', 'azure.')) "
            "and m.count('.') == 2)); "
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **(environment or {})})
    return set(done.stdout.splitlines()[-1].split())


def folders_listed_by_ls(backend_class: type, url: str, monkeypatch, capsys) -> list[str]:
    """Every folder ``ls --json`` of ``url`` lists, as URLs, as often as it lists it."""
    listed: list[str] = []
    real = backend_class.list_dir

    def list_dir(backend, path: str):
        listed.append(backend.url(path, folder=True))
        return real(backend, path)

    monkeypatch.setattr(backend_class, "list_dir", list_dir)
    assert main(["ls", url, "--json"]) == 0
    capsys.readouterr()
    return listed
