"""Cherwell requests and answers, as the platform contract defines them. Pure: no I/O, no state.

Builders return `PlatformCall`s; parsers take `PlatformReply`s and either return plain values or
raise `PlatformError` with a short message for people (the platform's own code and message,
never a token or a credential). The flow (`connector.ticketing.flow`) decides what to do with
either.

Ids are never written here: `Metadata` maps the names the contract uses (`Incident`,
`Journal - Note`, `Category`, ...) to the busObIds and field ids one platform gave at login time,
because they differ from one Cherwell to the next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import attrs
from attrs import field, frozen

from connector.ticketing.calls import PlatformCall, PlatformReply

TOKEN_PATH = "/CherwellAPI/token"
API = "/CherwellAPI/api/V1"

INCIDENT = "Incident"
JOURNAL = "Journal"  # a group business object...
NOTE = "Journal - Note"  # ...whose member with this displayName is the note object

INCIDENT_FIELDS = (
    "IncidentID",
    "RecID",
    "Status",
    "Category",
    "ShortDescription",
    "Description",
    "Priority",
    "Node",
    "ExternalID",
    "OTNumber",
    "Source",
)
NOTE_FIELDS = ("RecID", "ParentRecID", "ParentTypeID", "Details")
# What the flow reads back from incident searches.
INCIDENT_RESULT_FIELDS = ("IncidentID", "RecID", "Status", "Category", "Node", "ExternalID", "OTNumber")
NOTE_RESULT_FIELDS = ("RecID", "ParentRecID", "Details")

CATEGORIES = ("Falla de Linea", "SNR")
OPEN_STATES = ("New", "Assigned", "In Progress", "Pending")
SOURCE = "DataMiner Ticketing BE"
PAGE_SIZE = 500  # the contract's maximum page
MAX_SAVES = 200  # the contract's maximum save requests per batch

MESSAGE_LIMIT = 300  # characters of a platform message kept in Last Error and the cycle result

# Error codes (compared case-insensitively) and texts after which the ids we hold may be wrong.
# An unknown busObId gives 500 GENERALFAILURE "Business object with <id> not found": the code alone
# says nothing (every server error is a GENERALFAILURE), the text does.
_STALE_CODES = frozenset({"busobnotvalid", "fieldnotfound", "invalidfieldid"})
_STALE_TEXT = re.compile(r"busobid|fieldid|business object .* not found|field .* not found", re.IGNORECASE)


class PlatformError(Exception):
    """A call that did not give what the flow asked for.

    `maybe_applied`: the request may have been carried out although we did not see it succeed
    (no answer, 5xx, or a success we could not read): a write must be looked up before it is
    sent again. `unauthorized`: a 401 (Cherwell: log in again). `stale_ids`: the platform did not
    know an id we sent (resolve the metadata again). `status`: the answer's HTTP status, 0 when
    there was no answer, None when the error is about an answer's content (whose failure it is:
    `connector.ticketing.outage`). SFyC (`connector.ticketing.sfyc`) raises it too: one error type
    for the flow to handle.
    """

    def __init__(
        self,
        message: str,
        *,
        maybe_applied: bool = False,
        unauthorized: bool = False,
        stale_ids: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_applied = maybe_applied
        self.unauthorized = unauthorized
        self.stale_ids = stale_ids
        self.status = status


# -- reading any answer ---------------------------------------------------------------------------


def load_json(text: str) -> Any:
    """JSON, also when the server sent the document as a JSON-encoded string (token errors do)."""
    data = json.loads(text)
    if isinstance(data, str):
        stripped = data.strip()
        if stripped.startswith(("{", "[")):
            data = json.loads(stripped)
    return data


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _code_and_text(data: Any) -> tuple[str, str]:
    if isinstance(data, str):
        return "", data
    if not isinstance(data, Mapping):
        return "", ""
    # Cherwell envelopes, SFyC errors, OAuth token errors, ASP.NET's 401 body.
    for code_key, text_key in (
        ("errorCode", "errorMessage"),
        ("codigo", "mensaje"),
        ("error", "error_description"),
        ("", "Message"),
        ("", "message"),
    ):
        code = str(data.get(code_key) or "") if code_key else ""
        text = str(data.get(text_key) or "")
        if code or text:
            return code, text
    return "", ""


def describe(platform: str, data: Any, status: int = 0, reason: str = "") -> str:
    """A one-line message for people: the platform's own code and message where it gave them."""
    code, text = _code_and_text(data)
    if code and text:
        message = f"{platform} {code}: {text}"
    elif code or text:
        message = f"{platform} {code}" if code else f"{platform}: {text}"
    elif status:
        message = f"{platform} HTTP {status} {reason}".rstrip()
    else:
        message = f"{platform}: no details given"
    return shorten(message)


def read_reply(reply: PlatformReply, platform: str) -> Any:
    """The JSON document of a successful answer, or PlatformError saying why there is none."""
    if not reply.answered:
        # The transport's detail (the glue passes it as the reason) says what to fix: a refused
        # connection, a timeout, a header that cannot be sent.
        why = f"{reply.error or 'unknown error'}: {reply.reason}" if reply.reason else (reply.error or "unknown error")
        raise PlatformError(shorten(f"{platform}: no answer ({why})"), maybe_applied=reply.maybe_applied, status=0)
    try:
        data: Any = load_json(reply.body) if reply.body.strip() else None
    except ValueError:
        data = None  # gateway pages (HTML 503) and truncated bodies: the status line says enough
    if reply.status == 401:
        raise PlatformError(describe(platform, data, reply.status, reply.reason), unauthorized=True, status=401)
    if not reply.ok:
        message = describe(platform, data, reply.status, reply.reason)
        raise PlatformError(
            message, maybe_applied=reply.maybe_applied, stale_ids=_suggests_stale_ids(data), status=reply.status
        )
    if data is None:
        # The server said it did the work but we cannot read what it did: treat a write as
        # possibly applied, so that it is looked up rather than sent twice.
        raise PlatformError(f"{platform}: unreadable answer (HTTP {reply.status})", maybe_applied=True)
    return data


def _suggests_stale_ids(data: Any) -> bool:
    if not isinstance(data, Mapping):
        return False
    code = str(data.get("errorCode") or "").casefold()
    return code in _STALE_CODES or bool(_STALE_TEXT.search(str(data.get("errorMessage") or "")))


def _envelope(reply: PlatformReply) -> Mapping[str, Any]:
    data = read_reply(reply, "Cherwell")
    if not isinstance(data, Mapping):
        raise PlatformError("Cherwell: unexpected answer (not a JSON object)", maybe_applied=True)
    return data


# -- login ----------------------------------------------------------------------------------------


@frozen(kw_only=True)
class Token:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: float


def _form_call(form: Mapping[str, str]) -> PlatformCall:
    return PlatformCall(
        session="login",
        method="POST",
        path=TOKEN_PATH,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        body=urlencode(form),
    )


def login_call(client_id: str, username: str, password: str) -> PlatformCall:
    return _form_call({"grant_type": "password", "client_id": client_id, "username": username, "password": password})


def refresh_call(client_id: str, refresh_token: str) -> PlatformCall:
    return _form_call({"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token})


def parse_token(reply: PlatformReply) -> Token:
    data = read_reply(reply, "Cherwell")
    if not isinstance(data, Mapping) or not data.get("access_token"):
        raise PlatformError("Cherwell: the token answer has no access_token")
    try:
        expires_in = float(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0.0
    return Token(
        access_token=str(data["access_token"]),
        refresh_token=str(data.get("refresh_token") or ""),
        expires_in=expires_in,
    )


# -- metadata ---------------------------------------------------------------------------------------


@frozen(kw_only=True)
class BusinessObject:
    """One business object of one platform: its busObId and its field ids by field name."""

    name: str
    bus_ob_id: str
    field_ids: Mapping[str, str]  # field name -> fieldId
    field_names: Mapping[str, str] = field(init=False)  # fieldId -> field name

    @field_names.default
    def _reverse(self) -> Mapping[str, str]:
        return {fid.casefold(): name for name, fid in self.field_ids.items()}

    def field_id(self, name: str) -> str:
        return self.field_ids[name]

    def field_name(self, field_id: str) -> str | None:
        # Answers may use the full form "BO:<busObId>,FI:<fieldId>".
        short = field_id.rsplit("FI:", 1)[-1].casefold()
        return self.field_names.get(short)


@frozen(kw_only=True)
class Metadata:
    incident: BusinessObject
    note: BusinessObject


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def with_token(call: PlatformCall, token: str) -> PlatformCall:
    """The same request with this access token (a request may be built before it is sent)."""
    return attrs.evolve(call, headers={**call.headers, **_auth(token)})


def summary_call(token: str, name: str) -> PlatformCall:
    return PlatformCall(
        session="metadata",
        method="GET",
        path=f"{API}/getbusinessobjectsummary/busobname/{quote(name, safe='')}",
        headers=_auth(token),
    )


def parse_summary(reply: PlatformReply, name: str, member: str | None = None) -> str:
    """The busObId of `name`, or of its group member whose displayName is `member`."""
    data = read_reply(reply, "Cherwell")
    summaries = data if isinstance(data, list) else [data] if isinstance(data, Mapping) else []
    wanted = name.casefold()
    found = next(
        (s for s in summaries if isinstance(s, Mapping) and str(s.get("name", "")).casefold() == wanted),
        summaries[0] if summaries and isinstance(summaries[0], Mapping) else None,
    )
    if found is None:
        raise PlatformError(f"Cherwell: the business object {name!r} does not exist on this platform")
    if member is not None:
        members = found.get("groupSummaries") or []
        lowered = member.casefold()
        found = next(
            (m for m in members if isinstance(m, Mapping) and str(m.get("displayName", "")).casefold() == lowered), None
        )
        if found is None:
            raise PlatformError(f"Cherwell: the group {name!r} has no member {member!r}")
    bus_ob_id = str(found.get("busObId") or "")
    if not bus_ob_id:
        raise PlatformError(f"Cherwell: the summary of {member or name!r} has no busObId")
    return bus_ob_id


def schema_call(token: str, bus_ob_id: str) -> PlatformCall:
    return PlatformCall(
        session="metadata",
        method="GET",
        path=f"{API}/getbusinessobjectschema/busobid/{quote(bus_ob_id, safe='')}",
        headers=_auth(token),
    )


def parse_schema(reply: PlatformReply, name: str, bus_ob_id: str, needed: Iterable[str]) -> BusinessObject:
    data = _envelope(reply)
    if data.get("hasError"):
        raise PlatformError(describe("Cherwell", data), stale_ids=_suggests_stale_ids(data))
    ids: dict[str, str] = {}
    for definition in data.get("fieldDefinitions") or []:
        if isinstance(definition, Mapping) and definition.get("name") and definition.get("fieldId"):
            ids[str(definition["name"])] = str(definition["fieldId"])
    missing = [n for n in needed if n not in ids]
    if missing:
        raise PlatformError(f"Cherwell: {name} has no field {', '.join(missing)} (check the platform's schema)")
    return BusinessObject(name=name, bus_ob_id=bus_ob_id, field_ids=ids)


# -- search -------------------------------------------------------------------------------------------


@frozen(kw_only=True)
class Filter:
    field: str  # a field name of the business object
    value: str
    operator: str = "eq"


@frozen(kw_only=True)
class Record:
    rec_id: str
    public_id: str
    values: Mapping[str, str]  # field name -> value

    def get(self, name: str) -> str:
        return self.values.get(name) or ""


@frozen(kw_only=True)
class SearchPage:
    records: tuple[Record, ...]
    has_more: bool
    total: int = 0  # totalRows: how many records the search has in all pages (0: not said)


def _json_call(session: str, token: str, path: str, body: Any) -> PlatformCall:
    headers = _auth(token) | {"Content-Type": "application/json"}
    return PlatformCall(
        session=session,
        method="POST",
        path=path,
        headers=headers,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    )


def search_call(
    token: str,
    bo: BusinessObject,
    filters: Sequence[Filter],
    fields: Sequence[str],
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> PlatformCall:
    """Filters on the same field are OR'd by Cherwell, on different fields AND'd."""
    body = {
        "busObId": bo.bus_ob_id,
        "filters": [{"fieldId": bo.field_id(f.field), "operator": f.operator, "value": f.value} for f in filters],
        "fields": [bo.field_id(name) for name in fields],
        "includeAllFields": False,
        "pageNumber": page,
        "pageSize": page_size,
    }
    return _json_call("search", token, f"{API}/getsearchresults", body)


def parse_search(reply: PlatformReply, bo: BusinessObject) -> SearchPage:
    data = _envelope(reply)
    objects = data.get("businessObjects")
    if data.get("hasError") or not isinstance(objects, list):
        raise PlatformError(describe("Cherwell", data), stale_ids=_suggests_stale_ids(data))
    records = []
    for item in objects:
        if not isinstance(item, Mapping):
            continue
        values: dict[str, str] = {}
        for cell in item.get("fields") or []:
            if not isinstance(cell, Mapping):
                continue
            name = bo.field_name(str(cell.get("fieldId") or "")) or str(cell.get("name") or "")
            if name:
                values[name] = "" if cell.get("value") is None else str(cell["value"])
        records.append(
            Record(
                rec_id=str(item.get("busObRecId") or values.get("RecID") or ""),
                public_id=str(item.get("busObPublicId") or ""),
                values=values,
            )
        )
    total = data.get("totalRows")
    return SearchPage(
        records=tuple(records),
        has_more=bool(data.get("hasMoreRecords")) and bool(objects),
        total=total if isinstance(total, int) and total > 0 else 0,
    )


def existing_incidents_filters() -> list[Filter]:
    """The contract's "existing tickets": open incidents of our two categories."""
    return [Filter(field="Category", value=c) for c in CATEGORIES] + [
        Filter(field="Status", value=s) for s in OPEN_STATES
    ]


# -- saving in batches ------------------------------------------------------------------------------


@frozen(kw_only=True)
class Save:
    """One save request: a create (no rec_id) or an update of the record `rec_id`."""

    bo: BusinessObject
    values: Mapping[str, str]  # field name -> value (every value a string, as Cherwell wants)
    rec_id: str | None = None


@frozen(kw_only=True)
class SaveResult:
    ok: bool
    rec_id: str = ""
    public_id: str = ""
    message: str = ""
    maybe_applied: bool = False  # a failed item that may still have been saved


def save_batch_call(token: str, session: str, saves: Sequence[Save]) -> PlatformCall:
    requests = []
    for save in saves:
        request: dict[str, Any] = {"busObId": save.bo.bus_ob_id, "persist": True}
        if save.rec_id:
            request["busObRecId"] = save.rec_id
        request["fields"] = [
            {"dirty": True, "fieldId": save.bo.field_id(name), "name": name, "value": str(value)}
            for name, value in save.values.items()
        ]
        requests.append(request)
    return _json_call(
        session, token, f"{API}/savebusinessobjectbatch", {"stopOnError": False, "saveRequests": requests}
    )


def parse_save_batch(reply: PlatformReply, saves: Sequence[Save]) -> list[SaveResult]:
    """One result per save, in request order (the contract's promise)."""
    data = _envelope(reply)
    responses = data.get("responses")
    if not isinstance(responses, list) or len(responses) != len(saves):
        if data.get("hasError") and not responses:
            # An error for the whole batch in a 200: nothing says any item was saved, but
            # nothing says it was not either.
            raise PlatformError(describe("Cherwell", data), maybe_applied=True, stale_ids=_suggests_stale_ids(data))
        got = len(responses) if isinstance(responses, list) else 0
        raise PlatformError(
            f"Cherwell: the batch answer has {got} results for {len(saves)} requests", maybe_applied=True
        )
    return [_save_result(item, save) for item, save in zip(responses, saves, strict=True)]


def _save_result(item: Any, save: Save) -> SaveResult:
    if not isinstance(item, Mapping):
        return SaveResult(ok=False, message="Cherwell: unreadable batch item", maybe_applied=True)
    if item.get("hasError"):
        return SaveResult(ok=False, message=_item_message(item, save.bo))
    rec_id = str(item.get("busObRecId") or save.rec_id or "")
    public_id = str(item.get("busObPublicId") or "")
    if not save.rec_id and not (rec_id and public_id):
        # A create that "succeeded" without saying what it created: look it up later.
        return SaveResult(ok=False, message="Cherwell: the save answer names no record", maybe_applied=True)
    return SaveResult(ok=True, rec_id=rec_id, public_id=public_id)


def _item_message(item: Mapping[str, Any], bo: BusinessObject) -> str:
    problems = []
    for error in item.get("fieldValidationErrors") or []:
        if isinstance(error, Mapping):
            name = bo.field_name(str(error.get("fieldId") or "")) or str(error.get("fieldId") or "field")
            problems.append(f"{name}: {error.get('error') or error.get('errorCode') or 'invalid'}")
    if not any(_code_and_text(item)):
        return shorten(f"Cherwell: {'; '.join(problems) or 'the item was not saved'}")
    message = describe("Cherwell", item)
    return shorten(f"{message} ({'; '.join(problems)})" if problems else message)
