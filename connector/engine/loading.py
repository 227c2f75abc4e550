"""What an element needs from its configuration before it starts: checked values, imported handlers.

Used by every driver of an element (the runtime, the in-process runner, the element YAML
loader), so that a value is checked the same way wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.engine.machine import Handler
from connector.engine.values import coerce
from connector.protocol.entries import load_entry
from connector.protocol.model import Protocol

# By id, by name, or both (a mapping's key type is invariant: each spelled out for the callers).
ParamRefs = Mapping[int, Any] | Mapping[str, Any] | Mapping[int | str, Any]


def param_values(protocol: Protocol, values: ParamRefs) -> dict[int, Any]:
    """Values by parameter id or name, as parameter ids, each checked like a set (ValueRefused)."""
    resolved = {}
    for ref, value in values.items():
        param = protocol.param(ref)
        resolved[param.id] = coerce(param, value)
    return resolved


def resolve_handlers(protocol: Protocol) -> dict[int, Handler]:
    """Import every handler's entry point (`module:function`): a module beside the protocol
    file first, then an installed one (`connector.protocol.entries`)."""
    return {handler.id: load_entry(handler.entry, protocol.source or None) for handler in protocol.handlers.values()}
