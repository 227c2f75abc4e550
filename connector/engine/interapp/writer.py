"""Writing the InterApp dialect: `serialize_call`, in the exact shape a real sender produces."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.engine.interapp.model import (
    CALL_TYPE,
    MESSAGES_TYPE,
    NOT_SET,
    RETURN_ADDRESS_TYPE,
    OutgoingMessage,
    ReturnAddress,
    format_date,
)

# -- writing -------------------------------------------------------------------------------


def serialize_call(
    messages: Sequence[OutgoingMessage],
    *,
    guid: str | None = None,
    sending_time: datetime | None = None,
) -> str:
    """An InterAppCall holding `messages`, as the Skyline sender writes it.

    `guid` defaults to a new one, `sending_time` to now (local time, with its offset).
    Raises TypeError or ValueError for a member no JSON can hold (that is our bug, not a peer's).
    """
    document = _Writer().call(
        messages,
        guid=guid if guid is not None else str(uuid.uuid4()),
        sending_time=sending_time if sending_time is not None else datetime.now().astimezone(),
    )
    # Newtonsoft leaves non-ASCII characters as they are; compact, as the sender sends it.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class _Writer:
    """Builds the document in the order it is written, numbering objects as Newtonsoft does
    (PreserveReferencesHandling.Objects: every object gets the next `$id` when it starts)."""

    def __init__(self) -> None:
        self._count = 0

    def _next_id(self) -> str:
        self._count += 1
        return str(self._count)

    def call(self, messages: Sequence[OutgoingMessage], *, guid: str, sending_time: datetime) -> Any:
        # The keys are written in their sorted order, and $id "1" is taken before the messages.
        return {
            "$id": self._next_id(),
            "$type": f"{CALL_TYPE},",
            "guid": guid,
            "messages": {
                "$type": f"{MESSAGES_TYPE},",
                "$values": [self._message(message) for message in messages],
            },
            "receivingTime": NOT_SET,
            "returnAddress": None,
            "sendingTime": format_date(sending_time),
            "source": None,
        }

    def _message(self, message: OutgoingMessage) -> Any:
        members = {"returnAddress": None, "source": None, **message.members}
        if "guid" not in members:  # a message is answered by its guid: give it one (None stays null)
            members["guid"] = str(uuid.uuid4())
        return self._object(members, message.type)

    def _object(self, members: Mapping[str, Any], type_name: str | None = None) -> Any:
        written: dict[str, Any] = {"$id": self._next_id()}
        if type_name is not None:
            written["$type"] = f"{type_name},"
        for key in sorted(_member_names(members)):
            written[key] = self._value(members[key])
        return written

    def _value(self, value: Any) -> Any:
        if value is None or isinstance(value, (str, int, float)):
            return value
        if isinstance(value, datetime):
            return format_date(value)
        if isinstance(value, ReturnAddress):
            members = {
                "agentId": value.agent_id,
                "elementId": value.element_id,
                "parameterId": value.parameter_id,
            }
            return self._object(members, RETURN_ADDRESS_TYPE)
        if isinstance(value, Mapping):
            return self._object(value)
        if isinstance(value, (list, tuple)):
            return [self._value(item) for item in value]
        raise TypeError(f"an InterApp message cannot hold a {type(value).__name__}")


def _member_names(members: Mapping[str, Any]) -> list[str]:
    names = list(members)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"member names must be strings, got {name!r}")
        if name.startswith("$"):
            raise ValueError(f"member name {name!r}: names starting with $ are the dialect's metadata")
    return names
