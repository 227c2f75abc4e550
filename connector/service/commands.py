"""`connector run`: the service subcommand (the connectors register their own: see `connector.cli`)."""

from __future__ import annotations

import argparse
import os
import sys

from connector.commandline import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, Subparsers


def add_run(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run elements as a service",
        description="Run one or more elements (element YAML files) and the management API until "
        "SIGTERM or SIGINT; each element finishes its running group and commits first.",
    )
    parser.add_argument("elements", nargs="+", metavar="ELEMENT.yaml")
    parser.add_argument(
        "--api",
        default=os.environ.get("CONNECTOR_API_LISTEN", "127.0.0.1:8970"),
        metavar="HOST:PORT",
        help="where the management API listens (default 127.0.0.1:8970)",
    )
    parser.add_argument(
        "--api-token",
        default=os.environ.get("CONNECTOR_API_TOKEN"),
        help="require this bearer token on the API (needed to listen beyond loopback)",
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

    from connector.protocol.errors import ProtocolError
    from connector.service.config import load_element
    from connector.service.serve import ApiAddressError, configure_logging, parse_api_address, serve

    try:
        host, port = parse_api_address(args.api, token=args.api_token)
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
    names = [c.name for c in configs]
    for name in {n for n in names if names.count(n) > 1}:
        print(f"connector run: two elements are named {name!r}; names must be unique", file=sys.stderr)
        worst = max(worst, EXIT_INVALID)
    if worst:
        return worst
    configure_logging(args.log_level, args.log_format)
    code = asyncio.run(serve(configs, protocols, api_host=host, api_port=port, token=args.api_token))
    # Every element has committed and closed its store. A request still blocked in an HTTP
    # thread (a platform that does not answer) would hold the interpreter's exit until its
    # timeout, with nothing left to deliver: flush the logs and leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["add_run"]
