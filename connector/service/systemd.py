"""sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET (systemd's `Type=notify`).

systemd sets NOTIFY_SOCKET for a service of `Type=notify`; the service says "READY=1" once it
serves and "STOPPING=1" when it begins to stop. Outside systemd the variable is unset and
`notify` does nothing. The protocol is a datagram of newline-separated assignments on a Unix
socket, whose path starts with "@" for Linux's abstract namespace (sd_notify(3)).
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["notify"]

log = logging.getLogger("connector.systemd")


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not under systemd or it failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot tell systemd %s through NOTIFY_SOCKET: %s", state, exc.strerror or exc)
        return False
    return True
