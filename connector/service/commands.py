"""`connector run`: the service subcommand (the connectors register their own: see `connector.cli`)."""

from __future__ import annotations

import argparse
import os
import sys

from connector.commandline import (
    EXIT_CANNOT_LISTEN,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    SecretFileError,
    Subparsers,
    argv_secret_warning,
    complete_files,
    read_secret_file,
)

TOKEN_ENV = "CONNECTOR_API_TOKEN"


def add_run(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run elements as a service",
        description="Run one or more elements (element YAML files) and the management API until "
        "SIGTERM or SIGINT; each element finishes its running group and commits first.",
    )
    complete_files(parser.add_argument("elements", nargs="+", metavar="ELEMENT.yaml"))
    parser.add_argument(
        "--api",
        default=os.environ.get("CONNECTOR_API_LISTEN", "127.0.0.1:8970"),
        metavar="HOST:PORT",
        help="where the management API listens (default 127.0.0.1:8970)",
    )
    complete_files(
        parser.add_argument(
            "--api-token-file",
            metavar="FILE",
            help=f"require the bearer token in FILE on the API (needed beyond loopback; default: ${TOKEN_ENV})",
        )
    )
    # Read late, never a default --help shows; on argv every local user can read it: a warning.
    parser.add_argument("--api-token", help="the token itself; readable in the process list: prefer --api-token-file")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: asyncio alone is a third of `connector --help`'s start-up.
    import asyncio
    import logging

    from connector.engine.store import StoreError
    from connector.protocol.errors import ProtocolError
    from connector.service.config import duplicate_names, load_element
    from connector.service.serve import ApiAddressError, configure_logging, parse_api_address, serve

    try:
        token = _api_token(args)
    except SecretFileError as exc:
        print(f"connector run: --api-token-file: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        host, port = parse_api_address(args.api, token=token)
    except ApiAddressError as exc:
        print(f"connector run: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    configs, protocols, worst = [], {}, EXIT_OK
    for file in args.elements:
        if not os.path.isfile(file):
            print(f"{file}: cannot read: no such file", file=sys.stderr)
            worst = EXIT_UNREADABLE
            continue
        try:
            config, protocol = load_element(file)
        except ProtocolError as exc:
            print(exc, file=sys.stderr)
            worst = max(worst, EXIT_INVALID)
            continue
        configs.append(config)
        protocols[config.protocol_path] = protocol
    for problem in duplicate_names(configs):
        print(problem, file=sys.stderr)
        worst = max(worst, EXIT_INVALID)
    if worst:
        return worst
    configure_logging(args.log_level)
    try:
        code = asyncio.run(serve(configs, protocols, api_host=host, api_port=port, token=token))
    except ApiAddressError as exc:  # the address is taken: nothing started, nothing created
        logging.shutdown()
        print(f"connector run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    except StoreError as exc:  # a store refused (in use, another element's, damaged): nothing started
        print(f"connector run: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # Every element has committed and closed its store. A request still blocked in an HTTP
    # thread (a platform that does not answer) would hold the interpreter's exit until its
    # timeout, with nothing left to deliver: flush the logs and leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _api_token(args: argparse.Namespace) -> str | None:
    """--api-token (with a warning), else --api-token-file, else $CONNECTOR_API_TOKEN; "" is none."""
    if args.api_token:
        print(argv_secret_warning("run", "--api-token", f"--api-token-file or ${TOKEN_ENV}"), file=sys.stderr)
        return str(args.api_token)
    if args.api_token_file:
        return read_secret_file(args.api_token_file)
    return os.environ.get(TOKEN_ENV) or None


__all__ = ["TOKEN_ENV", "add_run"]
