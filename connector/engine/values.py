"""Parameter and cell values: what a set accepts, what is stored, and how it is shown.

A set command arrives as text (command line), JSON (API) or a Python value (handlers).
`coerce` turns it into the stored value or refuses it with a reason that names the rule;
`display` gives what a person sees (the discreet's text, the units, an ISO date, and never
a password).

Stored values by kind (see docs/architecture.md):
string -> str; number -> int when whole and no decimals are declared, else float;
discreet / toggle / button -> the discreet's value; datetime -> epoch seconds (float).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from connector.protocol.model import Column, Discreet, Param, ValueKind

MASK = "********"
DISCREET_KINDS = frozenset({ValueKind.DISCREET, ValueKind.TOGGLE, ValueKind.BUTTON})


class ValueRefused(ValueError):
    """A set that breaks the parameter's type, range or discreet list; nothing is changed."""


def coerce(spec: Param | Column, value: Any) -> Any:
    """The value to store for a set of `value` on `spec`, or ValueRefused."""
    if value is None:
        return None
    kind = spec.kind
    if kind in DISCREET_KINDS:
        return _discreet(spec.discreets, value)
    if kind is ValueKind.NUMBER:
        number = _number(value)
        bounds = getattr(spec, "range", None)
        if bounds is not None:
            if bounds.low is not None and number < bounds.low:
                raise ValueRefused(f"must be at least {_plain(bounds.low)}, got {_plain(number)}")
            if bounds.high is not None and number > bounds.high:
                raise ValueRefused(f"must be at most {_plain(bounds.high)}, got {_plain(number)}")
        if not spec.decimals and float(number).is_integer():
            return int(number)
        return float(number)
    if kind is ValueKind.DATETIME:
        return _datetime(value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueRefused(f"must be text, got {type(value).__name__}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no store or socket would take it
            raise ValueRefused("must be valid Unicode text (it holds a lone surrogate)") from None
        return value
    return _plain(value)


def display(spec: Param | Column, value: Any) -> str:
    """The text a person sees for a stored value."""
    if getattr(spec, "password", False):
        return MASK if value not in (None, "") else ""
    if value is None:
        return ""
    if spec.kind in DISCREET_KINDS:
        for d in spec.discreets:
            if d.value == value:
                return d.display
        return str(value)
    if spec.kind is ValueKind.NUMBER:
        text = f"{value:.{spec.decimals}f}" if spec.decimals and isinstance(value, (int, float)) else _plain(value)
        return f"{text} {spec.units}" if spec.units else text
    if spec.kind is ValueKind.DATETIME and isinstance(value, (int, float)) and _EARLIEST <= value <= _LATEST:
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def _discreet(discreets: tuple[Discreet, ...], value: Any) -> Any:
    if isinstance(value, bool):
        value = int(value)
    text = str(value).strip()
    folded = text.casefold()
    for d in discreets:
        if str(d.value) == text or d.display.casefold() == folded:
            return d.value
    # 1.0 for a discreet value of 1: a number that names a value is fine.
    if isinstance(value, float) and value.is_integer():
        return _discreet(discreets, int(value))
    choices = ", ".join(d.display if str(d.value) == d.display else f"{d.display} ({d.value})" for d in discreets)
    raise ValueRefused(f"must be one of: {choices}; got {_short(value)}")


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueRefused("must be a number, got a boolean")
    if isinstance(value, int) and not -_LARGEST <= value <= _LARGEST:
        raise ValueRefused(f"must be a finite number, got {_short(value)}")
    if isinstance(value, (int, float)):
        number: float | int = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueRefused(f"must be a number, got {_short(value)}") from None
    else:
        raise ValueRefused(f"must be a number, got {type(value).__name__}")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueRefused(f"must be a finite number, got {_short(value)}")
    return number


_LARGEST = 1.7976931348623157e308  # what a double holds; a bigger int would overflow float()
# 0001-01-01 to 9999-12-31: what datetime can show (and .NET's DateTime can hold).
_EARLIEST, _LATEST = -62_135_596_800.0, 253_402_300_799.0


def _datetime(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _EARLIEST <= value <= _LATEST:  # also false for NaN and for ints beyond a double
            return float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            try:
                return _datetime(parsed.timestamp())
            except (OverflowError, ValueError):
                pass
    raise ValueRefused(f"must be an ISO 8601 date or seconds since the epoch, got {_short(value)}")


def _plain(number: float | int) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
