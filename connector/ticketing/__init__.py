"""Ticketing BE: the connector between Ticketing WM and the Cherwell/SFyC platform.

`PROTOCOL_YAML` is its protocol file. The repository keeps it at the top level; the package
holds a symbolic link to it (`protocol.yaml` beside this file), which a wheel carries as a copy,
so an installed package and a checkout find the same file here.
"""

from pathlib import Path

PROTOCOL_YAML = (Path(__file__).parent / "protocol.yaml").resolve()

__all__ = ["PROTOCOL_YAML"]
