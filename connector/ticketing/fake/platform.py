"""The project's fake platform: Cherwell and SFyC behind one host, sans-I/O.

`FakePlatform.handle(method, target, headers, body)` answers one HTTP request the way
`shared/contracts/platform-api.md` says the real gateway does, and returns a `FakeAnswer`; it never
sleeps and never touches a socket (`connector.ticketing.fake.server` puts it behind Starlette and
uvicorn). Tests call it directly, through `FakePlatform.call` (a `PlatformCall` in, a
`PlatformReply` out), or over HTTP.

Quirks of the real platform it reproduces, because a client has to survive every one:

- Paths are case-insensitive and a trailing slash is tolerated; an unknown path is a 404, a known path
  with the wrong method a 405.
- Token: form-encoded password and refresh_token grants, `auth_mode` ignored wherever it is. Each refresh
  rotates the refresh token (the old one stops working). 400 errors (`invalid_client_id`,
  `invalid_grant`) sometimes come as a JSON-encoded *string* (`Faults.quoted_token_error_rate`, seeded,
  0.5 by default, like the real server's habit).
- Every `api/V1` call needs a live bearer token, else 401 `{"Message": ...}` (not the envelope).
- busObIds (32 hex) and fieldIds / RecIDs (42 hex) are drawn from the seed: two platforms with different
  seeds share no id, so a client that hard-codes one breaks.
- Every JSON object answer of `api/V1` carries the envelope; `httpStatusCode` is the .NET enum name.
  Unknown busObId or field id: 500 GENERALFAILURE. A failing item of a batch: 200, the item's `hasError`,
  the top level repeating the first item error.
- Search: filters on the same field are OR'd, on different fields AND'd; `eq` ignores case, the other
  operators are plain (case-sensitive) string comparisons, so `gt`/`lt` on `CreatedDateTime`
  ("11/26/2026 9:42:00 AM") compare as text, as on the real server.
- Save: only `dirty` fields are written (`"true"` accepted); read-only fields (RecID, IncidentID,
  CreatedDateTime) refuse a dirty write; `persist` is ignored (always saved).
- SFyC does not deduplicate: a second create for a ticket is a second OT.

Fault semantics (`Faults`, replaced at run time with `platform.faults = Faults(...)`, drawn from an RNG
seeded by the platform's seed, so a run is reproducible). Faults touch routed platform calls only: never
a 404, never the inspection and seeding methods.

- `html_503_rate`: 503 text/html from the "gateway"; the request never reached the application.
- `error_rate`: 500 (envelope GENERALFAILURE, or SFyC `ERROR_INTERNO`). The contract says a 5xx may come
  after the write, so in half the cases (seeded) the request was applied first.
- `malformed_rate`: a 200 whose body is cut in half (invalid JSON); the request was applied.
- `lost_rate`: the request is applied, then `FakeAnswer.lost` asks the transport to drop the connection.
  Any call can be lost, reads included (nothing to apply there).
- `latency`: seconds in every answer's `FakeAnswer.delay`; the transport sleeps, the request is applied.
- `item_error_rate`: one item of a save batch or OT batch fails inside the 200 (GENERALFAILURE /
  `ERROR_INTERNO`), nothing of it applied.
- `fail_operation`: {operation: message}, failing for good. Item operations (create_ticket, add_note,
  update_ticket_ot, update_ticket, update_note, save_other, ot_create) fail item by item inside a 200
  with that message, so a batch mixing operations fails only the named ones; call operations fail the
  whole call: login/refresh with 400 invalid_grant (the message as error_description), the others with
  500 and the message.
- `token_ttl`: lifetime of tokens issued from now on (`expires_in`); `revoke_tokens()` kills every
  access token at once (refresh tokens stay valid, as after a server-side session purge).

Counters (`requests`): one per routed HTTP call by operation (login, refresh, summary, schema, search,
save_batch, ot_create, ot_lookup), plus one per save item that reached the application, by the save
operation the item's content shows (busObId, ids, dirty fields): create_ticket, add_note,
update_ticket_ot (an Incident update writing only OTNumber), update_ticket, update_note, save_other.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from attrs import asdict, evolve, frozen

from connector.ticketing.calls import PlatformCall, PlatformReply
from connector.ticketing.fake.answers import (
    DENIED,
    HTML_503,
    JSON_HEADERS,
    FakeAnswer,
    LoggedRequest,
    as_text,
    bad_request,
    cherwell_date,
    cherwell_error,
    envelope,
    field_error,
    http_date,
    json_answer,
    order_failed,
    parse_json,
    raw_answer,
    save_item,
    server_error,
    sfyc_error,
    truthy,
    unknown_bus_ob,
    whole_number,
)
from connector.ticketing.fake.data import (
    BUS_OBS,
    CATEGORIES,
    CLOSED_STATES,
    COMPARE,
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    FIRST_INCIDENT_ID,
    INCIDENT,
    MAX_LOOKUP_TICKETS,
    MAX_ORDERS,
    MAX_PAGE_SIZE,
    MAX_SAVE_REQUESTS,
    OPEN_STATES,
    REFRESH_TOKEN_TTL,
    BusOb,
    FieldFilter,
    FieldSpec,
    Incident,
    Note,
    Record,
    WorkOrder,
    view,
)
from connector.ticketing.fake.faults import ITEM_OPERATIONS, Faults

# --- routing ---------------------------------------------------------------------------------------


@frozen
class _Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str]


_Handler = Callable[["FakePlatform", _Request, Faults], FakeAnswer]


@frozen
class _Route:
    family: str  # "token", "cherwell" or "sfyc": which error dialect and which credential
    method: str
    pattern: re.Pattern[str]
    operation: str | None  # None: the token endpoint, named by its grant_type
    handler: _Handler


_ROUTES: list[_Route] = []


def _route(family: str, method: str, path: str, operation: str | None) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        _ROUTES.append(_Route(family, method, re.compile(path, re.IGNORECASE), operation, handler))
        return handler

    return register


class FakePlatform:
    """Cherwell and SFyC, in memory. See the module docstring for the quirks and the faults."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        client_id: str = DEFAULT_CLIENT_ID,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        api_key: str = DEFAULT_API_KEY,
        faults: Faults | None = None,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.faults = faults or Faults()
        self._client_id, self._username, self._password, self._api_key = client_id, username, password, api_key
        # Separate streams, so that turning a fault on does not change the ids a test sees.
        self._ids = random.Random(f"ids:{seed}")
        self._tokens_rng = random.Random(f"tokens:{seed}")
        self._fault_rng = random.Random(f"faults:{seed}")
        self._seed_rng = random.Random(f"incidents:{seed}")
        self._bus_obs: dict[str, BusOb] = {}
        self._by_name: dict[str, BusOb] = {}
        for spec in BUS_OBS:
            field_ids = {f.name: self._hex(42) for f in spec.fields}
            bus_ob = BusOb(spec, self._hex(32), field_ids, {field_ids[f.name]: f for f in spec.fields})
            self._bus_obs[bus_ob.bus_ob_id] = self._by_name[spec.name.lower()] = bus_ob
        self._incident, self._note = self._by_name["incident"], self._by_name["journalnote"]
        self._incidents_by_public: dict[str, Record] = {}
        self._next_incident_id = FIRST_INCIDENT_ID
        self._orders: list[WorkOrder] = []
        self._orders_by_ticket: dict[str, list[WorkOrder]] = {}
        self._access_tokens: dict[str, float] = {}  # token -> expiry
        self._refresh_tokens: dict[str, float] = {}
        self._requests: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self._log: list[LoggedRequest] = []

    def __repr__(self) -> str:  # never the credentials
        return f"FakePlatform(seed={self.seed}, incidents={len(self._incident.records)}, faults={self.faults!r})"

    def _hex(self, digits: int) -> str:
        return f"{self._ids.getrandbits(digits * 4):0{digits}x}"

    # --- the HTTP side ------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> FakeAnswer:
        """Answer one request; `target` is the path with its query string."""
        raw_path, _, query = target.partition("?")
        method = method.upper()
        path = unquote(raw_path).rstrip("/") or "/"  # a trailing slash is tolerated
        found = [(route, match) for route in _ROUTES if (match := route.pattern.fullmatch(path))]
        matching = [(route, match) for route, match in found if route.method == method]
        if matching:
            route, match = matching[0]
            request = _Request(
                method,
                path,
                parse_qsl(query, keep_blank_values=True),
                {str(k).lower(): str(v) for k, v in headers.items()},
                bytes(body),
                match.groupdict(),
            )
            answer = self._dispatch(route, request)
        else:
            answer = self._not_routed(path, method, [route.method for route, _ in found])
        self._log.append(LoggedRequest(method, raw_path, answer.status))
        return answer

    @staticmethod
    def _not_routed(path: str, method: str, allowed: list[str]) -> FakeAnswer:
        sfyc = path.lower().startswith("/sfyc/")
        if allowed:
            if sfyc:
                return sfyc_error(405, "METODO_NO_PERMITIDO", f"Metodo {method} no permitido")
            return json_answer(
                405,
                {"Message": f"The requested resource does not support http method '{method}'."},
                {**JSON_HEADERS, "allow": ", ".join(allowed)},
            )
        if sfyc:
            return sfyc_error(404, "NO_ENCONTRADO", "Recurso no encontrado")
        return json_answer(404, {"Message": f"No HTTP resource was found that matches the request URI '{path}'."})

    def _dispatch(self, route: _Route, request: _Request) -> FakeAnswer:
        operation = route.operation or (
            "refresh" if _form(request.body).get("grant_type") == "refresh_token" else "login"
        )
        self._requests[operation] += 1
        faults = self.faults  # one snapshot per call, even if a test swaps the faults meanwhile
        if self._roll(faults.html_503_rate, "html_503"):
            answer = raw_answer(503, HTML_503, {"content-type": "text/html; charset=utf-8"})
        elif self._roll(faults.error_rate, "error"):
            if self._fault_rng.random() < 0.5:  # the 5xx came after the write
                self._apply(route, request, operation, faults)
            answer = server_error(route.family, "Injected failure: the server failed, try again")
        else:
            answer = self._apply(route, request, operation, faults)
            if answer.status == 200 and self._roll(faults.malformed_rate, "malformed"):
                answer = evolve(answer, body=answer.body[: len(answer.body) // 2])
        return evolve(answer, delay=float(faults.latency), lost=self._roll(faults.lost_rate, "lost"))

    def _roll(self, rate: float, fault: str) -> bool:
        hit = rate > 0 and self._fault_rng.random() < rate
        if hit:
            self._injected[fault] += 1
        return hit

    def _apply(self, route: _Route, request: _Request, operation: str, faults: Faults) -> FakeAnswer:
        denied = self._check_credentials(route.family, request.headers)
        if denied is not None:
            return denied
        message = faults.fail_operation.get(operation)
        if message is not None and operation not in ITEM_OPERATIONS:
            self._injected["fail_operation"] += 1
            if route.family == "token":
                return self._token_error("invalid_grant", message, faults)
            return server_error(route.family, message)
        return route.handler(self, request, faults)

    def _check_credentials(self, family: str, headers: Mapping[str, str]) -> FakeAnswer | None:
        if family == "cherwell":
            scheme, _, token = headers.get("authorization", "").strip().partition(" ")
            expiry = self._access_tokens.get(token.strip())
            if scheme.lower() != "bearer" or expiry is None or expiry <= self.clock():
                return json_answer(401, DENIED, {**JSON_HEADERS, "www-authenticate": "Bearer"})
        elif family == "sfyc" and not hmac.compare_digest(
            headers.get("x-api-key", "").encode(), self._api_key.encode()
        ):
            return sfyc_error(401, "NO_AUTORIZADO", "Falta la cabecera X-Api-Key o su valor no es valido")
        return None

    # --- Cherwell: token ----------------------------------------------------------------------

    @_route("token", "POST", r"/cherwellapi/token", None)
    def _token(self, request: _Request, faults: Faults) -> FakeAnswer:
        form = _form(request.body)  # auth_mode, in the form or the query, is ignored
        grant = form.get("grant_type")
        if grant not in ("password", "refresh_token"):
            return self._token_error("unsupported_grant_type", "grant_type must be password or refresh_token", faults)
        if form.get("client_id") != self._client_id:
            return self._token_error("invalid_client_id", "Client is not registered in the system.", faults)
        now = self.clock()
        if grant == "password":
            if form.get("username") != self._username or form.get("password") != self._password:
                return self._token_error(
                    "invalid_grant", "Could not login to system with the provided user ID and password.", faults
                )
        else:
            expiry = self._refresh_tokens.pop(form.get("refresh_token", ""), None)  # single use: rotated
            if expiry is None or expiry <= now:
                return self._token_error("invalid_grant", "The refresh token is invalid or has expired.", faults)
        self._access_tokens = {t: exp for t, exp in self._access_tokens.items() if exp > now}
        access, refresh = f"{self._tokens_rng.getrandbits(256):064x}", f"{self._tokens_rng.getrandbits(128):032x}"
        self._access_tokens[access] = now + faults.token_ttl
        self._refresh_tokens[refresh] = now + REFRESH_TOKEN_TTL
        return json_answer(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": int(faults.token_ttl),
                "refresh_token": refresh,
                "as:client_id": self._client_id,
                "username": self._username,
                ".issued": http_date(now),
                ".expires": http_date(now + faults.token_ttl),
            },
        )

    def _token_error(self, error: str, description: str, faults: Faults) -> FakeAnswer:
        text = json.dumps({"error": error, "error_description": description})
        if self._roll(faults.quoted_token_error_rate, "quoted_token_error"):
            text = json.dumps(text)  # the real server's habit: the JSON body as a JSON string
        return raw_answer(400, text.encode())

    def revoke_tokens(self) -> int:
        """Every current access token stops working (401); returns how many were live."""
        revoked = len(self._access_tokens)
        self._access_tokens.clear()
        return revoked

    # --- Cherwell: metadata -------------------------------------------------------------------

    @_route("cherwell", "GET", r"/cherwellapi/api/v1/getbusinessobjectsummary/busobname/(?P<name>[^/]+)", "summary")
    def _summary(self, request: _Request, faults: Faults) -> FakeAnswer:
        bus_ob = self._by_name.get(request.params["name"].strip().lower())
        return json_answer(200, [self._summary_of(bus_ob)] if bus_ob else [])  # unknown name: 200 []

    def _summary_of(self, bus_ob: BusOb) -> dict[str, Any]:
        spec, ids = bus_ob.spec, bus_ob.field_ids
        return {
            "busObId": bus_ob.bus_ob_id,
            "name": spec.name,
            "displayName": spec.display_name,
            "major": spec is INCIDENT,
            "supporting": spec is not INCIDENT,
            "lookup": False,
            "group": bool(spec.members),
            "groupSummaries": [self._summary_of(self._by_name[m.lower()]) for m in spec.members],
            "firstRecIdField": ids["RecID"],
            "recIdFields": ids["RecID"],
            "stateFieldId": ids.get("Status", ""),
            "states": ",".join(OPEN_STATES + CLOSED_STATES) if "Status" in ids else "",
        }

    @_route("cherwell", "GET", r"/cherwellapi/api/v1/getbusinessobjectschema/busobid/(?P<bus_ob_id>[^/]+)", "schema")
    def _schema(self, request: _Request, faults: Faults) -> FakeAnswer:
        bus_ob = self._bus_obs.get(request.params["bus_ob_id"].strip().lower())
        if bus_ob is None:
            return unknown_bus_ob(request.params["bus_ob_id"])
        summary = self._summary_of(bus_ob)
        definitions = [
            {
                "fieldId": bus_ob.field_ids[f.name],
                "name": f.name,
                "displayName": f.display_name,
                "type": f.type,
                "required": f.required,
                "readOnly": f.read_only,
                "description": "",
            }
            for f in bus_ob.spec.fields
        ]
        keep = ("busObId", "name", "firstRecIdField", "recIdFields", "stateFieldId", "states")
        return json_answer(
            200,
            {
                **{k: summary[k] for k in keep},
                "fieldDefinitions": definitions,
                "gridDefinitions": [],
                "relationships": [],
                **envelope(),
            },
        )

    # --- Cherwell: search ---------------------------------------------------------------------

    @_route("cherwell", "POST", r"/cherwellapi/api/v1/getsearchresults", "search")
    def _search(self, request: _Request, faults: Faults) -> FakeAnswer:
        parsed, data = parse_json(request.body)
        if not parsed or not isinstance(data, dict):
            return bad_request("The request body must be a JSON object")
        bus_ob = self._bus_obs.get(as_text(data.get("busObId")).lower())
        if bus_ob is None:
            return unknown_bus_ob(as_text(data.get("busObId")))
        page_number = whole_number(data.get("pageNumber", 1))
        page_size = whole_number(data.get("pageSize", DEFAULT_PAGE_SIZE))
        if page_number is None or page_number < 0:
            return bad_request("pageNumber must be a whole number, the first page is 1")
        if page_size is None or not 1 <= page_size <= MAX_PAGE_SIZE:
            return bad_request(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        filters = data.get("filters") or []
        if not isinstance(filters, list):
            return bad_request("filters must be a list of {fieldId, operator, value}")
        groups: dict[str, FieldFilter] = {}
        for item in filters:
            if not isinstance(item, dict):
                return bad_request("Each filter must be an object {fieldId, operator, value}")
            spec = bus_ob.field(item.get("fieldId"))
            op, value = as_text(item.get("operator")).strip().lower(), as_text(item.get("value"))
            if spec is None:
                return cherwell_error(
                    500, "GENERALFAILURE", f"Field {as_text(item.get('fieldId'))} not found on {bus_ob.spec.name}"
                )
            if op != "eq" and op not in COMPARE:
                return bad_request(f"Operator '{op}' is not supported: use eq, contains, startswith, gt or lt")
            group = groups.setdefault(spec.name, FieldFilter())
            if op == "eq":
                group.equal.add(value.casefold())
            else:
                group.others.append((COMPARE[op], value))
        wanted: list[FieldSpec | None]
        if truthy(data.get("includeAllFields")):
            wanted = list(bus_ob.spec.fields)
        else:
            requested = data.get("fields") or []
            wanted = [bus_ob.field(ref) for ref in (requested if isinstance(requested, list) else [requested])]
            if None in wanted:
                return cherwell_error(500, "GENERALFAILURE", f"A requested field is not a field of {bus_ob.spec.name}")
        rows = [r for r in bus_ob.records.values() if all(g.matches(r.values.get(n, "")) for n, g in groups.items())]
        start = (max(page_number, 1) - 1) * page_size
        return json_answer(
            200,
            {
                "businessObjects": [
                    self._search_row(bus_ob, record, wanted) for record in rows[start : start + page_size]
                ],
                "totalRows": len(rows),
                "hasMoreRecords": start + page_size < len(rows),
                "hasPrompts": False,
                "links": [],
                "prompts": [],
                "searchResultsFields": [],
                "simpleResults": None,
                **envelope(),
            },
        )

    @staticmethod
    def _search_row(bus_ob: BusOb, record: Record, wanted: Iterable[FieldSpec | None]) -> dict[str, Any]:
        return {
            "busObId": bus_ob.bus_ob_id,
            "busObPublicId": record.public_id,
            "busObRecId": record.rec_id,
            "fields": [
                {
                    "fieldId": bus_ob.field_ids[f.name],
                    "name": f.name,
                    "displayName": f.display_name,
                    "value": record.values.get(f.name, ""),
                }
                for f in wanted
                if f is not None
            ],
            "links": [],
            **envelope(),
        }

    # --- Cherwell: save -----------------------------------------------------------------------

    @_route("cherwell", "POST", r"/cherwellapi/api/v1/savebusinessobjectbatch", "save_batch")
    def _save_batch(self, request: _Request, faults: Faults) -> FakeAnswer:
        parsed, data = parse_json(request.body)
        if not parsed or not isinstance(data, dict) or not isinstance(data.get("saveRequests"), list):
            return bad_request("The request body must be a JSON object with a saveRequests list")
        if len(data["saveRequests"]) > MAX_SAVE_REQUESTS:
            return bad_request(f"At most {MAX_SAVE_REQUESTS} save requests per batch, got {len(data['saveRequests'])}")
        responses = []
        for item in data["saveRequests"]:
            responses.append(self._save_one(item, faults))
            if responses[-1]["hasError"] and truthy(data.get("stopOnError")):
                break
        first_error = next((r for r in responses if r["hasError"]), None)
        top = envelope(200, first_error["errorCode"], first_error["errorMessage"]) if first_error else envelope()
        return json_answer(200, {"responses": responses, **top})

    def _save_one(self, item: object, faults: Faults) -> dict[str, Any]:
        if not isinstance(item, dict):
            return save_item(400, "BADREQUEST", "Each save request must be a JSON object")
        bus_ob = self._bus_obs.get(as_text(item.get("busObId")).lower())
        if bus_ob is None:
            return save_item(500, "GENERALFAILURE", f"Business object with {as_text(item.get('busObId'))} not found")
        rec_id, public_id = as_text(item.get("busObRecId")).strip().lower(), as_text(item.get("busObPublicId")).strip()
        changes, field_errors = self._dirty_fields(bus_ob, item.get("fields"))
        operation = self._save_operation(bus_ob, bool(rec_id or public_id), changes)
        self._requests[operation] += 1
        message = faults.fail_operation.get(operation)
        if message is not None:
            self._injected["fail_operation"] += 1
            return save_item(500, "GENERALFAILURE", message)
        if self._roll(faults.item_error_rate, "item_error"):
            return save_item(500, "GENERALFAILURE", "Injected failure: this item was not saved, try again")
        if not bus_ob.spec.savable:
            return save_item(
                400, "BusObNotValid", f"{bus_ob.spec.display_name} cannot be saved: save Incident or Journal - Note"
            )
        record = None
        if rec_id or public_id:
            record = bus_ob.records.get(rec_id) if rec_id else self._find_public(bus_ob, public_id)
            if record is None:
                return save_item(404, "RECORDNOTFOUND", "Record not found")
        merged = {**(record.values if record else {}), **changes}
        field_errors += self._validate(bus_ob, merged, changes)
        if field_errors:
            return save_item(400, "FIELDVALIDATIONERROR", field_errors[0]["error"], field_errors=field_errors)
        if record:
            record.values.update(changes)
        else:
            record = self._create(bus_ob, changes)
        return save_item(record=record)

    def _dirty_fields(self, bus_ob: BusOb, items: object) -> tuple[dict[str, str], list[dict[str, str]]]:
        """The values to write (dirty fields only, by name) and the errors of the fields list."""
        if items is None:
            return {}, []
        if not isinstance(items, list):
            return {}, [field_error("", "fields must be a list", "BADREQUEST")]
        changes: dict[str, str] = {}
        errors: list[dict[str, str]] = []
        for item in items:
            if not isinstance(item, dict):
                errors.append(field_error("", "Each field must be an object {dirty, fieldId, value}", "BADREQUEST"))
            elif truthy(item.get("dirty")):
                spec = bus_ob.field(item.get("fieldId"))
                if spec is None:
                    errors.append(field_error(item.get("fieldId"), "Field not found", "FIELDNOTFOUND"))
                elif spec.read_only:
                    errors.append(field_error(item.get("fieldId"), f"{spec.display_name} is read-only", "READONLY"))
                else:
                    changes[spec.name] = as_text(item.get("value"))
        return changes, errors

    def _save_operation(self, bus_ob: BusOb, updating: bool, changes: Mapping[str, str]) -> str:
        if bus_ob is self._incident:
            if not updating:
                return "create_ticket"
            return "update_ticket_ot" if set(changes) == {"OTNumber"} else "update_ticket"
        if bus_ob is self._note:
            return "update_note" if updating else "add_note"
        return "save_other"

    def _validate(self, bus_ob: BusOb, merged: Mapping[str, str], changes: Mapping[str, str]) -> list[dict[str, str]]:
        # Required fields on the whole record; values only where they change, so that an OTNumber
        # update does not trip over a legacy value seeded by a test.
        ids = bus_ob.field_ids
        errors = [
            field_error(ids[f.name], f"{f.display_name} is required", "REQUIRED")
            for f in bus_ob.spec.fields
            if f.required and not merged.get(f.name, "").strip()
        ]
        checks: list[tuple[str, bool, str]] = []
        if bus_ob is self._incident:
            checks = [
                ("Category", changes.get("Category") in CATEGORIES, "Category must be Falla de Linea or SNR"),
                (
                    "Status",
                    changes.get("Status") in OPEN_STATES + CLOSED_STATES,
                    f"Status must be one of {', '.join(OPEN_STATES + CLOSED_STATES)}",
                ),
            ]
        elif bus_ob is self._note:
            checks = [
                (
                    "ParentRecID",
                    changes.get("ParentRecID", "").lower() in self._incident.records,
                    "ParentRecID must be the RecID of an existing Incident",
                ),
                (
                    "ParentTypeID",
                    changes.get("ParentTypeID", "").lower() == self._incident.bus_ob_id,
                    "ParentTypeID must be the Incident busObId",
                ),
            ]
        errors += [
            field_error(ids[name], message, "INVALIDVALUE")
            for name, valid, message in checks
            if changes.get(name, "").strip() and not valid
        ]
        return errors

    def _find_public(self, bus_ob: BusOb, public_id: str) -> Record | None:
        if bus_ob is self._incident:
            return self._incidents_by_public.get(public_id)
        return bus_ob.records.get(public_id.lower())

    def _create(self, bus_ob: BusOb, values: Mapping[str, str]) -> Record:
        record = Record({f.name: "" for f in bus_ob.spec.fields})
        record.values.update(values)
        record.values["RecID"] = self._hex(42)
        record.values["CreatedDateTime"] = cherwell_date(self.clock())
        if bus_ob is self._incident:
            record.values["Status"] = record.values["Status"] or "New"
            record.values["IncidentID"] = str(self._next_incident_id)
            self._next_incident_id += 1
            self._incidents_by_public[record.public_id] = record
        bus_ob.records[record.rec_id] = record
        return record

    # --- SFyC ---------------------------------------------------------------------------------

    @_route("sfyc", "POST", r"/sfyc/api/v1/ordenes-trabajo/lote", "ot_create")
    def _create_orders(self, request: _Request, faults: Faults) -> FakeAnswer:
        parsed, data = parse_json(request.body)
        if not parsed or not isinstance(data, dict) or not isinstance(data.get("ordenes"), list):
            return sfyc_error(400, "SOLICITUD_INVALIDA", 'El cuerpo debe ser un objeto JSON {"ordenes": [...]}')
        if len(data["ordenes"]) > MAX_ORDERS:
            return sfyc_error(400, "DEMASIADAS_ORDENES", f"Maximo {MAX_ORDERS} ordenes por lote")
        return json_answer(200, {"resultados": [self._create_order(order, faults) for order in data["ordenes"]]})

    def _create_order(self, order: object, faults: Faults) -> dict[str, Any]:
        if not isinstance(order, dict):
            return order_failed(None, "SOLICITUD_INVALIDA", "Cada orden debe ser un objeto JSON")
        ticket = as_text(order.get("ticket"))
        message = faults.fail_operation.get("ot_create")
        if message is not None:
            self._injected["fail_operation"] += 1
            return order_failed(ticket, "ERROR_OPERACION", message)
        if self._roll(faults.item_error_rate, "item_error"):
            return order_failed(ticket, "ERROR_INTERNO", "Falla simulada: la orden no se creo, reintente")
        required = ("ticket", "referencia", "categoria", "nodo")
        missing = [name for name in required if not as_text(order.get(name)).strip()]
        if missing:
            return order_failed(ticket, "CAMPO_REQUERIDO", f"Faltan campos requeridos: {', '.join(missing)}")
        if ticket not in self._incidents_by_public:
            return order_failed(ticket, "TICKET_NO_EXISTE", f"El ticket {ticket} no existe en Cherwell")
        work_order = self._new_order(
            ticket, *(as_text(order.get(k)) for k in ("referencia", "categoria", "nodo", "descripcion", "prioridad"))
        )
        return {"ticket": ticket, "ok": True, "ot": work_order.ot}

    def _new_order(
        self, ticket: str, referencia: str, categoria: str, nodo: str, descripcion: str = "", prioridad: str = ""
    ) -> WorkOrder:
        year = time.gmtime(self.clock()).tm_year
        work_order = WorkOrder(
            ot=f"OT-{year}-{len(self._orders) + 1:06d}",
            ticket=ticket,
            referencia=referencia,
            categoria=categoria,
            nodo=nodo,
            descripcion=descripcion,
            prioridad=prioridad,
        )
        self._orders.append(work_order)
        self._orders_by_ticket.setdefault(ticket, []).append(work_order)
        return work_order

    @_route("sfyc", "GET", r"/sfyc/api/v1/ordenes-trabajo", "ot_lookup")
    def _lookup_orders(self, request: _Request, faults: Faults) -> FakeAnswer:
        tickets = [value for name, value in request.query if name.lower() == "ticket"]
        if not tickets:
            return sfyc_error(400, "SOLICITUD_INVALIDA", "Indique al menos un parametro ticket")
        if len(tickets) > MAX_LOOKUP_TICKETS:
            return sfyc_error(400, "DEMASIADOS_TICKETS", f"Maximo {MAX_LOOKUP_TICKETS} tickets por consulta")
        found = [o for ticket in dict.fromkeys(tickets) for o in self._orders_by_ticket.get(ticket, [])]
        return json_answer(
            200,
            {
                "ordenes": [
                    {"ot": o.ot, "ticket": o.ticket, "referencia": o.referencia, "estado": o.estado} for o in found
                ]
            },
        )

    # --- for tests: a PlatformCall in, a PlatformReply out ------------------------------------

    def call(self, call: PlatformCall, *, timeout: float | None = None) -> PlatformReply:
        """Serve a flow's call the way the HTTP adapter would see it. A timeout or a lost answer
        leaves the write applied, exactly like over the wire."""
        answer = self.handle(call.method, call.path, call.headers, (call.body or "").encode())
        if timeout is not None and answer.delay > timeout:  # the client gives up before the drop, too
            return PlatformReply(status=0, error="timeout")
        if answer.lost:
            return PlatformReply(status=0, error="lost")
        return PlatformReply(status=answer.status, reason=answer.reason, body=answer.body.decode("utf-8", "replace"))

    # --- for tests: seeding (no faults, no validation of categories) --------------------------

    def add_incident(
        self,
        category: str,
        node: str,
        status: str = "New",
        external_id: str | None = None,
        *,
        short_description: str | None = None,
        description: str = "",
        priority: str = "3",
        ot_number: str = "",
        source: str = "Phone",
    ) -> Incident:
        """An incident as if someone had created it; any category, so tests can seed legacy data."""
        record = self._create(
            self._incident,
            {
                "Category": category,
                "Node": node,
                "Status": status,
                "ExternalID": external_id or "",
                "ShortDescription": short_description or f"{category} en {node}",
                "Description": description,
                "Priority": priority,
                "OTNumber": ot_number,
                "Source": source,
            },
        )
        return view(Incident, record)

    def add_note(self, parent_rec_id: str, details: str) -> Note:
        record = self._create(
            self._note, {"ParentRecID": parent_rec_id, "ParentTypeID": self._incident.bus_ob_id, "Details": details}
        )
        return view(Note, record)

    def add_work_order(self, ticket: str, referencia: str, categoria: str = "SNR", nodo: str = "") -> WorkOrder:
        return self._new_order(ticket, referencia, categoria, nodo)

    def seed_incidents(self, n: int, *, seed: int | None = None) -> list[Incident]:
        """`n` manual incidents on random nodes, most of them open; `seed` makes them reproducible
        on their own (else they come from the platform's seed)."""
        rng = self._seed_rng if seed is None else random.Random(f"incidents:{seed}")
        cities = ("GDL-ZAP", "GDL-TLQ", "MTY-SPG", "MTY-APO", "QRO-CEN", "PUE-ANG")
        return [
            self.add_incident(
                rng.choice(CATEGORIES),
                f"{rng.choice(cities)}-NODO-{rng.randrange(1, 10000):04d}",
                rng.choice(OPEN_STATES) if rng.random() < 0.8 else rng.choice(CLOSED_STATES),
                priority=str(rng.randint(1, 4)),
            )
            for _ in range(n)
        ]

    # --- for tests: inspection (read-only snapshots) -----------------------------------------

    @property
    def incidents(self) -> tuple[Incident, ...]:
        return tuple(view(Incident, r) for r in self._incident.records.values())

    @property
    def notes(self) -> tuple[Note, ...]:
        return tuple(view(Note, r) for r in self._note.records.values())

    @property
    def work_orders(self) -> tuple[WorkOrder, ...]:
        return tuple(self._orders)

    @property
    def requests(self) -> Counter[str]:
        """Calls by operation name (a copy; a missing name counts 0)."""
        return Counter(self._requests)

    @property
    def injected(self) -> Counter[str]:
        """Faults injected so far, by kind: html_503, error, malformed, lost, item_error, fail_operation..."""
        return Counter(self._injected)

    @property
    def log(self) -> tuple[LoggedRequest, ...]:
        return tuple(self._log)

    @property
    def bus_ob_ids(self) -> dict[str, str]:
        """busObId by business object name (Incident, Journal, JournalNote, ...)."""
        return {b.spec.name: b.bus_ob_id for b in self._bus_obs.values()}

    def field_ids(self, bus_ob_name: str) -> dict[str, str]:
        """fieldId by field name, for tests that build requests by hand."""
        return dict(self._by_name[bus_ob_name.lower()].field_ids)

    def incident(self, key: str) -> Incident | None:
        """The incident with this IncidentID or RecID."""
        record = self._incidents_by_public.get(key) or self._incident.records.get(key.lower())
        return view(Incident, record) if record else None

    def incidents_by_external_id(self) -> dict[str, list[Incident]]:
        grouped: dict[str, list[Incident]] = {}
        for incident in self.incidents:
            if incident.external_id:
                grouped.setdefault(incident.external_id, []).append(incident)
        return grouped

    def notes_for(self, rec_id: str) -> list[Note]:
        return [note for note in self.notes if note.parent_rec_id.lower() == rec_id.lower()]

    def orders_for(self, ticket: str) -> list[WorkOrder]:
        return list(self._orders_by_ticket.get(ticket, []))

    def snapshot(self) -> dict[str, Any]:
        """Everything a tool or a crash test wants to see, as JSON-ready data (never credentials)."""
        return {
            "seed": self.seed,
            "counts": {
                "incidents": len(self._incident.records),
                "notes": len(self._note.records),
                "work_orders": len(self._orders),
            },
            "requests": dict(self._requests),
            "injected": dict(self._injected),
            "faults": self.faults.to_json(),
            "incidents": [asdict(i) for i in self.incidents],
            "notes": [asdict(n) for n in self.notes],
            "work_orders": [asdict(o) for o in self._orders],
        }


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


__all__ = ["FakePlatform"]
