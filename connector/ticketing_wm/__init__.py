"""Ticketing WM: hands the tickets of the network monitoring to Ticketing BE over InterApp.

`PROTOCOL_YAML` is its protocol file (beside this one; the wheel carries it). The modules:
`outbox` (the Outgoing Tickets table and its delivery states), `intake` (tickets coming in),
`drop_folder` (the watched folder), `handlers` (the glue protocol.yaml binds).
"""

from pathlib import Path

PROTOCOL_YAML = Path(__file__).with_name("protocol.yaml")

__all__ = ["PROTOCOL_YAML"]
