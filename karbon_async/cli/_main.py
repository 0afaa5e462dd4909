"""The command table and ``main``. A command is a module of this package with
``add_parser(commands)`` (its subparser, on the main parser's subparsers) and a function that
runs it and returns the exit code; adding one is a module and a row in ``COMMANDS``."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .._cli_inputs import UsageError
from .._version import __version__
from ..export import ExportStateError, LocalWriteError
from ..fleet import _cli as fleet_cli
from ..mirror import _cli as mirror_cli
from . import _demo, _export, _sandbox
from ._common import EXIT_FAILED, EXIT_USAGE, _Parser


class Command(NamedTuple):
    add_parser: Callable[[Any], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "export": Command(_export.add_parser, _export.command_export),
    "sandbox": Command(_sandbox.add_parser, _sandbox.command_sandbox),
    "demo": Command(_demo.add_parser, _demo.command_demo),
    "fleet": Command(fleet_cli.add_parser, fleet_cli.command_fleet),
    "mirror": Command(mirror_cli.add_parser, mirror_cli.command_mirror),
}
"""Every command, in the order ``--help`` lists them; each ``add_parser`` adds the parser of the
command named by its key."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="karbon-async", description="Karbon API v3 tools.")
    parser.add_argument("--version", action="version", version=f"karbon-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS.values():
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # the command itself, not a call from a program or a test
        # Set-up is done: what the imports made lives as long as the process, so collections
        # need not walk it again and again (an export tunes the rest: export.tuned_gc).
        gc.freeze()
    try:
        return COMMANDS[args.command].run(args)
    except (UsageError, ExportStateError) as exc:
        for line in str(exc).splitlines():
            print(f"karbon-async: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except LocalWriteError as exc:  # e.g. the summary file, once the disk is full
        print(f"karbon-async: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("karbon-async: interrupted; run again with --resume to continue", file=sys.stderr)
        return 130
