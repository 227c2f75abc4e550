"""The Skyline InterAppCalls JSON dialect: reading and writing InterApp calls.

An element receives another element's InterApp call as a string on parameter 9000000. The
sender serializes it with Newtonsoft.Json as Skyline's `Skyline.DataMiner.Core.InterAppCalls.Common`
does (TypeNameHandling.Auto, PreserveReferencesHandling.Objects, a known-types binder, camelCase
members sorted by name). This module reads and writes that dialect and knows nothing of what the
messages mean: a connector names the message types it knows and gets back plain JSON values.

Reading (`parse_call`), one rule for each thing a real sender produces:

- `$type` is `"Name,"` (short name, empty assembly) or `"Namespace.Name, Assembly"`; both come
  down to the short name `Name`, as KnownTypesBinder matches Type.Name.
- Only known types are messages. The dialect's own types (the call, the CallBulk.Messages
  collection, Shared.ReturnAddress) are accepted wherever they stand, and so are
  `System.Collections.*` containers, which Newtonsoft names for members declared as `object` or
  as an interface. Any other `$type`, at any depth, is refused: the known-types list is the
  contract between sender and receiver, and an unknown type means they do not share it.
  Objects without `$type` are plain member objects and always fine.
- `{"$type": ..., "$values": [...]}` stands for an array wherever one may stand; a plain array is
  accepted too.
- `$id` names an object, `{"$ref": id}` repeats it. Newtonsoft reads in one pass, so a `$ref`
  must name an object that starts EARLIER in the document. A reference to an object that
  contains it (a cycle) is refused: the result is plain JSON values, which cannot loop.
  A referenced value is shared, not copied; the expanded size is still limited (see below).
- Members come in any order, the metadata too (MetadataPropertyHandling.ReadAhead). Members the
  dialect does not know are kept in `Message.members`; the connector ignores what it does not use.
- Dates are ISO 8601 with .NET's 7-digit fractions (cut to microseconds); the .NET default
  `0001-01-01T00:00:00` means "not set" and reads as None.
- A single message object, not wrapped in a call, is accepted as a call of one message, as
  InterAppCallFactory.CreateFromRawAndAcceptMessage does.
- A call's return address "bubbles down" to its messages that carry none.

Limits: `max_bytes` of UTF-8 text; `max_depth` levels of JSON nesting as written (an object or
an array is one level, so a `$values` wrapper is two); references may not expand the document to
more than `max_bytes` values, so that a few hundred `$ref`s cannot stand for a billion values
(every value takes at least one byte of text, so an honest document never comes near).

Whatever the input, `parse_call` returns an `InterAppCall` or raises `InterAppError`, never
anything else. The error's reason names the place and the rule (`messages[0].$type: unknown type
'Foo'`); its guid and return address are those of the message the refusal is about (else of the
first message, else of the call) when they could be read, so the caller can send an error response.

Writing (`serialize_call`) produces the sender's exact shape: `$id` numbered in document order,
`"$type": "Name,"`, the messages in the CallBulk.Messages wrapper, every object (also inside
lists) with its own `$id`, members sorted after the metadata, compact separators.
"""

from connector.engine.interapp.model import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DIALECT_TYPES,
    INTERAPP_RETURN,
    NOT_SET,
    InterAppCall,
    InterAppError,
    Message,
    OutgoingMessage,
    ReturnAddress,
    format_date,
    parse_date,
    short_type_name,
    show,
)
from connector.engine.interapp.reader import parse_call, repeated_member, unique_object, written_type_names
from connector.engine.interapp.writer import serialize_call

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DIALECT_TYPES",
    "INTERAPP_RETURN",
    "NOT_SET",
    "InterAppCall",
    "InterAppError",
    "Message",
    "OutgoingMessage",
    "ReturnAddress",
    "format_date",
    "parse_call",
    "parse_date",
    "repeated_member",
    "serialize_call",
    "short_type_name",
    "show",
    "unique_object",
    "written_type_names",
]
