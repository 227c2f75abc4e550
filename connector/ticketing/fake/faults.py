"""What goes wrong on the fake platform, and how often: `Faults`, and the operation names it counts by.

The fault semantics are described in `connector.ticketing.fake.platform`.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from attrs import Attribute, asdict, field, fields, frozen
from attrs.validators import instance_of

CALL_OPERATIONS = ("login", "refresh", "summary", "schema", "search", "save_batch", "ot_create", "ot_lookup")
SAVE_OPERATIONS = ("create_ticket", "add_note", "update_ticket_ot", "update_ticket", "update_note", "save_other")
ITEM_OPERATIONS = (*SAVE_OPERATIONS, "ot_create")
OPERATIONS = (*CALL_OPERATIONS, *SAVE_OPERATIONS)


def _number(
    low: float, high: float, *, low_included: bool = True, what: str
) -> Callable[[object, Attribute[float], float], None]:
    def check(instance: object, attribute: Attribute[float], value: float) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and (low <= value if low_included else low < value) and value <= high):  # NaN fails too
            raise ValueError(f"{attribute.name} must be {what}, not {value!r}")

    return check


_rate = _number(0.0, 1.0, what="a probability from 0 to 1")
_latency = _number(0.0, math.inf, what="seconds, 0 or more")
_lifetime = _number(0.0, math.inf, low_included=False, what="seconds, more than 0")


def _messages(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _known_operations(instance: Faults, attribute: Any, value: Mapping[str, str]) -> None:
    unknown = sorted(set(value) - set(OPERATIONS))
    if unknown:
        raise ValueError(f"fail_operation names unknown operations {unknown}; known: {', '.join(OPERATIONS)}")
    if not all(isinstance(message, str) for message in value.values()):
        raise TypeError("fail_operation maps an operation name to its error message (a string)")


@frozen(kw_only=True)
class Faults:
    """What goes wrong, and how often (rates are probabilities per call or per item)."""

    error_rate: float = field(default=0.0, validator=_rate)
    html_503_rate: float = field(default=0.0, validator=_rate)
    lost_rate: float = field(default=0.0, validator=_rate)
    malformed_rate: float = field(default=0.0, validator=_rate)
    item_error_rate: float = field(default=0.0, validator=_rate)
    latency: float = field(default=0.0, validator=_latency)
    # A write held by something in between: its answer is lost, and it is applied late_delay
    # seconds later (when the platform's clock has passed that).
    late_rate: float = field(default=0.0, validator=_rate)
    late_delay: float = field(default=20.0, validator=_latency)
    fail_operation: Mapping[str, str] = field(factory=dict, converter=_messages, validator=_known_operations)
    token_ttl: float = field(default=1199.0, validator=_lifetime)
    # A careless platform: every fail_operation message quotes the request (its body, the form's
    # fields decoded, its Authorization and X-Api-Key headers), secrets and all.
    echo_request: bool = field(default=False, validator=instance_of(bool))
    # A quirk rather than a fault: the real server does it, so it is on by default.
    quoted_token_error_rate: float = field(default=0.5, validator=_rate)

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Faults from a JSON object (the control API); missing fields take their defaults."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {a.name for a in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields {unknown}; known: {', '.join(sorted(known))}")
        if not isinstance(data.get("fail_operation", {}), dict):
            raise ValueError("fail_operation must be a JSON object {operation: message}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Dice:
    """The fault draws, from one stream seeded by the platform's seed, and the count of faults injected.

    A stream of its own, so that turning a fault on does not change the ids a test sees.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self.injected: Counter[str] = Counter()

    def roll(self, rate: float, fault: str) -> bool:
        """Whether `fault` strikes this time (counted when it does)."""
        hit = rate > 0 and self._rng.random() < rate
        if hit:
            self.injected[fault] += 1
        return hit

    def coin(self) -> bool:
        """Heads or tails, not a fault: e.g. whether a 5xx came after the write."""
        return self._rng.random() < 0.5

    def count(self, fault: str) -> None:
        self.injected[fault] += 1
