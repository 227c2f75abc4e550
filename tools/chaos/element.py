"""The element under test: its names, its settings, its YAML and the credentials it is given."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from attrs import frozen

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_YAML = REPO / "protocol.yaml"
ELEMENT = "Ticketing BE 01"
TABLE = "Ticket Overview"
LOOPBACK = "127.0.0.1"
# Credentials of the chaos platform: not the fake's defaults, so that a grep finds only leaks.
CLIENT_ID = "chaos-client"
USERNAME = "chaos-dataminer"
PASSWORD_ENV = "CHAOS_CHERWELL_PASSWORD"
API_KEY_FILE = "sfyc.key"
STORE = "state/element.sqlite"


def credentials(seed: int) -> tuple[str, str]:
    """(Cherwell password, SFyC API key): distinctive, with characters a form must encode."""
    return f"Chaos pw&{seed:x}=%+ñ!", f"sfyc-key-{seed:08x}-9f3c"


@frozen(kw_only=True)
class ElementSettings:
    max_retries: int = 10  # the most the protocol allows: injected faults must not exhaust it
    retry_delay: float = 0.1
    processing_interval: int = 1
    request_batch: int = 20  # Max Tickets Per Request: more requests, more moments to die in
    concurrency: int = 1  # Max Concurrent Requests (batches in flight at once)
    # Settle Time: short, or every lost answer would hold its tickets 120 s; still well above the
    # runs' session timeouts (0.6 s with latency faults) and the time a request takes here.
    settle_time: float = 3.0


def short_timeout_protocol(workdir: Path, timeout: float) -> Path:
    """A copy of protocol.yaml whose HTTP sessions time out after `timeout` s (for latency faults:
    the real 30-60 s would make every latency window cost a minute).

    The copy is edited as text, not loaded and dumped: PyYAML reads the protocol's `on:` keys as
    the boolean True (YAML 1.1), and the loader wants the file's own lines for its messages.
    """
    text = PROTOCOL_YAML.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^(\s*timeout:\s*)\d+(\.\d+)?\s*$", lambda m: f"{m.group(1)}{timeout:g}", text)
    if not count:
        raise RuntimeError("protocol.yaml declares no session timeout to shorten")
    # Handlers resolve by module path, so the copy runs the same code wherever it lies.
    path = workdir / "protocol-short-timeouts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def element_document(
    platform_port: int, *, settings: ElementSettings, protocol: Path, processing: bool
) -> dict[str, Any]:
    """The element YAML's content: the password comes through `env:`, the API key through `file:`."""
    params: dict[str, Any] = {
        "Ticketing Processing": "Enabled" if processing else "Disabled",
        "Max Retries": settings.max_retries,
        "Max Tickets Per Request": settings.request_batch,
        "Retry Delay": settings.retry_delay,
        "Processing Interval": settings.processing_interval,
        "Settle Time": settings.settle_time,
    }
    # Left out at its default: a value in the YAML is set again at each start, and the operator
    # stand-in (actors.Presser) changes this one mid-run, across kills.
    if settings.concurrency != 1:
        params["Max Concurrent Requests"] = settings.concurrency
    params |= {
        "Cherwell Client ID": CLIENT_ID,
        "Cherwell Username": USERNAME,
        "Cherwell Password": f"env:{PASSWORD_ENV}",
        "SFyC API Key": f"file:{API_KEY_FILE}",
    }
    return {
        "name": ELEMENT,
        "protocol": str(protocol),
        "connection": {"host": LOOPBACK, "port": platform_port, "bus_address": "BypassProxy", "scheme": "http"},
        "params": params,
        "store": STORE,
    }


def write_element_yaml(
    workdir: Path,
    platform_port: int,
    *,
    password: str,
    api_key: str,
    settings: ElementSettings = ElementSettings(),
    protocol: Path = PROTOCOL_YAML,
    processing: bool = True,
) -> tuple[Path, dict[str, str]]:
    """The element YAML (and its API key file) in `workdir`, and the environment `connector run`
    needs for it."""
    (workdir / API_KEY_FILE).write_text(api_key + "\n", encoding="utf-8")
    path = workdir / "element.yaml"
    document = element_document(platform_port, settings=settings, protocol=protocol, processing=processing)
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path, {PASSWORD_ENV: password}


def store_path(workdir: Path) -> Path:
    return workdir / STORE
