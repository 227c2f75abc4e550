"""The `connector` command.

Each subcommand is one `_add_<name>(subparsers)` function that declares its parser and sets
`run` to a function `(args) -> exit code`; adding a subcommand is writing that function and
listing it in SUBCOMMANDS. `main` owns what every subcommand shares: parsing, exit codes, and
turning an unexpected exception into one line instead of a traceback.

Exit codes: 0 success, 1 the input is invalid (or an unexpected error), 2 a file cannot be read
or the command line is wrong (argparse's own convention), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from connector.service.backup import add_backup
from connector.service.client import add_get, add_params, add_send, add_set, add_table
from connector.service.commands import add_demo, add_platform, add_run

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2
EXIT_INTERRUPTED = 130


# --- connector validate -----------------------------------------------------------------------


def _add_validate(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check protocol.yaml files",
        description="Check protocol.yaml files: every problem is printed as FILE:LINE:COL: message.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="a protocol.yaml file")
    parser.add_argument(
        "--no-imports",
        dest="check_imports",
        action="store_false",
        help="do not import the handler modules (checks the declaration alone)",
    )
    parser.set_defaults(run=_run_validate)


def _run_validate(args: argparse.Namespace) -> int:
    # Imported here so that `connector --help` and other subcommands stay fast.
    from connector.protocol.errors import ProtocolError
    from connector.protocol.loader import load_protocol

    worst = EXIT_OK
    for file in args.files:
        try:
            protocol = load_protocol(file, check_imports=args.check_imports)
        except OSError as exc:
            print(f"{file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            worst = max(worst, EXIT_UNREADABLE)
            continue
        except ProtocolError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"{file}: invalid ({_count(len(exc.problems), 'problem')})", file=sys.stderr)
            worst = max(worst, EXIT_INVALID)
            continue
        parts = (
            ("param", protocol.params),
            ("table", protocol.tables),
            ("session", protocol.sessions),
            ("group", protocol.groups),
            ("timer", protocol.timers),
            ("trigger", protocol.triggers),
            ("action", protocol.actions),
            ("handler", protocol.handlers),
        )
        print(f"{file}: valid ({', '.join(_count(len(things), noun) for noun, things in parts)})")
    return worst


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- the command ------------------------------------------------------------------------------

# One registration function per subcommand, in the order `connector --help` lists them.
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    _add_validate,
    add_run,
    add_demo,
    add_params,
    add_get,
    add_set,
    add_table,
    add_send,
    add_backup,
    add_platform,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connector", description="A DataMiner-style connector runtime.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `connector` command; returns the exit code (it never raises, and never exits)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_UNREADABLE
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_UNREADABLE
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print(f"connector {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the promise is one line, never a traceback
        reason = " ".join(str(exc).split())
        print(f"connector {args.command}: unexpected error: {type(exc).__name__}: {reason}", file=sys.stderr)
        return EXIT_INVALID


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
