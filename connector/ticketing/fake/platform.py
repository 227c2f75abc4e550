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
- `late_rate`, `late_delay`: a write (save batch, OT batch) is held by something in between, as by a
  queuing gateway: its answer is lost (the connection dropped) and it is applied only once the
  platform's clock has passed now + `late_delay` (checked at every request and every inspection;
  `land_late_writes` forces it). It lands without faults and without a token check (the gateway
  had accepted it).
- `item_error_rate`: one item of a save batch or OT batch fails inside the 200 (GENERALFAILURE /
  `ERROR_INTERNO`), nothing of it applied.
- `fail_operation`: {operation: message}, failing for good. Item operations (create_ticket, add_note,
  update_ticket_ot, update_ticket, update_note, save_other, ot_create) fail item by item inside a 200
  with that message, so a batch mixing operations fails only the named ones; call operations fail the
  whole call: login/refresh with 400 invalid_grant (the message as error_description), the others with
  500 and the message.
- `echo_request`: every `fail_operation` message quotes the request: its body, its form fields decoded,
  its Authorization and X-Api-Key headers (a careless platform; the element must scrub them).
- `token_ttl`: lifetime of tokens issued from now on (`expires_in`); `revoke_tokens()` kills every
  access token at once (refresh tokens stay valid, as after a server-side session purge).

Counters (`requests`): one per routed HTTP call by operation (login, refresh, summary, schema, search,
save_batch, ot_create, ot_lookup), plus one per save item that reached the application, by the save
operation the item's content shows (busObId, ids, dirty fields): create_ticket, add_note,
update_ticket_ot (an Incident update writing only OTNumber), update_ticket, update_note, save_other.
"""

from __future__ import annotations

import hmac
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
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
    Request,
    form_fields,
    json_answer,
    raw_answer,
    server_error,
    sfyc_error,
)
from connector.ticketing.fake.cherwell import CherwellApi
from connector.ticketing.fake.data import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    Incident,
    Note,
    WorkOrder,
    manual_incidents,
    view,
)
from connector.ticketing.fake.faults import ITEM_OPERATIONS, Dice, Faults
from connector.ticketing.fake.late import LateWrites
from connector.ticketing.fake.records import Records
from connector.ticketing.fake.sfyc import WorkOrders
from connector.ticketing.fake.tokens import TokenService

_Handler = Callable[[Request, Faults], FakeAnswer]
_WRITES = ("save_batch", "ot_create")  # the calls a late_rate fault may hold
_DROPPED = FakeAnswer(status=200, reason="OK", headers={}, body=b"", lost=True)  # the connection dropped


@frozen
class _Route:
    family: str  # "token", "cherwell" or "sfyc": which error dialect and which credential
    method: str
    pattern: re.Pattern[str]
    operation: str | None  # None: the token endpoint, named by its grant_type
    handler: _Handler

    @classmethod
    def of(cls, family: str, method: str, path: str, operation: str | None, handler: _Handler) -> _Route:
        return cls(family, method, re.compile(path, re.IGNORECASE), operation, handler)


def _route_table(tokens: TokenService, cherwell: CherwellApi, orders: WorkOrders) -> list[_Route]:
    """Every route, in the order they are tried."""
    api, sfyc = r"/cherwellapi/api/v1", r"/sfyc/api/v1/ordenes-trabajo"
    return [
        _Route.of("token", "POST", r"/cherwellapi/token", None, tokens.token),
        _Route.of("cherwell", "GET", api + r"/getbusinessobjectsummary/busobname/(?P<name>[^/]+)", "summary",
                  cherwell.summary),
        _Route.of("cherwell", "GET", api + r"/getbusinessobjectschema/busobid/(?P<bus_ob_id>[^/]+)", "schema",
                  cherwell.schema),
        _Route.of("cherwell", "POST", api + r"/getsearchresults", "search", cherwell.search),
        _Route.of("cherwell", "POST", api + r"/savebusinessobjectbatch", "save_batch", cherwell.save_batch),
        _Route.of("sfyc", "POST", sfyc + r"/lote", "ot_create", orders.create_orders),
        _Route.of("sfyc", "GET", sfyc, "ot_lookup", orders.lookup_orders),
    ]  # fmt: skip


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
        self._api_key = api_key
        # Separate random streams (ids, tokens, faults, seeded incidents), so that turning a fault
        # on does not change the ids a test sees.
        self._seed_rng = random.Random(f"incidents:{seed}")
        self._dice = Dice(seed)
        self._requests: Counter[str] = Counter()
        self._log: list[LoggedRequest] = []
        self._records = Records(seed=seed, clock=clock)
        self._tokens = TokenService(
            client_id=client_id, username=username, password=password, seed=seed, clock=clock, dice=self._dice
        )
        self._orders = WorkOrders(self._records, clock=clock, dice=self._dice)
        cherwell = CherwellApi(self._records, requests=self._requests, dice=self._dice)
        self._routes = _route_table(self._tokens, cherwell, self._orders)
        self._late = LateWrites(clock)

    def __repr__(self) -> str:  # never the credentials
        return (
            f"FakePlatform(seed={self.seed}, incidents={len(self._records.incident.records)}, faults={self.faults!r})"
        )

    # --- the HTTP side ------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> FakeAnswer:
        """Answer one request; `target` is the path with its query string."""
        self.land_late_writes()
        raw_path, _, query = target.partition("?")
        method = method.upper()
        path = unquote(raw_path).rstrip("/") or "/"  # a trailing slash is tolerated
        found = [(route, match) for route in self._routes if (match := route.pattern.fullmatch(path))]
        matching = [(route, match) for route, match in found if route.method == method]
        if matching:
            route, match = matching[0]
            request = Request(
                method,
                path,
                parse_qsl(query, keep_blank_values=True),
                {str(k).lower(): str(v) for k, v in headers.items()},
                bytes(body),
                match.groupdict(),
            )
            answer = self._dispatch(route, request)
        else:
            answer = _not_routed(path, method, [route.method for route, _ in found])
        self._log.append(LoggedRequest(method, raw_path, answer.status))
        return answer

    def _dispatch(self, route: _Route, request: Request) -> FakeAnswer:
        operation = route.operation or (
            "refresh" if form_fields(request.body).get("grant_type") == "refresh_token" else "login"
        )
        self._requests[operation] += 1
        faults = self.faults  # one snapshot per call, even if a test swaps the faults meanwhile
        if faults.echo_request and faults.fail_operation:
            faults = _echoing(faults, request)
        if operation in _WRITES and self._dice.roll(faults.late_rate, "late"):
            self._late.hold(faults.late_delay, lambda: route.handler(request, Faults()))
            return _DROPPED  # the write is on its way
        if self._dice.roll(faults.html_503_rate, "html_503"):
            answer = raw_answer(503, HTML_503, {"content-type": "text/html; charset=utf-8"})
        elif self._dice.roll(faults.error_rate, "error"):
            if self._dice.coin():  # the 5xx came after the write
                self._apply(route, request, operation, faults)
            answer = server_error(route.family, "Injected failure: the server failed, try again")
        else:
            answer = self._apply(route, request, operation, faults)
            if answer.status == 200 and self._dice.roll(faults.malformed_rate, "malformed"):
                answer = evolve(answer, body=answer.body[: len(answer.body) // 2])
        return evolve(answer, delay=float(faults.latency), lost=self._dice.roll(faults.lost_rate, "lost"))

    def _apply(self, route: _Route, request: Request, operation: str, faults: Faults) -> FakeAnswer:
        denied = _credentials_refused(route.family, request.headers, self._tokens, self._api_key)
        if denied is not None:
            return denied
        message = faults.fail_operation.get(operation)
        if message is not None and operation not in ITEM_OPERATIONS:
            self._dice.count("fail_operation")
            if route.family == "token":
                return self._tokens.error("invalid_grant", message, faults)
            return server_error(route.family, message)
        return route.handler(request, faults)

    def land_late_writes(self, *, all_of_them: bool = False) -> int:
        """Apply the held writes that are due by the clock (`all_of_them`: every one, as if the
        clock had passed them all). Returns how many landed."""
        return self._late.land(all_of_them=all_of_them)

    @property
    def late_pending(self) -> int:
        """Held writes not applied yet."""
        return len(self._late)

    def revoke_tokens(self) -> int:
        """Every current access token stops working (401); returns how many were live."""
        return self._tokens.revoke()

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
        record = self._records.create(
            self._records.incident,
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
        record = self._records.create(
            self._records.note,
            {"ParentRecID": parent_rec_id, "ParentTypeID": self._records.incident.bus_ob_id, "Details": details},
        )
        return view(Note, record)

    def add_work_order(self, ticket: str, referencia: str, categoria: str = "SNR", nodo: str = "") -> WorkOrder:
        return self._orders.add(ticket, referencia, categoria, nodo)

    def seed_incidents(self, n: int, *, seed: int | None = None) -> list[Incident]:
        """`n` manual incidents on random nodes, most of them open; `seed` makes them reproducible
        on their own (else they come from the platform's seed)."""
        rng = self._seed_rng if seed is None else random.Random(f"incidents:{seed}")
        return [self.add_incident(*manual, priority=priority) for manual, priority in manual_incidents(rng, n)]

    # --- for tests: inspection (read-only snapshots) -----------------------------------------

    @property
    def incidents(self) -> tuple[Incident, ...]:
        self.land_late_writes()
        return tuple(view(Incident, r) for r in self._records.incident.records.values())

    @property
    def notes(self) -> tuple[Note, ...]:
        self.land_late_writes()
        return tuple(view(Note, r) for r in self._records.note.records.values())

    @property
    def work_orders(self) -> tuple[WorkOrder, ...]:
        self.land_late_writes()
        return tuple(self._orders.orders)

    @property
    def requests(self) -> Counter[str]:
        """Calls by operation name (a copy; a missing name counts 0)."""
        return Counter(self._requests)

    @property
    def injected(self) -> Counter[str]:
        """Faults injected so far, by kind: html_503, error, malformed, lost, item_error, fail_operation..."""
        return Counter(self._dice.injected)

    @property
    def log(self) -> tuple[LoggedRequest, ...]:
        return tuple(self._log)

    @property
    def bus_ob_ids(self) -> dict[str, str]:
        """busObId by business object name (Incident, Journal, JournalNote, ...)."""
        return {b.spec.name: b.bus_ob_id for b in self._records.bus_obs.values()}

    def field_ids(self, bus_ob_name: str) -> dict[str, str]:
        """fieldId by field name, for tests that build requests by hand."""
        return dict(self._records.by_name[bus_ob_name.lower()].field_ids)

    def incident(self, key: str) -> Incident | None:
        """The incident with this IncidentID or RecID."""
        record = self._records.incidents_by_public.get(key) or self._records.incident.records.get(key.lower())
        return view(Incident, record) if record else None

    def incidents_by_external_id(self) -> dict[str, list[Incident]]:
        grouped: defaultdict[str, list[Incident]] = defaultdict(list)
        for incident in (incident for incident in self.incidents if incident.external_id):
            grouped[incident.external_id].append(incident)
        return dict(grouped)

    def notes_for(self, rec_id: str) -> list[Note]:
        return [note for note in self.notes if note.parent_rec_id.lower() == rec_id.lower()]

    def orders_for(self, ticket: str) -> list[WorkOrder]:
        self.land_late_writes()
        return self._orders.for_ticket(ticket)

    def snapshot(self) -> dict[str, Any]:
        """Everything a tool or a crash test wants to see, as JSON-ready data (never credentials)."""
        self.land_late_writes()
        return {
            "seed": self.seed,
            "late_pending": len(self._late),
            "counts": {
                "incidents": len(self._records.incident.records),
                "notes": len(self._records.note.records),
                "work_orders": len(self._orders.orders),
            },
            "requests": dict(self._requests),
            "injected": dict(self._dice.injected),
            "faults": self.faults.to_json(),
            "incidents": [asdict(i) for i in self.incidents],
            "notes": [asdict(n) for n in self.notes],
            "work_orders": [asdict(o) for o in self._orders.orders],
        }


def _credentials_refused(
    family: str, headers: Mapping[str, str], tokens: TokenService, api_key: str
) -> FakeAnswer | None:
    """The 401 a call without valid credentials gets, in its family's dialect; None when they are valid."""
    if family == "cherwell" and not tokens.accepts(headers.get("authorization", "")):
        return json_answer(401, DENIED, {**JSON_HEADERS, "www-authenticate": "Bearer"})
    if family == "sfyc" and not hmac.compare_digest(headers.get("x-api-key", "").encode(), api_key.encode()):
        return sfyc_error(401, "NO_AUTORIZADO", "Falta la cabecera X-Api-Key o su valor no es valido")
    return None


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


__all__ = ["FakePlatform"]


def _echoing(faults: Faults, request: Request) -> Faults:
    """The faults with each failing operation's message quoting the request back."""
    echo = _echo(request)
    return evolve(faults, fail_operation={op: f"{m} [{echo}]" for op, m in faults.fail_operation.items()})


def _echo(request: Request) -> str:
    """The request as a careless platform quotes it back in an error."""
    body = request.body.decode("utf-8", "replace")
    headers = {k: v for k, v in request.headers.items() if k in ("authorization", "x-api-key")}
    return f"request: {body} fields: {form_fields(request.body)} headers: {headers}"
