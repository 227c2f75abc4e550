"""The service subcommands of `connector`: run, demo, platform."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.cli import Subparsers

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


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
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from connector.engine.store import StoreError
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
    configure_logging(args.log_level)
    try:
        code = asyncio.run(serve(configs, protocols, api_host=host, api_port=port, token=args.api_token))
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


def add_demo(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="watch Ticketing BE work against a fake platform (no network, no set-up)",
        description="Start the fake Cherwell/SFyC platform on loopback, one Ticketing BE element, and a "
        "Ticketing WM stand-in that sends a few hundred tickets; show progress and a summary.",
    )
    parser.add_argument("--tickets", type=int, default=400, help="how many tickets WM sends (default 400)")
    parser.add_argument("--batch", type=int, default=50, help="tickets per InterApp message (default 50)")
    parser.add_argument(
        "--faults",
        type=float,
        default=0.03,
        help="share of platform calls that fail with a 503 (default 0.03; 0 for none)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the element, the fake platform and the API up afterwards"
    )
    parser.add_argument(
        "--api",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where the management API listens (default: a free loopback port)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from connector.service.demo import DemoOptions, run_demo

    options = DemoOptions(
        tickets=args.tickets,
        batch=args.batch,
        fault_rate=args.faults,
        keep_running=args.keep_running,
        api=args.api,
        seed=args.seed,
    )
    return run_demo(options)


def add_platform(subparsers: Subparsers) -> None:
    from connector.ticketing.fake_server import add_arguments

    parser = subparsers.add_parser(
        "platform",
        help="serve the fake Cherwell/SFyC platform",
        description="Serve the project's fake of the platform contract, with /_fake/ controls for "
        "fault injection (for trying the connector, demos and chaos runs).",
    )
    add_arguments(parser)
    parser.set_defaults(run=_platform)


def _platform(args: argparse.Namespace) -> int:
    from connector.ticketing.fake_server import run

    return run(args)
