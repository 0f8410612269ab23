"""``python -m ckpt_tui`` and the ``ckpt-tui`` command.

``--version`` is answered here, before the command line module and the domain are imported.
"""

import sys


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        from . import __version__

        print(f"ckpt-tui {__version__}")
        return 0
    one_shot = sys.argv[1:2] and sys.argv[1] in ONE_SHOT
    if one_shot:
        import gc

        # A command that lists, plans and exits makes many small objects that form no cycles: the
        # cyclic collector does not run while the modules are imported (about 6% of a small listing),
        # then runs rarely, and never walks what the imports made (about 5% of a scan).
        gc.disable()
    from .cli import main as run

    if one_shot:
        gc.freeze()
        gc.set_threshold(100_000, 50, 50)
        gc.enable()
    return run()


# Commands that run once and exit (``watch`` and the app live on: they keep the usual collector).
ONE_SHOT = ("ls", "prune", "path", "fork", "offload")


if __name__ == "__main__":
    raise SystemExit(main())
