"""Running the command line in this process, as the tests do."""

from __future__ import annotations

from ckpt_tui.cli import main


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    """``ckpt-tui ARGS``: the exit code, stdout and stderr."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err
