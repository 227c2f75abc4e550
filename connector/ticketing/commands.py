"""Ticketing BE's subcommands of `connector`: `demo` and `platform`.

Registered through the `connector.commands` entry point group (setup.cfg), so the command line
knows no connector. Declaring the parsers imports nothing but argparse: the fake platform, the
web server and the service are imported when a command runs.
"""

from __future__ import annotations

import argparse

from connector.commandline import Subparsers

PLATFORM_HOST = "127.0.0.1"
PLATFORM_PORT = 8980

# The fake platform's default credentials (connector.ticketing.fake.data has them; a test keeps the
# two the same), here so that `connector platform --help` shows them without importing the fake.
FAKE_CLIENT_ID = "ticketing-be-fake-client"
FAKE_USERNAME = "dataminer"
FAKE_PASSWORD = "fake-password"
FAKE_API_KEY = "fake-sfyc-api-key"


def register(subparsers: Subparsers) -> None:
    """Add `connector demo` and `connector platform`."""
    add_demo(subparsers)
    add_platform(subparsers)


def add_demo(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="watch Ticketing WM and Ticketing BE work against a fake platform (no network, no set-up)",
        description="Start the fake Cherwell/SFyC platform on loopback and, in one runtime, a Ticketing WM "
        "element and a Ticketing BE element; a few hundred tickets reach WM (through the API and its drop "
        "folder), go WM -> BE over InterApp and BE -> the platform; show both elements' progress and a summary.",
    )
    parser.add_argument("--tickets", type=int, default=400, help="how many tickets WM is given (default 400)")
    parser.add_argument("--batch", type=int, default=50, help="tickets per burst and per WM -> BE batch (default 50)")
    parser.add_argument(
        "--faults",
        type=float,
        default=0.03,
        help="share of platform calls that fail with a 503 (default 0.03; 0 for none)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the elements, the fake platform and the API up afterwards"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the elements' state folder (a temporary folder, removed otherwise)"
    )
    parser.add_argument(
        "--api",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where the management API listens (default: a free loopback port)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--log-format", default="text", choices=("text", "json"), help="json: one JSON object a line (default text)"
    )
    parser.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from connector.ticketing.fake.demo import DemoOptions, run_demo

    options = DemoOptions(
        tickets=args.tickets,
        batch=args.batch,
        fault_rate=args.faults,
        keep_running=args.keep_running,
        keep=args.keep,
        api=args.api,
        seed=args.seed,
        log_level=args.log_level,
        log_format=args.log_format,
    )
    return run_demo(options)


def add_platform(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "platform",
        help="serve the fake Cherwell/SFyC platform",
        description="Serve the project's fake of the platform contract, with /_fake/ controls for "
        "fault injection (for trying the connector, demos and chaos runs). Stops on SIGINT or SIGTERM.",
        epilog=f"Unless told otherwise it accepts: Cherwell client_id {FAKE_CLIENT_ID!r}, username "
        f"{FAKE_USERNAME!r}, password {FAKE_PASSWORD!r}; SFyC X-Api-Key {FAKE_API_KEY!r}.",
    )
    parser.add_argument("--host", default=PLATFORM_HOST, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=PLATFORM_PORT, help="port to listen on (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, faults and seeded incidents")
    parser.add_argument("--incidents", type=_non_negative, default=0, help="manual incidents to start with")
    # No default here: None means the fake's own, which `run` takes from the fake itself.
    parser.add_argument("--client-id", help=f"Cherwell client_id to accept (default {FAKE_CLIENT_ID!r})")
    parser.add_argument("--username", help=f"Cherwell user to accept (default {FAKE_USERNAME!r})")
    parser.add_argument("--password", help=f"Cherwell password to accept (default {FAKE_PASSWORD!r})")
    parser.add_argument("--api-key", help=f"SFyC X-Api-Key to accept (default {FAKE_API_KEY!r})")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(run=_platform)


def _platform(args: argparse.Namespace) -> int:
    from connector.ticketing.fake.server import run

    return run(args)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


__all__ = ["register"]
