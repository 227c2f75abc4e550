"""What the `connector` command shares with its subcommands, wherever they are declared.

The exit codes, the type a subcommand registers its parser into, and the entry point group
under which a connector's package registers its own subcommands (`connector demo`, `connector
platform` come from Ticketing BE's package this way). A leaf module: it imports nothing of the
package, so every layer may import it without importing the command line itself.

Exit codes: 0 success; 1 the input is invalid, the management API refused, or an unexpected
error; 2 a file cannot be read, the API cannot be reached, the address to listen on is taken, or
the command line is wrong (argparse's own convention); 130 interrupted.

Secrets (the API token, a password) are never taken from argv without a warning: every local
user can read a process's arguments in /proc/PID/cmdline. A file (`read_secret_file`) or the
environment carries them instead.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
from typing import TypeAlias

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_REFUSED = EXIT_INVALID  # the management API refused (a set, an unknown element or parameter, a token)
EXIT_UNREADABLE = 2
EXIT_UNREACHABLE = EXIT_UNREADABLE  # the management API cannot be reached
EXIT_CANNOT_LISTEN = EXIT_UNREADABLE  # the address to listen on is taken or cannot be used
EXIT_INTERRUPTED = 130

# The entry point group of subcommands: `name = package.module:register`, where `register(subparsers)`
# adds the parsers and must stay cheap (the work, and its imports, happen when a command runs).
COMMANDS_GROUP = "connector.commands"

# A string: argparse's _SubParsersAction is generic for type checkers only.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# What `connector completion` offers for an argument that names a file (shtab's FILE, spelled out
# so that declaring a parser does not import shtab): `parser.add_argument(...).complete = FILE`.
FILE_COMPLETION = {"bash": "_shtab_compgen_files", "zsh": "_files"}


def complete_files(action: argparse.Action) -> None:
    """Mark an argument as a file name for `connector completion` (shtab reads `action.complete`)."""
    vars(action)["complete"] = FILE_COMPLETION


SECRET_FILE_LIMIT = 64 * 1024  # a token file is a line; anything larger is the wrong file


class SecretFileError(ValueError):
    """A secret's file cannot be used; the message names the file, never its content."""


def read_secret_file(path: str) -> str:
    """The secret in `path`: its first line, without surrounding blanks.

    A regular file only (a fifo would block, /dev/zero never ends), at most SECRET_FILE_LIMIT
    bytes, and not empty.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise SecretFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SecretFileError(f"{path} is not a regular file")
    with os.fdopen(fd, "rb") as file:
        data = file.read(SECRET_FILE_LIMIT + 1)
    if len(data) > SECRET_FILE_LIMIT:
        raise SecretFileError(f"{path} is larger than {SECRET_FILE_LIMIT} bytes: not a secret's file")
    try:
        lines = data.decode("utf-8").strip().splitlines()
    except UnicodeDecodeError:
        raise SecretFileError(f"{path} is not UTF-8 text") from None
    if not lines or not lines[0].strip():
        raise SecretFileError(f"{path} is empty")
    return lines[0].strip()


def argv_secret_warning(command: str, option: str, instead: str) -> str:
    """The one line printed when a secret is given on the command line."""
    return (
        f"connector {command}: warning: {option} on the command line can be read by every local user "
        f"(/proc/PID/cmdline); use {instead}"
    )


__all__ = [
    "COMMANDS_GROUP",
    "EXIT_CANNOT_LISTEN",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_UNREADABLE",
    "FILE_COMPLETION",
    "SecretFileError",
    "Subparsers",
    "argv_secret_warning",
    "complete_files",
    "read_secret_file",
]


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (port 0: a free one), for a server the command runs.

    OSError when the address is taken or cannot be used. TCP_NODELAY is on: Starlette sends a
    response's headers and body as two writes, and with Nagle on the body waits for the
    client's delayed ACK of the headers, 40 ms per call. Accepted sockets inherit it on Linux
    (asyncio sets it itself only on sockets it creates).
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
