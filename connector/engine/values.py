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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

from connector.protocol.model import (
    INTERAPP_RECEIVE,
    Column,
    Discreet,
    ExceptionValue,
    Param,
    ParamType,
    Protocol,
    Table,
    ValueKind,
    same_name,
)

MASK = "********"
DISCREET_KINDS = frozenset({ValueKind.DISCREET, ValueKind.TOGGLE, ValueKind.BUTTON})


class ValueRefused(ValueError):
    """A set that breaks the parameter's type, range or discreet list; nothing is changed."""


class NotSettable(ValueRefused):
    """A set from outside on a parameter that only the element sets; nothing is changed."""


def settable(protocol: Protocol, param: Param) -> Param:
    """The parameter a set from outside on `param` changes, or NotSettable.

    DataMiner's rule: a user sets write parameters only (buttons and toggles are write
    parameters); a set on a read parameter goes to its write twin. A read or dummy parameter
    with no write twin belongs to the element (its counters, status, the request being built,
    its crash journal); of those only InterApp Receive takes sets, as that is how messages
    arrive. Tables are refused with KeyError, as an unknown parameter is.
    """
    if param.type is ParamType.ARRAY:
        raise KeyError(f"{param.name!r} is a table")
    if param.type is ParamType.WRITE or param.id == INTERAPP_RECEIVE:
        return param
    write = protocol.write_of(param.id)
    if write is not None:
        return write
    raise NotSettable(
        f"{param.name!r} is a {param.type.value} parameter with no write parameter: only the element sets it"
    )


def settable_column(table: Table, column: Column) -> None:
    """NotSettable unless a set from outside may change `column`'s cells: DataMiner's column
    options, a write column (`write: true`) or a button column. The key column is neither."""
    if not column.settable:
        raise NotSettable(
            f"column {column.name!r} of table {table.name!r} is no write or button column: only the element sets it"
        )


def coerce(spec: Param | Column, value: Any) -> Any:
    """The value to store for a set of `value` on `spec`, or ValueRefused.

    The declaration rules: a value is needed (None only where the param is `clearable`);
    a number param's exception (its display or value) is stored as its value; other numbers
    are finite, within the range, on the step (counted from the range's low end, else
    from 0) and whole when `decimals: 0`; discreets, toggles and buttons take one of their own
    values or displays (a button no true/false); text is valid Unicode.
    """
    if value is None:
        if getattr(spec, "clearable", False):
            return None
        raise ValueRefused("needs a value: only a parameter declared `clearable` may be cleared (null)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueRefused(f"must be a finite number, got {_short(value)}")
    kind = spec.kind
    if kind in DISCREET_KINDS:
        if kind is ValueKind.BUTTON and isinstance(value, bool):
            raise ValueRefused(f"a button takes its own value, not true/false: {_choices(spec.discreets)}")
        return _discreet(spec.discreets, value)
    if kind is ValueKind.NUMBER:
        special = _exception_value(spec, value)
        return special if special is not None else _declared_number(spec, _number(value))
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


def _exception_value(spec: Param | Column, value: Any) -> float | int | None:
    """The special value a set names (its display, or the value itself, as a number or in
    text), None for any other: an Interprete exception is stored as it is declared, outside
    the range and step if need be."""
    exceptions: tuple[ExceptionValue, ...] = getattr(spec, "exceptions", ())
    if not exceptions or isinstance(value, bool):
        return None
    for special in exceptions:
        if isinstance(value, str) and same_name(special.display, value.strip(_ASCII_SPACE)):
            return special.value
    try:
        number = _number(value)
    except ValueRefused:
        return None
    return next((special.value for special in exceptions if number == special.value), None)


def _declared_number(spec: Param | Column, number: float | int) -> float | int:
    """`number` checked against the range, the step and the decimals, as it is stored."""
    bounds = getattr(spec, "range", None)
    if bounds is not None:
        if bounds.low is not None and number < bounds.low:
            raise ValueRefused(f"must be at least {_plain(bounds.low)}, got {_plain(number)}")
        if bounds.high is not None and number > bounds.high:
            raise ValueRefused(f"must be at most {_plain(bounds.high)}, got {_plain(number)}")
    whole = float(number).is_integer()
    if spec.decimals == 0 and not whole:
        raise ValueRefused(f"must be a whole number (the parameter has no decimals), got {_plain(number)}")
    step = getattr(spec, "step", None)
    if step:
        base = bounds.low if bounds is not None and bounds.low is not None else 0.0
        steps = (number - base) / step
        # A float's rounding may put a value on the step a hair off it: 1e-9 of a step is on it.
        if not math.isfinite(steps) or abs(steps - round(steps)) > 1e-9 * max(1.0, abs(steps)):
            raise ValueRefused(
                f"must be a multiple of the step {_plain(step)} from {_plain(base)}, got {_plain(number)}"
            )
    if not spec.decimals and whole:
        return int(number)
    return float(number)


@frozen
class FastCell:
    """A value a column stores as it is, told without a call: its type is exactly one of `types`,
    and it lies within [low, high] (numbers and dates: which also leaves NaN and the infinities
    out) or is one of `allowed` (discreets). Any other value goes through `coerce`."""

    types: tuple[type[Any], ...]
    low: float | None = None
    high: float | None = None
    allowed: frozenset[Any] | None = None


def fast_cell(column: Column) -> FastCell:
    """What `column` stores unchanged (`cell_check`'s fast path, and `row_writer`'s)."""
    kind = column.kind
    if kind is ValueKind.STRING:
        return FastCell((str,))
    if kind is ValueKind.NUMBER:
        # Compared, not converted: an int beyond a double is refused by `coerce`, never overflows here.
        return FastCell((float,) if column.decimals else (int,), -_LARGEST, _LARGEST)
    if kind is ValueKind.DATETIME:
        return FastCell((float,), _EARLIEST, _LATEST)
    return FastCell(_KEY_TYPES, allowed=frozenset(d.value for d in column.discreets))


def cell_check(column: Column) -> Callable[[Any], Any]:
    """`coerce` for one column's cells, with a fast path for a value already of the stored
    type (`fast_cell`): a drain writes tens of thousands of cells, almost all of them right already."""
    fast = fast_cell(column)

    def slow(value: Any) -> Any:
        return coerce(column, value)

    if column.kind is ValueKind.STRING:
        # An int in a text column is its digits, as `coerce` stores it, without the detour.
        return lambda value: value if type(value) is str else str(value) if type(value) is int else slow(value)
    types, low, high, allowed = fast.types, fast.low, fast.high, fast.allowed
    if allowed is not None:
        return lambda value: value if type(value) in types and value in allowed else slow(value)
    assert low is not None and high is not None  # a number or a date: bounded
    (single,), bottom, top = types, low, high  # narrowed names: a lambda does not see the narrowing
    return lambda value: value if type(value) is single and bottom <= value <= top else slow(value)


_KEY_TYPES = (str, int)  # exactly: a bool equals 1 but is no discreet value


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
        exceptions: tuple[ExceptionValue, ...] = getattr(spec, "exceptions", ())
        for special in exceptions:
            if value == special.value and not isinstance(value, bool):
                return special.display
        text = f"{value:.{spec.decimals}f}" if spec.decimals and isinstance(value, (int, float)) else _plain(value)
        return f"{text} {spec.units}" if spec.units else text
    if spec.kind is ValueKind.DATETIME and isinstance(value, (int, float)) and _EARLIEST <= value <= _LATEST:
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def _discreet(discreets: tuple[Discreet, ...], value: Any) -> Any:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int) and not -_LARGEST <= value <= _LARGEST:
        raise ValueRefused(f"must be one of: {_choices(discreets)}; got {_short(value)}")
    text = str(value).strip(_ASCII_SPACE)
    # Displays match regardless of ASCII case only: no Unicode look-alike (the Kelvin sign
    # for K, the long s for s) names a value.
    for d in discreets:
        if str(d.value) == text or same_name(d.display, text):
            return d.value
    # 1.0 for a discreet value of 1: a number that names a value is fine.
    if isinstance(value, float) and value.is_integer():
        return _discreet(discreets, int(value))
    raise ValueRefused(f"must be one of: {_choices(discreets)}; got {_short(value)}")


def _choices(discreets: tuple[Discreet, ...]) -> str:
    return ", ".join(d.display if str(d.value) == d.display else f"{d.display} ({d.value})" for d in discreets)


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueRefused("must be a number, got a boolean")
    if isinstance(value, int) and not -_LARGEST <= value <= _LARGEST:
        raise ValueRefused(f"must be a finite number, got {_short(value)}")
    if isinstance(value, (int, float)):
        number: float | int = value
    elif isinstance(value, str):
        try:
            if not value.isascii():  # float() reads fullwidth and other digits too
                raise ValueError(value)
            number = float(value.strip())
        except ValueError:
            raise ValueRefused(f"must be a number, got {_short(value)}") from None
    else:
        raise ValueRefused(f"must be a number, got {type(value).__name__}")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueRefused(f"must be a finite number, got {_short(value)}")
    return number


_ASCII_SPACE = " \t\r\n"
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
