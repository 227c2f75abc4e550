"""The InterApp dialect's data: calls, messages, return addresses, errors, and the helpers a
connector uses too (type names, dates, quoting a value in a reason). See the package's docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen
from attrs.validators import instance_of

CALL_TYPE = "InterAppCall"
MESSAGES_TYPE = "Skyline.DataMiner.Core.InterAppCalls.Common.CallBulk.Messages"
RETURN_ADDRESS_TYPE = "Skyline.DataMiner.Core.InterAppCalls.Common.Shared.ReturnAddress"
# The dialect's own types by short name: accepted wherever they stand, never as a message.
DIALECT_TYPES = frozenset({CALL_TYPE, "Messages", "ReturnAddress"})

INTERAPP_RETURN = 9000001  # the parameter a reply goes to unless the sender names another
NOT_SET = "0001-01-01T00:00:00"  # .NET's default(DateTime)
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_DEPTH = 32

_SHOWN_CHARACTERS = 60  # a reason quotes at most this much of what was sent


# -- the data ----------------------------------------------------------------------------------


@frozen(kw_only=True)
class ReturnAddress:
    """Where a reply goes: a parameter of an element on an agent."""

    agent_id: int = field(validator=instance_of(int))
    element_id: int = field(validator=instance_of(int))
    parameter_id: int = field(default=INTERAPP_RETURN, validator=instance_of(int))


@frozen(kw_only=True)
class Message:
    """One message of a call. `members` holds every other member as plain JSON values
    (metadata stripped, references resolved); a referenced value is shared, do not mutate it."""

    type: str
    guid: str | None = None
    return_address: ReturnAddress | None = None
    members: Mapping[str, Any] = field(factory=dict)


def _message_tuple(messages: Iterable[Message]) -> tuple[Message, ...]:
    return tuple(messages)  # a function, not `tuple`: the attrs plugin cannot type a generic converter


@frozen(kw_only=True)
class InterAppCall:
    guid: str | None  # None for a single message received without a call around it
    messages: tuple[Message, ...] = field(converter=_message_tuple)
    return_address: ReturnAddress | None = None
    source: Any = None
    sending_time: datetime | None = None
    receiving_time: datetime | None = None


@frozen(kw_only=True)
class OutgoingMessage:
    """A message to send. `members` may hold a `guid` (when absent a new one is made), a
    `returnAddress` and a `source` (else null); values are JSON values, datetimes, ReturnAddresses,
    mappings and lists or tuples of those."""

    type: str
    members: Mapping[str, Any] = field(factory=dict)


class InterAppError(Exception):
    """A call that cannot be read. `guid` and `return_address` say whom to answer, when known."""

    def __init__(self, reason: str, guid: str | None = None, return_address: ReturnAddress | None = None) -> None:
        # All three in args, so that the error pickles (to a worker process) whole.
        super().__init__(reason, guid, return_address)
        self.reason = reason
        self.guid = guid
        self.return_address = return_address

    def __str__(self) -> str:
        return self.reason


# -- helpers a connector uses too ----------------------------------------------------------


def short_type_name(type_name: str) -> str:
    """`Namespace.Outer+Name, Assembly` -> `Name`; `Name,` -> `Name`; `Name[]` -> `Name`.

    A generic name (`List`1[[Ticket, A]], mscorlib`) is cut inside its brackets; the result
    matches no known type, which is what it should do.
    """
    name = type_name.partition(",")[0].strip()
    while name.endswith("[]"):  # BindToType's step 1: an array of a type binds like the type
        name = name[:-2]
    return name.rpartition(".")[2].rpartition("+")[2]


def parse_date(text: str) -> datetime | None:
    """An ISO 8601 date, None for .NET's "not set" (year 1, midnight). Raises ValueError."""
    try:
        # Python 3.11 reads any number of fraction digits (.NET writes 7), `Z` and offsets.
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"not an ISO 8601 date: {show(text)}") from error
    if moment.replace(tzinfo=None) == datetime.min:
        return None
    return moment


def format_date(moment: datetime | None) -> str:
    """A date as Newtonsoft writes it (`yyyy-MM-ddTHH:mm:ss.FFFFFFFK`); None is "not set"."""
    if moment is None:
        return NOT_SET
    # By hand, because strftime writes year 1 as "1" on Linux and isoformat pads fractions.
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset()
    if offset is not None:
        seconds = int(offset.total_seconds())
        sign = "-" if seconds < 0 else "+"
        minutes = abs(seconds) // 60
        text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text


def show(value: Any) -> str:
    """A value as a reason quotes it: short, on one line, strings in single quotes, JSON words."""
    if isinstance(value, str):
        return f"'{clip(value)}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # str() of an int has a cost and a limit (4300 digits); 196 bits is about 60 digits.
        return str(value) if value.bit_length() <= 196 else "a very large integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return f"a {type(value).__name__}"


def clip(text: str) -> str:
    clipped = text[:_SHOWN_CHARACTERS]
    if not clipped.isprintable():  # newlines, controls, lone surrogates: escape, keep one line
        clipped = clipped.encode("unicode_escape", "backslashreplace").decode("ascii")
    return clipped + "..." if len(text) > _SHOWN_CHARACTERS else clipped
