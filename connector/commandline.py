"""What the `connector` command shares with its subcommands, wherever they are declared.

The exit codes, the type a subcommand registers its parser into, and the entry point group
under which a connector's package registers its own subcommands (`connector demo`, `connector
platform` come from Ticketing BE's package this way). A leaf module: it imports nothing of the
package, so every layer may import it without importing the command line itself.

Exit codes: 0 success; 1 the input is invalid, the management API refused, or an unexpected
error; 2 a file cannot be read, the API cannot be reached, or the command line is wrong
(argparse's own convention); 130 interrupted.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_REFUSED = EXIT_INVALID  # the management API refused (a set, an unknown element or parameter, a token)
EXIT_UNREADABLE = 2
EXIT_UNREACHABLE = EXIT_UNREADABLE  # the management API cannot be reached
EXIT_INTERRUPTED = 130

# The entry point group of subcommands: `name = package.module:register`, where `register(subparsers)`
# adds the parsers and must stay cheap (the work, and its imports, happen when a command runs).
COMMANDS_GROUP = "connector.commands"

# A string: argparse's _SubParsersAction is generic for type checkers only.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

__all__ = [
    "COMMANDS_GROUP",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_UNREADABLE",
    "Subparsers",
]
