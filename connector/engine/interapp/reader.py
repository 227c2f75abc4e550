"""Reading the InterApp dialect: `parse_call` (the rules are in the package's docstring)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, NoReturn

from attrs import evolve

from connector.engine.interapp.model import (
    CALL_TYPE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DIALECT_TYPES,
    INTERAPP_RETURN,
    InterAppCall,
    InterAppError,
    Message,
    ReturnAddress,
    clip,
    parse_date,
    short_type_name,
    show,
)

# Newtonsoft names these for members declared `object` or as an interface (BindToType step 2).
_SYSTEM_CONTAINERS = "System.Collections."
_METADATA = frozenset({"$id", "$ref", "$type", "$values"})
_INT32 = range(-(2**31), 2**31)  # the .NET int of ReturnAddress


def _at(where: str, member: str) -> str:
    return f"{where}.{member}" if where else member


# -- reading -------------------------------------------------------------------------------


class _Refusal(Exception):
    """A broken rule, raised inside the reader; `parse_call` turns it into an InterAppError."""

    def __init__(self, reason: str, message_index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message_index = message_index  # the message it is about, when known


def _refuse(reason: str) -> NoReturn:
    raise _Refusal(reason)


def parse_call(
    raw: str | bytes,
    known_types: Collection[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> InterAppCall:
    """Read a raw InterApp call (or a single message). Raises InterAppError only."""
    reader = _Reader(known_types, max_depth=max_depth, max_values=max_bytes)
    document: Any = None
    try:
        try:
            document = _decode(raw, max_bytes)
            if not isinstance(document, dict):
                _refuse(f"not an InterApp call: expected a JSON object, got {show(document)}")
            return _interpret(reader.value(document, 0), reader)
        except RecursionError:
            # json.loads past the interpreter's limit, or a max_depth set above it.
            _refuse(f"nesting deeper than {max_depth} levels")
    except _Refusal as refusal:
        index = refusal.message_index if refusal.message_index is not None else reader.message_index()
        guid, return_address = _whom_to_answer(document, index, reader.raw_by_id)
        raise InterAppError(refusal.reason, guid=guid, return_address=return_address) from None


def _decode(raw: str | bytes, max_bytes: int) -> Any:
    text = _text(raw, max_bytes)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_members)
    except json.JSONDecodeError as error:
        _refuse(f"not JSON: {error.msg} at line {error.lineno} column {error.colno}")
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        _refuse("not JSON: a number has too many digits")


def _text(raw: str | bytes, max_bytes: int) -> str:
    too_large = f"message larger than {max_bytes} bytes"
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > max_bytes:
            _refuse(too_large)
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as error:
            _refuse(f"not UTF-8: {error.reason} at byte {error.start}")
    elif isinstance(raw, str):
        # A character is 1 to 4 bytes of UTF-8: encode only when the length cannot decide.
        if len(raw) > max_bytes or (len(raw) * 4 > max_bytes and len(raw.encode("utf-8", "surrogatepass")) > max_bytes):
            _refuse(too_large)
        text = raw
    else:
        _refuse(f"not a message: expected text or bytes, got {show(raw)}")
    return text.removeprefix("\ufeff")  # a byte-order mark is not JSON, but editors write one


def _refuse_constant(name: str) -> NoReturn:
    _refuse(f"not JSON: {name} is not a number JSON knows")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: Python reads infinity, JSON has none
        _refuse(f"not JSON: the number {clip(text)} is out of range")
    return number


class _Twice(dict[str, Any]):
    """An object that names a member twice, kept (the last value wins) for the reader to refuse
    with the member's place: json.loads alone would keep the last one silently."""

    twice: str


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    twice = repeated_member(pairs)
    if twice is None:
        return dict(pairs)
    marked = _Twice(pairs)
    marked.twice = twice
    return marked


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for json.loads that refuses (ValueError) an object naming a member
    twice, which json.loads alone would keep silently, the last value winning."""
    twice = repeated_member(pairs)
    if twice is not None:
        raise ValueError(f"the member {json.dumps(twice)[:80]} appears twice in one object")
    return dict(pairs)


def repeated_member(pairs: list[tuple[str, Any]]) -> str | None:
    """The first member named twice in a JSON object's (key, value) pairs, or None.

    For `json.loads(..., object_pairs_hook=...)`: a document with a member twice is refused,
    as which value the sender meant is unknown.
    """
    keys = {key for key, _ in pairs}
    if len(keys) == len(pairs):
        return None
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None  # pragma: no cover - a smaller set means a key came twice


class _Reader:
    """One recursive pass over the decoded document in document order: checks every `$type`,
    strips the metadata, resolves `$ref`s, counts depth. Recursion stops at max_depth."""

    def __init__(self, known_types: Collection[str], *, max_depth: int, max_values: int) -> None:
        self.known = frozenset(known_types)
        self._accepted = self.known | DIALECT_TYPES
        self._max_depth = max_depth
        self._max_values = max_values
        self.by_id: dict[str, Any] = {}  # $id -> its plain value
        self.raw_by_id: dict[str, Any] = {}  # $id -> the object as sent, for _whom_to_answer
        self.types: dict[int, str] = {}  # id() of a plain dict -> its short $type
        self._open: set[str] = set()  # $ids whose object is still being read (a $ref to one loops)
        self._weights: dict[str, int] = {}  # $id -> how many values its object expands to
        self._values = 0  # values read so far, references expanded
        self.path: list[str | int] = []  # where the reader is, for reasons

    def value(self, raw: Any, depth: int) -> Any:
        self._values += 1
        if isinstance(raw, dict):
            return self._object(raw, depth + 1)
        if isinstance(raw, list):
            plain: list[Any] = []
            self._check_depth(depth + 1)
            self._fill(plain, raw, depth + 1)
            return plain
        if isinstance(raw, str) and not raw.isascii():
            self._check_unicode(raw, self.where())
        return raw

    def _object(self, raw: dict[str, Any], depth: int) -> Any:
        self._check_depth(depth)
        if isinstance(raw, _Twice):
            # Two values for one member (two ticketIds, two categories): which one the sender
            # meant is unknown, so the message is refused whole.
            _refuse(f"{self.where(raw.twice)}: the member {show(raw.twice)} appears twice in one object")
        if "$ref" in raw:
            return self._reference(raw)
        type_name = self._type_name(raw)
        if "$values" in raw:
            return self._wrapped_array(raw, depth)
        plain: dict[str, Any] = {}
        ident = self._define(raw, plain)
        if type_name is not None:
            self.types[id(plain)] = type_name
        path = self.path
        for key, item in raw.items():
            if key in _METADATA:
                continue
            if not key.isascii():
                self._check_unicode(key, self.where(key))
            path.append(key)
            plain[key] = self.value(item, depth)
            path.pop()
        self._close(ident)
        return plain

    def _wrapped_array(self, raw: dict[str, Any], depth: int) -> list[Any]:
        items = raw["$values"]
        if not isinstance(items, list):
            _refuse(f"{self.where('$values')}: must be an array, got {show(items)}")
        self._check_depth(depth + 1)
        plain: list[Any] = []
        ident = self._define(raw, plain)
        self._fill(plain, items, depth + 1)
        self._close(ident)
        return plain

    def _fill(self, plain: list[Any], items: list[Any], depth: int) -> None:
        path = self.path
        for index, item in enumerate(items):
            path.append(index)
            plain.append(self.value(item, depth))
            path.pop()

    def _type_name(self, raw: dict[str, Any]) -> str | None:
        written = raw.get("$type")
        if written is None:
            return None
        if not isinstance(written, str):
            _refuse(f"{self.where('$type')}: must be a string, got {show(written)}")
        name = short_type_name(written)
        if name in self._accepted or written.startswith(_SYSTEM_CONTAINERS):
            return name
        shown = name if name and "[" not in name else written
        _refuse(f"{self.where('$type')}: unknown type {show(shown)}")

    def _define(self, raw: dict[str, Any], plain: Any) -> str | None:
        if raw.get("$id") is None:
            return None
        where = self.where("$id")
        ident = _ident(raw["$id"], where)
        if ident in self.by_id:
            _refuse(f"{where}: {show(ident)} is defined twice")
        self.by_id[ident] = plain
        self.raw_by_id[ident] = raw
        self._open.add(ident)
        self._weights[ident] = self._values  # the count at the start; _close makes it a weight
        return ident

    def _close(self, ident: str | None) -> None:
        if ident is not None:
            self._open.discard(ident)
            self._weights[ident] = self._values - self._weights[ident]

    def _reference(self, raw: dict[str, Any]) -> Any:
        where = self.where("$ref")
        if len(raw) != 1:
            _refuse(f"{where}: a reference must have no other members")
        ident = _ident(raw["$ref"], where)
        if ident in self._open:
            _refuse(f"{where}: {show(ident)} is an object that contains this reference")
        if ident not in self.by_id:
            _refuse(f"{where}: no object with $id {show(ident)} before this point")
        self._values += self._weights[ident]
        if self._values > self._max_values:
            _refuse(f"{where}: references expand the message to more than {self._max_values} values")
        return self.by_id[ident]

    def _check_depth(self, depth: int) -> None:
        if depth > self._max_depth:
            _refuse(f"nesting deeper than {self._max_depth} levels")

    @staticmethod
    def _check_unicode(text: str, where: str) -> None:
        # JSON's \ud800 escapes give Python strings that no UTF-8 store or socket will take.
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            _refuse(f"{where}: not valid Unicode (a lone surrogate)")

    def where(self, member: str | None = None) -> str:
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text = _at(text, clip(part))
        if member is not None:
            return _at(text, clip(member))
        return text or "top level"

    def message_index(self) -> int | None:
        """The message the reader was in, for a call (`messages[i]...`)."""
        path = self.path
        if len(path) >= 2 and path[0] == "messages" and isinstance(path[1], int):
            return path[1]
        return None


def _ident(value: Any, where: str) -> str:
    # Newtonsoft writes ids as strings and reads any scalar's text; numbers are all we add.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    _refuse(f"{where}: must be a string, got {show(value)}")


# -- reading: the dialect's structure, on plain values ----------------------------------


def _interpret(plain: Any, reader: _Reader) -> InterAppCall:
    if not isinstance(plain, dict):
        _refuse(f"not an InterApp call: expected a JSON object, got {show(plain)}")
    kind = reader.types.get(id(plain))
    if kind == CALL_TYPE:
        return _call(plain, reader)
    if kind is None:
        _refuse("$type: required, InterAppCall or a known message type")
    message = _message(plain, kind, "", reader)
    return InterAppCall(guid=None, messages=(message,), return_address=message.return_address)


def _call(plain: dict[str, Any], reader: _Reader) -> InterAppCall:
    guid = _optional_text(plain.get("guid"), "guid")
    items = plain.get("messages")
    if items is None:
        _refuse("messages: required")
    if not isinstance(items, list):
        _refuse(f"messages: must be an array, got {show(items)}")
    messages = []
    for index, item in enumerate(items):
        try:
            messages.append(_message(item, reader.types.get(id(item)), f"messages[{index}]", reader))
        except _Refusal as refusal:
            refusal.message_index = index
            raise
    return_address = _return_address(plain.get("returnAddress"), "returnAddress")
    if return_address is not None:
        messages = [
            message if message.return_address is not None else evolve(message, return_address=return_address)
            for message in messages
        ]
    return InterAppCall(
        guid=guid,
        messages=messages,
        return_address=return_address,
        source=plain.get("source"),
        sending_time=_date(plain.get("sendingTime"), "sendingTime"),
        receiving_time=_date(plain.get("receivingTime"), "receivingTime"),
    )


def _message(plain: Any, kind: str | None, where: str, reader: _Reader) -> Message:
    if not isinstance(plain, dict):
        _refuse(f"{where}: must be an object, got {show(plain)}")
    if kind is None:
        _refuse(f"{_at(where, '$type')}: required, a message names its type")
    if kind not in reader.known:
        _refuse(f"{_at(where, '$type')}: {show(kind)} is not a message type")
    members = dict(plain)  # a copy: the plain dict may be shared through a $ref
    return Message(
        type=kind,
        guid=_optional_text(members.pop("guid", None), _at(where, "guid")),
        return_address=_return_address(members.pop("returnAddress", None), _at(where, "returnAddress")),
        members=members,
    )


def _optional_text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    _refuse(f"{where}: must be a string, got {show(value)}")


def _return_address(value: Any, where: str) -> ReturnAddress | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        _refuse(f"{where}: must be an object, got {show(value)}")
    return ReturnAddress(
        agent_id=_int32(value, "agentId", where),
        element_id=_int32(value, "elementId", where),
        parameter_id=_int32(value, "parameterId", where, default=INTERAPP_RETURN),
    )


def _int32(value: Mapping[str, Any], member: str, where: str, default: int | None = None) -> int:
    number = value.get(member)
    if number is None:
        if default is None:
            # Newtonsoft would read 0, which is no agent or element: a reply could not go anywhere.
            _refuse(f"{_at(where, member)}: required")
        return default
    if type(number) is not int or number not in _INT32:  # bool is an int subclass: excluded
        _refuse(f"{_at(where, member)}: must be a 32-bit integer, got {show(number)}")
    return number


def _date(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_date(value)
        except ValueError:
            pass
    _refuse(f"{where}: must be an ISO 8601 date, got {show(value)}")


def _whom_to_answer(
    document: Any, index: int | None, raw_by_id: Mapping[str, Any]
) -> tuple[str | None, ReturnAddress | None]:
    """The guid and return address for an error response, read leniently from the document as
    sent: the refused message's own, else the call's (the first message stands in for a
    refusal at call level)."""
    if not isinstance(document, dict):
        return None, None
    scopes: list[Mapping[str, Any]] = [document]
    if _looks_like_call(document):
        items = _lenient_items(document.get("messages"))
        chosen = index if index is not None and index < len(items) else 0
        message = _lenient_object(items[chosen], raw_by_id) if items else None
        if message is not None:
            scopes.insert(0, message)
    guid = next((scope["guid"] for scope in scopes if isinstance(scope.get("guid"), str)), None)
    return guid, next(filter(None, (_lenient_return_address(s, raw_by_id) for s in scopes)), None)


def _looks_like_call(document: dict[str, Any]) -> bool:
    written = document.get("$type")
    if isinstance(written, str):
        return short_type_name(written) == CALL_TYPE
    return "messages" in document


def _lenient_items(value: Any) -> list[Any]:
    if isinstance(value, dict):
        value = value.get("$values")
    return value if isinstance(value, list) else []


def _lenient_object(value: Any, raw_by_id: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if isinstance(value, dict) and "$ref" in value:
        ref = value["$ref"]
        valid = isinstance(ref, str) or (isinstance(ref, int) and not isinstance(ref, bool))
        value = raw_by_id.get(str(ref)) if valid else None
    return value if isinstance(value, dict) else None


def _lenient_return_address(scope: Mapping[str, Any], raw_by_id: Mapping[str, Any]) -> ReturnAddress | None:
    try:
        return _return_address(_lenient_object(scope.get("returnAddress"), raw_by_id), "")
    except _Refusal:
        return None


def written_type_names(raw: str) -> set[str]:
    """The short name of every `$type` written anywhere in `raw` (nothing when it is not JSON).

    For reading a call whose types are not known beforehand, such as an element's own reply read
    by a caller that knows no connector: `parse_call(raw, written_type_names(raw))`.
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return set()  # parse_call will say why
    names: set[str] = set()
    pending = [document]
    while pending:  # a loop, not recursion: the text's depth is not ours to trust blindly
        item = pending.pop()
        if isinstance(item, dict):
            written = item.get("$type")
            if isinstance(written, str):
                names.add(short_type_name(written))
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return names
