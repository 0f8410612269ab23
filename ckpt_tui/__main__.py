"""``python -m ckpt_tui`` and the ``ckpt-tui`` command.

``--version`` is answered here, before the command line module and the domain are imported.
"""

import sys


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        from . import __version__

        print(f"ckpt-tui {__version__}")
        return 0
    from .cli import main as run

    return run()


if __name__ == "__main__":
    raise SystemExit(main())
