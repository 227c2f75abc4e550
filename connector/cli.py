"""The `connector` command.

Each subcommand is one `add_<name>(subparsers)` function that declares its parser and sets
`run` to a function `(args) -> exit code`; adding a subcommand of the runtime is writing that
function and listing it in SUBCOMMANDS. A connector's package adds its own (Ticketing BE's
`demo` and `platform`) through the `connector.commands` entry point group, found here with
importlib.metadata. `main` owns what every subcommand shares: parsing, exit codes
(`connector.commandline`), and turning an unexpected exception into one line instead of a
traceback.

Registering a parser imports nothing heavy: each `run` imports what its command needs, so
`connector --help` and every command start without the web server, the HTTP client or the
fake platform.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from connector.commandline import (
    COMMANDS_GROUP,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    Subparsers,
    complete_files,
)
from connector.scaffold import add_new
from connector.service.backup import add_backup
from connector.service.client_commands import (
    add_elements,
    add_get,
    add_params,
    add_press,
    add_send,
    add_set,
)
from connector.service.client_table import add_set_cell, add_table
from connector.service.commands import add_run

# --- connector validate -----------------------------------------------------------------------


def _add_validate(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check protocol.yaml files",
        description="Check protocol.yaml files: every problem is printed as FILE:LINE:COL: message.",
    )
    complete_files(parser.add_argument("files", nargs="+", metavar="FILE", help="a protocol.yaml file"))
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
            print(f"{file}: invalid ({_count(len(exc.errors), 'problem')})", file=sys.stderr)
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
        for warning in protocol.warnings:  # it runs: still valid, exit 0
            print(warning, file=sys.stderr)
        print(f"{file}: valid ({', '.join(_count(len(things), noun) for noun, things in parts)})")
    return worst


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- connector completion ---------------------------------------------------------------------

COMPLETION_SHELLS = ("bash", "zsh")


def _add_completion(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print the shell completion script",
        description="Print the completion script for bash or zsh. Bash: "
        "`connector completion bash > ~/.local/share/bash-completion/completions/connector`; zsh: "
        "`connector completion zsh > ~/.zfunc/_connector` (with ~/.zfunc in $fpath before compinit).",
    )
    parser.add_argument("shell", choices=COMPLETION_SHELLS, help="the shell")
    parser.set_defaults(run=_run_completion)


def _run_completion(args: argparse.Namespace) -> int:
    import shtab

    # The parser of every subcommand, the connectors' too: the script completes them all.
    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def version() -> str:
    """The installed distribution's version (setup.cfg's), or "unknown" when run from a bare tree."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("connector")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, read when asked for: importlib.metadata is not read on every start."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"connector {version()}")
        parser.exit(EXIT_OK)


# --- the command ------------------------------------------------------------------------------

# The runtime's own subcommands, one registration function each, in the order `connector --help`
# lists them; the connectors' come after, in the order of their entry point names.
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    _add_validate,
    add_run,
    add_elements,
    add_params,
    add_get,
    add_set,
    add_press,
    add_table,
    add_set_cell,
    add_send,
    add_backup,
    _add_completion,
    add_new,
]


def connector_commands() -> list[Callable[[Subparsers], None]]:
    """The registration functions the installed connectors declare under `connector.commands`.

    One that cannot be loaded is left out with a line on stderr: a broken connector package must
    not take the runtime's own commands down with it.
    """
    registrations = []
    for entry_point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda found: found.name):
        try:
            registrations.append(entry_point.load())
        except Exception as exc:
            reason = " ".join(str(exc).split())
            print(
                f"connector: leaving out the {entry_point.name!r} subcommands ({entry_point.value}): "
                f"{type(exc).__name__}: {reason}",
                file=sys.stderr,
            )
    return registrations


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connector", description="A DataMiner-style connector runtime.")
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in [*SUBCOMMANDS, *connector_commands()]:
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


__all__ = ["SUBCOMMANDS", "build_parser", "connector_commands", "main"]
