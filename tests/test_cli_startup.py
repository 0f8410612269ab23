"""``ls [LOCATION] [--json]``, the most common command line, is read without argparse: the same
arguments as its parser makes of it, and none of argparse, gettext or locale imported; nor
contextlib or importlib, which the stores do without."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_tui.cli import _plain_ls, build_command_parser, parse_command

ROOT = Path(__file__).parent.parent

PLAIN = [["ls"], ["ls", "loc"], ["ls", "loc", "--json"], ["ls", "--json", "loc"], ["ls", "--json"],
         ["ls", "--json", "--json", "x"], ["ls", ""], ["ls", "a dir with spaces"], ["ls", "@file"],
         ["ls", "s3://bucket/prefix"], ["ls", "ls"], ["ls", "x-"]]
NOT_PLAIN = [["ls", "-"], ["ls", "a", "b"], ["ls", "--js", "x"], ["ls", "-p", "x"], ["ls", "--", "x"],
             ["ls", "x", "--json=1"], ["ls", "-1"], ["ls", "--json", "a", "b"], ["prune", "x"], ["path", "x"]]


@pytest.mark.parametrize("argv", PLAIN)
def test_a_plain_ls_reads_as_its_parser_reads_it(argv):
    plain = _plain_ls(argv)
    assert plain is not None
    assert vars(plain) == vars(build_command_parser("ls").parse_args(argv))
    assert vars(parse_command(argv)) == vars(plain)


@pytest.mark.parametrize("argv", NOT_PLAIN)
def test_any_other_command_line_goes_to_the_parser(argv):
    assert _plain_ls(argv) is None


@pytest.mark.parametrize("options, unused", [
    ([], ("argparse", "gettext", "locale", "contextlib", "importlib")),
    (["--json"], ("argparse", "gettext", "locale"))])  # orjson, which writes the JSON, imports the last two
def test_a_plain_ls_imports_no_argparse_gettext_locale_contextlib_or_importlib(art_base, options, unused):
    """Run without ``site``, whose hooks may import some of these first; site-packages is added by hand."""
    args = [*options, str(art_base)]
    code = ("import sys; n = int(sys.argv[1]); sys.path += sys.argv[2 + n:]; "
            "sys.argv = ['ckpt-tui', 'ls', *sys.argv[2:2 + n]]; from ckpt_tui.__main__ import main; code = main(); "
            f"print([m for m in {unused!r} if m in sys.modules]); sys.exit(code)")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(len(args)), *args, *site.getsitepackages()],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
