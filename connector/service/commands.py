"""`connector run`: the service subcommand (the connectors register their own: see `connector.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

import attrs

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

if TYPE_CHECKING:
    from connector.service.runtime import Runtime

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
    parser.add_argument(
        "--store",
        metavar="postgresql://USER@HOST:PORT/DB",
        help="keep every element's state in this PostgreSQL database (password: $PGPASSWORD), shared with "
        "the other agents given the same elements: each element runs on one of them (README: Several machines)",
    )
    parser.add_argument(
        "--agent",
        metavar="NAME",
        help="this agent's name among those sharing a database (default: HOST:PORT of its API)",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="text (default): one line an event, key=value fields; json: one JSON object a line",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: asyncio alone is a third of `connector --help`'s start-up.
    import asyncio
    import logging

    from connector.engine.store import StoreError
    from connector.protocol.errors import ProtocolError
    from connector.service.config import duplicate_names, load_element
    from connector.service.element_ids import ElementIdError
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
        if args.store:
            config = attrs.evolve(config, store_url=args.store)
        configs.append(config)
        protocols[config.protocol_path] = protocol
    for problem in duplicate_names(configs):
        print(problem, file=sys.stderr)
        worst = max(worst, EXIT_INVALID)
    if worst:
        return worst
    if args.store and (refusal := _store_refusal(args.store)):
        print(f"connector run: --store: {refusal}", file=sys.stderr)
        return EXIT_UNREADABLE
    configure_logging(args.log_level, args.log_format)
    try:
        runtime = _agent(args.agent) if any(config.store_url for config in configs) else None
        code = asyncio.run(serve(configs, protocols, api_host=host, api_port=port, token=token, runtime=runtime))
    except ApiAddressError as exc:  # the address is taken: nothing started, nothing created
        logging.shutdown()
        print(f"connector run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    except StoreError as exc:  # a store refused (in use, another element's, damaged): nothing started
        print(f"connector run: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ElementIdError as exc:  # two elements with one id: found once their stores are open
        print(f"connector run: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # Every element has committed and closed its store. A request still blocked in an HTTP
    # thread (a platform that does not answer) would hold the interpreter's exit until its
    # timeout, with nothing left to deliver: flush the logs and leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _store_refusal(url: str) -> str | None:
    from connector.engine.pg_connect import check_url, is_postgres_url
    from connector.engine.storefile import StoreError

    if not is_postgres_url(url):
        return "expected postgresql://USER@HOST:PORT/DB"
    try:
        check_url(url)
    except StoreError as exc:
        return str(exc)
    return None


def _agent(name: str | None) -> Runtime:
    """An agent sharing its elements through PostgreSQL (connector.service.cluster)."""
    from connector.service.cluster.agent import Agent

    return Agent(name)


def _api_token(args: argparse.Namespace) -> str | None:
    """--api-token (with a warning), else --api-token-file, else $CONNECTOR_API_TOKEN; "" is none."""
    if args.api_token:
        print(argv_secret_warning("run", "--api-token", f"--api-token-file or ${TOKEN_ENV}"), file=sys.stderr)
        return str(args.api_token)
    if args.api_token_file:
        return read_secret_file(args.api_token_file)
    return os.environ.get(TOKEN_ENV) or None


__all__ = ["TOKEN_ENV", "add_run"]
